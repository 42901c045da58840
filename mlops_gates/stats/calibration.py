"""Calibration of binary scores, from the reduced score tables.

A score table (:class:`~mlops_gates.stats.reduce.ScoreStats`) keeps, per (slice, distinct
score), the rows of each class. Binning those cells gives per (slice, bin) the rows ``n_b``,
the positives ``x_b`` and the sum of scores, which is all calibration needs:

- expected calibration error ``ECE = Σ_b (n_b / n) · |s̄_b − x_b / n_b|`` with ``uniform``
  (equal-width over [0, 1]) or ``quantile`` (equal-mass: each slice's own score quantiles,
  computed as ``np.percentile`` would on its rows) bins, the same bins as scikit-learn's
  ``calibration_curve``;
- calibration-in-the-large ``CITL = s̄ − x / n`` (mean score minus observed rate);
- Cox's calibration slope and intercept are in :mod:`mlops_gates.stats.calibration_slope`.

Intervals are conditional on the scores: given them, each bin's positives are a sum of
independent Bernoulli draws, so a proportion interval bounds the bin's mean true
probability ``p̄_b``: Clopper-Pearson by default, since the Bonferroni tails are small
(0.25 % per side at 10 bins and 95 %) and there Wilson and Jeffreys undercover (0.84 and
0.86 against a nominal 0.90 in tests/stats/test_calibration_error.py's simulation). Bins are made
simultaneous by Bonferroni (every bin's interval at tail ``(1 − level) / (2B)``), and the
ECE interval runs from the smallest to the largest ``Σ w_b |s̄_b − p̄_b|`` the bin
intervals allow. Its lower end reaches 0 when every bin is consistent with calibration:
the percentile bootstrap of ECE cannot, because ``|·|`` biases the estimate upwards and a
calibrated model's ECE is then never covered (see docs/explanation/new-gates-statistics.md).
The candidate-vs-baseline difference gets the same construction over both models' bins
(:func:`ece_difference`).

A table built from binned scores (:class:`~mlops_gates.stats.scorebins.ScoreBins`) stands
each bin of the reduction for its midpoint; ECE is then computed on those values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.intervals import Interval
from mlops_gates.stats.proportions import Method, proportion_interval, proportion_pvalue
from mlops_gates.stats.proportions import _bounds as proportion_bounds
from mlops_gates.stats.reduce import ScoreStats

__all__ = [
    "CalibrationBins",
    "calibration_bins",
    "calibration_in_the_large",
    "citl_pvalue",
    "ece_difference",
    "ece_difference_pvalue",
    "ece_interval",
    "ece_pvalue",
    "expected_calibration_error",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Strategy = Literal["uniform", "quantile"]
Alternative = Literal["above", "below"]

# Bisection on the per-bin tail for p-values, as in stats.proportions.GapInference.
_A_MIN = 1e-16
_STEPS = 64


@dataclass(frozen=True)
class CalibrationBins:
    """Per (slice, bin): rows, positives and the sum of scores; ``edges`` per slice."""

    edges: FloatArray  # (S, B + 1)
    total: IntArray  # (S, B)
    positives: IntArray  # (S, B)
    score_sum: FloatArray  # (S, B)

    @property
    def n_bins(self) -> int:
        """Number of bins ``B`` (some may be empty)."""
        return int(self.total.shape[1])

    def mean_score(self) -> FloatArray:
        """Mean score per (slice, bin); NaN for an empty bin."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(self.total > 0, self.score_sum / self.total, np.nan))

    def observed_rate(self) -> FloatArray:
        """Share of positives per (slice, bin); NaN for an empty bin."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(self.total > 0, self.positives / self.total, np.nan))

    def weights(self) -> FloatArray:
        """``n_b / n`` per (slice, bin); NaN for an empty slice."""
        n = self.total.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(n > 0, self.total / n, np.nan))


def calibration_bins(
    scores: ScoreStats, *, n_bins: int = 10, strategy: Strategy = "uniform"
) -> CalibrationBins:
    """Bin each slice's score table into ``n_bins`` bins (see the module docstring).

    A score equal to an inner edge falls in the bin below it, as in scikit-learn. Raises
    ``ValueError`` when a score lies outside [0, 1] (calibration needs probabilities).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    thr = scores.thresholds
    if thr.shape[0] and (thr[0] < 0.0 or thr[-1] > 1.0):
        raise ValueError(
            f"calibration needs probabilities in [0, 1]; scores range over "
            f"[{thr[0]:g}, {thr[-1]:g}]"
        )
    s_count = scores.n_groups
    if strategy == "uniform":
        edges = np.broadcast_to(np.linspace(0.0, 1.0, n_bins + 1), (s_count, n_bins + 1)).copy()
    else:
        edges = _quantile_edges(scores, n_bins)
    value = thr[scores.score] if thr.shape[0] else np.zeros(0)
    if strategy == "uniform":  # one set of edges for every slice: one search
        bin_of = np.searchsorted(edges[0, 1:-1], value).astype(np.int64)
    else:
        # Each slice's own edges, over its contiguous run of entries: O(entries) overall,
        # not O(slices x entries) as a mask per slice would be.
        bin_of = np.empty(scores.group.shape[0], dtype=np.int64)
        order = _group_order(scores)
        ends = np.cumsum(np.bincount(scores.group, minlength=s_count))
        for s in range(s_count):
            lo, hi = (ends[s - 1] if s else 0), ends[s]
            if order is None:
                bin_of[lo:hi] = np.searchsorted(edges[s, 1:-1], value[lo:hi])
            else:
                run = order[lo:hi]
                bin_of[run] = np.searchsorted(edges[s, 1:-1], value[run])
    key = scores.group * n_bins + bin_of
    size = s_count * n_bins
    total = np.bincount(key, weights=scores.pos + scores.neg, minlength=size)
    positives = np.bincount(key, weights=scores.pos, minlength=size)
    score_sum = np.bincount(key, weights=(scores.pos + scores.neg) * value, minlength=size)
    shape = (s_count, n_bins)
    return CalibrationBins(
        edges=edges,
        total=np.rint(total).astype(np.int64).reshape(shape),
        positives=np.rint(positives).astype(np.int64).reshape(shape),
        score_sum=np.asarray(score_sum, dtype=np.float64).reshape(shape),
    )


def expected_calibration_error(bins: CalibrationBins) -> FloatArray:
    """ECE per slice: ``Σ_b (n_b / n) |s̄_b − x_b / n_b|``; NaN for an empty slice."""
    gap = np.abs(bins.mean_score() - bins.observed_rate())
    return _weighted(bins, gap)


def ece_interval(
    bins: CalibrationBins, *, level: float = 0.95, method: Method = "clopper_pearson"
) -> Interval:
    """Simultaneous (Bonferroni over bins) ``level`` interval of each slice's ECE, given
    the scores; NaN for an empty slice."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    tail = (1.0 - level) / _statements(bins)
    return Interval(*_ece_bounds(bins, tail, method))


def ece_pvalue(
    bins: CalibrationBins,
    *,
    bound: float,
    alternative: Alternative,
    method: Method = "clopper_pearson",
) -> FloatArray:
    """One-sided p-value that each slice's ECE is ``above`` (or ``below``) ``bound``,
    dual to :func:`ece_interval`: ``p < 1 − level`` exactly when that interval lies
    wholly on that side of ``bound``."""
    if alternative not in ("above", "below"):
        raise ValueError(f"alternative must be 'above' or 'below', got {alternative!r}")
    end = 0 if alternative == "above" else 1

    def beyond(a: FloatArray) -> NDArray[np.bool_]:
        e = _ece_bounds(bins, a, method)[end]
        return np.asarray(e > bound if alternative == "above" else e < bound)

    return _dual_pvalue(beyond, _statements(bins), bins.total.sum(axis=1) == 0)


def calibration_in_the_large(
    scores: ScoreStats, *, level: float = 0.95, method: Method = "wilson"
) -> tuple[FloatArray, Interval]:
    """Mean score minus observed rate per slice, and its ``level`` interval given the
    scores (the proportion interval of the observed rate, reflected); NaN if empty."""
    mean_score, n = _mean_scores(scores)
    x = scores.n_positive()
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = mean_score - x / n
    rate = proportion_interval(method, x, n, level=level)
    return np.asarray(estimate, dtype=np.float64), Interval(
        mean_score - rate.hi, mean_score - rate.lo
    )


def citl_pvalue(
    scores: ScoreStats,
    *,
    bound: float,
    alternative: Alternative,
    method: Method = "wilson",
) -> FloatArray:
    """One-sided p-value that each slice's CITL is ``above`` (or ``below``) ``bound``,
    dual to :func:`calibration_in_the_large`'s interval: CITL above ``b`` means the
    observed rate is below ``s̄ − b``, the proportion test of that (score test for
    Wilson, exact binomial for Clopper-Pearson). NaN for an empty slice."""
    if alternative not in ("above", "below"):
        raise ValueError(f"alternative must be 'above' or 'below', got {alternative!r}")
    mean_score, _ = _mean_scores(scores)
    rate_side: Literal["below", "above"] = "below" if alternative == "above" else "above"
    return proportion_pvalue(
        method,
        scores.n_positive(),
        scores.support(),
        bound=np.nan_to_num(mean_score - bound),
        alternative=rate_side,
    )


def _mean_scores(scores: ScoreStats) -> tuple[FloatArray, FloatArray]:
    """Mean score and rows per slice (NaN mean for an empty slice)."""
    n = scores.support().astype(np.float64)
    value = scores.thresholds[scores.score] if scores.thresholds.shape[0] else np.zeros(0)
    total = np.bincount(
        scores.group, weights=(scores.pos + scores.neg) * value, minlength=scores.n_groups
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, total / n, np.nan), dtype=np.float64), n


def ece_difference(
    candidate: CalibrationBins,
    baseline: CalibrationBins,
    *,
    level: float = 0.95,
    method: Method = "clopper_pearson",
) -> tuple[FloatArray, Interval]:
    """``ECE(candidate) − ECE(baseline)`` per slice on the same rows, and a simultaneous
    ``level`` interval given both models' scores: Bonferroni over the bins of both, so
    ``[lo_c − hi_b, hi_c − lo_b]`` covers with probability at least ``level``.

    Not a paired interval: a paired bootstrap of the joint cells was measured to
    undercover badly (the upward bias of ``|·|`` is largest for the better-calibrated
    model, so it does not cancel; see docs/explanation/new-gates-statistics.md).
    """
    if candidate.total.shape != baseline.total.shape or not np.array_equal(
        candidate.total.sum(axis=1), baseline.total.sum(axis=1)
    ):
        raise ValueError("candidate and baseline bins must come from the same rows and slices")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    tail = (1.0 - level) / (_statements(candidate) + _statements(baseline))
    c_lo, c_hi = _ece_bounds(candidate, tail, method)
    b_lo, b_hi = _ece_bounds(baseline, tail, method)
    estimate = expected_calibration_error(candidate) - expected_calibration_error(baseline)
    return np.asarray(estimate, dtype=np.float64), Interval(c_lo - b_hi, c_hi - b_lo)


def ece_difference_pvalue(
    candidate: CalibrationBins,
    baseline: CalibrationBins,
    *,
    margin: float,
    alternative: Alternative,
    method: Method = "clopper_pearson",
) -> FloatArray:
    """One-sided p-value that ``ECE(candidate) − ECE(baseline)`` is ``above`` (or
    ``below``) ``margin``, dual to :func:`ece_difference`'s interval (``p < 1 − level``
    exactly when that interval lies beyond ``margin``)."""
    if alternative not in ("above", "below"):
        raise ValueError(f"alternative must be 'above' or 'below', got {alternative!r}")
    ece_difference(candidate, baseline)  # the same checks of the two tables

    def beyond(a: FloatArray) -> NDArray[np.bool_]:
        c_lo, c_hi = _ece_bounds(candidate, a, method)
        b_lo, b_hi = _ece_bounds(baseline, a, method)
        if alternative == "above":
            return np.asarray(c_lo - b_hi > margin)
        return np.asarray(c_hi - b_lo < margin)

    statements = _statements(candidate) + _statements(baseline)
    return _dual_pvalue(beyond, statements, candidate.total.sum(axis=1) == 0)


def _dual_pvalue(
    beyond: Callable[[FloatArray], NDArray[np.bool_]],
    statements: FloatArray,
    empty: NDArray[np.bool_],
) -> FloatArray:
    """Bonferroni p-value ``statements · a*``, where ``a*`` is the per-statement tail at
    which the interval's end meets the bound (bisection on log a, as GapInference)."""
    lo_a = np.full(statements.shape, _A_MIN)
    hi_a = np.full(statements.shape, 0.5)
    at_half, sure = beyond(hi_a), beyond(lo_a)
    for _ in range(_STEPS):
        mid = np.sqrt(lo_a * hi_a)
        ok = beyond(mid)
        hi_a = np.where(ok, mid, hi_a)
        lo_a = np.where(ok, lo_a, mid)
    p = np.where(at_half, np.minimum(1.0, statements * hi_a), 1.0)
    p = np.where(sure, np.minimum(1.0, statements * _A_MIN), p)
    return np.asarray(np.where(empty, np.nan, p), dtype=np.float64)


# --- internals -------------------------------------------------------------------------


def _weighted(bins: CalibrationBins, per_bin: FloatArray) -> FloatArray:
    w = bins.weights()
    total = np.where(bins.total > 0, w * per_bin, 0.0).sum(axis=1)
    empty = bins.total.sum(axis=1) == 0
    return np.asarray(np.where(empty, np.nan, total), dtype=np.float64)


def _statements(bins: CalibrationBins) -> FloatArray:
    """One-sided statements per slice: two per occupied bin."""
    return np.asarray(np.maximum(2.0 * (bins.total > 0).sum(axis=1), 1.0), dtype=np.float64)


def _ece_bounds(
    bins: CalibrationBins, tail: FloatArray, method: Method
) -> tuple[FloatArray, FloatArray]:
    """ECE bounds per slice with each bin's rate interval at one-sided tail ``tail``."""
    a = np.broadcast_to(np.asarray(tail, dtype=np.float64)[:, None], bins.total.shape)
    # One elementwise call with a tail per cell (a tail of ½ or more: the point estimate),
    # not one per slice: the p-value's bisection calls this 64 times, and a call per slice
    # cost seconds on a couple of hundred slices.
    lo, hi = proportion_bounds(
        method,
        bins.positives.astype(np.float64),
        bins.total.astype(np.float64),
        np.clip(a, 0.0, 0.5),
    )
    m = bins.mean_score()
    least = np.where(m > hi, m - hi, np.where(m < lo, lo - m, 0.0))
    most = np.maximum(np.abs(m - lo), np.abs(m - hi))
    return _weighted(bins, least), _weighted(bins, most)


def _group_order(scores: ScoreStats) -> IntArray | None:
    """Entry order by (group, score), or None when the entries are in it already: the
    reduction stores them so (one O(E) check instead of a sort and gathers of up to one
    entry per row), but a hand-built table may not."""
    key = scores.group * max(scores.thresholds.shape[0], 1) + scores.score
    if key.shape[0] < 2 or bool(np.all(key[1:] >= key[:-1])):
        return None
    return np.asarray(np.lexsort((scores.score, scores.group)), dtype=np.int64)


def _quantile_edges(scores: ScoreStats, n_bins: int) -> FloatArray:
    """Each slice's ``np.percentile(rows, linspace(0, 100, B + 1))`` from its table."""
    order = _group_order(scores)
    group, score, count = scores.group, scores.score, scores.pos + scores.neg
    if order is not None:  # gathers of up to one entry per row: only when needed
        group, score, count = group[order], score[order], count[order]
    cum = np.cumsum(count)
    thr = scores.thresholds
    per = np.bincount(group, weights=count, minlength=scores.n_groups).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(per)[:-1]])
    # The same operations as sklearn's np.percentile(y_prob, linspace(0, 1, B+1) * 100),
    # so a score lying on an edge falls on the same side of it.
    q = np.linspace(0.0, 1.0, n_bins + 1) * 100 / 100
    edges = np.full((scores.n_groups, n_bins + 1), np.nan)
    for s in range(scores.n_groups):
        n = int(per[s])
        if n == 0:
            continue
        h = (n - 1) * q
        k = np.floor(h)
        t = h - k
        k_lo = k.astype(np.int64)
        k_hi = np.minimum(k_lo + 1, n - 1)
        a = thr[score[np.searchsorted(cum, start[s] + k_lo, side="right")]]
        b = thr[score[np.searchsorted(cum, start[s] + k_hi, side="right")]]
        diff = b - a
        edges[s] = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return edges
