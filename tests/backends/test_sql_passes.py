"""How often a SQL reduction reads the rows, and that reading them fewer times changes no
number.

At a billion rows every pass over the Parquet costs minutes (bench/README.md, "Fewer
passes over the rows"), so the queries a DuckDB reduction issues are counted here: the
cells, the score ranges (aggregates only: the bins need them first), and one streamed
pass that gives every binned score table and the paired grid at once.
The tables they give must equal, array for array, the ones the memory engine reduces
from the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlops_gates.backends import open_backend, sql
from mlops_gates.backends import plan as plan_module
from mlops_gates.backends.plan import Reduced
from mlops_gates.config import Config, load_config
from mlops_gates.errors import DataError

from .test_stream import assert_same_tables, project, rows, whole


def reduce_counting(config: Config) -> tuple[Reduced, list[str], list[str]]:
    """The DuckDB reduction of `config`, the statements it ran on the rows for a small
    result, and those whose rows it streamed."""
    queries: list[str] = []
    streamed: list[str] = []
    with open_backend(config) as backend:
        table = backend.table()
        run, stream = table.run, backend._stream

        def counted(sql: str) -> pd.DataFrame:
            queries.append(sql)
            return run(sql)

        def counted_stream(where: Path, sql: str) -> Any:
            streamed.append(sql)
            return stream(where, sql)

        table.run = counted
        backend._stream = counted_stream  # type: ignore[method-assign]
        return backend.reduce(), queries, streamed


@pytest.mark.parametrize(
    ("bins", "grid"), [("exact", False), (64, False), (64, True)], ids=["exact", "bins", "grid"]
)
@pytest.mark.parametrize("baseline", [True, False], ids=["paired", "one-model"])
def test_every_score_table_comes_from_one_pass_and_equals_memorys(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bins: str | int,
    grid: bool,
    baseline: bool,
) -> None:
    if grid:  # as at scale: the paired table on a coarse grid (factor 4 of 64 bins)
        monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 20_000)
    path = project(tmp_path, rows(24_000), engine="duckdb", baseline=baseline)
    cfg = yaml.safe_load(path.read_text())
    cfg["backend"]["score_bins"] = bins
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    config = load_config(path)
    reduced, queries, streamed = reduce_counting(config)
    memory = whole(config)
    assert (reduced.joint_scores is not None) == baseline
    if grid and baseline:
        assert reduced.joint_scores is not None and reduced.joint_scores.factor == 4
    # Pandas dtypes of the slice keys differ by reader (Int64 / object); the tables not.
    monkeypatch.setattr(pd.testing, "assert_frame_equal", _same_values)
    assert_same_tables(reduced, memory)
    assert "GROUP BY" in queries[0] and "GROUP BY" not in queries[1]  # cells; score ranges
    if bins == "exact" or (baseline and not grid):
        # Exact scores, or the fine paired table (bins² cells per slice): GROUP BYs, one
        # per table.
        assert (len(queries), streamed) == (5 if baseline else 3, []), queries
    else:
        # Every score table and the paired grid from one streamed pass: one join, no
        # GROUP BY.
        assert len(queries) == 2, queries
        (pass_,) = streamed
        assert pass_.count(" JOIN ") == 1 and "GROUP BY" not in pass_


def _same_values(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert a.astype(object).where(a.notna(), None).values.tolist() == (
        b.astype(object).where(b.notna(), None).values.tolist()
    )


def test_tables_too_large_to_count_densely_are_grouped_by_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 20_000)
    config = load_config(project(tmp_path, rows(24_000), engine="duckdb"))
    # 12 score groups x 2 classes x 64 bins = 1,536 cells per score table.
    monkeypatch.setattr(sql, "DENSE_CELLS", 1_535)
    reduced, queries, streamed = reduce_counting(config)
    assert streamed == [] and len(queries) == 5  # cells, ranges, two score tables, pairs
    monkeypatch.setattr(pd.testing, "assert_frame_equal", _same_values)
    assert_same_tables(reduced, whole(config))


def test_a_nan_slice_key_is_named_not_miscounted(tmp_path: Path) -> None:
    """A float NaN is not NULL: the join to the slice keys cannot match it, and the
    streamed pass says so instead of returning tables short of those rows."""
    data = rows(2_000)
    gates = [{"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5, "slices": ["band"]}]
    data["band"] = 1.5
    config = load_config(project(tmp_path, data, engine="duckdb", gates=gates, baseline=False))
    # Written by pyarrow from numpy, NaN stays NaN (pandas would have written NULL).
    table = pa.Table.from_pandas(data.drop(columns=["band"]), preserve_index=False)
    band = np.where(np.arange(2_000) % 7 == 0, np.nan, 1.5)
    pq.write_table(table.append_column("band", pa.array(band)), config.data_path)
    with pytest.raises(DataError, match=r"rows matched their slice .* 'band' hold NaN"):
        reduce_counting(config)
