"""Differential tests: every reducer backend gives the same verdicts on the same data.

Counts and supports must be equal exactly; numbers and intervals to 1e-9 (bootstrap
replicates are drawn from identical tables with the same seed, so they agree too).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import validate_report

from mlops_gates.backends import plan as plan_module
from mlops_gates.config import load_config
from mlops_gates.errors import ConfigError
from mlops_gates.gates.result import Report
from mlops_gates.gates.runner import run_gates

SPARK = pytest.param("spark", marks=pytest.mark.spark)


def frame(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Binary task data with ties in the scores, a rare slice, a column with missing
    values, an integer slice column, and a model that is constant on one slice."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "tiny"], n, p=[0.45, 0.3, 0.245, 0.005])
    y = rng.integers(0, 2, n)
    score_c = np.clip(y * 0.5 + rng.normal(0.25, 0.25, n), 0, 1).round(3)
    score_b = np.clip(y * 0.3 + rng.normal(0.35, 0.3, n), 0, 1)
    score_b[region == "east"] = 0.5  # all ties on one slice
    tier = rng.choice([1, 2, 3], n).astype(object)
    tier[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": (score_c >= 0.5).astype(int),
            "score_c": score_c,
            "pred_b": (score_b >= 0.5).astype(int),
            "score_b": score_b,
            "sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
            "region": region,
            "tier": pd.array(tier, dtype="Int64"),
        }
    )


GATES: list[dict[str, Any]] = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.86,
     "slices": ["sex", "region", ["sex", "region"], "tier"], "judge": "interval"},
    {"id": "f1", "kind": "metric", "metric": "f1", "min": 0.85, "slices": ["region"],
     "multiplicity": "holm", "judge": "significance"},
    {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.93,
     "slices": ["region", ["sex", "region"]], "judge": "interval"},
    {"id": "ap", "kind": "metric", "metric": "average_precision", "min": 0.5,
     "slices": ["sex"]},
    {"id": "ll", "kind": "metric", "metric": "log_loss", "max": 0.9, "slices": ["tier"]},
    {"id": "brier", "kind": "metric", "metric": "brier", "max": 0.1},
    {"id": "dp", "kind": "fairness", "metric": "demographic_parity_difference",
     "sensitive": "sex", "max": 0.2},
    {"id": "base-acc", "kind": "baseline", "metric": "accuracy", "max_drop": 0.01,
     "slices": ["region"]},
    {"id": "base-auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0,
     "slices": ["sex"]},
]  # fmt: skip


def project(
    root: Path,
    data: pd.DataFrame | None,
    engine: str,
    *,
    gates: list[dict[str, Any]] | None = None,
    task: dict[str, Any] | None = None,
    data_path: str = "eval.parquet",
    score_bins: str | int = "exact",
    baseline: bool = True,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if data is not None:
        data.to_parquet(root / data_path, index=False)
    cfg: dict[str, Any] = {
        "version": 1,
        "data": {"path": data_path},
        "task": task or {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred_c", "scores": "score_c"},
        "statistics": {"replicates": 200, "seed": 7},
        "backend": {"engine": engine, "score_bins": score_bins},
        "gates": gates or GATES,
    }
    if baseline:
        cfg["baseline"] = {"predictions": "pred_b", "scores": "score_b"}
    path = root / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def run(path: Path) -> Report:
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    return report


def assert_same(a: Report, b: Report) -> None:
    """Same verdicts: statuses, supports and reasons exactly, numbers to 1e-9."""
    assert a.errors == b.errors
    assert [g.id for g in a.gates] == [g.id for g in b.gates]
    for x, y in zip(a.gates, b.gates, strict=True):
        where = f"{x.id}: {x.message} | {y.message}"
        assert (x.status, x.reason, x.support, x.slice) == (y.status, y.reason, y.support, y.slice)
        _close(x.observed, y.observed, where)
        assert (x.ci is None) == (y.ci is None), where
        if x.ci is not None and y.ci is not None:
            _close(x.ci[0], y.ci[0], where)
            _close(x.ci[1], y.ci[1], where)
        for key in ("p_value", "p_adjusted"):
            _close(x.details.get(key), y.details.get(key), where)
        # Same method too: baseline ROC AUC is paired DeLong under every engine.
        assert x.details.get("ci_method") == y.details.get("ci_method"), where


def _close(u: float | None, v: float | None, where: str) -> None:
    if u is None or v is None:
        assert u is v, where
        return
    assert math.isclose(u, v, rel_tol=0, abs_tol=1e-9) or (math.isnan(u) and math.isnan(v)), where


@pytest.mark.parametrize(
    ("engine", "score_bins"),
    # Exact and binned scores differ only in one SQL expression; Spark runs one of them
    # to keep the suite's Spark time small: binned with paired DeLong's coarse grid.
    [
        ("duckdb", "exact"),
        ("duckdb", 64),
        ("duckdb", "grid"),
        pytest.param("spark", "grid", marks=pytest.mark.spark),
    ],
)
@pytest.mark.usefixtures("engine_ready")
def test_binary_gates_agree_with_memory(
    tmp_path: Path, engine: str, score_bins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = frame()
    grid = score_bins == "grid"
    if grid:
        # As at scale: more rows than the paired table's cell budget, so it is reduced on
        # a coarse grid (16 coarse bins of 16 fine ones here) by every engine.
        monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 1000)
        score_bins = 256
    mem = run(project(tmp_path / "m", df, "memory", score_bins=score_bins))
    other = run(project(tmp_path / "o", df, engine, score_bins=score_bins))
    assert any(g.status == "fail" for g in mem.gates)  # the data exercise both outcomes
    assert any(g.status == "pass" for g in mem.gates)
    assert_same(mem, other)
    # On the grid each verdict says its standard error is the grid's bound.
    assert {g.details["ci_method"] for g in other.gates if g.gate == "base-auc"} == {
        "paired delong (grid bound)" if grid else "paired delong"
    }
    assert other.context["reduction"]["engine"] == engine
    assert other.context["data"]["rows"] == len(df)
    scores = other.context["reduction"]["scores"]["candidate"]
    assert scores == mem.context["reduction"]["scores"]["candidate"]
    if score_bins == "exact":
        assert scores == "exact"
    else:
        assert scores["bins"] == score_bins and 0 < scores["roc_auc_error_bound_overall"] < 0.01
    paired = other.context["reduction"].get("paired")
    assert paired == mem.context["reduction"].get("paired")
    stated = [g.details.get("se_widening_bound") for g in other.gates if g.gate == "base-auc"]
    if grid:
        assert paired["factor"] == 16 and paired["grid"] == 16
        assert 0 < paired["se_widening_bound_overall"] <= paired["se_widening_bound_max"]
        assert stated == [g.details["se_widening_bound"] for g in mem.gates if g.gate == "base-auc"]
        # The context's largest is the largest any verdict (or the whole data) states.
        assert paired["se_widening_bound_max"] == max(
            [paired["se_widening_bound_overall"], *(w for w in stated if w is not None)]
        )
    else:
        assert paired is None  # the fine table: nothing to state
        assert stated == [None] * len(stated)


def test_each_grid_verdict_states_how_much_wider_than_the_fine_table_its_interval_may_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same rows judged twice: on the fine paired table, and (cell budget lowered as at
    # scale) on a 16 x 16 grid. Each grid verdict's interval is at least as wide as the
    # fine one, and at most `se_widening_bound` wider.
    df = frame(n=6000, seed=4)
    gates = [
        {"id": "base-auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0,
         "slices": ["sex", "region", ["sex", "region"]]},
    ]  # fmt: skip
    fine = run(project(tmp_path / "fine", df, "memory", gates=gates, score_bins=256))
    monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 1000)
    grid = run(project(tmp_path / "grid", df, "memory", gates=gates, score_bins=256))
    assert grid.context["reduction"]["paired"]["factor"] == 16
    checked = 0
    for f, g in zip(fine.gates, grid.gates, strict=True):
        assert f.id == g.id and "se_widening_bound" not in f.details
        bound = g.details["se_widening_bound"]
        if f.ci is None or g.ci is None or bound is None:
            continue
        widening = (g.ci[1] - g.ci[0]) / (f.ci[1] - f.ci[0]) - 1
        assert -1e-12 <= widening <= bound + 1e-12, g.id
        checked += 1
    assert checked >= 10
    stated = [g.details["se_widening_bound"] for g in grid.gates]
    assert grid.context["reduction"]["paired"]["se_widening_bound_max"] == max(
        [grid.context["reduction"]["paired"]["se_widening_bound_overall"], *stated]
    )


@pytest.mark.parametrize("engine", ["duckdb", SPARK])
@pytest.mark.usefixtures("engine_ready")
def test_regression_gates_agree_with_memory(tmp_path: Path, engine: str) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    target = 1e6 + rng.normal(0, 5, n)  # a large offset: sums of squares must not cancel
    df = pd.DataFrame(
        {
            "y": target,
            "pred_c": target + rng.normal(0.3, 2, n),
            "pred_b": target + rng.normal(0, 3, n),
            "region": rng.choice(["a", "b", "c"], n),
        }
    )
    gates = [
        {"id": f"m-{m}", "kind": "metric", "metric": m, "max": 3.0, "slices": ["region"]}
        for m in ("mae", "rmse", "mean_error")
    ] + [{"id": "r2", "kind": "metric", "metric": "r2", "min": 0.5, "slices": ["region"]}]
    gates.append({"id": "b-mae", "kind": "baseline", "metric": "mae", "max_drop": 0.0})
    task = {"type": "regression", "label": "y"}
    kw: dict[str, Any] = {"gates": gates, "task": task}
    cfg = dict(kw)
    mem = run(_no_scores(project(tmp_path / "m", df, "memory", **cfg)))
    other = run(_no_scores(project(tmp_path / "o", df, engine, **cfg)))
    assert_same(mem, other)


def _no_scores(path: Path) -> Path:
    cfg = yaml.safe_load(path.read_text())
    for role in ("candidate", "baseline"):
        cfg.get(role, {}).pop("scores", None)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_multiclass_gates_agree_with_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 1500
    y = rng.choice(["cat", "dog", "eel"], n)
    pred = np.where(rng.random(n) < 0.7, y, rng.choice(["cat", "dog", "eel"], n))
    df = pd.DataFrame({"y": y, "pred_c": pred, "g": rng.choice(["x", "y"], n)})
    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7, "slices": ["g"]},
        {"id": "f1", "kind": "metric", "metric": "f1_macro", "min": 0.7, "slices": ["g"]},
    ]
    task = {"type": "multiclass", "label": "y"}
    mem = run(
        _no_scores(project(tmp_path / "m", df, "memory", gates=gates, task=task, baseline=False))
    )
    duck = run(
        _no_scores(project(tmp_path / "d", df, "duckdb", gates=gates, task=task, baseline=False))
    )
    assert_same(mem, duck)


def test_folder_of_hive_partitions_equals_one_file(tmp_path: Path) -> None:
    """A folder written with `region=...` partitions reads the same rows as the file."""
    df = frame(1200, seed=4)
    mem = run(project(tmp_path / "m", df, "memory"))
    folder = tmp_path / "d" / "rows"
    pq.write_to_dataset(
        pa.Table.from_pandas(df, preserve_index=False), folder, partition_cols=["region"]
    )
    duck = run(project(tmp_path / "d", None, "duckdb", data_path="rows"))
    assert_same(mem, duck)
    glob = run(project(tmp_path / "d", None, "duckdb", data_path="rows/region=*/*.parquet"))
    assert_same(mem, glob)


@pytest.mark.spark
@pytest.mark.usefixtures("spark_session")
def test_spark_reads_a_catalog_table(tmp_path: Path, spark_session: Any) -> None:
    df = frame(800, seed=6)
    spark_session.createDataFrame(df.astype({"tier": "float64"})).createOrReplaceTempView(
        "eval_rows"
    )
    mem = run(project(tmp_path / "m", df.astype({"tier": "float64"}), "memory"))
    path = project(tmp_path / "s", None, "spark", data_path="eval_rows")
    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["format"] = "table"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert_same(mem, run(path))


def test_scale_backends_need_prediction_columns(tmp_path: Path) -> None:
    path = project(tmp_path, frame(50), "duckdb")
    cfg = yaml.safe_load(path.read_text())
    cfg["candidate"] = {"model": "model.skops"}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(ConfigError, match=r"candidate.*does not score models.*predictions"):
        load_config(path)


def test_missing_engine_library_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed
    report = run(project(tmp_path, frame(50), "duckdb"))
    assert report.status == "error"
    assert any("pip install 'mlops-gates[duckdb]'" in e for e in report.errors)
    assert all(g.status == "error" for g in report.gates)


def test_bad_labels_and_missing_columns_are_clear(tmp_path: Path) -> None:
    df = frame(200)
    df["y"] = df["y"].astype(str)
    df.loc[5, "y"] = "maybe"
    report = run(project(tmp_path / "a", df, "duckdb"))
    assert report.status == "error"
    assert any("'maybe'" in e for e in report.errors), report.errors
    # The same words as without a backend: labels are encoded by the same code.
    assert report.errors == run(project(tmp_path / "a", df, "memory")).errors
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["nope"]}]
    report = run(project(tmp_path / "b", frame(200), "duckdb", gates=gates))
    (verdict,) = report.gates
    assert verdict.status == "error" and "'nope'" in verdict.message


def test_staleness_runs_and_schema_checks_all_rows_and_a_sample(tmp_path: Path) -> None:
    schema = tmp_path / "schema.py"
    schema.write_text(
        "import pandera.pandas as pa\n"
        "schema = pa.DataFrameSchema({'score_c': pa.Column(float, pa.Check.le(0.99))})\n"
    )
    gates = [
        {"id": "schema", "kind": "schema", "schema": "schema:schema"},
        {"id": "fresh", "kind": "staleness", "data": {"column": "tier", "max_age": "30d"}},
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
    ]
    report = run(project(tmp_path, frame(400), "duckdb", gates=gates))
    by = {g.gate: g for g in report.gates}
    assert by["schema"].status == "fail"
    assert "(2 checks over all 400 rows, 1 on a seeded sample of 400 rows)" in by["schema"].message
    assert "less_than_or_equal_to(0.99)" in by["schema"].message
    # Staleness runs at scale too (a MAX); a column of numbers is refused as in memory.
    fresh = next(g for g in report.gates if g.gate == "fresh")
    assert fresh.status == "error" and "holds numbers, not timestamps" in fresh.message
    assert by["acc"].status in ("pass", "fail")


def test_missing_scores_are_reported_like_in_memory(tmp_path: Path) -> None:
    df = frame(300)
    df.loc[7, "score_c"] = np.nan
    report = run(project(tmp_path, df, "duckdb"))
    (error,) = {g.message for g in report.gates if g.gate == "auc"}
    assert "candidate scores" in error and "'score_c'" in error and "missing" in error


def test_auto_score_bins_switch_at_the_same_row_count_everywhere() -> None:
    from mlops_gates.backends.plan import AUTO_BINS, AUTO_EXACT_MAX_ROWS, resolve_bins

    assert resolve_bins("auto", AUTO_EXACT_MAX_ROWS) is None
    assert resolve_bins("auto", AUTO_EXACT_MAX_ROWS + 1) == AUTO_BINS
    assert resolve_bins("exact", 10**9) is None
    assert resolve_bins(64, 10) == 64
