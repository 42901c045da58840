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
    "PAIRED_GRID_CELLS",
    "Model",
    "Plan",
    "Reduced",
    "paired_factor",
    "paired_grid",
    "plan_for",
    "resolve_bins",
    "without_scores",
]

Model = Literal["candidate", "baseline"]

# Exact score tables cost about one cell per row; below this many rows that is cheap and
# rank metrics stay exact, above it `auto` switches to bins (see docs/scale.md).
AUTO_EXACT_MAX_ROWS = 250_000
AUTO_BINS = 4096

# Paired DeLong's joint table on binned scores: with more rows than this it is reduced on
# a coarse grid of at most this many (group, class, candidate, baseline) cells, so it
# stops growing with the rows (docs/scale.md, "The paired table"). At 8 bytes a count
# that is 64 MB in the batched read, and the rows an SQL engine returns.
PAIRED_GRID_CELLS = 1 << 23
_GRID_MAX, _GRID_MIN = 256, 16  # coarse bins per model: the grid's side, a power of two


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
    # The paired calibration comparison crosses each row's own bins: no coarse grid.
    joint_fine: bool = False


def plan_for(config: Config, available: set[str] | None = None) -> Plan:
    """The plan of `config`'s gates; columns missing from `available` are left out (the
    gates naming them report the missing column themselves)."""
    columns: list[str] = []
    score_columns: list[str] = []
    models: list[Model] = []
    joint = fine = False
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
                paired_l2 = getattr(gate, "statistic", None) == "squared_l2"
                joint = joint or paired_l2
                fine = fine or paired_l2
            _extend(models, wanted)
    # Keep the finest grouping's column order so coarsening is a plain sub-selection.
    score_columns = [c for c in columns if c in score_columns]
    models_used = tuple(m for m in ("candidate", "baseline") if m in models)
    paired = joint and len(models_used) == 2
    return Plan(columns, score_columns, models_used, joint=paired, joint_fine=paired and fine)


def paired_grid(n_rows: int, *, fine: bool) -> bool:
    """Whether paired DeLong's table is reduced on a coarse grid (binned scores only): with
    more rows than PAIRED_GRID_CELLS, unless the plan needs each row's bins (`fine`)."""
    return not fine and n_rows > PAIRED_GRID_CELLS


def paired_factor(n_bins: int | None, n_groups: int, n_rows: int, *, fine: bool) -> int:
    """Fine score bins per coarse bin of the joint table (1: each row's own bins), the
    same in every engine: it depends only on what each knows before its paired pass.

    Exact scores, a plan that needs the fine table (`fine`), or at most
    PAIRED_GRID_CELLS rows (then the fine table is no larger) keep the fine bins. Else
    the grid's side C is the largest power of two from 16 to 256 with
    groups x 2 classes x C² within PAIRED_GRID_CELLS (16 when none is), and the factor
    the smallest power of two f with f x C >= bins, so coarse bins are `bin // f` and a
    coarser grid is always a coarsening of a finer one."""
    if n_bins is None or not paired_grid(n_rows, fine=fine):
        return 1
    side = _GRID_MAX
    while side > _GRID_MIN and 2 * max(n_groups, 1) * side * side > PAIRED_GRID_CELLS:
        side //= 2
    factor = 1
    while factor * side < n_bins:
        factor *= 2
    return factor


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
    _whole: dict[str, ScoreStats] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def whole_scores(self, model: str, via: ScoreStats | None = None) -> ScoreStats | None:
        """`model`'s score table summed over every group (one group), made once: the
        gates' overall verdicts, the report's context and its curves each read it.
        ``via``: a table of the same rows over fewer groups (a slicing's) to sum instead
        of the groups' own. The counts are integers, so the sum is the same table, from a
        fraction of the entries (at 10M rows 20 thousand against two million)."""
        table = self.scores.get(model)
        if table is None:
            return None
        if model not in self._whole:
            from mlops_gates.stats.reduce import marginalize

            source = table if via is None else via
            self._whole[model] = marginalize(source, [0] * source.n_groups, 1)
        return self._whole[model]

    def describe(self, *, widest_judged: float | None = None) -> dict[str, Any]:
        """How the rows were reduced, for the report's context. ``widest_judged``: the
        largest ``se_widening_bound`` of the paired verdicts on a coarse grid, if any."""
        out = {
            "engine": self.engine,
            "rows": self.n_rows,
            "groups": self.grouping.n_groups,
            "scores": {
                model: "exact" if b is None else self._binned(model, b)
                for model, b in self.bins.items()
            },
        }
        joint = self.joint_scores
        if joint is not None and joint.factor > 1:
            out["paired"] = self._paired_grid(joint, widest_judged)
        return out

    def _paired_grid(self, joint: JointScores, widest_judged: float | None) -> dict[str, Any]:
        """The coarse grid paired DeLong read, and how much wider than the fine table's
        its standard errors may be: upper / lower bound − 1 (stats/normal.py), over the
        whole data, and the largest over it and every slice a paired verdict judged (each
        verdict states its own as ``details.se_widening_bound``; docs/scale.md)."""
        import math

        import numpy as np

        from mlops_gates.stats.normal import paired_roc_auc_difference_se_bounds
        from mlops_gates.stats.reduce import marginalize_joint

        b = self.bins.get("candidate")
        out: dict[str, Any] = {"factor": joint.factor, "cells": int(joint.count.shape[0])}
        if b is not None:
            out["grid"] = -(-b.n_bins // joint.factor)
        cand, base = self.scores.get("candidate"), self.scores.get("baseline")
        if cand is None or base is None:
            return out
        whole_c, whole_b = self.whole_scores("candidate"), self.whole_scores("baseline")
        assert whole_c is not None and whole_b is not None
        lo, hi = paired_roc_auc_difference_se_bounds(
            whole_c, whole_b, marginalize_joint(joint, [0] * cand.n_groups, 1)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            overall = float(hi[0] / lo[0] - 1.0)
        known = [w for w in (overall, widest_judged) if w is not None and math.isfinite(w)]
        out["se_widening_bound_overall"] = overall if math.isfinite(overall) else None
        out["se_widening_bound_max"] = max(known) if known else None
        return out

    def _binned(self, model: str, bins: ScoreBins) -> dict[str, Any]:
        from mlops_gates.stats.scorebins import auc_error_bound

        out: dict[str, Any] = {"bins": bins.n_bins, "lo": bins.lo, "hi": bins.hi}
        out["width"] = bins.width
        whole = self.whole_scores(model)
        if whole is not None:
            # The stated bound for the whole data; each slice has its own (docs/scale.md).
            bound = float(auc_error_bound(whole)[0])
            out["roc_auc_error_bound_overall"] = None if bound != bound else bound
        return out
