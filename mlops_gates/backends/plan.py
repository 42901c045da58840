"""What a run needs reduced (the plan) and what every backend hands back (`Reduced`).

The plan is read off the gates: which columns they slice by, which of them need score
tables and for which model. Every backend answers the same plan with the same tables,
so metric, interval and gate code never knows where the rows were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_gates.backends.grouping import Grouping
from mlops_gates.config import (
    SCORE_METRICS,
    BaselineGate,
    CalibrationGate,
    ChurnGate,
    Config,
    FairnessGate,
    MetricGate,
)
from mlops_gates.stats.reduce import (
    ClassificationStats,
    JointScores,
    RegressionStats,
    ScoreStats,
)
from mlops_gates.stats.scorebins import ScoreBins

__all__ = [
    "AUTO_BINS",
    "AUTO_EXACT_MAX_ROWS",
    "Model",
    "Plan",
    "Reduced",
    "plan_for",
    "resolve_bins",
    "without_scores",
]

Model = Literal["candidate", "baseline"]

# Exact score tables cost about one cell per row; below this many rows that is cheap and
# rank metrics stay exact, above it `auto` switches to bins (see docs/scale.md).
AUTO_EXACT_MAX_ROWS = 250_000
AUTO_BINS = 4096


@dataclass(frozen=True)
class Plan:
    """What every backend must reduce for a run's gates, so that each reads the rows once:
    the grouping columns, and which score tables to build for which models."""

    columns: list[str]  # the finest grouping: every column a gate slices by
    score_columns: list[str]  # the columns gates using score metrics slice by
    score_models: tuple[Model, ...]  # whose scores those gates read
    # Both models' scores paired per row: only paired DeLong (a baseline ROC AUC gate) and
    # the paired calibration comparison (squared_l2) read that table; it costs a sort of
    # the rows.
    joint: bool = False


def plan_for(config: Config, available: set[str] | None = None) -> Plan:
    """The plan of `config`'s gates; columns missing from `available` are left out (the
    gates naming them report the missing column themselves)."""
    columns: list[str] = []
    score_columns: list[str] = []
    models: list[Model] = []
    joint = False
    for gate in config.gates:
        if isinstance(gate, MetricGate | BaselineGate | CalibrationGate | ChurnGate):
            cols = [c for s in gate.slices for c in ([s] if isinstance(s, str) else s)]
        elif isinstance(gate, FairnessGate):
            cols = [*gate.control, gate.sensitive]
        else:
            continue
        cols = [c for c in cols if available is None or c in available]
        _extend(columns, cols)
        # Calibration reads the score tables; with compare: baseline, both models'.
        scored = isinstance(gate, CalibrationGate) or gate.metric in SCORE_METRICS
        if scored and config.task.type == "binary":
            _extend(score_columns, cols)
            wanted: list[Model] = ["candidate"]
            both = isinstance(gate, BaselineGate) or getattr(gate, "compare", None) == "baseline"
            if both and config.baseline is not None:
                wanted.append("baseline")
                joint = joint or (isinstance(gate, BaselineGate) and gate.metric == "roc_auc")
                # The paired calibration comparison crosses both models' bins per row.
                joint = joint or getattr(gate, "statistic", None) == "squared_l2"
            _extend(models, wanted)
    # Keep the finest grouping's column order so coarsening is a plain sub-selection.
    score_columns = [c for c in columns if c in score_columns]
    models_used = tuple(m for m in ("candidate", "baseline") if m in models)
    return Plan(columns, score_columns, models_used, joint=joint and len(models_used) == 2)


def _extend(into: list[Any], items: list[Any]) -> None:
    for item in items:
        if item not in into:
            into.append(item)


def without_scores(config: Config) -> Config:
    """`config` with neither model's scores column: what the label and prediction encoder
    reads when an engine has reduced the scores itself."""
    update: dict[str, Any] = {"candidate": config.candidate.model_copy(update={"scores": None})}
    if config.baseline is not None:
        update["baseline"] = config.baseline.model_copy(update={"scores": None})
    else:
        update["baseline"] = None
    return config.model_copy(update=update)


def resolve_bins(setting: str | int, n_rows: int) -> int | None:
    """Number of score bins for this run, or None for exact score tables."""
    if setting == "exact":
        return None
    if setting == "auto":
        return None if n_rows <= AUTO_EXACT_MAX_ROWS else AUTO_BINS
    return int(setting)


@dataclass
class Reduced:
    """The rows, reduced: every backend returns exactly this."""

    engine: str
    n_rows: int
    columns: tuple[str, ...]  # the data's columns (for messages naming a missing one)
    grouping: Grouping
    stats: ClassificationStats | RegressionStats
    score_grouping: Grouping
    scores: dict[str, ScoreStats | None] = field(default_factory=dict)
    score_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    bins: dict[str, ScoreBins | None] = field(default_factory=dict)
    # Both models' scores per row over the score grouping, for paired DeLong; None when the
    # engine does not reduce it (baseline ROC AUC is then unpaired, and says so).
    joint_scores: JointScores | None = None
    classes: tuple[Any, ...] = ()
    label: str = ""  # the label column
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline_error: str | None = None

    def describe(self) -> dict[str, Any]:
        """How the rows were reduced, for the report's context."""
        return {
            "engine": self.engine,
            "rows": self.n_rows,
            "groups": self.grouping.n_groups,
            "scores": {
                model: "exact" if b is None else self._binned(model, b)
                for model, b in self.bins.items()
            },
        }

    def _binned(self, model: str, bins: ScoreBins) -> dict[str, Any]:
        from mlops_gates.stats.reduce import marginalize
        from mlops_gates.stats.scorebins import auc_error_bound

        out: dict[str, Any] = {"bins": bins.n_bins, "lo": bins.lo, "hi": bins.hi}
        out["width"] = bins.width
        table = self.scores.get(model)
        if table is not None:
            # The stated bound for the whole data; each slice has its own (docs/scale.md).
            whole = marginalize(table, [0] * table.n_groups, 1)
            bound = float(auc_error_bound(whole)[0])
            out["roc_auc_error_bound_overall"] = None if bound != bound else bound
        return out
