"""Paired tests, multiplicity adjustment and bootstrap p-values.

- :func:`mcnemar`: candidate vs baseline accuracy on the same rows, from the discordant
  counts alone (rows that exactly one of the two models gets right).
- :func:`holm`, :func:`benjamini_hochberg`, :func:`adjust`: adjusted p-values across
  many slices; NaN (a slice that could not be tested) stays NaN and is not counted.
- :func:`bootstrap_pvalue`: a one-sided p-value for a margin from bootstrap replicates
  of a difference, the test that matches the percentile interval.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Adjustment",
    "adjust",
    "benjamini_hochberg",
    "bootstrap_pvalue",
    "discordant_counts",
    "holm",
    "mcnemar",
    "mcnemar_batch",
]


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Adjustment = Literal["holm", "bh", "none"]


# Below this many discordant rows the exact test is the default (the chi-square
# approximation is poor for small counts).
EXACT_BELOW = 25
# Up to this many discordant rows the exact tail is summed in integers (correctly
# rounded); beyond, in floating point relative to its largest term.
_INTEGER_UP_TO = 1000


def discordant_counts(counts: ArrayLike) -> tuple[IntArray, IntArray]:
    """``(b, c)`` per slice from ``counts[slice, true, candidate, baseline]`` ``(S, K, K, K)``.

    ``b``: rows the candidate gets right and the baseline wrong; ``c``: the reverse. With
    more than two classes "right" means the exact class.
    """
    a = np.asarray(counts)
    if a.ndim != 4 or not a.shape[1] == a.shape[2] == a.shape[3]:
        raise ValueError(f"counts must have shape (S, K, K, K) with a baseline, got {a.shape}")
    a = a.astype(np.int64, copy=False)
    both = np.einsum("sttt->s", a)
    b = np.einsum("sttj->s", a) - both
    c = np.einsum("stjt->s", a) - both
    return np.asarray(b, dtype=np.int64), np.asarray(c, dtype=np.int64)


def mcnemar(b: int, c: int, *, exact: bool | None = None) -> float:
    """Two-sided McNemar p-value from the discordant counts ``b`` and ``c``.

    Exact (``exact=True``, or by default when ``b + c < 25``): the two-sided binomial test
    of ``b`` successes in ``b + c`` trials at probability ½, equal to
    ``scipy.stats.binomtest(b, b + c, 0.5).pvalue``. Otherwise the chi-square test with
    one degree of freedom and the continuity correction, statistic
    ``max(|b - c| - 1, 0)² / (b + c)`` (the ``max`` keeps ``b == c`` at p = 1). No
    discordant rows: no evidence either way, p = 1.
    """
    if isinstance(b, bool) or isinstance(c, bool) or int(b) != b or int(c) != c:
        raise ValueError(f"b and c must be integer counts, got {b!r} and {c!r}")
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"b and c must be non-negative counts, got {b} and {c}")
    n = b + c
    if n == 0:
        return 1.0
    if exact is None:
        exact = n < EXACT_BELOW
    if not exact:
        stat = max(abs(b - c) - 1, 0) ** 2 / n
        return math.erfc(math.sqrt(stat / 2))  # chi-square(1) survival function
    k = min(b, c)
    if 2 * k == n:
        return 1.0
    return min(1.0, 2.0 * _binomial_half_cdf(k, n))


def mcnemar_batch(b: ArrayLike, c: ArrayLike, *, exact: bool | None = None) -> FloatArray:
    """:func:`mcnemar` elementwise over arrays of discordant counts (e.g. per slice)."""
    bb, cc = np.broadcast_arrays(np.asarray(b), np.asarray(c))
    out = [
        mcnemar(int(x), int(y), exact=exact) for x, y in zip(bb.ravel(), cc.ravel(), strict=True)
    ]
    return np.asarray(out, dtype=np.float64).reshape(bb.shape)


def _binomial_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, ½), with ``k < n / 2``."""
    if n <= _INTEGER_UP_TO:
        # int / int division is correctly rounded, however large the numbers.
        return sum(math.comb(n, i) for i in range(k + 1)) / (1 << n)
    # Terms relative to the largest one, C(n, k): each step down multiplies by
    # i / (n - i + 1); terms below 1e-300 of the largest cannot change the sum.
    i = np.arange(k, 0, -1, dtype=np.float64)
    log_ratio = np.cumsum(np.log(i) - np.log(n - i + 1))
    rel = 1.0 + float(np.exp(log_ratio[log_ratio > -700.0]).sum())
    log_top = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    return math.exp(log_top) * rel


def holm(pvalues: ArrayLike) -> FloatArray:
    """Holm's step-down adjusted p-values (family-wise error), same shape as ``pvalues``.

    With ``m`` defined p-values sorted ascending, the ``j``-th (1-based) is adjusted to
    the running maximum of ``min(1, (m - j + 1)·p)``. NaN stays NaN and is not counted
    in ``m``. Tied p-values get the same adjusted value.
    """
    p, ok, order = _prepare(pvalues)
    m = order.shape[0]
    ranked = p[ok][order]
    scaled = np.minimum(1.0, (m - np.arange(m)) * ranked)
    return _scatter(p, ok, order, np.maximum.accumulate(scaled))


def benjamini_hochberg(pvalues: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate).

    With ``m`` defined p-values sorted ascending, the ``j``-th is adjusted to the minimum
    over ``i >= j`` of ``m·p_(i) / i``, clipped to 1: monotone in ``p``, equal to
    ``scipy.stats.false_discovery_control(p, method="bh")`` when nothing is NaN. NaN
    stays NaN and is not counted in ``m``.
    """
    p, ok, order = _prepare(pvalues)
    m = order.shape[0]
    ranked = p[ok][order]
    scaled = m * ranked / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return _scatter(p, ok, order, adjusted)


def adjust(pvalues: ArrayLike, method: Adjustment) -> FloatArray:
    """Adjust ``pvalues`` for multiplicity: ``"holm"``, ``"bh"`` or ``"none"``."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        p, _, _ = _prepare(pvalues)
        return p
    raise ValueError(f"method must be 'holm', 'bh' or 'none', got {method!r}")


def _prepare(pvalues: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_], NDArray[np.intp]]:
    p = np.array(pvalues, dtype=np.float64)  # a copy: callers get a new array back
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1] (or be NaN for untested slices)")
    return p, ok, np.argsort(p[ok], kind="stable")


def _scatter(
    p: FloatArray, ok: NDArray[np.bool_], order: NDArray[np.intp], ranked: FloatArray
) -> FloatArray:
    defined = np.empty(order.shape[0], dtype=np.float64)
    defined[order] = ranked
    out = p.copy()
    out[ok] = defined
    return out


def bootstrap_pvalue(
    differences: ArrayLike, *, margin: float = 0.0, greater_is_better: bool = True
) -> FloatArray:
    """One-sided p-value that the difference beats ``margin``, from replicates ``(R, ...)``.

    ``differences`` are bootstrap replicates of ``candidate - baseline`` (e.g. from
    :func:`~mlops_gates.stats.intervals.bootstrap_paired_difference`), in the metric's
    units. The alternative is ``difference > margin`` when greater is better and
    ``difference < margin`` otherwise; ``margin = 0`` tests superiority, a margin on the
    worse side (``-0.01`` for accuracy, ``+0.01`` for log loss) non-inferiority.

    ``p = (1 + #replicates on the wrong side, margin included) / (1 + #defined)``: the
    share of replicates that do not beat the margin, with the usual +1 so that a finite
    number of replicates never claims ``p = 0``. It is the test dual to the one-sided
    percentile bound (``p <= α`` about when the ``α`` quantile clears the margin).
    NaN replicates (metric undefined) are left out; none defined gives NaN.
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim < 1 or d.shape[0] == 0:
        raise ValueError(f"differences must have shape (R, ...) with R >= 1, got {d.shape}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin}")
    defined = np.count_nonzero(~np.isnan(d), axis=0)
    wrong = d <= margin if greater_is_better else d >= margin  # NaN compares False
    p = (1.0 + np.count_nonzero(wrong, axis=0)) / (1.0 + defined)
    return np.asarray(np.where(defined > 0, p, np.nan), dtype=np.float64)
