"""Decision churn against the baseline, and paired equivalence (TOST), from the label cells.

The classification reduction keeps ``counts[slice, true, candidate, baseline]``. Summing
out the true class gives each slice's (candidate label × baseline label) table, which is
all churn needs:

- flip share: rows whose label differs, ``Σ_{c ≠ b} m[c, b] / n``;
- negative→positive: baseline 0, candidate 1, as a share of **all** rows of the slice (so
  the two directions add up to the flip share), and positive→negative likewise.

Each is a binomial proportion of the slice's rows, so it gets the interval and one-sided
p-value of :mod:`mlops_gates.stats.proportions` (Wilson by default). ``simultaneous=True``
Bonferroni-adjusts the level over the slices, so that a bound like ``max: 0.02`` on every
slice holds together with probability at least ``level``.

TOST (two one-sided tests, Schuirmann 1987): a paired metric difference ``d`` is shown
within ``±δ`` when both ``H0: d ≤ −δ`` and ``H0: d ≥ δ`` are rejected; its p-value is the
larger of the two. The per-row quantity of a proportion metric on a fixed set of rows
(accuracy: correct; recall: correct among positives; selection rate: predicted 1) is an
indicator, so the paired differences take values in {−1, 0, 1} and their mean and sample
variance come from the discordant cells; the test is the paired t-test (``n − 1`` degrees
of freedom), the same as statsmodels' ``ttost_paired`` on the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.inference import holm
from mlops_gates.stats.intervals import Interval
from mlops_gates.stats.proportions import Method, proportion_interval, proportion_pvalue

__all__ = [
    "TOST_METRICS",
    "FlipRates",
    "Tost",
    "flip_pvalue",
    "flip_rates",
    "tost_paired",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# metric -> (true classes whose rows count, candidate/baseline label that scores 1;
# None means "the label equals the true class").
TOST_METRICS: dict[str, tuple[tuple[int, ...], int | None]] = {
    "accuracy": ((0, 1), None),
    "recall": ((1,), None),
    "tpr": ((1,), None),
    "specificity": ((0,), None),
    "fpr": ((0,), 1),
    "fnr": ((1,), 0),
    "selection_rate": ((0, 1), 1),
}


@dataclass(frozen=True)
class FlipRates:
    """Per slice: rows, and the flip counts, shares and intervals in both directions."""

    n: IntArray
    flips: IntArray
    neg_to_pos: IntArray
    pos_to_neg: IntArray
    flip_interval: Interval
    neg_to_pos_interval: Interval
    pos_to_neg_interval: Interval

    def share(self) -> FloatArray:
        """Flip share per slice; NaN for an empty slice."""
        return _ratio(self.flips, self.n)

    def neg_to_pos_share(self) -> FloatArray:
        """Negative→positive flips as a share of the slice's rows."""
        return _ratio(self.neg_to_pos, self.n)

    def pos_to_neg_share(self) -> FloatArray:
        """Positive→negative flips as a share of the slice's rows."""
        return _ratio(self.pos_to_neg, self.n)


@dataclass(frozen=True)
class Tost:
    """Paired TOST per slice: the difference, its ``1 − 2α`` interval and the p-value."""

    difference: FloatArray
    interval: Interval  # equivalence at α exactly when this lies inside (−δ, δ)
    pvalue: FloatArray
    n: IntArray  # rows behind each slice's difference (the metric's own denominator)


def flip_rates(
    counts: ArrayLike,
    *,
    level: float = 0.95,
    method: Method = "wilson",
    simultaneous: bool = False,
) -> FlipRates:
    """Flip counts and intervals per slice from ``counts[slice, true, candidate, baseline]``
    (the ``ClassificationStats.counts`` of a reduction with a baseline, any number of
    classes; the directions need two). ``simultaneous``: Bonferroni over the slices."""
    c = _paired(counts)
    m = c.sum(axis=1)  # (S, candidate, baseline)
    n = m.sum(axis=(1, 2))
    flips = n - np.trace(m, axis1=1, axis2=2)
    if c.shape[1] == 2:
        n2p, p2n = m[:, 1, 0], m[:, 0, 1]
    else:
        n2p = p2n = np.full(n.shape, 0, dtype=np.int64)
    lv = level
    if simultaneous:
        lv = 1.0 - (1.0 - level) / max(int((n > 0).sum()), 1)
    return FlipRates(
        n=n,
        flips=flips,
        neg_to_pos=n2p,
        pos_to_neg=p2n,
        flip_interval=proportion_interval(method, flips, n, level=lv),
        neg_to_pos_interval=proportion_interval(method, n2p, n, level=lv),
        pos_to_neg_interval=proportion_interval(method, p2n, n, level=lv),
    )


def flip_pvalue(
    rates: FlipRates,
    *,
    bound: float,
    which: Literal["flips", "neg_to_pos", "pos_to_neg"] = "flips",
    method: Method = "clopper_pearson",
    simultaneous: bool = False,
) -> FloatArray:
    """One-sided p-value per slice that the flip share (or one direction) is above
    ``bound``: the evidence a ``max:`` bound is broken. Exact binomial by default (its
    level is guaranteed); ``simultaneous``: Holm-adjusted over the slices."""
    x = {"flips": rates.flips, "neg_to_pos": rates.neg_to_pos, "pos_to_neg": rates.pos_to_neg}
    if which not in x:
        raise ValueError(f"which must be one of {', '.join(x)}, got {which!r}")
    p = proportion_pvalue(method, x[which], rates.n, bound=bound, alternative="above")
    return holm(p) if simultaneous else p


def tost_paired(name: str, counts: ArrayLike, *, delta: float, alpha: float = 0.05) -> Tost:
    """TOST that ``metric(candidate) − metric(baseline)`` lies within ``±delta`` per slice.

    ``name`` is one of :data:`TOST_METRICS` (a metric whose rows are fixed, so the rows
    pair up; precision's rows depend on each model's predictions and are refused).
    ``p < alpha`` means "shown equivalent". NaN where a slice has fewer than 2 rows.
    """
    from scipy.special import stdtr, stdtrit  # type: ignore[import-untyped]

    if name not in TOST_METRICS:
        raise ValueError(
            f"TOST needs a metric scored on fixed rows: one of {', '.join(TOST_METRICS)}; "
            f"got {name!r}"
        )
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    c = _paired(counts)
    if c.shape[1] != 2:
        raise ValueError(f"TOST on {name} needs a binary table, got {c.shape[1]} classes")
    classes, label = TOST_METRICS[name]
    # up: candidate scores 1 and baseline 0 (difference +1); down: the reverse.
    up = np.zeros(c.shape[0], dtype=np.int64)
    down = np.zeros(c.shape[0], dtype=np.int64)
    n = np.zeros(c.shape[0], dtype=np.int64)
    for t in classes:
        good = t if label is None else label
        bad = 1 - good
        up += c[:, t, good, bad]
        down += c[:, t, bad, good]
        n += c[:, t].sum(axis=(1, 2))
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (up - down) / nf
        # Sample variance (ddof 1) of values in {−1, 0, 1}: (Σx² − n·mean²) / (n − 1).
        var = np.maximum((up + down) - nf * d * d, 0.0) / (nf - 1.0)
        se = np.sqrt(var / nf)
        df = nf - 1.0
        t_low = (d + delta) / se  # against H0: d <= -delta
        t_high = (d - delta) / se  # against H0: d >= delta
        p = np.maximum(stdtr(df, -t_low), stdtr(df, t_high))
        half = stdtrit(df, 1.0 - alpha) * se
    # Zero variance (every row agrees, or every row moves the same way): the t statistics
    # are infinite, as in statsmodels; p is then 0 inside the margin and 1 outside.
    inside = np.abs(d) < delta
    p = np.where(se == 0, np.where(inside, 0.0, 1.0), p)
    ok = n >= 2
    nan = np.full(n.shape, np.nan)
    return Tost(
        difference=np.asarray(np.where(n > 0, d, np.nan), dtype=np.float64),
        interval=Interval(
            np.asarray(np.where(ok, d - half, nan)), np.asarray(np.where(ok, d + half, nan))
        ),
        pvalue=np.asarray(np.where(ok, p, nan), dtype=np.float64),
        n=n,
    )


def _paired(counts: ArrayLike) -> IntArray:
    c = np.asarray(counts)
    if c.ndim != 4 or not c.shape[1] == c.shape[2] == c.shape[3]:
        raise ValueError(
            "churn needs counts[slice, true, candidate, baseline] from a reduction with "
            f"baseline predictions; got shape {c.shape}"
        )
    return c.astype(np.int64, copy=False)


def _ratio(x: IntArray, n: IntArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, x / n, np.nan), dtype=np.float64)
