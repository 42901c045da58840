"""What a Spark reduction asks of Spark: how many passes over the rows, and how it joins.

On two cores a Spark job costs seconds of fixed work (scheduling, code generation, the
JVM warming up) and every pass decodes the Parquet again (bench/README.md, "Spark at 1e8
rows"), so the number of queries is what a user waits for. The score queries join every
row to the small table of slice keys: that join must be a broadcast, or Spark would sort
and shuffle all the rows to join them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_gates.backends import open_backend
from mlops_gates.config import load_config

from .test_engines import frame, project

pytestmark = [pytest.mark.spark, pytest.mark.usefixtures("spark_session")]


def test_a_reduction_is_one_query_per_table_and_joins_by_broadcast(
    tmp_path: Path, spark_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.8,
         "slices": ["region", ["sex", "region"]]},
        {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.9, "slices": ["region"]},
        {"id": "base-auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0,
         "slices": ["sex"]},
    ]  # fmt: skip
    config = load_config(project(tmp_path, frame(2000), "spark", gates=gates, score_bins=64))
    queries: list[str] = []
    with open_backend(config) as backend:
        table = backend.table()
        run = table.run

        def counted(sql: str) -> pd.DataFrame:
            queries.append(sql)
            return run(sql)

        table.run = counted
        reduced = backend.reduce()
        table.run = run
        plans = {}
        for sql in queries:  # while the run's views are there
            capsys.readouterr()
            spark_session.sql(sql).explain()
            plans[sql] = capsys.readouterr().out
    assert reduced.n_rows == 2000
    assert reduced.joint_scores is not None
    # The cells, the score ranges, a score table per model and the paired (joint) table.
    assert len(queries) <= 5, queries
    joins = [sql for sql in queries if " JOIN " in sql]
    assert joins, "the score queries join the rows to the slice keys"
    for sql, plan in plans.items():
        assert "SortMergeJoin" not in plan and "NestedLoopJoin" not in plan, plan
        if sql in joins:
            assert "BroadcastHashJoin" in plan, plan
