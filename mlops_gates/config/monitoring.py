"""The `monitor:` section: how scheduled monitoring judges over time (docs/monitor.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from mlops_gates.config.base import StrictModel

__all__ = ["MonitorConfig"]


class MonitorConfig(StrictModel):
    """How `mlops-gates monitor` judges a deployed model run after run."""

    guarantee: Literal["fixed", "anytime"] = Field(
        default="fixed",
        description="fixed: each run judges its window alone (a new chance of a false alarm "
        "every run). anytime: count metrics (accuracy, recall, ...) are judged on running "
        "counts kept in `state` across runs, with a false-alarm chance of at most `alpha` "
        "over every run together.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description="With guarantee: anytime, the chance of ever a false alarm over every run.",
    )
    state: Path = Field(
        default=Path("monitoring/state.json"),
        description="With guarantee: anytime and store: file, the JSON file holding the "
        "running counts (relative to the config file); something must keep it between "
        "scheduled runs (a commit, a cache).",
    )
    store: Literal["file", "mlflow"] = Field(
        default="file",
        description="With guarantee: anytime, where the running counts live between runs. "
        "file: the `state` file. mlflow: one MLflow run per deployed model version in "
        "`experiment`, on the tracking server of `tracking.uri` / MLFLOW_TRACKING_URI (the "
        "starter monitor workflow's choice: it needs no write access to the repository).",
    )
    experiment: str = Field(
        default="mlops-gates-monitor",
        min_length=1,
        description="With store: mlflow, the MLflow experiment holding the state runs.",
    )
