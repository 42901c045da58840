"""The default reducer: rows already in this process (pandas), reduced with numpy."""

from __future__ import annotations

import numpy as np

from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import Plan, Reduced, resolve_bins
from mlops_gates.config import Config
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.stats.reduce import (
    ClassificationStats,
    RegressionStats,
    reduce_classification,
    reduce_joint_scores,
    reduce_regression,
    reduce_scores,
)
from mlops_gates.stats.scorebins import ScoreBins


def reduce_frame(config: Config, data: EvalData, plan: Plan) -> Reduced:
    """Encoded rows (`EvalData`) to the shared tables."""
    grouping = Grouping.of(data.table, plan.columns)
    n_groups = grouping.n_groups
    stats: ClassificationStats | RegressionStats
    if data.task == "regression":
        stats = reduce_regression(
            grouping.codes, n_groups, data.y_true, data.candidate, data.baseline
        )
    else:
        stats = reduce_classification(
            grouping.codes,
            n_groups,
            data.y_true,
            data.candidate,
            data.baseline,
            n_classes=len(data.classes),
        )
    score_grouping, to_coarse = grouping.coarsen(plan.score_columns)
    reduced = Reduced(
        engine="memory",
        n_rows=data.n_rows,
        columns=tuple(str(c) for c in data.table.columns),
        grouping=grouping,
        stats=stats,
        score_grouping=score_grouping,
        classes=data.classes,
        models=data.models,
        baseline_error=data.baseline_error,
    )
    if data.task != "binary" or not plan.score_models:
        return reduced
    codes = to_coarse[grouping.codes]
    n_bins = resolve_bins(config.backend.score_bins, data.n_rows)
    index: dict[str, np.ndarray] = {}  # each row's index into its model's score table
    for model in plan.score_models:
        scores = data.candidate_scores if model == "candidate" else data.baseline_scores
        if scores is None or (model == "baseline" and data.baseline is None):
            reduced.scores[model] = None
            continue
        lo, hi = (float(scores.min()), float(scores.max())) if scores.shape[0] else (0.0, 0.0)
        reduced.score_range[model] = (lo, hi)
        ng = score_grouping.n_groups
        if n_bins is None:
            reduced.bins[model] = None
            reduced.scores[model] = table = reduce_scores(codes, ng, data.y_true, scores)
            index[model] = np.searchsorted(table.thresholds, scores)
        else:
            bins = ScoreBins(lo, hi, n_bins)
            reduced.bins[model] = bins
            index[model] = bins.codes(scores)
            reduced.scores[model] = reduce_scores(
                codes, ng, data.y_true, index[model], thresholds=bins.thresholds()
            )
    if len(index) == 2:
        # One more grouped pass, over (group, class, candidate score, baseline score): the
        # pairing paired DeLong needs, which the two per-model tables lose.
        reduced.joint_scores = reduce_joint_scores(
            codes,
            score_grouping.n_groups,
            data.y_true,
            index["candidate"],
            index["baseline"],
        )
    return reduced


__all__ = ["reduce_frame"]
