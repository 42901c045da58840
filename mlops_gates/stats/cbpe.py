"""Performance without labels: confidence-based performance estimation (CBPE) from scores.

When labels arrive weeks late, a *calibrated* score still says how often the model is right:
if ``P(y = 1 | score = p) = p``, a row predicted positive (``p >= threshold``) is correct with
probability ``p`` and a row predicted negative with probability ``1 - p``. Summing these
probabilities over a slice's score table gives the expected confusion cells, and from them
the expected accuracy, F1 and ROC AUC of the rows that were scored (not of a population).

Inputs are the reduced score tables (:class:`~mlops_gates.stats.reduce.ScoreStats`): CBPE
reads only the row count of each (group, score) cell, ``pos + neg``, so a table built
without labels (:func:`unlabelled_scores`) and one built with them give the same estimate,
and when labels do arrive the same table yields the true value to replace it.

Each estimate comes with an interval for the *realised* metric of these rows, assuming
(1) the scores are calibrated in the slice (the calibration gate checks this on labelled
data; a miscalibrated model gives confidently wrong estimates), and (2) labels are
independent given the scores. Under those assumptions each row's label is a Bernoulli draw
with its own probability, so:

- accuracy is a Poisson-binomial count over ``n``: mean ``sum c_i / n``, variance
  ``sum c_i (1 - c_i) / n^2`` (``c_i`` the probability row ``i`` is right); the interval is
  the normal one around it (the count is a sum of many independent bounded terms);
- F1 and ROC AUC are ratios of such sums; their point estimates are the metric of the
  expected cells (the ratio of expectations, as NannyML's CBPE), their intervals the
  percentiles of the metric over labels redrawn from the scores (a parametric bootstrap
  with a fixed seed), which is the distribution the assumptions imply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.reduce import AnyIntArray, ScoreStats, reduce_scores

__all__ = ["Estimate", "PerformanceEstimate", "estimate_performance", "unlabelled_scores"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ASSUMPTION = (
    "estimated from scores without labels; assumes the scores are calibrated in each slice "
    "and labels are independent given the scores"
)
# Redrawn label sets per chunk of the parametric bootstrap: bounds memory to
# chunk x table cells floats whatever the number of replicates.
_CHUNK = 64


@dataclass(frozen=True)
class Estimate:
    """An estimated metric per group with its interval (NaN where undefined)."""

    value: FloatArray
    lo: FloatArray
    hi: FloatArray


@dataclass(frozen=True)
class PerformanceEstimate:
    """CBPE of one score table: accuracy, F1 (class 1) and ROC AUC per group, the rows
    behind each, and the assumption every number rests on (for the report)."""

    accuracy: Estimate
    f1: Estimate
    roc_auc: Estimate
    support: IntArray
    level: float
    threshold: float
    assumption: str = ASSUMPTION


def unlabelled_scores(
    groups: ArrayLike,
    n_groups: int,
    scores: ArrayLike,
    *,
    thresholds: ArrayLike | None = None,
) -> ScoreStats:
    """A score table for rows without labels (every row is counted in ``neg``; CBPE reads
    only ``pos + neg``). Arguments as :func:`~mlops_gates.stats.reduce.reduce_scores`."""
    g = np.asarray(groups)
    return reduce_scores(
        g, n_groups, np.zeros(g.shape[0], dtype=np.int64), scores, thresholds=thresholds
    )


def estimate_performance(
    scores: ScoreStats,
    *,
    threshold: float = 0.5,
    level: float = 0.95,
    replicates: int = 1000,
    seed: int = 0,
) -> PerformanceEstimate:
    """Expected accuracy, F1 and ROC AUC per group of a table of calibrated probabilities
    of class 1, with intervals at ``level`` for the realised values (see the module notes
    for what they assume). Rows with ``score >= threshold`` are predicted positive."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    if replicates < 100:
        raise ValueError(f"replicates must be at least 100 for percentile ends, got {replicates}")
    p_all = np.asarray(scores.thresholds, dtype=np.float64)
    if p_all.size and not (np.all(np.isfinite(p_all)) and p_all.min() >= 0 and p_all.max() <= 1):
        raise ValueError(
            "CBPE needs calibrated probabilities of class 1 in [0, 1]; the scores range over "
            f"[{p_all.min()}, {p_all.max()}]: pass predict_proba(...)[:, 1], not a margin"
        )
    g_count = scores.n_groups
    group = scores.group
    count = (scores.pos + scores.neg).astype(np.float64)
    p = p_all[scores.score]
    predicted = p >= threshold
    support = np.asarray(scores.support(), dtype=np.int64)

    right = np.where(predicted, p, 1.0 - p)  # probability each row of the cell is right
    n = support.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = _sum_groups(count * right, group, g_count) / n
        sd = np.sqrt(_sum_groups(count * right * (1 - right), group, g_count)) / n
    from scipy.special import ndtri  # type: ignore[import-untyped]

    z = float(ndtri(0.5 + level / 2.0))
    accuracy = Estimate(
        _nan_where_empty(acc, n),
        _nan_where_empty(np.clip(acc - z * sd, 0.0, 1.0), n),
        _nan_where_empty(np.clip(acc + z * sd, 0.0, 1.0), n),
    )

    exp_pos = count * p
    f1_point = _f1(exp_pos[None, :], count[None, :], predicted, group, g_count)[0]
    auc_point = _auc(exp_pos[None, :], count[None, :], group, g_count)[0]

    rng = np.random.default_rng(seed)
    f1_draws = np.empty((replicates, g_count))
    auc_draws = np.empty((replicates, g_count))
    whole = np.round(count).astype(np.int64)
    for start in range(0, replicates, _CHUNK):
        k = min(_CHUNK, replicates - start)
        pos = rng.binomial(whole[None, :], p[None, :], size=(k, p.size)).astype(np.float64)
        f1_draws[start : start + k] = _f1(pos, count[None, :], predicted, group, g_count)
        auc_draws[start : start + k] = _auc(pos, count[None, :], group, g_count)
    tail = (1.0 - level) / 2.0
    return PerformanceEstimate(
        accuracy=accuracy,
        f1=_percentile_estimate(f1_point, f1_draws, tail),
        roc_auc=_percentile_estimate(auc_point, auc_draws, tail),
        support=support,
        level=level,
        threshold=threshold,
    )


def _percentile_estimate(point: FloatArray, draws: FloatArray, tail: float) -> Estimate:
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(draws)
        lo = np.full(point.shape, np.nan)
        hi = np.full(point.shape, np.nan)
        for j in range(point.shape[0]):
            d = draws[ok[:, j], j]
            if d.size and not np.isnan(point[j]):
                lo[j], hi[j] = np.quantile(d, [tail, 1.0 - tail])
    return Estimate(point, lo, hi)


def _f1(
    pos: FloatArray, count: FloatArray, predicted: NDArray[np.bool_], group: AnyIntArray, g: int
) -> FloatArray:
    """F1 of class 1 per (replicate, group) from positives per cell; undefined (NaN) when a
    group has neither positives nor positive predictions."""
    tp = _sum_groups(pos * predicted, group, g)
    fn = _sum_groups(pos * ~predicted, group, g)
    called = _sum_groups(count * predicted, group, g)  # tp + fp, fixed by the scores
    den = tp + fn + called
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(den > 0, 2.0 * tp / den, np.nan), dtype=np.float64)


def _auc(pos: FloatArray, count: FloatArray, group: AnyIntArray, g: int) -> FloatArray:
    """ROC AUC per (replicate, group) of a table sorted by (group, score): the share of
    (positive, negative) pairs ordered right, ties counted half."""
    neg = count - pos
    below = np.cumsum(neg, axis=-1) - neg  # negatives at lower scores, across groups
    starts = np.searchsorted(group, np.arange(g), side="left")
    first = np.where(starts < group.size, starts, 0)
    offset = np.take(below, first, axis=-1)  # what earlier groups contributed
    below_in_group = below - np.take(offset, group, axis=-1)
    wins = _sum_groups(pos * (below_in_group + 0.5 * neg), group, g)
    pairs = _sum_groups(pos, group, g) * _sum_groups(neg, group, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(pairs > 0, wins / pairs, np.nan), dtype=np.float64)


def _sum_groups(values: FloatArray, group: AnyIntArray, g: int) -> FloatArray:
    """Sums over the last axis per group (entries sorted by group); empty groups sum to 0."""
    v = np.asarray(values, dtype=np.float64)
    cs = np.concatenate([np.zeros((*v.shape[:-1], 1)), np.cumsum(v, axis=-1)], axis=-1)
    starts = np.searchsorted(group, np.arange(g), side="left")
    ends = np.searchsorted(group, np.arange(g), side="right")
    return np.asarray(np.take(cs, ends, axis=-1) - np.take(cs, starts, axis=-1))


def _nan_where_empty(values: FloatArray, n: FloatArray) -> FloatArray:
    return np.asarray(np.where(n > 0, values, np.nan), dtype=np.float64)
