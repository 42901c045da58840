"""Which tables the plan asks every engine for: only what some gate reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import base_config, binary_frame

from mlops_gates.backends.plan import PAIRED_GRID_CELLS, paired_factor, plan_for
from mlops_gates.config import load_config
from mlops_gates.gates.runner import run_gates

CALIBRATION_VS_BASELINE = {
    "id": "ece",
    "kind": "calibration",
    "statistic": "ece",
    "compare": "baseline",
    "max": 0.5,
}


@pytest.mark.parametrize(
    ("gate", "joint"),
    [
        ({"id": "auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.1}, True),
        ({"id": "acc", "kind": "baseline", "metric": "accuracy", "max_drop": 0.1}, False),
        ({"id": "ll", "kind": "baseline", "metric": "log_loss", "max_drop": 0.1}, False),
        (CALIBRATION_VS_BASELINE, False),
        ({"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}, False),
    ],
)
def test_the_joint_score_table_is_planned_only_for_paired_delong(
    tmp_path: Path, gate: dict[str, Any], joint: bool
) -> None:
    """Pairing both models' scores per row costs a sort of the rows; only a baseline ROC
    AUC gate (paired DeLong) reads it, and it still gets it."""
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(base_config(gates=[gate])))
    config = load_config(path)
    assert plan_for(config).joint is joint
    report = run_gates(config, table=binary_frame()).to_dict()
    assert report["errors"] == []
    methods = {(g.get("details") or {}).get("ci_method") for g in report["gates"]}
    assert ("paired delong" in methods) is joint


@pytest.mark.parametrize(
    ("bins", "groups", "rows", "fine", "factor"),
    [
        (4096, 800, 10**7, False, 64),  # the benchmark: a 64 x 64 grid per slice and class
        (4096, 800, 10**6, False, 1),  # fewer rows than the grid's cells: the fine table
        (None, 800, 10**9, False, 1),  # exact scores
        (4096, 800, 10**9, True, 1),  # the paired calibration comparison needs the rows' bins
        (4096, 1, 10**9, False, 16),  # at most 256 bins a side
        (100, 10, 10**9, False, 1),  # fewer bins than that
        (100, 5000, 10**9, False, 8),  # 16 bins a side at least: 100 bins // 8, 13 coarse
        (4096, 20_000, 10**9, False, 256),
    ],
)
def test_the_paired_grid_depends_only_on_what_every_engine_knows(
    bins: int | None, groups: int, rows: int, fine: bool, factor: int
) -> None:
    """The factor is a power of two, so a coarser grid nests in a finer one, and the grid
    (groups x 2 x side²) stays within PAIRED_GRID_CELLS down to 16 bins a side."""
    assert paired_factor(bins, groups, rows, fine=fine) == factor
    if factor > 1 and bins is not None:
        side = -(-bins // factor)
        assert side <= 256 and (side >= 16 or bins < 16 * factor)
        assert side == 16 or 2 * groups * side**2 <= PAIRED_GRID_CELLS


def test_only_the_paired_calibration_comparison_needs_the_fine_paired_table(
    tmp_path: Path,
) -> None:
    auc = {"id": "auc", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.1}
    l2 = {**CALIBRATION_VS_BASELINE, "id": "l2", "statistic": "squared_l2"}
    for gates, fine in (([auc], False), ([auc, l2], True), ([l2], True)):
        path = tmp_path / "mlops-gates.yaml"
        path.write_text(yaml.safe_dump(base_config(gates=gates)))
        plan = plan_for(load_config(path))
        assert plan.joint and plan.joint_fine is fine
