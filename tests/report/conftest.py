"""A small binary project whose report has every kind of picture: sliced metric gates with
passing and failing slices, a fairness gate, a baseline gate, both models' scores, and a
drift gate whose two features drifted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Project
from helpers import base_config, binary_frame

from mlops_gates.cli import main

# A slice value that would be markup if any reporter forgot to escape it.
HOSTILE = '--><img src=x onerror="alert(1)">&amp;'


def picture_frame() -> pd.DataFrame:
    """binary_frame with 3,000 rows and one region renamed to a hostile string."""
    frame = binary_frame(3000, seed=7)
    frame["region"] = frame["region"].replace({"east": HOSTILE})
    return frame


def reference_frame() -> pd.DataFrame:
    """The drift reference: another sample of the same data, with the baseline's scores
    lower and the regions in other proportions (and no hostile one), so both drift."""
    frame = binary_frame(2000, seed=8)
    frame["score_b"] = (frame["score_b"] - 0.15).clip(0, 1)
    frame.loc[frame.index % 3 == 0, "region"] = "north"
    return frame


def picture_config() -> dict[str, Any]:
    config = _gates_config()
    config["report"] = {"html": "on"}  # every plot, not only those of gates that did not pass
    return config


def _gates_config() -> dict[str, Any]:
    return base_config(
        gates=[
            {
                "id": "acc",
                "kind": "metric",
                "metric": "accuracy",
                "min": 0.897,
                "slices": ["sex", "region"],
                "min_support": 30,
            },
            {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.9, "slices": ["sex"]},
            {
                "id": "dp-sex",
                "kind": "fairness",
                "metric": "demographic_parity_difference",
                "sensitive": "sex",
                "max": 0.02,
                "severity": "warn",
            },
            {
                "id": "auc-vs-baseline",
                "kind": "baseline",
                "metric": "roc_auc",
                "max_drop": 0.0,
                "slices": ["region"],
            },
            {
                "id": "drift",
                "kind": "drift",
                "reference": "ref.csv",
                "features": ["score_b", "region", "score_c"],
                "max": 0.1,
                "severity": "warn",
            },
        ]
    )


@pytest.fixture
def picture_report(make_project: Project, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """(report directory, the evaluation frame) after `mlops-gates check`."""
    frame = picture_frame()
    path = make_project(picture_config(), frame)
    reference_frame().to_csv(path.parent / "ref.csv", index=False)
    out = tmp_path / "report"
    main(["check", "--config", str(path), "--report-dir", str(out)])
    return out, frame
