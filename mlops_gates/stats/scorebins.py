"""A global quantization of scores, shared by every backend, and the ROC AUC error it costs.

Exact rank metrics need one table cell per distinct (group, score): about one cell per row
for continuous scores, which no longer fits in memory at 100M rows. With ``n`` equal-width
bins over the observed score range ``[lo, hi]`` a score table holds at most
``groups x 2 x n`` cells, whatever the number of rows.

Every backend computes the bin of a score with the same two IEEE-754 operations,
``floor((s - lo) * scale)`` clipped to ``[0, n - 1]``, with ``lo`` and ``scale`` taken from
here, so numpy, DuckDB, Polars and Spark put every row in the same bin and their tables
are identical.

Error bound: scores in one bin become ties. A (positive, negative) pair in different bins
is ordered exactly as before; a pair in the same bin counted 0 or 1 and now counts 1/2.
So per group ``|AUC_binned - AUC_exact| <= 1/2 * sum_b pos_b * neg_b / (P * N)``, which
:func:`auc_error_bound` computes from the binned table itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.reduce import ScoreStats

__all__ = [
    "ScoreBins",
    "auc_error_bound",
]


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ScoreBins:
    """``n_bins`` equal-width bins over ``[lo, hi]`` (the scores' global min and max)."""

    lo: float
    hi: float
    n_bins: int

    def __post_init__(self) -> None:
        if self.n_bins < 1:
            raise ValueError(f"n_bins must be at least 1, got {self.n_bins}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi < self.lo:
            raise ValueError(f"need finite lo <= hi, got [{self.lo}, {self.hi}]")

    @property
    def scale(self) -> float:
        """Bins per unit of score; 0 when every score is the same (one bin)."""
        width = self.hi - self.lo
        return self.n_bins / width if width > 0 and math.isfinite(width) else 0.0

    def codes(self, scores: ArrayLike) -> NDArray[np.int32] | IntArray:
        """Bin of each score, in ``[0, n_bins)``; the formula every backend repeats.
        int32 (half the memory) unless there are more bins than that holds."""
        s = np.asarray(scores, dtype=np.float64)
        raw = np.subtract(s, self.lo)  # one buffer: the same operations, in place
        raw *= self.scale
        # Clipped before the floor, which the cast then takes: in [0, n - 1] truncation is
        # the floor, and clip(floor(x)) == floor(clip(x)) there for every x (NaN stays NaN)
        # since both ends are integers. One pass over the scores less.
        np.clip(raw, 0, self.n_bins - 1, out=raw)
        if self.n_bins <= np.iinfo(np.int32).max:
            return raw.astype(np.int32)
        return raw.astype(np.int64)

    def thresholds(self) -> FloatArray:
        """The value standing for each bin: its midpoint (inside ``[lo, hi]``, so
        probabilities stay probabilities for log loss and Brier)."""
        if self.scale == 0.0:
            return np.full(self.n_bins, self.lo, dtype=np.float64)
        mid = self.lo + (np.arange(self.n_bins, dtype=np.float64) + 0.5) / self.scale
        return np.asarray(np.clip(mid, self.lo, self.hi), dtype=np.float64)

    @property
    def width(self) -> float:
        """Width of one bin in score units; 0 when every score is the same."""
        return 0.0 if self.scale == 0.0 else 1.0 / self.scale


def auc_error_bound(scores: ScoreStats) -> FloatArray:
    """Largest possible ``|ROC AUC of this table - ROC AUC of the unbinned scores|`` per
    group: half the share of (positive, negative) pairs that share a cell. NaN where
    ROC AUC is undefined (one class only). On an exact table it bounds nothing useful
    (true ties are not an error) but is still an upper bound on the tie share."""
    pos, neg = scores.pos.astype(np.float64), scores.neg.astype(np.float64)
    tied = np.bincount(scores.group, weights=pos * neg, minlength=scores.n_groups)
    p, n = scores.n_positive().astype(np.float64), scores.n_negative().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = 0.5 * tied / (p * n)
    return np.asarray(np.where((p > 0) & (n > 0), bound, np.nan), dtype=np.float64)
