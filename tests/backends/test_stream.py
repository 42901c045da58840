"""The memory engine's batched read: a file of many row groups reduces to exactly the tables
of one whole read, runs whose gates read only those tables stream, and the others (or bad
data) read the file whole, with the whole read's messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlops_gates.backends import cells as cells_module
from mlops_gates.backends import plan as plan_module
from mlops_gates.backends import stream
from mlops_gates.backends.memory import MemoryBackend, _require_room, reduce_frame
from mlops_gates.backends.plan import Reduced, plan_for
from mlops_gates.config import Config, load_config
from mlops_gates.errors import DataError
from mlops_gates.gates.runner import run_gates
from mlops_gates.sources.data import read_rows
from mlops_gates.sources.evaluation import build_inputs

from .test_engines import assert_same


def rows(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    """Text slices (one with missing values, one whose rarest value first appears late,
    so row groups' dictionaries differ), tied and continuous scores."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]).astype(object)
    region[n - n // 10 :] = rng.choice(["north", "late"], n // 10)  # "late" only at the end
    sex = rng.choice(["F", "M", None], n, p=[0.45, 0.5, 0.05])
    y = rng.integers(0, 2, n)
    score_c = np.clip(y * 0.5 + rng.normal(0.25, 0.25, n), 0, 1).round(2)
    score_b = np.clip(y * 0.3 + rng.normal(0.35, 0.3, n), 0, 1)
    return pd.DataFrame(
        {"region": region, **_models(y, score_c, score_b), "sex": sex, "extra": rng.normal(size=n)}
    )


def _models(y: np.ndarray, score_c: np.ndarray, score_b: np.ndarray) -> dict[str, np.ndarray]:
    """The label and both models' columns; the predictions at 0.5, in two integer widths."""
    return {
        "y": y,
        "pred_c": (score_c >= 0.5).astype(np.int8),
        "score_c": score_c,
        "pred_b": (score_b >= 0.5).astype(np.int64),
        "score_b": score_b,
    }


GATES: list[dict[str, Any]] = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.8,
     "slices": ["region", ["region", "sex"]]},
    {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.9, "slices": ["sex"]},
    {"id": "dp", "kind": "fairness", "metric": "demographic_parity_difference",
     "sensitive": "sex", "max": 0.2},
    {"id": "base-auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0,
     "slices": ["region"]},
    {"id": "base-acc", "kind": "baseline", "metric": "accuracy", "max_drop": 0.01},
]  # fmt: skip


def project(
    root: Path,
    data: pd.DataFrame,
    *,
    row_group: int = 300,
    gates: list[dict[str, Any]] | None = None,
    task: dict[str, Any] | None = None,
    baseline: bool = True,
    engine: str = "memory",
    bins: int = 64,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(data, preserve_index=False)
    pq.write_table(table, root / "eval.parquet", row_group_size=row_group)
    cfg: dict[str, Any] = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": task or {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred_c", "scores": "score_c"},
        "statistics": {"replicates": 200, "seed": 7},
        "backend": {"engine": engine, "score_bins": bins},
        "gates": gates or GATES,
    }
    if baseline:
        cfg["baseline"] = {"predictions": "pred_b", "scores": "score_b"}
    (root / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root / "mlops-gates.yaml"


def whole(config: Config) -> Reduced:
    """The tables of one whole read (the memory engine before batching)."""
    plan = plan_for(config)
    table = read_rows(config.data_path, "parquet", factorize=plan.columns)
    return reduce_frame(config, build_inputs(config, table, config.data_path), plan)


def assert_same_tables(a: Reduced, b: Reduced) -> None:
    assert (a.n_rows, a.classes, a.models, a.columns) == (b.n_rows, b.classes, b.models, b.columns)
    pd.testing.assert_frame_equal(a.grouping.keys, b.grouping.keys)
    pd.testing.assert_frame_equal(a.score_grouping.keys, b.score_grouping.keys)
    assert np.array_equal(a.stats.counts, b.stats.counts)  # type: ignore[union-attr]
    assert (a.bins, a.score_range) == (b.bins, b.score_range)
    assert a.scores.keys() == b.scores.keys()
    for model, s in a.scores.items():
        t = b.scores[model]
        assert s is not None and t is not None
        for name in ("thresholds", "group", "score", "pos", "neg"):
            assert np.array_equal(getattr(s, name), getattr(t, name)), (model, name)
    if a.joint_scores is None or b.joint_scores is None:
        assert a.joint_scores is b.joint_scores
        return
    ja, jb = a.joint_scores, b.joint_scores
    assert (ja.n_negative_entries, ja.n_groups, ja.factor) == (
        jb.n_negative_entries,
        jb.n_groups,
        jb.factor,
    )
    for name in ("group", "candidate", "baseline", "count"):
        assert np.array_equal(getattr(ja, name), getattr(jb, name)), name


REAL_MIN_ROWS = stream.STREAM_MIN_ROWS


@pytest.fixture(autouse=True)
def _stream_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are small: let them stream as a file of millions of rows would."""
    monkeypatch.setattr(stream, "STREAM_MIN_ROWS", 0)


@pytest.fixture(params=[2, 4], ids=["two-cores", "four-cores"])
def cores(request: pytest.FixtureRequest) -> Iterator[int]:
    """pyarrow's CPU pool as on a machine of two cores (its batches decoded on the reading
    thread alone, and prepared by the counting thread) and of four (decoded on pyarrow's
    threads, prepared on the reading thread): `stream._decode_in_parallel`."""
    before = pa.cpu_count()
    pa.set_cpu_count(request.param)
    try:
        assert stream._decode_in_parallel() == (request.param > 2)
        yield request.param
    finally:
        pa.set_cpu_count(before)


def test_many_row_groups_reduce_to_the_tables_of_one_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    data = rows()
    config = load_config(project(tmp_path, data, row_group=300))
    assert pq.ParquetFile(config.data_path).metadata.num_row_groups == 14
    # Batches that do not line up with the row groups, so one batch spans two dictionaries.
    monkeypatch.setattr(stream, "BATCH_ROWS", 450)
    batched = stream.stream_reduce(config, config.data_path)
    assert batched.joint_scores is not None  # the paired table is built too
    assert_same_tables(batched, whole(config))
    # And a file written as one row group gives the same tables again.
    one = load_config(project(tmp_path / "one", data, row_group=len(data)))
    assert_same_tables(stream.stream_reduce(one, one.data_path), batched)


@pytest.mark.parametrize("first", [0, 1])
def test_labels_first_seen_in_any_order_stream_to_the_whole_reads_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: int
) -> None:
    # Binary labels and predictions are coded from their minimum and maximum, and a batch
    # whose values are their own codes is used as it is: the first batch holds one class
    # only (coded first), a later one one prediction only, and a multiclass column
    # (three values) takes the counting path.
    data = rows(n=2700, seed=5)
    data.loc[:449, "y"] = first
    data.loc[:449, "pred_c"] = np.int8(first)
    data.loc[900:1349, "pred_b"] = 1 - first
    monkeypatch.setattr(stream, "BATCH_ROWS", 450)
    config = load_config(project(tmp_path, data))
    assert_same_tables(stream.stream_reduce(config, config.data_path), whole(config))
    multi = data.assign(y=np.where(data["y"] == 1, 2, data["pred_b"]))
    multi["pred_c"] = np.where(multi["pred_c"] == 1, 2, 0).astype(np.int8)
    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["region"]}
    ]
    path = project(
        tmp_path / "multi", multi, gates=gates, task={"type": "multiclass", "label": "y"}
    )
    raw = yaml.safe_load(path.read_text())
    raw["candidate"], raw["baseline"] = {"predictions": "pred_c"}, {"predictions": "pred_b"}
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert_same_tables(stream.stream_reduce(config, config.data_path), whole(config))


def test_batches_of_many_slice_values_and_of_few_give_one_numbering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches whose dictionaries are small are numbered by their packed dictionary
    # indices, the others column by column (400 x 400 packed keys are too many for a
    # batch of 450 rows); the file switches between the two midway, back and forth, and
    # values and combinations first seen in either must get the same numbers.
    data = rows(n=3600, seed=6)
    rng = np.random.default_rng(6)
    many = np.array([f"v{i}" for i in range(400)], dtype=object)
    wide = data["region"].astype(object).to_numpy().copy()
    other = data["sex"].astype(object).to_numpy().copy()
    wide[1200:2400] = rng.choice(many, 1200)
    other[1200:2400] = rng.choice(many, 1200)
    data = data.assign(region=wide, sex=other)
    monkeypatch.setattr(stream, "BATCH_ROWS", 450)
    config = load_config(project(tmp_path, data, row_group=600))
    assert_same_tables(stream.stream_reduce(config, config.data_path), whole(config))


def test_a_row_group_whose_slice_column_is_all_missing_streams_to_the_whole_reads_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One row group's dictionary for `sex` is empty (every value missing) and another's
    # for `region` holds one value: the packed keys then have a radix of 1 or 2.
    data = rows(n=2400, seed=8)
    sex = data["sex"].astype(object).to_numpy().copy()
    region = data["region"].astype(object).to_numpy().copy()
    sex[600:1200] = None
    region[1200:1800] = "north"
    data = data.assign(sex=sex, region=region)
    monkeypatch.setattr(stream, "BATCH_ROWS", 300)
    config = load_config(project(tmp_path, data, row_group=600))
    assert_same_tables(stream.stream_reduce(config, config.data_path), whole(config))


def test_small_files_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "STREAM_MIN_ROWS", REAL_MIN_ROWS)
    config = load_config(project(tmp_path, rows(seed=4)))
    assert stream.streams(config)  # it could stream, but a whole read is faster
    with MemoryBackend(config) as backend:
        assert backend.stream() is None


def test_a_streamed_run_gives_the_whole_reads_verdicts(tmp_path: Path) -> None:
    data = rows(seed=4)
    config = load_config(project(tmp_path, data))
    assert stream.streams(config)
    with MemoryBackend(config) as backend:
        assert backend.stream() is not None  # this run streams ...
        assert backend.digest() is not None
    streamed = run_gates(config)
    read_whole = run_gates(config, table=data)  # ... and rows handed over never do
    assert_same(streamed, read_whole)
    assert streamed.fingerprint["data"] is not None
    assert streamed.context["reduction"] == read_whole.context["reduction"]
    assert {g.details["ci_method"] for g in streamed.gates if g.gate == "base-auc"} == {
        "paired delong"
    }
    # The batches are cells as DuckDB's GROUP BYs return them: the same verdicts there too.
    assert_same(streamed, run_gates(load_config(project(tmp_path / "duck", data, engine="duckdb"))))


def test_multiclass_text_labels_stream_to_the_same_tables(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    y = rng.choice(["cat", "dog", "eel"], n)
    pred = np.where(rng.random(n) < 0.7, y, rng.choice(["cat", "dog", "eel"], n))
    data = pd.DataFrame({"y": y, "pred_c": pred, "g": rng.choice(["x", "y"], n)})
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7, "slices": ["g"]}]
    path = project(
        tmp_path, data, gates=gates, task={"type": "multiclass", "label": "y"}, baseline=False
    )
    raw = yaml.safe_load(path.read_text())
    raw["candidate"] = {"predictions": "pred_c"}
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert_same_tables(stream.stream_reduce(config, config.data_path), whole(config))


def test_runs_needing_the_rows_or_exact_tables_read_the_file_whole(tmp_path: Path) -> None:
    data = rows(1000)
    schema = [*GATES, {"id": "s", "kind": "schema", "schema": "schema.yaml"}]
    assert not stream.streams(load_config(project(tmp_path / "schema", data, gates=schema)))
    exact = project(tmp_path / "exact", data)
    raw = yaml.safe_load(exact.read_text())
    raw["backend"]["score_bins"] = "exact"  # exact tables are row-sized: no gain in batches
    exact.write_text(yaml.safe_dump(raw))
    config = load_config(exact)
    with pytest.raises(stream.Unstreamable, match="exact"):
        stream.stream_reduce(config, config.data_path)
    with MemoryBackend(config) as backend:
        assert backend.stream() is None


def test_bad_labels_get_the_whole_reads_message(tmp_path: Path) -> None:
    data = rows(1000)
    data.loc[700, "y"] = 7  # a stray label in a late row group
    task = {"type": "binary", "label": "y", "classes": [0, 1], "positive_label": 1}
    config = load_config(project(tmp_path, data, task=task))
    with MemoryBackend(config) as backend:
        assert backend.stream() is None
    report = run_gates(config)
    assert report.errors and report.errors == run_gates(config, table=data).errors
    assert "first at row 700" in report.errors[0]  # a row of the file, not of a batch


def test_data_too_large_for_memory_is_refused_before_reading(tmp_path: Path) -> None:
    config = load_config(project(tmp_path, rows(1000)))
    with pytest.raises(DataError, match=r"backend\.engine: duckdb") as caught:
        _require_room(config.data_path, streaming=False, available=10_000)
    assert str(caught.value).count("\n") == 0 and "1,000 rows" in str(caught.value)
    _require_room(config.data_path, streaming=True, available=10**9)  # fits: no error


def test_a_coarse_paired_grid_streams_to_the_whole_reads_grid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PAIRED_GRID_CELLS rows paired DeLong's table is a coarse grid whose side shrinks
    as score groups appear. Here 9 region x sex groups give a 32-bin side (factor 2 of 64
    bins) until "late" appears in the last tenth of the rows: 12 groups give 16 (factor 4),
    so the batched read coarsens the grid it has filled, and must land on the table a
    whole read makes at once."""
    monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 20_000)
    assert plan_module.paired_factor(64, 9, 24_000, fine=False) == 2
    assert plan_module.paired_factor(64, 12, 24_000, fine=False) == 4
    config = load_config(project(tmp_path, rows(24_000), row_group=3000))
    monkeypatch.setattr(stream, "BATCH_ROWS", 450)
    batched = stream.stream_reduce(config, config.data_path)
    assert batched.score_grouping.n_groups == 12
    assert batched.joint_scores is not None and batched.joint_scores.factor == 4
    assert_same_tables(batched, whole(config))
    # The memory estimate no longer charges the paired table per row.
    assert not plan_for(config).joint_fine


def test_the_paired_calibration_comparison_keeps_the_fine_paired_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 1000)
    l2 = {"id": "l2", "kind": "calibration", "statistic": "squared_l2", "compare": "baseline",
          "max": 0.5, "slices": ["region"]}  # fmt: skip
    config = load_config(project(tmp_path, rows(4000), gates=[*GATES, l2]))
    assert plan_for(config).joint_fine
    batched = stream.stream_reduce(config, config.data_path)
    assert batched.joint_scores is not None and batched.joint_scores.factor == 1
    assert_same_tables(batched, whole(config))
    report = run_gates(config)
    assert {g.status for g in report.gates if g.gate == "l2"} <= {"pass", "fail"}
    assert "paired" not in report.context["reduction"]


SCORED_GATES: list[dict[str, Any]] = [
    {"id": "ap", "kind": "metric", "metric": "average_precision", "min": 0.5,
     "slices": ["region"]},
    {"id": "ll", "kind": "metric", "metric": "log_loss", "max": 1.0, "slices": ["sex"]},
    {"id": "brier", "kind": "metric", "metric": "brier", "max": 0.3},
    {"id": "ece", "kind": "calibration", "statistic": "ece", "max": 0.2, "slices": ["region"]},
    {"id": "ece-q", "kind": "calibration", "statistic": "ece", "max": 0.2, "bins": 5,
     "strategy": "quantile"},
    {"id": "citl", "kind": "calibration", "statistic": "citl", "min": -0.2, "max": 0.2,
     "slices": ["sex"]},
    {"id": "slope", "kind": "calibration", "statistic": "slope", "min": 0.5, "max": 2.0},
    {"id": "ece-b", "kind": "calibration", "statistic": "ece", "compare": "baseline",
     "max": 0.05, "slices": ["region"]},
    {"id": "churn", "kind": "churn", "max": 0.3, "slices": ["region"]},
    *GATES,
]  # fmt: skip


def _numbers(report: Any) -> list[Any]:
    return [
        (g.gate, g.slice, g.status, g.reason, g.support, repr(g.observed), repr(g.ci),
         repr(g.details.get("p_value")), repr(g.details.get("p_adjusted")))
        for g in report.gates
    ]  # fmt: skip


@pytest.mark.parametrize("grid", [False, True])
def test_narrow_streamed_score_tables_give_every_score_gate_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid: bool
) -> None:
    """The batched read hands the verdict stage score tables (and paired DeLong's coarse
    grid) in int32 / int16 (issue 25: they are held to the end of the run); every gate
    kind that streams and reads them must judge exactly as on the whole read's int64
    tables, to the last bit."""
    if grid:
        monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 5_000)
    data = rows(6000, seed=5)
    config = load_config(project(tmp_path, data, gates=SCORED_GATES))
    assert stream.streams(config)
    batched = stream.stream_reduce(config, config.data_path)
    narrow = batched.scores["candidate"]
    assert narrow is not None
    assert (narrow.group.dtype, narrow.score.dtype, narrow.pos.dtype) == (
        np.int32,
        np.int16,
        np.int32,
    )
    joint = batched.joint_scores
    assert joint is not None and (joint.factor > 1) == grid
    if grid:
        assert (joint.group.dtype, joint.candidate.dtype, joint.count.dtype) == (
            np.int32,
            np.int16,
            np.int32,
        )
        assert_same_tables(batched, whole(config))
    streamed, read_whole = run_gates(config), run_gates(config, table=data)
    assert not streamed.errors
    assert {g.gate for g in streamed.gates} == {g["id"] for g in SCORED_GATES}
    assert "error" not in {g.status for g in streamed.gates}
    assert _numbers(streamed) == _numbers(read_whole)


def late_pairs(n: int, seed: int = 5) -> pd.DataFrame:
    """Rows whose region values first appear one after another (value k from row k·n/10
    on), so the score pairs (region, sex, label) grow from 4 to 40 batch after batch."""
    rng = np.random.default_rng(seed)
    step = n // 10
    region = np.array([f"r{rng.integers(0, i // step + 1)}" for i in range(n)], dtype=object)
    y = rng.integers(0, 2, n)
    score_c = np.clip(y * 0.4 + rng.normal(0.3, 0.25, n), 0, 1).round(3)
    score_b = np.clip(y * 0.2 + rng.normal(0.4, 0.3, n), 0, 1)
    return pd.DataFrame(
        {"region": region, **_models(y, score_c, score_b), "sex": rng.choice(["F", "M"], n)}
    )


def plain_bins(scores: pd.Series, n_bins: int) -> np.ndarray:
    """The bin of each score, by the formula of stats/scorebins.py written out."""
    s = scores.to_numpy(dtype=np.float64)
    lo, hi = s.min(), s.max()
    return np.clip(np.floor((s - lo) * (n_bins / (hi - lo))), 0, n_bins - 1).astype(np.int64)


@pytest.mark.parametrize(
    ("block", "narrow", "kept"),
    [
        (cells_module.BLOCK_ENTRIES, stream.NARROW_MAX, "uint16"),
        (256, stream.NARROW_MAX, "uint16"),
        (cells_module.BLOCK_ENTRIES, 40, "spilled"),
        (256, 30, "widened"),
    ],
)
def test_pairs_first_seen_in_late_batches_count_as_pandas_groupby_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, narrow: int, kept: str
) -> None:
    """Sixty batches, the score pairs growing from 4 to 40 as they go: the tallies grow
    past the room they reserved several times, and the score tables and the coarse paired
    grid are still pandas' count of the rows per (group, bin, label) and (label, group,
    candidate bin // f, baseline bin // f). With small blocks the tables are summed a few
    groups at a time (cells._pair_blocks); with a low ceiling on the 16-bit tallies, pairs
    past it move their counts out (40: no batch gives a pair more) or, after some have, a
    batch widens the table (30). The paired grid coarsens (factor 2 to 4) when the third
    score group appears, its pairs' counts partly moved out."""
    monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 4096)
    monkeypatch.setattr(cells_module, "BLOCK_ENTRIES", block)
    monkeypatch.setattr(stream, "BATCH_ROWS", 100)
    monkeypatch.setattr(stream, "NARROW_MAX", narrow)
    rooms: list[int] = []
    seen: set[str] = set()
    add = stream._Tally.add

    def recorded(self: Any, keys: np.ndarray, size: int, rows: np.ndarray) -> None:
        add(self, keys, size, rows)
        rooms.append(self.room.shape[0])
        seen.add("spilled" if self.spill else str(self.room.dtype))
        if self.room.dtype != np.uint16:
            seen.add("widened")
        if self.room.dtype == np.uint16:  # no pair has more rows in the table than that
            assert int(self.table.reshape(-1, self.width).sum(axis=1).max()) <= narrow

    monkeypatch.setattr(stream._Tally, "add", recorded)
    coarsen = stream._Tally.coarsen

    def coarsened(self: Any, side: int, ratio: int, new_side: int) -> None:
        seen.add(f"coarsened {side}->{new_side}" + (" spilled" if self.spill else ""))
        coarsen(self, side, ratio, new_side)

    monkeypatch.setattr(stream._Tally, "coarsen", coarsened)
    data = late_pairs(6000)
    config = load_config(project(tmp_path, data, row_group=500, bins=64))
    batched = stream.stream_reduce(config, config.data_path)
    assert len(set(rooms)) >= 4  # the tallies grew more than once each
    assert kept in seen and (kept == "widened") == ("int32" in seen)
    assert "coarsened 32->16" + (" spilled" if kept == "spilled" else "") in seen
    keys = batched.score_grouping.keys
    assert sorted(keys.columns) == ["region", "sex"] and batched.score_grouping.n_groups == 20
    numbered = keys.astype(object).reset_index(drop=True).rename_axis("group").reset_index()
    group = data.merge(numbered, on=["region", "sex"], how="left")["group"].to_numpy()
    bins = {
        m: plain_bins(data[c], 64) for m, c in (("candidate", "score_c"), ("baseline", "score_b"))
    }
    for model, b in bins.items():
        table = batched.scores[model]
        assert table is not None
        want = pd.DataFrame({"group": group, "bin": b, "y": data["y"]})
        counts = want.groupby(["group", "bin", "y"]).size().unstack("y", fill_value=0)
        assert np.array_equal(table.group, counts.index.get_level_values("group"))
        assert np.array_equal(table.score, counts.index.get_level_values("bin"))
        assert np.array_equal(table.pos, counts[1]) and np.array_equal(table.neg, counts[0])
    joint = batched.joint_scores
    assert joint is not None and joint.factor > 1
    f = joint.factor
    cells = pd.DataFrame(
        {"y": data["y"], "group": group, "c": bins["candidate"] // f, "b": bins["baseline"] // f}
    )
    counts = cells.groupby(["y", "group", "c", "b"]).size()
    assert joint.n_negative_entries == int((counts.index.get_level_values("y") == 0).sum())
    assert np.array_equal(joint.group, counts.index.get_level_values("group"))
    assert np.array_equal(joint.candidate, counts.index.get_level_values("c"))
    assert np.array_equal(joint.baseline, counts.index.get_level_values("b"))
    assert np.array_equal(joint.count, counts.to_numpy())


@pytest.mark.parametrize("missing", [3, 5000])
def test_unseen_keys_are_numpys_unique_of_the_keys_not_found(missing: int) -> None:
    """Few unseen rows go through np.unique, many through a bincount of the space: both
    are the distinct keys of the rows whose id is negative, ascending."""
    rng = np.random.default_rng(missing)
    keys = rng.integers(0, 4000, 20_000)
    ids = rng.integers(0, 10, keys.shape[0])
    ids[rng.choice(keys.shape[0], missing, replace=False)] = -1
    want = pd.unique(pd.Series(keys[ids < 0]))
    assert np.array_equal(cells_module.unseen_keys(keys, ids, 4000), np.sort(want))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("score_b", np.nan, "not finite"), ("score_c", np.inf, "not finite"), ("y", None, "missing")],
)
def test_bad_values_in_a_late_batch_stop_the_batched_read_from_the_reading_thread(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    column: str,
    value: Any,
    message: str,
    cores: int,
) -> None:
    """A batch's scores and labels are checked as it is prepared (_Batches.prepare, on the
    reading thread when pyarrow has cores to spare, else on the counting one); a bad value
    in the last batches still stops the batched read, so the run reads the file whole and
    says what is wrong in its words."""
    monkeypatch.setattr(stream, "BATCH_ROWS", 100)
    data = late_pairs(2000)
    data[column] = data[column].astype(object if value is None else np.float64)
    data.loc[1950, column] = value
    config = load_config(project(tmp_path, data, row_group=500))
    with pytest.raises(stream.Unstreamable, match=message):
        stream.stream_reduce(config, config.data_path)
