"""The benchmark's contenders; `run.py` starts each in its own process.

    python bench/contenders.py NAME --data FILE.parquet --out RESULT.json

Every contender reads the same Parquet file and computes, for the candidate model, the
same six metrics (accuracy, precision, recall, f1, selection_rate, roc_auc) overall and on
every slice of region, segment, channel and region x segment, unless its docstring says
otherwise. It writes a JSON object: the timings, its peak memory as the kernel saw it, and
the numbers it computed as ``{"<metric>|<slice label>": value}`` so that `run.py` can check
every contender against the others. Slice labels follow the report's: ``overall`` or
``region=R03,segment=S1``.

Timings start after the libraries are imported: ``seconds`` covers reading the file and
computing; ``read_seconds`` is the reading part where the contender reads on its own.
Libraries that a contender's code imports on first use are imported before the clock too
(pyarrow.parquet for pandas, scipy.special for mlops-gates), unless
MLOPS_GATES_BENCH_LAZY_IMPORTS is set (`run.py --lazy-imports`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

METRICS = ("accuracy", "precision", "recall", "f1", "selection_rate", "roc_auc")
SLICINGS: tuple[tuple[str, ...], ...] = (
    ("region",),
    ("segment",),
    ("channel",),
    ("region", "segment"),
)
SLICE_COLUMNS = ("region", "segment", "channel")
LABEL, SCORE, PRED = "y", "score_c", "pred_c"

Values = dict[str, float]
# Set in a contender's environment, the imports mlops-gates makes on first use stay inside
# the clock (run.py --lazy-imports).
LAZY_IMPORTS = "MLOPS_GATES_BENCH_LAZY_IMPORTS"
# The gate sets the mlops-gates contenders run, as `gates_config` options (stages.py runs
# them too): the full set; issue 25's 1M workload (metrics and two parity gates); metrics.
GATE_SETS: dict[str, dict[str, bool]] = {
    "full": {},
    "parity": {"baseline": False, "equalized_odds": True},
    "metrics": {"baseline": False, "fairness": False},
}


def key(metric: str, slc: dict[str, Any] | None) -> str:
    if not slc:
        return f"{metric}|overall"
    return f"{metric}|" + ",".join(f"{c}={v}" for c, v in slc.items())


# --- mlops-gates -------------------------------------------------------------------------


def gates_config(
    data: Path,
    *,
    fairness: bool = True,
    baseline: bool = True,
    engine: str = "memory",
    equalized_odds: bool = False,
) -> dict[str, Any]:
    """The mlops-gates.yaml the benchmark runs (as a dict). `equalized_odds` adds a second
    fairness gate on `group` (issue 25's 1M workload has both parity gates)."""
    slices: list[Any] = ["region", "segment", "channel", ["region", "segment"]]
    bounds: dict[str, dict[str, float]] = {
        "accuracy": {"min": 0.70},
        "precision": {"min": 0.60},
        "recall": {"min": 0.50},
        "f1": {"min": 0.55},
        "selection_rate": {"max": 0.60},
        "roc_auc": {"min": 0.80},
    }
    gates: list[dict[str, Any]] = [
        {
            "id": metric,
            "kind": "metric",
            "metric": metric,
            **bound,
            "overall": True,
            "slices": slices,
            "min_support": 30,
        }
        for metric, bound in bounds.items()
    ]
    if fairness:
        gates.append(
            {
                "id": "dp-group",
                "kind": "fairness",
                "metric": "demographic_parity_difference",
                "sensitive": "group",
                "max": 0.10,
                "severity": "warn",
            }
        )
    if equalized_odds:
        gates.append(
            {
                "id": "eo-group",
                "kind": "fairness",
                "metric": "equalized_odds_difference",
                "sensitive": "group",
                "max": 0.10,
                "severity": "warn",
            }
        )
    if baseline:
        gates.append(
            {
                "id": "auc-vs-baseline",
                "kind": "baseline",
                "metric": "roc_auc",
                "max_drop": 0.0,
                "slices": slices,
                "min_support": 30,
            }
        )
    return {
        "version": 1,
        "data": {"path": str(data)},
        "task": {"type": "binary", "label": LABEL, "positive_label": 1},
        "candidate": {"predictions": PRED, "scores": SCORE},
        "baseline": {"predictions": "pred_b", "scores": "score_b"},
        # DuckDB's default memory_limit is 80 % of RAM; 1 GB keeps the whole process
        # under the 2 GB target at 100M rows (it spills to disk beyond it).
        "backend": {"engine": engine, **({"memory_limit": "1GB"} if engine == "duckdb" else {})},
        "gates": gates,
    }


def _mlops_gates(data: Path, gate_set: str, engine: str = "memory") -> dict[str, Any]:
    import pyarrow.parquet  # noqa: F401  (pandas imports it on the first read)
    import yaml

    if not os.environ.get(LAZY_IMPORTS):
        import scipy.special  # noqa: F401  (the intervals and p-values import it on first use)

    from mlops_gates.config import load_config
    from mlops_gates.gates.runner import run_gates

    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        config_path = Path(tmp) / "mlops-gates.yaml"
        config_path.write_text(
            yaml.safe_dump(
                gates_config(data, engine=engine, **GATE_SETS[gate_set]), sort_keys=False
            )
        )
        t0 = time.perf_counter()
        report = run_gates(load_config(config_path)).to_dict()
        seconds = time.perf_counter() - t0
    values: Values = {}
    for g in report["gates"]:
        if g["kind"] == "metric":
            values[key(g["metric"], g["slice"])] = _nan_if_none(g["observed"])
    statuses: dict[str, int] = report["summary"]
    if report["errors"]:
        raise RuntimeError(f"mlops-gates reported errors: {report['errors']}")
    return {
        "seconds": seconds,
        "values": values,
        "extra": {
            "verdicts": len(report["gates"]),
            "summary": statuses,
            "reduction": report["context"].get("reduction"),
        },
    }


def mlops_gates(data: Path) -> dict[str, Any]:
    """The engine through a generated mlops-gates.yaml: six metric gates on the 194 slices,
    a demographic-parity gate on `group` and a baseline ROC AUC gate on the same slices;
    `run_gates` reads the file, hashes it for the fingerprint, encodes, reduces, judges."""
    return _mlops_gates(data, "full")


def mlops_gates_duckdb(data: Path) -> dict[str, Any]:
    """The full gate set with `backend.engine: duckdb`: the Parquet file is reduced out of
    core by DuckDB's GROUP BYs; only the cell tables enter Python."""
    return _mlops_gates(data, "full", engine="duckdb")


def mlops_gates_spark(data: Path) -> dict[str, Any]:
    """The full gate set with `backend.engine: spark` on a local[2] session (started before
    the clock; its JVM's memory is not in the peak RSS column)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    spark.config("spark.driver.memory", "2g").getOrCreate()
    return _mlops_gates(data, "full", engine="spark")


def mlops_gates_parity(data: Path) -> dict[str, Any]:
    """Issue 25's 1M workload: the six metric gates, a demographic-parity and an
    equalized-odds gate on `group`, no baseline (1,166 verdicts)."""
    return _mlops_gates(data, "parity")


def mlops_gates_metrics(data: Path) -> dict[str, Any]:
    """The engine with the six metric gates only: the same work as the other contenders."""
    return _mlops_gates(data, "metrics")


# --- plain numpy -------------------------------------------------------------------------


def numpy_bincount(data: Path) -> dict[str, Any]:
    """Plain numpy: one bincount of (slice, y, pred) per slicing for the count metrics,
    one sort per slicing for ROC AUC (midranks for ties)."""
    import numpy as np
    import pandas  # noqa: F401  (pyarrow imports it on the first read, for its metadata)
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    table = pq.read_table(data, columns=[*SLICE_COLUMNS, LABEL, SCORE, PRED])
    columns: dict[str, tuple[np.ndarray, list[str]]] = {}
    for c in SLICE_COLUMNS:
        encoded = table.column(c).combine_chunks().dictionary_encode()
        columns[c] = (
            encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            encoded.dictionary.to_pylist(),
        )
    y = table.column(LABEL).to_numpy().astype(np.int64)
    pred = table.column(PRED).to_numpy().astype(np.int64)
    score = table.column(SCORE).to_numpy()
    del table
    read_seconds = time.perf_counter() - t0

    values: Values = {}
    n = y.shape[0]
    by_score = np.argsort(score, kind="stable")
    for cols in ((), *SLICINGS):
        codes = np.zeros(n, dtype=np.int64)
        sizes = [len(columns[c][1]) for c in cols]
        for c, size in zip(cols, sizes, strict=True):
            codes = codes * size + columns[c][0]
        n_slices = math.prod(sizes)
        cells = np.bincount(codes * 4 + y * 2 + pred, minlength=4 * n_slices)
        tn, fp, fn, tp = cells.reshape(n_slices, 4).T.astype(np.float64)
        support = tn + fp + fn + tp
        with np.errstate(divide="ignore", invalid="ignore"):
            metric = {
                "accuracy": (tp + tn) / support,
                "precision": tp / (tp + fp),
                "recall": tp / (tp + fn),
                "f1": 2 * tp / (2 * tp + fp + fn),
                "selection_rate": (tp + fp) / support,
                "roc_auc": _numpy_auc(np, codes, n_slices, score, y, by_score),
            }
        for s in np.flatnonzero(support > 0):
            slc = _decode(int(s), cols, sizes, columns)
            for name in METRICS:
                values[key(name, slc)] = float(metric[name][s])
    return {
        "seconds": time.perf_counter() - t0,
        "read_seconds": read_seconds,
        "values": values,
    }


def _numpy_auc(np: Any, codes: Any, n_slices: int, score: Any, y: Any, by_score: Any) -> Any:
    # Order rows by (slice, score): the rows sorted by score once, then one stable sort of
    # the small slice codes (a radix sort for 16-bit integers). Within a slice each positive
    # wins against the negatives scored strictly lower and ties half of those scored the
    # same (Mann-Whitney).
    order = by_score
    if n_slices > 1:
        small = codes[by_score].astype(np.uint16 if n_slices <= 1 << 16 else np.int64)
        order = by_score[np.argsort(small, kind="stable")]
    c, s, t = codes[order], score[order], y[order]
    start = np.ones(c.shape[0], dtype=bool)
    start[1:] = (c[1:] != c[:-1]) | (s[1:] != s[:-1])
    tie = np.cumsum(start) - 1  # tie block of each row
    tie_slice = c[start]
    pos = np.bincount(tie, weights=t)
    neg = np.bincount(tie, weights=1 - t)
    neg_before = np.cumsum(neg) - neg
    first_in_slice = np.ones(tie_slice.shape[0], dtype=bool)
    first_in_slice[1:] = tie_slice[1:] != tie_slice[:-1]
    offset = np.zeros(n_slices)
    offset[tie_slice[first_in_slice]] = neg_before[first_in_slice]
    below = neg_before - offset[tie_slice]
    twice_wins = np.bincount(tie_slice, weights=pos * (2 * below + neg), minlength=n_slices)
    p = np.bincount(tie_slice, weights=pos, minlength=n_slices)
    q = np.bincount(tie_slice, weights=neg, minlength=n_slices)
    with np.errstate(divide="ignore", invalid="ignore"):
        return twice_wins / (2 * p * q)


def _decode(
    s: int, cols: tuple[str, ...], sizes: list[int], columns: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c, size in reversed(list(zip(cols, sizes, strict=True))):
        s, code = divmod(s, size)
        out[c] = columns[c][1][code]
    return dict(reversed(list(out.items())))


# --- the floor ---------------------------------------------------------------------------


def floor(data: Path) -> dict[str, Any]:
    """The bare floor (issue 25): pyarrow reads the 9 columns the full gate set reads (slice
    columns as dictionary codes), then one np.bincount over the combined slice / label /
    predictions key. No metric, no interval, no verdict: what any engine pays at least."""
    import numpy as np
    import pandas  # noqa: F401  (pyarrow imports it on the first read, for its metadata)
    import pyarrow.parquet as pq

    sliced = [*SLICE_COLUMNS, "group"]
    labels = [LABEL, PRED, "pred_b"]
    t0 = time.perf_counter()
    table = pq.read_table(
        data, columns=[*sliced, *labels, SCORE, "score_b"], read_dictionary=sliced
    )
    read_seconds = time.perf_counter() - t0
    key = np.zeros(table.num_rows, dtype=np.int64)
    for c in sliced:
        col = table.column(c).unify_dictionaries()  # one dictionary, shared by the chunks
        size = len(col.chunk(0).dictionary) if col.num_chunks else 0
        key *= size + 1  # a missing value is code `size`
        key += np.concatenate([ch.indices.fill_null(size).to_numpy() for ch in col.chunks])
    for c in labels:  # 0/1 labels and predictions
        key *= 2
        key += table.column(c).to_numpy()
    counts = np.bincount(key)
    return {
        "seconds": time.perf_counter() - t0,
        "read_seconds": read_seconds,
        "values": {},
        "extra": {"cells": int(np.count_nonzero(counts)), "rows": int(counts.sum())},
    }


def floor_batched(data: Path) -> dict[str, Any]:
    """The floor read as the memory engine reads a large file: the same 9 columns in
    batches of 262,144 rows, the next batch read on a second thread while this one is
    counted, one np.bincount per batch over its (slice, label, predictions) key, and each
    batch's few thousand cells renumbered by value (a row group has its own dictionaries)
    and merged at the end. It holds about one batch, where `floor` holds the whole table
    (1.15 GB at 10M rows): information beside the issue's floor, which stays the
    yardstick. pyarrow decodes on its own threads only when its pool has more than two
    cores, as the engine decides (`backends/stream.py`): on two cores the threaded read
    took 0.43-0.78 s at 10M rows and the one-thread read 0.43-0.45 s, alternating."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pandas  # noqa: F401  (pyarrow imports it on the first read, for its metadata)
    import pyarrow as pa
    import pyarrow.parquet as pq

    sliced = [*SLICE_COLUMNS, "group"]
    labels = [LABEL, PRED, "pred_b"]
    wide = 1 << 16  # room per slice column in the run-wide key: far more values than here
    t0 = time.perf_counter()
    file = pq.ParquetFile(data, read_dictionary=sliced)
    columns = [*sliced, *labels, SCORE, "score_b"]
    batches = file.iter_batches(1 << 18, columns=columns, use_threads=pa.cpu_count() > 2)
    seen: list[dict[Any, int]] = [{} for _ in sliced]  # each column's run-wide codes
    keys, weights = [], []
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = pool.submit(next, batches, None)
            key = np.zeros(batch.num_rows, dtype=np.int64)
            luts = []
            for c, codes in zip(sliced, seen, strict=True):
                col = batch.column(c)
                values = [*col.dictionary.to_pylist(), None]  # a missing value last
                luts.append(np.array([codes.setdefault(v, len(codes)) for v in values]))
                key *= len(values)
                key += col.indices.fill_null(len(values) - 1).to_numpy()
            for c in labels:  # 0/1 labels and predictions
                key *= 2
                key += batch.column(c).to_numpy()
            counts = np.bincount(key)
            cells = np.flatnonzero(counts)
            weights.append(counts[cells])
            rest, run_wide = cells, np.zeros(cells.shape[0], dtype=np.int64)
            run_wide += rest % (1 << len(labels))  # the labels' bits stay as they are
            rest = rest >> len(labels)
            scale = 1 << len(labels)
            for lut in reversed(luts):
                run_wide += lut[rest % lut.shape[0]] * scale
                rest = rest // lut.shape[0]
                scale *= wide
            keys.append(run_wide)
    merged, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate(weights))
    return {
        "seconds": time.perf_counter() - t0,
        "values": {},
        "extra": {"cells": int(merged.shape[0]), "rows": int(counts.sum())},
    }


# --- pandas + scikit-learn ---------------------------------------------------------------


def pandas_sklearn(data: Path) -> dict[str, Any]:
    """pandas groupby, then scikit-learn's metric functions on each slice (point estimates;
    zero_division=nan as the engine)."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (pandas imports it on the first read)
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    t0 = time.perf_counter()
    frame = pd.read_parquet(data, columns=[*SLICE_COLUMNS, LABEL, SCORE, PRED])
    read_seconds = time.perf_counter() - t0

    def six(part: pd.DataFrame) -> dict[str, float]:
        y, pred, score = part[LABEL], part[PRED], part[SCORE]
        return {
            "accuracy": accuracy_score(y, pred),
            "precision": precision_score(y, pred, zero_division=np.nan),
            "recall": recall_score(y, pred, zero_division=np.nan),
            "f1": f1_score(y, pred, zero_division=np.nan),
            "selection_rate": float(pred.mean()),
            "roc_auc": roc_auc_score(y, score) if y.nunique() == 2 else math.nan,
        }

    values: Values = {}
    for name, v in six(frame).items():
        values[key(name, None)] = float(v)
    for cols in SLICINGS:
        for group_key, part in frame.groupby(list(cols), observed=True, sort=True):
            slc = dict(zip(cols, group_key, strict=True))
            for name, v in six(part).items():
                values[key(name, slc)] = float(v)
    return {
        "seconds": time.perf_counter() - t0,
        "read_seconds": read_seconds,
        "values": values,
    }


# --- fairlearn ---------------------------------------------------------------------------


def fairlearn(data: Path) -> dict[str, Any]:
    """fairlearn's MetricFrame with the six metrics, one frame per slicing (sensitive
    features = the slicing's columns); ROC AUC gets the scores through sample_params."""
    import numpy as np
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (pandas imports it on the first read)
    from fairlearn.metrics import MetricFrame, selection_rate
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    def auc(y_true: Any, y_pred: Any, *, scores: Any) -> float:
        if len(np.unique(y_true)) < 2:
            return math.nan
        return float(roc_auc_score(y_true, scores))

    def nan_zero(fn: Callable[..., float]) -> Callable[..., float]:
        def metric(y_true: Any, y_pred: Any) -> float:
            return float(fn(y_true, y_pred, zero_division=np.nan))

        return metric

    metrics = {
        "accuracy": accuracy_score,
        "precision": nan_zero(precision_score),
        "recall": nan_zero(recall_score),
        "f1": nan_zero(f1_score),
        "selection_rate": selection_rate,
        "roc_auc": auc,
    }
    t0 = time.perf_counter()
    frame = pd.read_parquet(data, columns=[*SLICE_COLUMNS, LABEL, SCORE, PRED])
    read_seconds = time.perf_counter() - t0
    values: Values = {}
    for i, cols in enumerate(SLICINGS):
        mf = MetricFrame(
            metrics=metrics,
            y_true=frame[LABEL],
            y_pred=frame[PRED],
            sensitive_features=frame[list(cols)],
            sample_params={"roc_auc": {"scores": frame[SCORE]}},
        )
        if i == 0:
            for name, v in mf.overall.items():
                values[key(str(name), None)] = float(v)
        for index, row in mf.by_group.iterrows():
            parts = index if isinstance(index, tuple) else (index,)
            slc = dict(zip(cols, parts, strict=True))
            for name, v in row.items():
                values[key(str(name), slc)] = float(v)
    return {
        "seconds": time.perf_counter() - t0,
        "read_seconds": read_seconds,
        "values": values,
    }


# --- mlflow.models.evaluate --------------------------------------------------------------


def mlflow_evaluate(data: Path) -> dict[str, Any]:
    """mlflow.models.evaluate(model=None, predictions=...) on the whole data, no slices.

    A static predictions dataset carries labels only, so MLflow's default classifier
    evaluator computes its label metrics (and logs the eval table and a confusion matrix)
    but no ROC AUC. Tracking goes to a throw-away SQLite store, created before the clock
    starts (``setup_seconds``)."""
    import mlflow
    import pandas as pd
    import pyarrow.parquet  # noqa: F401  (pandas imports it on the first read)

    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
        os.chdir(tmp)  # the default artifact root is relative to the working directory
        t_setup = time.perf_counter()
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        mlflow.set_experiment("bench")
        setup_seconds = time.perf_counter() - t_setup

        t0 = time.perf_counter()
        frame = pd.read_parquet(data, columns=[LABEL, PRED])
        read_seconds = time.perf_counter() - t0
        with mlflow.start_run():
            result = mlflow.models.evaluate(
                model=None,
                data=frame,
                targets=LABEL,
                predictions=PRED,
                model_type="classifier",
                evaluator_config={"pos_label": 1, "label_list": [0, 1]},
            )
        seconds = time.perf_counter() - t0
    names = {
        "accuracy_score": "accuracy",
        "precision_score": "precision",
        "recall_score": "recall",
        "f1_score": "f1",
    }
    values = {key(ours, None): float(result.metrics[m]) for m, ours in names.items()}
    return {
        "seconds": seconds,
        "read_seconds": read_seconds,
        "setup_seconds": setup_seconds,
        "values": values,
        "extra": {"mlflow_metrics": sorted(result.metrics)},
    }


CONTENDERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "mlops-gates": mlops_gates,
    "mlops-gates-metrics": mlops_gates_metrics,
    "mlops-gates-parity": mlops_gates_parity,
    "mlops-gates-duckdb": mlops_gates_duckdb,
    "mlops-gates-spark": mlops_gates_spark,
    "numpy-bincount": numpy_bincount,
    "floor": floor,
    "floor-batched": floor_batched,
    "pandas-sklearn": pandas_sklearn,
    "fairlearn": fairlearn,
    "mlflow-evaluate": mlflow_evaluate,
}


def describe(name: str) -> str:
    doc = CONTENDERS[name].__doc__ or ""
    return " ".join(doc.split())


def peak_rss_mb() -> float | None:
    """This process's peak resident set (VmHWM), in MB; None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _nan_if_none(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _finite(values: Values) -> Iterator[tuple[str, float | None]]:
    for k, v in values.items():
        yield k, (v if math.isfinite(v) else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark contender.")
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write cProfile stats to this file")
    args = parser.parse_args(argv)
    fn = CONTENDERS[args.name]
    data = args.data.resolve()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(fn, data)
        profiler.dump_stats(args.profile)
    else:
        result = fn(data)
    result["values"] = dict(_finite(result["values"]))
    result["vm_hwm_mb"] = peak_rss_mb()
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
