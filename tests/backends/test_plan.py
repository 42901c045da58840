"""Which tables the plan asks every engine for: only what some gate reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import base_config, binary_frame

from mlops_gates.backends.plan import plan_for
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
