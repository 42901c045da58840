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
        description="With guarantee: anytime, the JSON file holding the running counts "
        "(relative to the config file); the monitor workflow commits it between runs.",
    )
