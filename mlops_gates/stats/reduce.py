"""Reduce rows to per-group sufficient statistics: the only O(rows) step.

Rows arrive integer-encoded by the caller: ``groups`` holds the finest grouping (the
combination of every slice column) as codes in ``[0, G)``, class labels are codes in
``[0, K)``. Every metric is then a function of the small tables built here, and a slice
(``sex=Female``, or overall) is a union of groups obtained with :func:`marginalize`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AnyIntArray",
    "ClassificationStats",
    "JointScores",
    "RegressionStats",
    "ScoreStats",
    "coarsen_scores",
    "counted_cells",
    "factorize_keys",
    "key_type",
    "marginalize",
    "marginalize_joint",
    "narrow_bins",
    "narrow_counts",
    "narrow_groups",
    "probe_type",
    "reduce_classification",
    "reduce_joint_scores",
    "reduce_regression",
    "reduce_scores",
    "run_bounds",
    "sorted_cells",
]


IntArray = NDArray[np.int64]  # what is computed here: sums, supports, factorisations
# Codes and counts as the engines hand them over: the batched read (backends/stream.py)
# and the memory engine keep the groups' tables' groups and counts int32 below 2**31 rows
# and score bins int16; a slicing's tables summed from them are int64. Code that does
# arithmetic on them widens first (see normal.py).
AnyIntArray = NDArray[np.integer[Any]]
FloatArray = NDArray[np.float64]


def key_type(space: int) -> type[np.signedinteger[Any]]:
    """The narrowest type of keys below ``space``: int32 keys are half the memory traffic
    of int64 ones and sort twice as fast (``np.add.at`` converts them to intp, a little
    slower there: 6 against 4.5 ns a key into a 13M-entry table)."""
    return np.int32 if space <= np.iinfo(np.int32).max else np.int64


# The narrowest types of a table's columns, one rule each. The tables are held through the
# verdict stage, and every reader does arithmetic on them in int64 or float64 or indexes
# with them, so narrow columns give the same bits (bench/README.md measures the memory).


def narrow_groups(n_groups: int, n_bins: int) -> np.dtype[Any]:
    """Type of a table's group column: int32 while every (group, bin) key fits it."""
    return np.dtype(np.int32 if n_groups * n_bins < 1 << 31 else np.int64)


def narrow_bins(n_bins: int) -> np.dtype[Any]:
    """Type of a table's score bin (or grid side) columns."""
    return np.dtype(np.int16) if n_bins < 1 << 15 else narrow_groups(n_bins, 1)


def narrow_counts(rows: int) -> np.dtype[Any]:
    """Type of a table's counts (of at most ``rows`` rows)."""
    return np.dtype(np.int32 if rows < 1 << 31 else np.int64)


def probe_type(group: NDArray[Any], n: int) -> np.dtype[Any]:
    """The integer type to look ``0 .. n-1`` up in ``group`` in: ``group``'s own when they
    fit. searchsorted first converts the whole haystack to the needles' type, and the
    batched read's int32 groups of a 10M-row table (1.9M entries) then cost 1 ms a
    search instead of 6 us."""
    kind = group.dtype
    if np.issubdtype(kind, np.integer) and n - 1 <= np.iinfo(kind).max:
        return np.dtype(kind)
    return np.dtype(np.int64)


def run_bounds(codes: NDArray[Any], n: int) -> NDArray[np.intp]:
    """Where each of the codes ``0 .. n-1`` begins in the sorted ``codes``, then where the
    last ends (``n + 1`` bounds): one binary search, probed in the codes' own type."""
    return np.searchsorted(codes, np.arange(n + 1, dtype=probe_type(codes, n + 1)))


@dataclass(frozen=True, eq=False)
class ScoreStats:
    """Binary scores reduced to counts of positives/negatives per (group, distinct score).

    Only (group, score) pairs that occur are stored, so the table is never larger than the
    rows and rank metrics (ROC AUC, average precision) stay exact under ties.
    """

    thresholds: FloatArray  # (U,) distinct score values, ascending
    group: AnyIntArray  # (E,) sorted by (group, score)
    score: AnyIntArray  # (E,) index into thresholds
    pos: AnyIntArray  # (E,) rows with true class 1 at that (group, score)
    neg: AnyIntArray  # (E,) rows with true class 0
    n_groups: int

    def support(self) -> IntArray:
        """Rows per group, shape ``(n_groups,)``."""
        return _sum_by(self.group, self.pos + self.neg, self.n_groups)

    def n_positive(self) -> IntArray:
        """Rows of true class 1 per group, shape ``(n_groups,)``."""
        return _sum_by(self.group, self.pos, self.n_groups)

    def n_negative(self) -> IntArray:
        """Rows of true class 0 per group, shape ``(n_groups,)``."""
        return _sum_by(self.group, self.neg, self.n_groups)

    def memo(self, key: str, compute: Callable[[], FloatArray]) -> FloatArray:
        """``compute()`` once per table: several gates ask for the same metric or standard
        error of one slicing's (shared) table, and each costs a pass over its cells."""
        cache: dict[str, FloatArray] = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            value = compute()
            value.setflags(write=False)  # shared between callers: never modified in place
            cache[key] = value
        return cache[key]

    @cached_property
    def by_score(self) -> IntArray:
        """Entry order by score (ties in group order): one sort, reused by every slicing."""
        return np.argsort(self.score, kind="stable").astype(np.int64, copy=False)

    @cached_property
    def group_bounds(self) -> NDArray[np.intp]:
        """Where each group's entries begin, and (last) where the entries end: the entries
        are sorted by group, so a binary search finds them. One search per table, shared
        by the AUC's group sums, DeLong's placements and the slicings' keys."""
        bounds = run_bounds(self.group, self.n_groups)
        bounds.setflags(write=False)
        return bounds

    @cached_property
    def group_runs(self) -> IntArray:
        """Entries per group. The entries are sorted by group, so each group's are one run,
        and a slicing's cell keys are its slices' first cells repeated over the runs: at
        10M rows (two million entries) 2 ms against 9 for a gather entry by entry."""
        runs = np.diff(self.group_bounds).astype(np.int64, copy=False)
        runs.setflags(write=False)
        return runs

    @cached_property
    def packed_counts(self) -> IntArray | None:
        """Both counts of each entry in one int64, the negatives in the high half, so that
        a slicing sums them in one pass; None when a sum could carry out of its half. Made
        once per table: every slicing summed from it reads the same (at 10M rows the
        groups' table is summed into three slicings, 7 ms a packing)."""
        if int(self.pos.sum(dtype=np.int64)) >= 1 << 32:
            return None
        if int(self.neg.sum(dtype=np.int64)) >= 1 << 31:
            return None
        # A copy: the table's own counts stay as they are. (Not np.left_shift(neg, 32,
        # dtype=np.int64), one pass less: measured, np.add.at over those packed counts
        # took the 10M run's slicings 0.16 s instead of 0.09, the cause not found.)
        packed = self.neg.astype(np.int64)
        packed <<= 32
        packed |= self.pos
        packed.setflags(write=False)
        return packed


@dataclass(frozen=True, eq=False)
class JointScores:
    """Both models' scores of the same rows: counts per (group, candidate score, baseline
    score, class), what a paired comparison of rank metrics needs (paired DeLong).

    One entry per distinct (class, group, candidate score index, baseline score index)
    that occurs, the negatives' entries first: ``entries[:n_negative_entries]`` are rows
    of class 0, the rest rows of class 1, so each class is a view and the paired variance
    gathers only the placement values its class needs. ``candidate`` and ``baseline`` index
    the two models' own score tables (their thresholds). At most one entry per row, and
    with binned scores at most groups x bins² x 2. After :func:`marginalize_joint` the
    groups are slices and a (slice, scores, class) may occur in several entries (the fine
    table's entries are not merged, a coarse grid's are when its cells fit densely),
    because everything read from them is a sum over entries.

    ``factor`` > 1 makes it a *coarse grid* of binned scores: ``candidate`` and
    ``baseline`` are then ``fine bin // factor`` (the same integer division in every
    engine), so the table holds at most groups x 2 x (bins / factor)² entries whatever the
    rows. Paired DeLong bounds its variance from it and the models' fine tables
    (:mod:`mlops_gates.stats.normal`); anything needing each row's own bins (the paired
    calibration comparison) needs ``factor == 1``.
    """

    group: AnyIntArray  # (E,)
    candidate: AnyIntArray  # (E,) index into the candidate table's thresholds (// factor)
    baseline: AnyIntArray  # (E,) index into the baseline table's thresholds (// factor)
    count: AnyIntArray  # (E,) rows
    n_negative_entries: int
    n_groups: int
    factor: int = 1  # fine score bins per coarse bin, per model; 1: each row's own bins

    def of_class(self, positive: bool) -> tuple[AnyIntArray, AnyIntArray, AnyIntArray, AnyIntArray]:
        """``(group, candidate, baseline, count)`` of the entries of one class (views)."""
        part = slice(self.n_negative_entries, None) if positive else slice(self.n_negative_entries)
        return self.group[part], self.candidate[part], self.baseline[part], self.count[part]

    @cached_property
    def extent(self) -> tuple[int, int, int]:
        """Rows, and candidate and baseline bins (the largest index + 1): read once per
        table, whose slicings are each merged from it (:func:`marginalize_joint`)."""
        if self.count.shape[0] == 0:
            return 0, 1, 1
        rows = int(self.count.sum(dtype=np.int64))
        return rows, int(self.candidate.max()) + 1, int(self.baseline.max()) + 1

    @cached_property
    def class_group_runs(self) -> IntArray | None:
        """Entries per (class, group), negatives' groups first, when each class's entries
        are sorted by group (as every engine reduces the table); else None. A slicing's
        relabelled groups are then its slices repeated over these runs
        (:func:`marginalize_joint`): at a million entries 0.5 ms against 2 for a gather
        entry by entry, for each of a run's five slicings."""
        g = self.n_groups
        if g == 0:
            return None
        runs = np.zeros(2 * g, dtype=np.int64)
        for c, part in enumerate((self.group[: self.n_negative_entries],
                                  self.group[self.n_negative_entries :])):  # fmt: skip
            if part.shape[0] == 0:
                continue
            if part[0] < 0 or part[-1] >= g or np.any(part[1:] < part[:-1]):
                return None
            runs[c * g : (c + 1) * g] = np.diff(run_bounds(part, g))
        return runs


def reduce_joint_scores(
    groups: ArrayLike,
    n_groups: int,
    y_true: ArrayLike,
    candidate_index: ArrayLike,
    baseline_index: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    factor: int = 1,
) -> JointScores:
    """Rows (or weighted cells) to a :class:`JointScores`: ``candidate_index`` and
    ``baseline_index`` are each row's index into its model's score thresholds (the
    inverse of ``np.unique`` for exact tables, the bin for binned ones), already divided
    by ``factor`` (integer division) for a coarse grid, which the table records.

    One sort of one packed key per row, class most significant (:func:`counted_cells`).
    Groups and labels are read in their own types: the key is built in int64."""
    g = _codes("groups", groups, n_groups, None, widen=False)
    n = g.shape[0]
    t = _codes("y_true", y_true, 2, n, widen=False)
    ci, bi = _index_codes(candidate_index), _index_codes(baseline_index)
    if ci.shape != (n,) or bi.shape != (n,) or (n and min(ci.min(), bi.min()) < 0):
        raise ValueError("candidate_index and baseline_index must be non-negative, one per row")
    wc = int(ci.max()) + 1 if n else 1
    wb = int(bi.max()) + 1 if n else 1
    if factor < 1:
        raise ValueError(f"factor must be at least 1, got {factor}")
    if 2 * max(n_groups, 1) * wc * wb >= 1 << 62:
        # Exact scores on very many groups: number the (candidate, baseline) pairs that
        # occur first, so the packed key stays inside int64.
        pairs, pair = np.unique(np.stack([ci, bi], axis=1), axis=0, return_inverse=True)
        cand_of, base_of = pairs[:, 0], pairs[:, 1]
        joint = reduce_joint_scores(
            g, n_groups, t, pair.reshape(-1), np.zeros(n, dtype=np.int64), weights=weights
        )
        return dataclasses.replace(
            joint,
            candidate=cand_of[joint.candidate],
            baseline=base_of[joint.candidate],
            factor=factor,
        )
    ng = max(n_groups, 1)
    # Fields a power of two wide when the key is then counted the same way (densely,
    # sorted 32 or 64 bits wide: counted_cells): packed and unpacked with shifts and
    # masks, five divisions of a million keys fewer. Any widths that hold the fields give
    # the same order, so the same table.
    bits = [(x - 1).bit_length() for x in (ng, wc, wb)]
    space = 2 * ng * wc * wb
    wide = 1 << (1 + sum(bits))
    shifts = wide < 1 << 62 and _counted_as(wide, n) == _counted_as(space, n)
    if shifts:
        ng, wc, wb = (1 << b for b in bits)
        space = wide
    w = _weights(weights, n)
    key = np.multiply(t, ng, dtype=np.int64)
    key += g
    key *= wc
    key += ci
    key *= wb
    key += bi
    if w is None:
        cells, count = counted_cells(key, space)
    else:
        cells, inverse = factorize_keys(key, space)
        count = _sum_by(inverse, w, cells.shape[0])
        kept = count > 0
        cells, count = cells[kept], count[kept]
    # The cells become the groups in place: one new array a million entries less.
    candidate, baseline = _unpack_bins(cells, wc, wb)
    n_negative = int(np.searchsorted(cells, ng))  # class 0 keys come first
    if shifts:
        cells &= ng - 1
    else:
        cells %= ng
    return JointScores(cells, candidate, baseline, count, n_negative, n_groups, factor)


def _unpack_bins(cells: AnyIntArray, wc: int, wb: int) -> tuple[AnyIntArray, AnyIntArray]:
    """The candidate and baseline bins of packed ``(rest, candidate, baseline)`` cells,
    ``wc`` and ``wb`` wide; ``cells`` is left holding the rest. Powers of two are taken
    apart with shifts and masks, other widths by division."""
    baseline: AnyIntArray
    candidate: AnyIntArray
    if wc & (wc - 1) == 0 and wb & (wb - 1) == 0:
        baseline = cells & (wb - 1)
        cells >>= wb.bit_length() - 1
        candidate = cells & (wc - 1)
        cells >>= wc.bit_length() - 1
    else:
        baseline = cells % wb
        cells //= wb
        candidate = cells % wc
        cells //= wc
    return candidate, baseline


def _counted_as(space: int, n: int) -> tuple[bool, Any]:
    """How :func:`counted_cells` counts ``n`` keys below ``space``: densely or not, and
    in which key type."""
    return space <= _dense_limit(n), key_type(space)


def _index_codes(values: ArrayLike) -> NDArray[np.signedinteger[Any]]:
    """Score indices as signed integers: in their own type when they are (the key is
    built in int64 from them, so a copy of each row's index would only add memory)."""
    a = np.asarray(values)
    return a if np.issubdtype(a.dtype, np.signedinteger) else a.astype(np.int64)


@dataclass(frozen=True, eq=False)
class ClassificationStats:
    """Counts over (group, true class, candidate prediction, baseline prediction).

    ``counts`` has shape ``(G, K, K, B)`` with ``B == K`` when a baseline exists; without
    one ``B == 1`` and every row sits at baseline index 0. ``has_baseline`` is stored
    rather than inferred from ``B`` because ``K == 1`` makes the shape ambiguous.
    """

    counts: IntArray
    candidate_scores: ScoreStats | None = None  # binary tasks with candidate scores only
    baseline_scores: ScoreStats | None = None
    has_baseline: bool = False
    joint_scores: JointScores | None = None  # both models' scores per row, when reduced

    def __post_init__(self) -> None:
        c = self.counts
        if c.ndim != 4 or c.shape[1] != c.shape[2]:
            raise ValueError(f"counts must have shape (G, K, K, B), got {c.shape}")
        expected_b = c.shape[1] if self.has_baseline else 1
        if c.shape[3] != expected_b:
            raise ValueError(
                f"counts has {c.shape[3]} baseline columns; expected {expected_b} "
                f"(has_baseline={self.has_baseline}, K={c.shape[1]})"
            )

    @property
    def n_classes(self) -> int:
        """Number of classes ``K``."""
        return int(self.counts.shape[1])

    @property
    def n_groups(self) -> int:
        """Number of groups ``G``."""
        return int(self.counts.shape[0])

    def candidate_confusion(self) -> IntArray:
        """``(G, K, K)`` confusion matrices ``[group, true, candidate prediction]``."""
        return np.asarray(self.counts.sum(axis=3), dtype=np.int64)

    def baseline_confusion(self) -> IntArray:
        """``(G, K, K)`` confusion matrices ``[group, true, baseline prediction]``."""
        if not self.has_baseline:
            raise ValueError("these statistics were reduced without baseline predictions")
        return np.asarray(self.counts.sum(axis=2), dtype=np.int64)

    def support(self) -> IntArray:
        """Rows per group, shape ``(G,)``."""
        return np.asarray(self.counts.sum(axis=(1, 2, 3)), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class RegressionStats:
    """Per-group moments of the target and sums of errors (``error = y_pred - y_true``).

    Columns of the error sums: 0 is the candidate, 1 the baseline (when present).
    ``mean_true`` is measured from ``shift`` (a value near the overall mean of the target):
    centring keeps the combination of group means in :func:`marginalize` exact to a few
    ulps even when the target is, say, ``1e6 + small noise``. Use :meth:`true_mean` for
    the group means themselves.
    """

    n: IntArray  # (G,)
    mean_true: FloatArray  # (G,) mean of y_true - shift; 0 where n == 0
    m2_true: FloatArray  # (G,) sum of squared deviations of y_true from the group mean
    sum_err: FloatArray  # (G, M)
    sum_abs_err: FloatArray  # (G, M)
    sum_sq_err: FloatArray  # (G, M)
    has_baseline: bool
    shift: float = 0.0

    @property
    def n_groups(self) -> int:
        """Number of groups ``G``."""
        return int(self.n.shape[0])

    def true_mean(self) -> FloatArray:
        """Mean of ``y_true`` per group; NaN for empty groups."""
        return np.where(self.n > 0, self.mean_true + self.shift, np.nan)

    def support(self) -> IntArray:
        """Rows per group, shape ``(G,)``."""
        return self.n


def reduce_classification(
    groups: ArrayLike,
    n_groups: int,
    y_true: ArrayLike,
    candidate: ArrayLike,
    baseline: ArrayLike | None = None,
    *,
    n_classes: int,
    candidate_scores: ArrayLike | None = None,
    baseline_scores: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> ClassificationStats:
    """Count rows per (group, true class, candidate label, baseline label).

    Scores (the positive-class score of a binary task, any finite real) are reduced to a
    :class:`ScoreStats` each. ``weights`` (non-negative integers) says how many rows each
    entry stands for: a backend that already counted rows per cell passes its cells here
    and gets exactly the table the rows would give. Raises ``ValueError`` on codes out of
    range, mismatched lengths or non-finite scores; the caller is expected to have
    validated user data.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    g = _codes("groups", groups, n_groups, None)
    n = g.shape[0]
    t = _codes("y_true", y_true, n_classes, n)
    c = _codes("candidate", candidate, n_classes, n)
    k = n_classes
    if baseline is None:
        b_codes = np.zeros(n, dtype=np.int64)
        n_b = 1
    else:
        b_codes = _codes("baseline", baseline, n_classes, n)
        n_b = k
    # One combined key per row; a single bincount builds the whole table. The key is
    # built in one buffer: every temporary here is a fresh array as long as the data.
    key = g * k
    key += t
    key *= k
    key += c
    key *= n_b
    key += b_codes
    w = _weights(weights, n)
    if w is None:
        counts = np.bincount(key, minlength=n_groups * k * k * n_b).astype(np.int64, copy=False)
    else:
        counts = _sum_by(key, w, n_groups * k * k * n_b)

    def scores_of(name: str, s: ArrayLike | None) -> ScoreStats | None:
        if s is None:
            return None
        if n_classes != 2:
            raise ValueError(f"{name} are supported for binary tasks only (K=2), got K={k}")
        return _reduce_scores(name, g, n_groups, t, s, w)

    return ClassificationStats(
        counts=counts.reshape(n_groups, k, k, n_b),
        candidate_scores=scores_of("candidate_scores", candidate_scores),
        baseline_scores=scores_of("baseline_scores", baseline_scores),
        has_baseline=baseline is not None,
    )


def reduce_regression(
    groups: ArrayLike,
    n_groups: int,
    y_true: ArrayLike,
    candidate: ArrayLike,
    baseline: ArrayLike | None = None,
) -> RegressionStats:
    """Per-group count, target mean and squared deviations, and error sums.

    Two passes: group means first, then squared deviations from them, so the sum of
    squares never cancels catastrophically the way ``Σy² - n·ȳ²`` does.
    """
    g = _codes("groups", groups, n_groups, None)
    n = g.shape[0]
    y = _reals("y_true", y_true, n)
    preds = [_reals("candidate", candidate, n)]
    if baseline is not None:
        preds.append(_reals("baseline", baseline, n))

    shift = float(np.mean(y)) if n else 0.0
    if not np.isfinite(shift):  # the mean of huge finite values can overflow
        shift = 0.0
    yc = y - shift
    counts = np.bincount(g, minlength=n_groups).astype(np.int64, copy=False)
    # Measure each group from one of its own rows: a constant group then gets its value
    # back exactly and a sum of squares of exactly 0 (R² undefined, not float noise).
    ref = np.zeros(n_groups, dtype=np.float64)
    ref[g] = yc
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = _weighted_bincount(g, yc - ref[g], n_groups) / counts
    mean = np.where(counts > 0, ref + offset, 0.0)
    dev = yc - mean[g]
    m2 = _weighted_bincount(g, dev * dev, n_groups)

    errs = [p - y for p in preds]
    return RegressionStats(
        n=counts,
        mean_true=mean,
        m2_true=m2,
        sum_err=_column_sums(g, n_groups, errs),
        sum_abs_err=_column_sums(g, n_groups, [np.abs(e) for e in errs]),
        sum_sq_err=_column_sums(g, n_groups, [e * e for e in errs]),
        has_baseline=baseline is not None,
        shift=shift,
    )


@overload
def marginalize(
    stats: ClassificationStats, group_to_slice: ArrayLike, n_slices: int
) -> ClassificationStats: ...
@overload
def marginalize(
    stats: RegressionStats, group_to_slice: ArrayLike, n_slices: int
) -> RegressionStats: ...
@overload
def marginalize(stats: ScoreStats, group_to_slice: ArrayLike, n_slices: int) -> ScoreStats: ...
def marginalize(
    stats: ClassificationStats | RegressionStats | ScoreStats,
    group_to_slice: ArrayLike,
    n_slices: int,
) -> ClassificationStats | RegressionStats | ScoreStats:
    """Merge groups into slices: slice ``s`` is the union of groups ``g`` with
    ``group_to_slice[g] == s`` (overall: all zeros and ``n_slices=1``).

    A slice may be empty (no group maps to it, or only empty groups do); its metrics are
    then NaN.
    """
    n_groups = stats.n_groups
    to_slice = _codes("group_to_slice", group_to_slice, n_slices, n_groups)
    if isinstance(stats, ScoreStats):
        return _marginalize_scores(stats, to_slice, n_slices)
    if isinstance(stats, ClassificationStats):
        counts = np.zeros((n_slices, *stats.counts.shape[1:]), dtype=np.int64)
        np.add.at(counts, to_slice, stats.counts)
        cand, base = stats.candidate_scores, stats.baseline_scores
        return ClassificationStats(
            counts=counts,
            candidate_scores=None
            if cand is None
            else _marginalize_scores(cand, to_slice, n_slices),
            baseline_scores=None if base is None else _marginalize_scores(base, to_slice, n_slices),
            has_baseline=stats.has_baseline,
            joint_scores=None
            if stats.joint_scores is None
            else marginalize_joint(stats.joint_scores, to_slice, n_slices),
        )
    return _marginalize_regression(stats, to_slice, n_slices)


def marginalize_joint(joint: JointScores, group_to_slice: ArrayLike, n_slices: int) -> JointScores:
    """:func:`marginalize` for a :class:`JointScores`: each entry relabelled with its
    slice, nothing sorted or merged (see :class:`JointScores`); a coarse grid
    (``factor > 1``) whose (class, slice, α, β) cells fit densely has its entries of one
    cell merged instead, so a slicing's paired DeLong reads at most its cells, not the
    groups' (issue 25: the whole data's grid holds 2 x 64² cells, the groups' two million).

    The relabelled groups are as many as the table's entries and each slicing's verdict
    makes them, so they are as narrow as the slice codes allow: int32 while there are
    fewer than 2**31 slices (labels, not counts: nothing is summed in their type)."""
    to_slice = _codes("group_to_slice", group_to_slice, n_slices, joint.n_groups)
    labels: AnyIntArray = to_slice
    if n_slices <= np.iinfo(np.int32).max:
        labels = to_slice.astype(np.int32)
    if joint.factor > 1:
        merged = _merged_grid(joint, labels, n_slices)
        if merged is not None:
            return merged
    runs = joint.class_group_runs
    if runs is None:
        group = labels[joint.group]
    else:
        group = np.repeat(np.concatenate([labels, labels]), runs)
    return dataclasses.replace(joint, group=group, n_groups=n_slices)


def _merged_grid(joint: JointScores, labels: AnyIntArray, n_slices: int) -> JointScores | None:
    """A coarse grid's entries summed per (class, slice, α, β) cell, in that order (so
    each class is sorted by slice, then α, as the paired variance's sums expect); None
    when the cells do not fit densely (see :func:`_dense_limit`).

    The entries are read a block at a time into one dense array of cell counts, and the
    merged table is as narrow as its values allow (int16 bins, int32 counts below 2**31
    rows): it is kept for the slicing's later gates, and at 10M rows the groups' grid
    has two million entries (issue 25's peak: bench/cpu.py --phases)."""
    entries = joint.count.shape[0]
    if entries == 0:
        return None
    rows, wc, wb = joint.extent
    # Bins a power of two wide when the cells still fit densely: the cells are then
    # unpacked with shifts and masks, not divisions (the same cells in the same order,
    # the space's unused cells aside). At 10M rows the slicings' merges took 80 ms.
    bits = [(w - 1).bit_length() for w in (wc, wb)]
    if 2 * max(n_slices, 1) << sum(bits) <= _dense_limit(entries):
        wc, wb = 1 << bits[0], 1 << bits[1]
    per_class = max(n_slices, 1) * wc * wb
    if 2 * per_class > _dense_limit(entries):
        return None
    counts_type = narrow_counts(rows)
    cells = np.zeros(2 * per_class, dtype=counts_type)
    # Each entry's cell: where its slice's cells start (the positives' after all the
    # negatives'), looked up per group, plus its (α, β) within the slice.
    first = np.multiply(labels, wc * wb, dtype=np.int64)
    starts = (first, first + per_class)
    negatives = joint.n_negative_entries
    block = min(_MERGE_BLOCK, entries)
    key, inner = np.empty(block, dtype=np.int64), np.empty(block, dtype=np.int64)
    # The counts go through a buffer of our own: np.add.at takes its slow loop for an
    # array whose dtype is not numpy's own instance (an unpickled table's: 15 ms a block
    # instead of 1, numpy 2.4), and the buffer has the cells' type.
    weight = np.empty(block, dtype=counts_type)
    for lo in range(0, entries, block):
        hi = min(lo + block, entries)
        m, cut = hi - lo, min(max(negatives - lo, 0), hi - lo)
        g = joint.group[lo:hi]
        # mode="clip": the codes are in range, and "raise" would buffer the output.
        np.take(starts[0], g[:cut], out=key[:cut], mode="clip")
        np.take(starts[1], g[cut:], out=key[cut:m], mode="clip")
        np.multiply(joint.candidate[lo:hi], wb, out=inner[:m], dtype=np.int64)
        key[:m] += inner[:m]
        key[:m] += joint.baseline[lo:hi]
        np.copyto(weight[:m], joint.count[lo:hi])
        np.add.at(cells, key[:m], weight[:m])
    del key, inner, weight
    keep = np.flatnonzero(cells != 0)  # counts are positive: an occupied cell is non-zero
    count = cells[keep]
    del cells
    n_negative = int(np.searchsorted(keep, per_class))
    keep[n_negative:] -= per_class  # the positives' cells, from their class's start
    bins_type = narrow_bins(max(wc, wb))
    candidate, baseline = _unpack_bins(keep, wc, wb)
    return JointScores(
        keep.astype(labels.dtype),
        candidate.astype(bins_type),
        baseline.astype(bins_type),
        count,
        n_negative,
        n_slices,
        factor=joint.factor,
    )


# Joint entries per block when a coarse grid is merged (1 MB of keys).
_MERGE_BLOCK = 1 << 17


def _marginalize_regression(
    stats: RegressionStats, to_slice: IntArray, n_slices: int
) -> RegressionStats:
    # Chan et al.'s parallel combination, for all groups of a slice at once:
    # M2 = Σ M2_g + Σ n_g (mean_g - mean)², with deviations rather than raw sums.
    n_g = stats.n.astype(np.float64)
    occupied = stats.n > 0
    n_s = _weighted_bincount(to_slice, n_g, n_slices)
    # Centre on one group mean per slice so that equal means combine to that exact value.
    ref = np.zeros(n_slices, dtype=np.float64)
    ref[to_slice[occupied]] = stats.mean_true[occupied]
    delta = np.where(occupied, stats.mean_true - ref[to_slice], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = _weighted_bincount(to_slice, n_g * delta, n_slices) / n_s
    mean = np.where(n_s > 0, ref + offset, 0.0)
    dev = np.where(occupied, stats.mean_true - mean[to_slice], 0.0)
    m2 = _weighted_bincount(to_slice, stats.m2_true + n_g * dev * dev, n_slices)

    def sums(a: FloatArray) -> FloatArray:
        out = np.zeros((n_slices, a.shape[1]))
        np.add.at(out, to_slice, a)
        return out

    return RegressionStats(
        n=np.rint(n_s).astype(np.int64),
        mean_true=mean,
        m2_true=m2,
        sum_err=sums(stats.sum_err),
        sum_abs_err=sums(stats.sum_abs_err),
        sum_sq_err=sums(stats.sum_sq_err),
        has_baseline=stats.has_baseline,
        shift=stats.shift,
    )


def reduce_scores(
    groups: ArrayLike,
    n_groups: int,
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    thresholds: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> ScoreStats:
    """Binary scores (``y_true`` codes 0/1) to a :class:`ScoreStats` over ``groups``.

    Without ``thresholds`` ``scores`` are the score values themselves (exact table). With
    them, ``scores`` are indices into ``thresholds`` (ascending): bins of a
    :class:`~mlops_gates.stats.scorebins.ScoreBins`, each standing for one value.
    ``weights`` as in :func:`reduce_classification`.
    """
    # Rows are read in their own types (the memory engine's group codes are int32):
    # every key is built in a type wide enough for it.
    g = _codes("groups", groups, n_groups, None, widen=False)
    n = g.shape[0]
    t = _codes("y_true", y_true, 2, n, widen=False)
    w = _weights(weights, n)
    if thresholds is None:
        return _reduce_scores("scores", g, n_groups, t, scores, w)
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim != 1 or np.any(np.diff(thr) < 0):
        raise ValueError("thresholds must be one-dimensional and ascending")
    n_thr = max(thr.shape[0], 1)
    index = _codes("scores", scores, n_thr, n, widen=False)
    if w is None:
        return _scores_from_rows(thr, g, index, t, n_groups)
    t = t.astype(np.int64, copy=False)
    key = g.astype(np.int64) * n_thr
    key += index
    return _scores_from_keys(thr, key, t * w, (1 - t) * w, n_groups)


def _reduce_scores(
    name: str,
    groups: AnyIntArray,
    n_groups: int,
    y_true: AnyIntArray,
    scores: ArrayLike,
    weights: IntArray | None = None,
) -> ScoreStats:
    s = _reals(name, scores, groups.shape[0])
    # One global factorisation of the score values; (group, score index) keys then sort
    # by group first and score second, which the rank metrics rely on.
    thresholds, inverse = np.unique(s, return_inverse=True)
    is_pos = (y_true == 1).astype(np.int64)
    if weights is None:
        return _scores_from_rows(thresholds, groups, inverse, is_pos, n_groups)
    key = groups.astype(np.int64) * thresholds.shape[0] + inverse.astype(np.int64)
    return _scores_from_keys(thresholds, key, is_pos * weights, (1 - is_pos) * weights, n_groups)


def _weights(weights: ArrayLike | None, length: int) -> IntArray | None:
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.shape != (length,):
        raise ValueError(f"weights must have shape ({length},), got {w.shape}")
    if w.shape[0] and not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"weights must be integer row counts, got dtype {w.dtype}")
    if w.shape[0] and int(w.min()) < 0:
        raise ValueError("weights must be non-negative row counts")
    return w.astype(np.int64, copy=False)


def _marginalize_scores(stats: ScoreStats, to_slice: IntArray, n_slices: int) -> ScoreStats:
    n_thr = max(stats.thresholds.shape[0], 1)
    if n_slices * n_thr <= _dense_limit(stats.group.shape[0]):
        # Few (slice, score) cells, as with binned scores: sum into a dense table, no sort.
        # (np.add.at takes intp keys: 32-bit ones it converts, slower.)
        key = np.repeat(np.multiply(to_slice, n_thr, dtype=np.intp), stats.group_runs)
        key += stats.score
        return _dense_marginal(stats, key, n_slices)
    # Entries in score order, then a stable sort by slice: that keeps score order within
    # each slice, and for up to 65,536 slices numpy does it as a radix sort, so a slicing
    # costs O(entries) rather than another full sort of the table.
    order = stats.by_score
    slice_of = to_slice[stats.group[order]]
    codes = slice_of.astype(np.uint16) if n_slices <= 1 << 16 else slice_of
    perm = order[np.argsort(codes, kind="stable")]
    group, score = to_slice[stats.group[perm]], stats.score[perm]
    if perm.shape[0] == 0:
        return dataclasses.replace(
            stats,
            group=group,
            score=score,
            pos=stats.pos[perm],
            neg=stats.neg[perm],
            n_groups=n_slices,
        )
    # Merge the entries of one (slice, score) that came from different groups.
    new = np.ones(perm.shape[0], dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (score[1:] != score[:-1])
    starts = np.flatnonzero(new)
    both = np.add.reduceat(np.stack([stats.pos, stats.neg])[:, perm], starts, axis=1)
    return ScoreStats(
        thresholds=stats.thresholds,
        group=group[starts],
        score=score[starts],
        pos=both[0].astype(np.int64, copy=False),
        neg=both[1].astype(np.int64, copy=False),
        n_groups=n_slices,
    )


def _dense_marginal(stats: ScoreStats, key: IntArray, n_groups: int) -> ScoreStats:
    """:func:`_scores_from_keys`' dense sums of a table's entries at their ``key`` (a cell
    of ``n_groups`` x thresholds), for marginalizing it (counts, never weights): each
    slicing of every score gate comes here, up to a million entries each.

    The counts are summed as integers (``np.add.at`` on int64, several times faster than
    a weighted ``bincount`` through floats, and as exact), and the kept cells are found
    from a boolean mask (``nonzero`` of an int64 array costs ten times as much)."""
    thresholds = stats.thresholds
    n_thresholds = max(thresholds.shape[0], 1)
    space = n_groups * n_thresholds
    packed = stats.packed_counts
    if packed is not None:
        # Both counts of an entry in one int64: one pass of sums instead of two, exact
        # while no cell can carry out of its half.
        both = np.zeros(space, dtype=np.int64)
        np.add.at(both, key, packed)
        keep = np.flatnonzero(both != 0)
        p = both[keep]
        del both
        n = p >> 32
        p &= 0xFFFFFFFF
    else:
        pos, neg = stats.pos.astype(np.int64, copy=False), stats.neg.astype(np.int64, copy=False)
        p, n = np.zeros(space, dtype=np.int64), np.zeros(space, dtype=np.int64)
        np.add.at(p, key, pos)
        np.add.at(n, key, neg)
        # Counts are non-negative: a cell holds rows exactly when either is non-zero.
        keep = np.flatnonzero((p | n) != 0)
        p, n = p[keep], n[keep]
    group, score = _split_cells(keep, n_thresholds)  # (4,096 bins: no divisions)
    return ScoreStats(
        thresholds=thresholds,
        group=group.astype(np.int64, copy=False),
        score=score.astype(np.int64, copy=False),
        pos=p,
        neg=n,
        n_groups=n_groups,
    )


def _scores_from_keys(
    thresholds: FloatArray, key: IntArray, pos: AnyIntArray, neg: AnyIntArray, n_groups: int
) -> ScoreStats:
    """Sum ``pos`` and ``neg`` per distinct (group, score) ``key``."""
    n_thresholds = max(thresholds.shape[0], 1)
    space = n_groups * n_thresholds
    if space <= _dense_limit(key.shape[0]):
        # Dense sums over the whole key space, then keep the cells that hold rows: two
        # bincounts instead of a factorisation and two gathers. Zero-weight entries (a
        # backend never sends them) are dropped here, as in a table built from rows.
        # The space can be several times the entries: convert only the cells kept.
        p = np.bincount(key, weights=pos, minlength=space)
        n = np.bincount(key, weights=neg, minlength=space)
        keep = np.flatnonzero(p + n)  # weights are non-negative counts
        return ScoreStats(
            thresholds=thresholds,
            group=keep // n_thresholds,
            score=keep % n_thresholds,
            pos=np.rint(p[keep]).astype(np.int64),
            neg=np.rint(n[keep]).astype(np.int64),
            n_groups=n_groups,
        )
    unique_keys, inverse = factorize_keys(key, space)
    size = unique_keys.shape[0]
    return ScoreStats(
        thresholds=thresholds,
        group=unique_keys // n_thresholds,
        score=unique_keys % n_thresholds,
        pos=_sum_by(inverse, pos, size),
        neg=_sum_by(inverse, neg, size),
        n_groups=n_groups,
    )


def _scores_from_rows(
    thresholds: FloatArray,
    group: AnyIntArray,
    index: NDArray[np.signedinteger[Any]],
    positive: AnyIntArray,
    n_groups: int,
) -> ScoreStats:
    """:func:`_scores_from_keys` for one row per entry: row ``i`` in ``group[i]`` with
    score ``thresholds[index[i]]`` and label ``positive[i]`` (0/1).

    One sort of the packed keys ``(group * n_thresholds + index) * 2 + positive``, 32 bits
    wide whenever they fit: numpy sorts integers with AVX-512 (a million 32-bit keys in
    3.5 ms on the bench machine), where dense sums over a (group, score) space larger
    than the rows cost a scattered add per row and a scan of the space (800 groups x
    4,096 bins on a million rows: 22 ms). Spaces up to the rows are counted densely
    (:func:`_dense_scores`). Most of the cost left is touching fresh memory, so the table
    is read off the sorted keys with one new array a column, as narrow as the batched
    read makes its tables (:func:`_narrow_table`): 11 ms a model instead of 25."""
    n_thresholds = max(thresholds.shape[0], 1)
    n = group.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _scores_from_keys(thresholds, empty, empty, empty, n_groups)
    space = n_groups * n_thresholds
    if space <= n:
        return _dense_scores(thresholds, group, index, positive, n_groups)
    count_type = narrow_counts(n)
    packed = np.multiply(group, n_thresholds, dtype=key_type(2 * space))
    packed += index
    packed <<= 1
    packed |= positive
    packed.sort()
    # Positives up to each row: an entry's are the difference at its last row and the
    # previous entry's. The negatives of a (group, score) sort just before its positives.
    positives = (packed & 1).astype(count_type, copy=False)
    np.cumsum(positives, out=positives)
    packed >>= 1  # each row's (group, score)
    last = np.empty(n, dtype=bool)  # the last row of its (group, score)
    last[-1] = True
    np.not_equal(packed[1:], packed[:-1], out=last[:-1])
    at = np.flatnonzero(last)  # (flatnonzero and take: 3x faster than a boolean index)
    del last
    key = packed.take(at)
    pos = positives.take(at)
    del packed, positives
    pos[1:] -= pos[:-1].copy()
    neg = np.empty(at.shape[0], dtype=count_type)
    neg[0] = at[0] + 1
    np.subtract(at[1:], at[:-1], out=neg[1:], casting="unsafe")  # rows, below 2**31 if int32
    neg -= pos
    del at
    return _narrow_table(thresholds, key, pos, neg, n_groups)


def _narrow_table(
    thresholds: FloatArray, key: AnyIntArray, pos: AnyIntArray, neg: AnyIntArray, n_groups: int
) -> ScoreStats:
    """A score table from its occupied cells, ascending ``group * n_thresholds + score``
    keys (overwritten) with their counts: the group and score columns as narrow as their
    values allow (`narrow_groups`, `narrow_bins`), as the batched read's."""
    n_thresholds = max(thresholds.shape[0], 1)
    cell_group, score = _split_cells(key, n_thresholds)
    return ScoreStats(
        thresholds=thresholds,
        group=cell_group.astype(narrow_groups(n_groups, n_thresholds), copy=False),
        score=score.astype(narrow_bins(n_thresholds), copy=False),
        pos=pos,
        neg=neg,
        n_groups=n_groups,
    )


def _split_cells(key: AnyIntArray, n_thresholds: int) -> tuple[AnyIntArray, AnyIntArray]:
    """``(key // n_thresholds, key % n_thresholds)``; ``key`` is overwritten."""
    if n_thresholds & (n_thresholds - 1) == 0:  # 4,096 bins: a shift and a mask
        group = key >> (n_thresholds.bit_length() - 1)
        key &= n_thresholds - 1
        return group, key
    return np.divmod(key, n_thresholds)


def _dense_scores(
    thresholds: FloatArray,
    group: AnyIntArray,
    index: NDArray[np.signedinteger[Any]],
    positive: AnyIntArray,
    n_groups: int,
) -> ScoreStats:
    """:func:`_scores_from_rows` when the (group, score) space is at most the rows (few
    groups): one ``bincount`` of the ``(group, score, label)`` cells, a (group, score)'s
    negatives and positives side by side. The same table as sorted: cells ascending by
    (group, score), in the same types."""
    n_thresholds = max(thresholds.shape[0], 1)
    space = n_groups * n_thresholds
    count_type = narrow_counts(group.shape[0])
    key = np.multiply(group, n_thresholds, dtype=np.intp)  # bincount counts intp keys
    key += index
    key <<= 1
    key |= positive
    counts = np.bincount(key, minlength=2 * space).reshape(space, 2)
    del key
    occupied = counts[:, 0] != 0
    occupied |= counts[:, 1] != 0
    keep = np.flatnonzero(occupied)  # (nonzero of a boolean mask: 4x faster)
    del occupied
    pos = counts[keep, 1].astype(count_type)
    neg = counts[keep, 0].astype(count_type)
    return _narrow_table(thresholds, keep, pos, neg, n_groups)


def sorted_cells(keys: NDArray[np.signedinteger[Any]]) -> tuple[NDArray[Any], IntArray]:
    """The distinct values of ``keys`` (ascending) and how often each occurs: one sort of
    the key buffer itself (``keys`` is sorted in place) and one scan for where it changes.

    numpy sorts integers with SIMD instructions, so on millions of rows this beats a
    factorisation or dense sums over a key space larger than the rows; ``keys`` 32 bits
    wide sort twice as fast."""
    n = keys.shape[0]
    if n == 0:
        return keys.copy(), np.zeros(0, dtype=np.int64)
    keys.sort()
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    count = np.empty(starts.shape[0], dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=count[:-1])
    count[-1] = n - starts[-1]
    return keys[starts], count


def counted_cells(keys: NDArray[np.signedinteger[Any]], space: int) -> tuple[IntArray, IntArray]:
    """:func:`sorted_cells` for keys known to lie in ``[0, space)``, as int64: summed
    densely (one ``bincount``, no sort) when the space is at most a few times the keys,
    else sorted, 32 bits wide whenever the space fits (twice as fast as 64). ``keys`` may
    be overwritten.

    Wider keys are sorted as they are: numpy's AVX-512 sort takes 8 ms for a million
    int64 keys on the bench machine, where putting them in order of their high 8 bits and
    sorting each run's low 32 bits took 30 (10M keys: 0.11 s against 0.49)."""
    n = keys.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if space <= _dense_limit(n):
        counts = np.bincount(keys, minlength=space)
        cells = np.flatnonzero(counts != 0)  # (a boolean mask's nonzero: 4x faster)
        return cells.astype(np.int64, copy=False), counts[cells].astype(np.int64, copy=False)
    if key_type(space) is np.int32 and keys.dtype != np.int32:
        keys = keys.astype(np.int32)
    cells, counts = sorted_cells(keys)
    return cells.astype(np.int64, copy=False), counts


def _dense_limit(entries: int) -> int:
    """Largest key space summed densely: a few times the entries, and at least 2**16."""
    return max(4 * entries, 1 << 16)


def factorize_keys(key: IntArray, space: int) -> tuple[IntArray, IntArray]:
    """``np.unique(key, return_inverse=True)`` for keys in ``[0, space)``."""
    if space <= _dense_limit(key.shape[0]):
        # A small key space (e.g. marginalizing to few slices) needs no sort.
        present = np.bincount(key, minlength=space) > 0
        position = np.cumsum(present, dtype=np.int64) - 1
        return np.flatnonzero(present).astype(np.int64), position[key]
    unique_keys, inverse = np.unique(key, return_inverse=True)
    return unique_keys.astype(np.int64, copy=False), inverse.astype(np.int64, copy=False)


def _sum_by(index: AnyIntArray, weight: AnyIntArray, size: int) -> IntArray:
    """``bincount(index, weights)`` back as int64 (exact: counts stay far below 2**53)."""
    sums = np.bincount(index, weights=weight, minlength=size)
    return np.rint(sums).astype(np.int64)


def _weighted_bincount(index: IntArray, weight: FloatArray, size: int) -> FloatArray:
    return np.asarray(np.bincount(index, weights=weight, minlength=size), dtype=np.float64)


def _column_sums(groups: IntArray, n_groups: int, columns: list[FloatArray]) -> FloatArray:
    return np.stack([_weighted_bincount(groups, col, n_groups) for col in columns], axis=1)


def _codes(
    name: str, values: ArrayLike, upper: int, length: int | None, *, widen: bool = True
) -> IntArray:
    """``values`` checked to be integer codes in ``[0, upper)``; as int64 unless
    ``widen`` is false (then in their own integer type, with no copy, unless int64 does
    not hold every value of it)."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} has {a.shape[0]} entries, expected {length}")
    if a.shape[0] == 0:
        return a.astype(np.int64)
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise ValueError(f"{name} must hold integer codes, got dtype {a.dtype}")
    # One pass, not two: read as unsigned, a negative code is larger than any bound. Each
    # table checks every row's group, label and score codes (16 passes over a million rows
    # a run, 8 ms at 1M on the bench machine before).
    unsigned = a.view(a.dtype.str.replace("i", "u")) if a.dtype.kind == "i" else a
    if int(unsigned.max()) >= upper:
        lo, hi = int(a.min()), int(a.max())
        raise ValueError(f"{name} must hold codes in [0, {upper}), found values in [{lo}, {hi}]")
    if widen or not np.can_cast(a.dtype, np.int64):  # (uint64: checked to fit)
        return a.astype(np.int64, copy=False)
    return a


def _reals(name: str, values: ArrayLike, length: int) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def coarsen_scores(scores: ScoreStats, *, max_cells: int = 20_000, bins: int = 2_000) -> ScoreStats:
    """The same table with its distinct scores merged into at most ``bins`` quantile bins,
    when it has more than ``max_cells`` (group, score) cells; otherwise ``scores`` itself.

    Rank metrics on a coarsened table treat scores within one bin as ties, so they are
    approximations (the point estimates elsewhere stay exact); resampling it costs
    O(bins × groups) per replicate instead of O(rows).
    """
    if scores.group.shape[0] <= max_cells or scores.thresholds.shape[0] <= bins:
        return scores
    n_thr = scores.thresholds.shape[0]
    # Bins hold about equally many distinct thresholds, weighted by how often each occurs.
    weight = np.bincount(scores.score, weights=scores.pos + scores.neg, minlength=n_thr)
    cum = np.cumsum(weight)
    bin_of = np.minimum((cum - weight / 2) * bins // max(cum[-1], 1), bins - 1).astype(np.int64)
    used, new_index = np.unique(bin_of, return_inverse=True)
    # A bin's score is the weighted mean of its members, so means of scores are kept.
    totals = np.bincount(new_index, weights=weight * scores.thresholds, minlength=used.shape[0])
    counts = np.bincount(new_index, weights=weight, minlength=used.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(counts > 0, totals / counts, 0.0)
    key = scores.group * used.shape[0] + new_index[scores.score]
    return _scores_from_keys(
        thresholds.astype(np.float64), key.astype(np.int64), scores.pos, scores.neg, scores.n_groups
    )
