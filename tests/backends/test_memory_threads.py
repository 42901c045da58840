"""The memory engine builds the paired scores table on a second thread while the models' own
tables are built: the same bits as on one thread, for the fine table and a coarse grid, and
the second thread only when the rows pay for it and a core is free."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gates.backends import memory
from mlops_gates.backends import plan as plan_module
from mlops_gates.backends.memory import reduce_frame
from mlops_gates.backends.plan import Reduced, plan_for
from mlops_gates.config import load_config
from mlops_gates.sources.data import read_rows
from mlops_gates.sources.evaluation import build_inputs
from mlops_gates.sources.models import cores_busy

from .test_stream import assert_same_tables, project, rows


def _tables(path: Path, threads: int) -> Reduced:
    config = load_config(path)
    plan = plan_for(config)
    table = read_rows(config.data_path, "parquet", factorize=plan.columns)
    return reduce_frame(
        config, build_inputs(config, table, config.data_path), plan, threads=threads
    )


@pytest.mark.parametrize("grid", [False, True], ids=["fine", "coarse-grid"])
@pytest.mark.parametrize("seed", [3, 11])
def test_two_threads_make_the_same_bits_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grid: bool, seed: int
) -> None:
    if grid:  # paired DeLong's coarse grid, as above PAIRED_GRID_CELLS rows
        monkeypatch.setattr(plan_module, "PAIRED_GRID_CELLS", 2_000)
    path = project(tmp_path, rows(5000, seed=seed), bins=256)
    one, two = _tables(path, threads=1), _tables(path, threads=2)
    assert two.joint_scores is not None and (two.joint_scores.factor > 1) is grid
    assert_same_tables(one, two)
    for model in ("candidate", "baseline"):
        a, b = one.scores[model], two.scores[model]
        assert a is not None and b is not None
        assert [x.dtype for x in (a.group, a.score, a.pos, a.neg)] == [
            x.dtype for x in (b.group, b.score, b.pos, b.neg)
        ]
    ja, jb = one.joint_scores, two.joint_scores
    assert ja is not None
    for name in ("group", "candidate", "baseline", "count"):
        assert getattr(ja, name).dtype == getattr(jb, name).dtype, name
    assert list(two.scores) == ["candidate", "baseline"]  # the tables keep the models' order


def test_exact_scores_and_a_run_without_a_baseline_are_unchanged_by_threads(
    tmp_path: Path,
) -> None:
    # Exact scores: each model's table comes before its rows' indices, so no overlap; no
    # baseline: no paired table. Both must still be what one thread makes.
    exact = project(tmp_path / "exact", rows(3000), bins=64)
    text = exact.read_text().replace("score_bins: 64", "score_bins: exact")
    exact.write_text(text)
    assert_same_tables(_tables(exact, 1), _tables(exact, 2))
    auc = {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}
    alone = project(tmp_path / "alone", rows(3000), baseline=False, gates=[auc])
    one, two = _tables(alone, 1), _tables(alone, 2)
    assert one.joint_scores is None and two.joint_scores is None
    assert_same_tables(one, two)


def test_a_second_thread_only_for_rows_that_pay_for_it_and_a_free_core() -> None:
    big = memory.THREAD_MIN_ROWS
    assert memory._second_core(big - 1, None) is False
    assert memory._second_core(big, None) is (not cores_busy())
    # Asked for explicitly, whatever the rows (the tests above).
    assert memory._second_core(10, 2) is True
    assert memory._second_core(10**9, 1) is False
