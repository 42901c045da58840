"""Cox's calibration slope and intercept, fitted exactly from a score table.

The logistic recalibration ``logit P(y = 1) = a + b · logit(score)`` (Cox 1958) has a
likelihood that depends on the rows only through the positives and negatives per distinct
score, so Newton's method on the reduced :class:`~mlops_gates.stats.reduce.ScoreStats`
gives the row fit itself, for every slice at once. (Kept apart from
:mod:`mlops_gates.stats.calibration`, whose binned statistics need no fitting.)
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.intervals import Interval
from mlops_gates.stats.reduce import ScoreStats

__all__ = ["calibration_slope"]

FloatArray = NDArray[np.float64]


def calibration_slope(
    scores: ScoreStats, *, level: float = 0.95, max_iter: int = 50
) -> tuple[FloatArray, FloatArray, Interval, Interval]:
    """Cox's logistic recalibration per slice: ``logit P(y) = a + b · logit(score)``
    fitted by maximum likelihood from the table's (distinct score, class) counts, which
    is exact. Returns intercept ``a``, slope ``b`` (0 and 1 when calibrated; ``b < 1``:
    over-confident) and their Wald ``level`` intervals. NaN where the fit does not exist:
    a score of exactly 0 or 1 (infinite logit), one class only, one distinct score, or
    separation (Newton steps that do not converge)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    g, k = scores.group, scores.n_groups
    thr = scores.thresholds
    value = thr[scores.score] if thr.shape[0] else np.zeros(0)
    with np.errstate(divide="ignore"):
        x = np.log(value) - np.log1p(-value)
    pos, w = scores.pos.astype(np.float64), (scores.pos + scores.neg).astype(np.float64)
    finite = np.bincount(g, weights=~np.isfinite(x), minlength=k) == 0
    x = np.where(np.isfinite(x), x, 0.0)

    def sums(v: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(g, weights=v, minlength=k), dtype=np.float64)

    a, b = np.zeros(k), np.ones(k)  # start at "calibrated"
    converged = np.zeros(k, dtype=bool)
    h00 = h01 = h11 = np.zeros(k)
    for _ in range(max_iter):
        eta = a[g] + b[g] * x
        mu = 0.5 * (1.0 + np.tanh(eta / 2.0))  # the logistic function, without overflow
        r = pos - w * mu
        v = w * mu * (1.0 - mu)
        g0, g1 = sums(r), sums(r * x)
        h00, h01, h11 = sums(v), sums(v * x), sums(v * x * x)
        det = h00 * h11 - h01 * h01
        with np.errstate(divide="ignore", invalid="ignore"):
            da = (h11 * g0 - h01 * g1) / det
            db = (h00 * g1 - h01 * g0) / det
        step_ok = np.isfinite(da) & np.isfinite(db)
        a = np.where(step_ok & ~converged, a + da, a)
        b = np.where(step_ok & ~converged, b + db, b)
        converged |= step_ok & (np.abs(da) + np.abs(db) < 1e-10 * (1.0 + np.abs(a) + np.abs(b)))
        if converged.all():
            break
    det = h00 * h11 - h01 * h01
    n_pos, n = sums(pos), sums(w)
    ok = converged & finite & (n_pos > 0) & (n_pos < n) & (det > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_a, se_b = np.sqrt(h11 / det), np.sqrt(h00 / det)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    nan = np.full(k, np.nan)
    a, b = np.where(ok, a, nan), np.where(ok, b, nan)
    se_a, se_b = np.where(ok, se_a, nan), np.where(ok, se_b, nan)
    return (
        np.asarray(a, dtype=np.float64),
        np.asarray(b, dtype=np.float64),
        Interval(a - z * se_a, a + z * se_a),
        Interval(b - z * se_b, b + z * se_b),
    )
