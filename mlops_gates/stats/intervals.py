"""Confidence intervals from the reduced tables: bootstrap, analytic and normal-theory.

Bootstrap without rows. Drawing a slice's ``n`` rows with replacement puts a
Multinomial(``n``, cells / ``n``) number of rows into the cells of its table, so a
replicate table is one multinomial draw: the same distribution as resampling rows, for
any metric that is a function of the table (every confusion and score metric). Each
slice is resampled on its own with its size fixed; slices of one table get independent
draws, which for the groups of a sensitive attribute is the stratified bootstrap.

What is exact and what is not:

- confusion metrics, fairness gaps, paired differences of confusion metrics and score
  metrics: the bootstrap distribution is exactly the row bootstrap's (up to Monte Carlo
  error);
- differences of score metrics are unpaired: candidate and baseline scores are reduced
  to separate tables, so the pairing of one row's two scores is lost and the two are
  resampled independently (see :func:`bootstrap_score_difference`);
- :func:`regression_interval` is a normal (CLT) interval for ``mean_error`` and ``mae``;
  the error sums cannot be resampled, and ``mse``, ``rmse`` and ``r2`` would need
  Σe⁴ (and more), which the reduction does not keep;
- :func:`wilson_interval` and :func:`clopper_pearson_interval` are the analytic
  intervals of a binomial proportion, for the metrics :func:`proportion_counts` knows.

Small samples: a slice without errors has no errors in any plain replicate, so its
percentile interval has zero width. Proportions therefore get analytic intervals
(:mod:`mlops_gates.stats.proportions`, Wilson by default), and the bootstrap of derived
metrics (F1, balanced accuracy, macro averages) draws from cell shares smoothed by
``SMOOTHING`` pseudo-rows (:func:`bootstrap_confusion`).

Undefined values stay NaN: a replicate in which a metric is undefined (a resampled slice
without positives, say) is left out by :func:`percentile_interval`, which reports how
many were left out. Memory: a confusion bootstrap holds ``R × S × K²`` (paired:
``R × S × K³``) int64 counts.
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.fairness import Criterion, Measure, between_groups_batch, parity_batch
from mlops_gates.stats.metrics import METRICS, confusion_metric, score_metric
from mlops_gates.stats.reduce import RegressionStats, ScoreStats, run_bounds

__all__ = [
    "PROPORTIONS",
    "SMOOTHING",
    "BootstrapInterval",
    "Interval",
    "bootstrap_between_groups",
    "bootstrap_confusion",
    "bootstrap_confusion_metric",
    "bootstrap_paired",
    "bootstrap_paired_difference",
    "bootstrap_parity",
    "bootstrap_score_difference",
    "bootstrap_score_metric",
    "clopper_pearson_interval",
    "paired_difference",
    "percentile_interval",
    "proportion_counts",
    "regression_interval",
    "wilson_interval",
]


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Interval(NamedTuple):
    """Lower and upper confidence bounds, elementwise (one pair per group or count); NaN where
    undefined."""

    lo: FloatArray
    hi: FloatArray


class BootstrapInterval(NamedTuple):
    """Percentile bounds of bootstrap replicates per group, with how many replicates were left out
    because the metric was undefined in them."""

    lo: FloatArray
    hi: FloatArray
    undefined: IntArray  # replicates left out because the metric was NaN in them


# --- count tables ----------------------------------------------------------------------


# Pseudo-rows a smoothed bootstrap spreads evenly over a table's cells (½ a row per cell of a
# binary table, as the Jeffreys prior). Without them a slice with no errors has no errors in
# any replicate either, and F1 or balanced accuracy get a zero-width interval; with them the
# percentile interval covers about nominally from n = 30 (bench/calibration.py).
SMOOTHING = 2.0


def bootstrap_confusion(
    cm: ArrayLike, *, replicates: int, rng: np.random.Generator, smoothing: float = 0.0
) -> IntArray:
    """Bootstrap replicates ``(R, S, K, K)`` of confusion matrices ``cm`` ``(S, K, K)``.

    Each slice keeps its size; an empty slice stays all zeros. ``smoothing``: draw from
    the cell shares of ``cm`` plus that many pseudo-rows spread evenly over the cells (the
    slice still draws its own number of rows), so no cell is impossible in a replicate.
    """
    return _resample_tables(_counts("cm", cm, 3), replicates, rng, smoothing)


def bootstrap_paired(counts: ArrayLike, *, replicates: int, rng: np.random.Generator) -> IntArray:
    """Paired replicates ``(R, S, K, K, K)`` of ``counts[slice, true, candidate, baseline]``.

    A resampled row keeps both of its predictions, so candidate and baseline move
    together: the candidate confusion of a replicate is ``.sum(axis=-1)``, the baseline
    confusion ``.sum(axis=-2)``.
    """
    c = _counts("counts", counts, 4)
    if not c.shape[1] == c.shape[2] == c.shape[3]:
        raise ValueError(f"counts must have shape (S, K, K, K) with a baseline, got {c.shape}")
    return _resample_tables(c, replicates, rng)


def bootstrap_confusion_metric(
    name: str, cm: ArrayLike, *, replicates: int, rng: np.random.Generator
) -> FloatArray:
    """Replicates ``(R, S)`` of confusion metric ``name`` for each slice of ``cm``."""
    _require_confusion(name)
    return confusion_metric(name, bootstrap_confusion(cm, replicates=replicates, rng=rng))


def bootstrap_paired_difference(
    name: str, counts: ArrayLike, *, replicates: int, rng: np.random.Generator
) -> FloatArray:
    """Replicates ``(R, S)`` of ``metric(candidate) - metric(baseline)`` on the same rows.

    NaN in a replicate where either model's metric is undefined.
    """
    _require_confusion(name)
    return paired_difference(name, bootstrap_paired(counts, replicates=replicates, rng=rng))


def paired_difference(name: str, paired: ArrayLike) -> FloatArray:
    """``metric(candidate) - metric(baseline)`` of paired counts ``(..., K, K, K)`` over
    (true, candidate, baseline), e.g. the replicates of :func:`bootstrap_paired`."""
    _require_confusion(name)
    c = np.asarray(paired)
    return confusion_metric(name, c.sum(axis=-1)) - confusion_metric(name, c.sum(axis=-2))


def bootstrap_parity(
    criterion: Criterion,
    cm: ArrayLike,
    *,
    measure: Measure,
    replicates: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Replicates ``(R,)`` of a fairness criterion over per-group confusion ``(G, 2, 2)``.

    Each group's rows are resampled separately (stratified by group).
    """
    reps = bootstrap_confusion(cm, replicates=replicates, rng=rng)
    return parity_batch(criterion, reps, measure=measure)


def bootstrap_between_groups(
    name: str,
    cm: ArrayLike,
    *,
    measure: Measure,
    replicates: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Replicates ``(R,)`` of the between-group gap or ratio of confusion metric ``name``."""
    values = bootstrap_confusion_metric(name, cm, replicates=replicates, rng=rng)
    return between_groups_batch(values, measure=measure)


def _resample_tables(
    tables: IntArray, replicates: int, rng: np.random.Generator, smoothing: float = 0.0
) -> IntArray:
    _check_replicates(replicates)
    if not (math.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be a non-negative number, got {smoothing!r}")
    s = tables.shape[0]
    if s == 0:  # no slices (e.g. a slicing of empty data): nothing to draw
        return np.zeros((replicates, *tables.shape), dtype=np.int64)
    flat = tables.reshape(s, -1)
    n = flat.sum(axis=1)
    smoothed = flat + smoothing / flat.shape[1]
    # Any valid probabilities do for an empty slice: n = 0 draws nothing.
    safe = np.where(n > 0, smoothed.sum(axis=1), 1)[:, None]
    pvals = np.where(n[:, None] > 0, smoothed / safe, 1.0 / flat.shape[1])
    draws = rng.multinomial(n, pvals, size=(replicates, s))
    return np.asarray(draws, dtype=np.int64).reshape(replicates, *tables.shape)


# --- scores ----------------------------------------------------------------------------


def bootstrap_score_metric(
    name: str, scores: ScoreStats, *, replicates: int, rng: np.random.Generator
) -> FloatArray:
    """Replicates ``(R, n_groups)`` of score metric ``name``, each group resampled alone.

    The cells of a group are its (score, class) entries with a non-zero count. Cost per
    replicate is ``O(min(rows, cells))`` draws plus one evaluation of the metric on the
    whole table, so ``O(R × entries)`` overall: with continuous scores (an entry per row)
    that is as costly as resampling rows. Rounding scores before the reduction (e.g. to
    1e-4) shrinks the table when that is too slow, at a small cost in exactness.
    """
    _check_replicates(replicates)
    score_metric(name, scores)  # unknown names and out-of-range probabilities fail first
    sampler = _ScoreSampler(scores)
    out = np.empty((replicates, scores.n_groups), dtype=np.float64)
    for r in range(replicates):
        pos, neg = sampler.draw(rng)
        # Entries drawn zero times stay in the table: they weigh nothing in any metric.
        out[r] = score_metric(name, dataclasses.replace(scores, pos=pos, neg=neg))
    return out


def bootstrap_score_difference(
    name: str,
    candidate: ScoreStats,
    baseline: ScoreStats,
    *,
    replicates: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Replicates ``(R, n_groups)`` of ``metric(candidate) - metric(baseline)``, unpaired.

    The score tables do not record which candidate score and which baseline score came
    from the same row, so the two are resampled independently. When the models' errors
    are positively correlated (the usual case) this overstates the spread of the
    difference: the interval is wider than the paired one, i.e. conservative. A paired
    version needs a joint (group, class, candidate score, baseline score) table.
    """
    if candidate.n_groups != baseline.n_groups:
        raise ValueError(f"candidate has {candidate.n_groups} groups, baseline {baseline.n_groups}")
    cand = bootstrap_score_metric(name, candidate, replicates=replicates, rng=rng)
    return cand - bootstrap_score_metric(name, baseline, replicates=replicates, rng=rng)


# Drawing rows costs about a fifth of a multinomial cell (one binomial draw) per item.
_ROWS_PER_CELL = 4


class _ScoreSampler:
    """Multinomial redraws of the non-zero (entry, class) cells of each group."""

    def __init__(self, scores: ScoreStats) -> None:
        cells = np.stack([scores.pos, scores.neg], axis=1).ravel()  # entry-major
        self._n_cells = cells.shape[0]
        self._nonzero = np.flatnonzero(cells)
        self._counts = cells[self._nonzero]
        group = np.repeat(scores.group, 2)[self._nonzero]  # sorted: entries are
        self._bounds = run_bounds(group, scores.n_groups)
        self._first = np.cumsum(self._counts) - self._counts  # first row of each cell
        self._sizes = scores.support().tolist()

    def draw(self, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        new = np.zeros_like(self._counts)
        for lo, hi, n in zip(self._bounds[:-1], self._bounds[1:], self._sizes, strict=True):
            if hi - lo <= 1:
                new[lo:hi] = n  # nothing to draw
            elif n <= _ROWS_PER_CELL * (hi - lo):
                # Many cells of one or two rows (continuous scores): draw row indices and
                # add up each cell's run of rows.
                rows = np.bincount(rng.integers(0, n, size=n), minlength=n)
                if n == hi - lo:  # one row per cell: rows are cells
                    new[lo:hi] = rows
                else:
                    new[lo:hi] = np.add.reduceat(rows, self._first[lo:hi] - self._first[lo])
            else:
                new[lo:hi] = rng.multinomial(n, self._counts[lo:hi] / n)
        full = np.zeros(self._n_cells, dtype=np.int64)
        full[self._nonzero] = new
        return full[0::2], full[1::2]


# --- summaries of replicates -----------------------------------------------------------


def percentile_interval(samples: ArrayLike, *, level: float = 0.95) -> BootstrapInterval:
    """Percentile interval over the replicate axis 0 of ``samples`` ``(R, ...)``.

    Bounds are the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the defined
    replicates (numpy's default linear interpolation, as ``np.nanquantile``). A
    replicate where the metric is NaN (undefined) is left out and counted in
    ``undefined``; when every replicate is undefined both bounds are NaN. Leaving them
    out conditions on the metric being defined, so a caller should treat a large
    ``undefined`` share as a warning sign rather than a precise interval.
    """
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim < 1 or a.shape[0] == 0:
        raise ValueError(f"samples must have shape (R, ...) with R >= 1, got {a.shape}")
    tail = _tail(level)
    ordered = np.sort(a, axis=0)  # NaN sorts last
    defined = np.count_nonzero(~np.isnan(a), axis=0)

    def quantile(q: float) -> FloatArray:
        pos = q * np.maximum(defined - 1, 0)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(defined - 1, 0))
        frac = pos - below
        x0 = np.take_along_axis(ordered, below[None], axis=0)[0]
        x1 = np.take_along_axis(ordered, above[None], axis=0)[0]
        value = np.where(frac == 0, x0, x0 + (x1 - x0) * frac)
        return np.asarray(np.where(defined > 0, value, np.nan), dtype=np.float64)

    undefined = np.asarray(a.shape[0] - defined, dtype=np.int64)
    return BootstrapInterval(quantile(tail), quantile(1.0 - tail), undefined)


# --- proportions -----------------------------------------------------------------------

_Cells = tuple[tuple[int, int], ...]  # (true, predicted) cells of a binary table
# metric -> (cells counted as successes, cells counted as trials)
_BINARY_PROPORTIONS: dict[str, tuple[_Cells, _Cells]] = {
    "recall": (((1, 1),), ((1, 1), (1, 0))),
    "tpr": (((1, 1),), ((1, 1), (1, 0))),
    "fnr": (((1, 0),), ((1, 1), (1, 0))),
    "specificity": (((0, 0),), ((0, 0), (0, 1))),
    "fpr": (((0, 1),), ((0, 0), (0, 1))),
    "precision": (((1, 1),), ((1, 1), (0, 1))),
    "selection_rate": (((1, 1), (0, 1)), ((0, 0), (0, 1), (1, 0), (1, 1))),
}
PROPORTIONS = frozenset({"accuracy", *_BINARY_PROPORTIONS})


def proportion_counts(name: str, cm: ArrayLike) -> tuple[IntArray, IntArray]:
    """``(successes, trials)`` of a proportion metric from confusion matrices ``(..., K, K)``.

    Proportions: ``accuracy`` (any K) and, for binary tables, ``recall``/``tpr``,
    ``fnr``, ``specificity``, ``fpr``, ``precision`` and ``selection_rate``. The trials
    of precision (rows predicted positive) are themselves random, so an analytic interval
    for it is conditional on that number.
    """
    m = np.asarray(cm)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"confusion matrices must have shape (..., K, K), got {m.shape}")
    if not np.issubdtype(m.dtype, np.integer):
        raise ValueError(f"confusion matrices must hold integer counts, got dtype {m.dtype}")
    m = m.astype(np.int64, copy=False)
    if name == "accuracy":
        return np.trace(m, axis1=-2, axis2=-1), m.sum(axis=(-2, -1))
    if name not in _BINARY_PROPORTIONS:
        raise ValueError(
            f"metric {name!r} is not a proportion; choose one of {', '.join(sorted(PROPORTIONS))}"
        )
    if m.shape[-1] != 2:
        raise ValueError(f"metric {name!r} is for binary tasks (K=2), got K={m.shape[-1]}")
    hits, trials = _BINARY_PROPORTIONS[name]
    return _cell_sum(m, hits), _cell_sum(m, trials)


def _cell_sum(m: IntArray, cells: _Cells) -> IntArray:
    return np.asarray(sum(m[..., t, p] for t, p in cells), dtype=np.int64)


def wilson_interval(successes: ArrayLike, n: ArrayLike, *, level: float = 0.95) -> Interval:
    """Wilson score interval of ``successes / n``, elementwise; NaN where ``n == 0``."""
    x, t = _proportion_args(successes, n)
    z = NormalDist().inv_cdf(1.0 - _tail(level))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / t
        z2n = z * z / t
        centre = (p + z2n / 2) / (1 + z2n)
        half = z / (1 + z2n) * np.sqrt(p * (1 - p) / t + z2n / (4 * t))
        # Exact ends where the formula gives them only up to rounding.
        lo = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        hi = np.where(x == t, 1.0, np.clip(centre + half, 0.0, 1.0))
    return Interval(_undefined_if_empty(lo, t), _undefined_if_empty(hi, t))


def clopper_pearson_interval(
    successes: ArrayLike, n: ArrayLike, *, level: float = 0.95
) -> Interval:
    """Clopper-Pearson ("exact") interval of ``successes / n``; NaN where ``n == 0``.

    Bounds are beta quantiles (``scipy.special.betaincinv``, imported on first use); the
    interval covers at least ``level`` for every true proportion, so it is conservative.
    """
    from scipy.special import betaincinv  # type: ignore[import-untyped]

    x, t = _proportion_args(successes, n)
    tail = _tail(level)
    # Safe parameters where a bound is fixed (0 successes, or all) or n is 0.
    lo = betaincinv(np.maximum(x, 1), np.maximum(t - x + 1, 1), tail)
    hi = betaincinv(x + 1, np.maximum(t - x, 1), 1 - tail)
    lo = np.where(x == 0, 0.0, lo)
    hi = np.where(x == t, 1.0, hi)
    return Interval(_undefined_if_empty(lo, t), _undefined_if_empty(hi, t))


def _proportion_args(successes: ArrayLike, n: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, t = np.broadcast_arrays(
        np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    )
    if np.any((x < 0) | (x > t) | (x != np.floor(x)) | (t != np.floor(t))):
        raise ValueError("successes and n must be whole numbers with 0 <= successes <= n")
    return x, t


def _undefined_if_empty(bound: NDArray[np.float64], n: FloatArray) -> FloatArray:
    return np.asarray(np.where(n > 0, bound, np.nan), dtype=np.float64)


# --- regression ------------------------------------------------------------------------


def regression_interval(
    name: str, stats: RegressionStats, *, level: float = 0.95, model: int = 0
) -> Interval:
    """Normal (CLT) interval per group for ``mean_error`` or ``mae``: mean ± z·s/√n.

    ``s`` is the sample standard deviation of the error (``mean_error``: from Σe and
    Σe²) or of the absolute error (``mae``: Σ|e| and Σ|e|² = Σe²), computed as
    ``(Σx² - (Σx)²/n) / (n - 1)``, which loses precision when the spread is tiny next to
    the mean. NaN for groups with fewer than 2 rows. ``mse``, ``rmse`` and ``r2`` have no
    interval: the spread of e² needs Σe⁴, which the reduction does not keep. ``model``: 0
    the candidate, 1 the baseline.
    """
    if name not in ("mean_error", "mae"):
        raise ValueError(
            f"no interval for {name!r} from error sums: choose 'mean_error' or 'mae' "
            "(mse, rmse and r2 would need the sum of e⁴, which is not reduced)"
        )
    if model not in (0, 1) or (model == 1 and not stats.has_baseline):
        raise ValueError(f"model must be 0 (candidate) or 1 (baseline, if reduced), got {model}")
    n = stats.n.astype(np.float64)
    total = (stats.sum_err if name == "mean_error" else stats.sum_abs_err)[:, model]
    squares = stats.sum_sq_err[:, model]
    z = NormalDist().inv_cdf(1.0 - _tail(level))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum(squares - total * mean, 0.0) / (n - 1)
        half = z * np.sqrt(var / n)
    ok = n >= 2
    return Interval(
        np.asarray(np.where(ok, mean - half, np.nan), dtype=np.float64),
        np.asarray(np.where(ok, mean + half, np.nan), dtype=np.float64),
    )


# --- helpers ---------------------------------------------------------------------------


def _tail(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    return (1.0 - level) / 2.0


def _require_confusion(name: str) -> None:
    """Fail on a wrong metric name before drawing any replicates."""
    spec = METRICS.get(name)
    if spec is None or spec.family != "confusion":
        choices = ", ".join(m for m, sp in METRICS.items() if sp.family == "confusion")
        raise ValueError(f"{name!r} is not a confusion-matrix metric; choose one of {choices}")


def _check_replicates(replicates: int) -> None:
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise ValueError(f"replicates must be a positive integer, got {replicates!r}")


def _counts(name: str, values: ArrayLike, ndim: int) -> IntArray:
    a = np.asarray(values)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer counts, got dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{name} must hold non-negative counts")
    return a.astype(np.int64, copy=False)
