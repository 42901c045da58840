"""Calibration and churn verdicts as pytest items: one per slice, selectable by kind."""

from __future__ import annotations

import pytest
import yaml
from helpers import base_config, binary_frame

pytest_plugins = ["pytester"]

GATES = [
    {"id": "cal", "kind": "calibration", "max": 0.5, "slices": ["sex"]},
    {"id": "flips", "kind": "churn", "max": 0.01, "slices": ["sex"]},
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    binary_frame().to_csv(pytester.path / "eval.csv", index=False)
    (pytester.path / "mlops-gates.yaml").write_text(
        yaml.safe_dump(base_config(gates=GATES), sort_keys=False)
    )
    return pytester


@pytest.mark.parametrize(
    ("expr", "ids"),
    [
        ("calibration", ["cal", "cal[sex=F]", "cal[sex=M]"]),
        ("churn", ["flips", "flips[sex=F]", "flips[sex=M]"]),
    ],
)
def test_markers_select_the_new_kinds(project: pytest.Pytester, expr: str, ids: list[str]) -> None:
    args = ["--mlops-gates", "--strict-markers", "-m", expr, "-p", "no:cacheprovider"]
    result = project.runpytest(*args, "--co", "-q")
    listed = [line.split("::", 1)[1] for line in result.outlines if "::" in line]
    assert listed == ids


def test_a_broken_churn_bound_fails_its_items_with_the_verdict(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--mlops-gates", "-p", "no:cacheprovider", "-m", "churn or calibration"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 3 and outcomes.get("failed") == 3, result.outlines
    result.stdout.fnmatch_lines(["*flipped decisions on sex=F is *above the maximum 0.01*"])
    assert "Traceback" not in result.stdout.str()
