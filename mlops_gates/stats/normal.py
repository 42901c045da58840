"""Normal-theory (CLT) standard errors for score metrics, straight from `ScoreStats`.

The score bootstrap is exact but costs a metric evaluation over every (score, class) cell
per replicate, which for continuous scores means about one cell per row. These standard
errors cost one pass over the cells instead:

- ROC AUC: DeLong's variance, ``S10 / n1 + S01 / n0``, from the placement values of the
  positives (share of negatives scored below, ties counting half) and of the negatives
  (share of positives scored above). With ties handled as midranks it is the variance
  estimate behind DeLong's test. For candidate − baseline on the same rows, the paired
  variance (:func:`paired_roc_auc_difference_se`) from a joint score table.
- Paired DeLong on a coarse joint grid (binned scores at scale, ``joint.factor = f > 1``):
  the joint table holds rows per (class, group, α = a // f, β = b // f) of the fine bins
  ``a``, ``b``, so each row's own ``D = Vc(a) − Vb(b)`` is no longer known, only its
  cell. Per group and class, with ``μc[α]`` the count-weighted mean of ``Vc`` over that
  class's rows whose candidate bin lies in ``α`` (exact: from the fine candidate table),
  write ``D_i = D̂_i + ec_i − eb_i`` with ``D̂_i = μc[α_i] − μb[β_i]`` (known per cell),
  ``ec_i = Vc(a_i) − μc[α_i]`` and ``eb_i`` likewise. Over the class's rows,
  ``‖ec‖² = Wc = Σ_fine bins count·(Vc(a) − μc[a // f])²`` is exact from the fine table
  (it does not depend on how the rows pair up), and so is ``‖eb‖² = Wb``; the pairing
  enters only through ``Ŝ = ‖D̂‖² = Σ_cells n·(μc[α] − μb[β])²``. Minkowski's
  inequality on ``D = D̂ + ec − eb`` gives, for ``S = ‖D‖² = Σ_rows D_i²``::

      (max(0, √Ŝ − √Wc − √Wb))²  ≤  S  ≤  (√Ŝ + √Wc + √Wb)²

  The cross terms can be bounded bin by bin instead, which is never looser: since ``ec``
  sums to 0 over the rows of each candidate bin ``α``, ``Σ D̂·ec = −Σ_α Σ_{i∈α}
  (μb[β_i] − m_α)·ec_i`` for the mean ``m_α`` of ``μb[β]`` over α's rows, so by
  Cauchy-Schwarz ``|Σ D̂·ec| ≤ X = Σ_α √(B_α·Wc_α)`` with ``B_α = Σ_β n_αβ (μb[β] − m_α)²``
  (from the grid) and ``Wc_α`` α's part of ``Wc``; ``Y`` likewise for ``eb``. With
  ``(√Wc − √Wb)² ≤ ‖ec − eb‖² ≤ (√Wc + √Wb)²``::

      Ŝ − 2(X + Y) + (√Wc − √Wb)²  ≤  S  ≤  Ŝ + 2(X + Y) + (√Wc + √Wb)²

  and ``B_α`` summed is at most ``Ŝ``, so ``X + Y ≤ √Ŝ (√Wc + √Wb)``: the tighter of the
  two pairs is used at each end.

  The standard error reported uses the upper bound, so it is never smaller than the one
  the fine table would give (the interval only widens; a test at the nominal level stays
  at or below it); :func:`paired_roc_auc_difference_se_bounds` returns both ends, which
  say how much wider it may be. With ``f = 1`` the cells are the fine bins, ``Wc = Wb =
  0``, and the exact sum is computed as before.
- log loss and Brier score are means of per-row losses, so their standard error is the
  sample standard deviation of the losses over ``sqrt(n)``.

Intervals are ``estimate ± z·se``, clipped to the metric's range.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.metrics import below, class_totals, score_metric
from mlops_gates.stats.reduce import AnyIntArray, JointScores, ScoreStats

__all__ = [
    "NORMAL_METRICS",
    "normal_interval",
    "normal_pvalue",
    "paired_roc_auc_difference_se",
    "paired_roc_auc_difference_se_bounds",
    "score_metric_se",
]


FloatArray = NDArray[np.float64]

NORMAL_METRICS = frozenset({"roc_auc", "log_loss", "brier"})
_RANGE = {"roc_auc": (0.0, 1.0), "brier": (0.0, 1.0), "log_loss": (0.0, np.inf)}


def _class_counts(s: ScoreStats) -> tuple[FloatArray, FloatArray]:
    """Positives and negatives per group, as floats; once per table, shared with the ROC
    AUC itself (each is a pass over the entries, and DeLong's variance, single or paired,
    reads them several times)."""
    return class_totals(s)


def _placements(s: ScoreStats) -> tuple[FloatArray, FloatArray]:
    """DeLong's placement values per entry, centred on the group's AUC: of a positive at
    this score (share of negatives below, ties half) and of a negative (share of positives
    above, ties half). Once per table: a slicing's ROC AUC gate and its paired baseline
    gate share them (read-only)."""
    pair: list[tuple[FloatArray, FloatArray]] = []

    def part(i: int) -> FloatArray:
        if not pair:
            pair.append(_compute_placements(s))
        return pair[0][i]

    return s.memo("delong:v10", lambda: part(0)), s.memo("delong:v01", lambda: part(1))


def _compute_placements(s: ScoreStats) -> tuple[FloatArray, FloatArray]:
    n1, n0 = _class_counts(s)
    auc = score_metric("roc_auc", s)  # the same table's point estimate, computed once
    # Entries per group (they are sorted by group): a group's value repeated over its run
    # is the same gather as indexing by each entry's group, and cheaper.
    runs = s.group_runs
    with np.errstate(divide="ignore", invalid="ignore"):
        # The cumulative counts ROC AUC itself used (exact: they are sums of integers, and
        # so is every sum below until the division, in whatever order it is taken; the
        # halves of integer counts are exact whether the counts are floats first or not).
        v10 = np.multiply(s.neg, 0.5, dtype=np.float64)
        v10 += below(s, "neg")
        v10 /= np.repeat(n0, runs)
        # Positives above an entry's score in its group: the group's last running total
        # of positives minus the entry's own (entries are sorted by group, then score).
        v01 = _positives_above(s, s.group_bounds[1:], runs)
        v01 += np.multiply(s.pos, 0.5, dtype=np.float64)
        v01 /= np.repeat(n1, runs)
        at = np.repeat(auc, runs)
        v10 -= at
        v01 -= at
    return v10, v01


def _positives_above(s: ScoreStats, ends: NDArray[np.intp], runs: NDArray[np.intp]) -> FloatArray:
    """Per entry, the positives of its group at strictly higher scores, as floats (exact).
    ``ends``: where each group's entries end; ``runs``: how many they are."""
    running = np.cumsum(s.pos, dtype=np.int64)
    # Each group's entries are contiguous: its last running total is where the next begins.
    last = np.zeros(s.n_groups, dtype=np.float64)
    occupied = ends > 0
    last[occupied] = running[ends[occupied] - 1]
    above = np.repeat(last, runs)
    above -= running  # exact: integers below 2**53
    return above


def _roc_auc_se(s: ScoreStats) -> FloatArray:
    g = s.group
    n1, n0 = _class_counts(s)
    v10, v01 = _placements(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        # count · v · v, the count taken from the integers (exact) into one buffer.
        w = np.multiply(s.pos, v10, dtype=np.float64)
        w *= v10
        s10 = np.bincount(g, weights=w, minlength=s.n_groups) / (n1 - 1)
        np.multiply(s.neg, v01, out=w, dtype=np.float64)
        w *= v01
        s01 = np.bincount(g, weights=w, minlength=s.n_groups) / (n0 - 1)
        var = s10 / n1 + s01 / n0
    return np.asarray(np.where((n1 >= 2) & (n0 >= 2), np.sqrt(var), np.nan), dtype=np.float64)


def paired_roc_auc_difference_se(
    candidate: ScoreStats, baseline: ScoreStats, joint: JointScores
) -> FloatArray:
    """Standard error of ``AUC(candidate) − AUC(baseline)`` on the same rows, per group:
    DeLong's paired variance (DeLong, DeLong and Clarke-Pearson 1988; R pROC's
    ``roc.test(paired = TRUE, method = "delong")``).

    With ``D10 = V10(candidate) − V10(baseline)`` per positive row (placement values
    centred on each model's AUC) and ``D01`` likewise per negative row, the variance is
    ``Σ D10² / (n1 − 1) / n1 + Σ D01² / (n0 − 1) / n0``: the two models' variances minus
    twice their covariance, written as one sum of squares, so it is never negative and a
    model compared with itself gets exactly 0. The sums run over the joint table's
    (candidate score, baseline score) cells, each looking up its two placements in the
    models' own tables. The three tables must be over the same groups.

    On a coarse joint grid (``joint.factor > 1``) the sums are not known exactly, and
    this is the conservative end of :func:`paired_roc_auc_difference_se_bounds`: never
    smaller than the fine table's standard error.
    """
    if not candidate.n_groups == baseline.n_groups == joint.n_groups:
        raise ValueError("candidate, baseline and joint score tables must share the groups")
    if joint.factor != 1:
        return paired_roc_auc_difference_se_bounds(candidate, baseline, joint)[1]
    c10, c01 = _placements(candidate)
    b10, b01 = _placements(baseline)
    n1, n0 = _class_counts(candidate)
    # The joint table is about as long as the rows. It is read in blocks that stay in the
    # cache: a few passes over small buffers instead of one fresh row-long array per step.
    longest = max(joint.n_negative_entries, joint.group.shape[0] - joint.n_negative_entries)
    block = max(min(_BLOCK, longest), 1)
    at = np.empty(block, dtype=np.int64)
    d, other = np.empty(block, dtype=np.float64), np.empty(block, dtype=np.float64)
    sums = []
    keys: list[NDArray[np.int64]] = []  # each entry's cell, per model, once needed
    grids: dict[str, FloatArray] = {}  # one lookup grid per model, filled again per class
    wc, wb = max(candidate.thresholds.shape[0], 1), max(baseline.thresholds.shape[0], 1)
    rows: _Rows | None = None
    for positive, c, b in ((True, c10, b10), (False, c01, b01)):
        # Each class needs only its own placement values: V10 for positives, V01 for
        # negatives, looked up in each model's table at the entry's own score.
        g, ci, bi, count = joint.of_class(positive)
        # Where each run of one group begins: one pass for the class (none for one group).
        starts = _runs(g) if joint.n_groups > 1 else np.zeros(min(g.shape[0], 1), dtype=np.intp)
        long_runs = g.shape[0] >= _RUN * starts.shape[0]
        by_runs: Callable[[int], tuple[FloatArray, FloatArray]] | None = None
        if long_runs and max(wc, wb) <= _DENSE_CELLS and _distinct(g[starts]):
            # Each group one run (a slicing that keeps the groups' order): its rows are
            # filled as it begins, no (groups x thresholds) grid nor cell index made.
            rows = rows or _Rows(candidate, baseline)
            by_runs = rows.of(c, b)
        else:
            if not keys:
                keys = [_entry_keys(candidate), _entry_keys(baseline)]
            of_candidate = _gather(candidate, c, keys[0], grids, "candidate")
            of_baseline = _gather(baseline, b, keys[1], grids, "baseline")
            # Long runs (on average) are looked up a run at a time in the group's own row
            # of the dense grids, with no cell index computed per entry.
            grid_c, grid_b = grids.get("candidate"), grids.get("baseline")
            if grid_c is not None and grid_b is not None and long_runs:
                by_runs = _grid_rows(grid_c, wc, grid_b, wb)
        total = np.zeros(joint.n_groups, dtype=np.float64)
        for lo, hi, runs in _block_runs(starts, g.shape[0], block):
            m = hi - lo
            dm, om = d[:m], other[:m]
            if by_runs is not None:
                bounds = [*runs.tolist(), m]
                for k, label in enumerate(g[lo + runs].tolist()):
                    r0, r1 = bounds[k], bounds[k + 1]
                    row_c, row_b = by_runs(label)
                    np.take(row_c, ci[lo + r0 : lo + r1], out=dm[r0:r1], mode="clip")
                    np.take(row_b, bi[lo + r0 : lo + r1], out=om[r0:r1], mode="clip")
            else:
                of_candidate(g[lo:hi], ci[lo:hi], at[:m], dm)
                of_baseline(g[lo:hi], bi[lo:hi], at[:m], om)
            dm -= om
            dm *= dm
            dm *= count[lo:hi]
            _add_by_runs(total, g[lo:hi], dm, runs)
        sums.append(total)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = sums[0] / (n1 - 1) / n1 + sums[1] / (n0 - 1) / n0
    return np.asarray(np.where((n1 >= 2) & (n0 >= 2), np.sqrt(var), np.nan), dtype=np.float64)


def _grid_rows(
    grid_c: FloatArray, wc: int, grid_b: FloatArray, wb: int
) -> Callable[[int], tuple[FloatArray, FloatArray]]:
    """A group's rows of the two models' dense (groups x thresholds) grids."""

    def rows(label: int) -> tuple[FloatArray, FloatArray]:
        return grid_c[label * wc : (label + 1) * wc], grid_b[label * wb : (label + 1) * wb]

    return rows


def _distinct(labels: AnyIntArray) -> bool:
    """Whether no label repeats (each group's entries one run)."""
    return bool(np.unique(labels).shape[0] == labels.shape[0])


class _Rows:
    """Both models' placement values of one group at a time, spread over a row of each
    model's scores (as wide as its thresholds) when the group's run begins: for classes
    whose groups each come in one run, nothing as large as groups x thresholds (nor each
    entry's cell) is made. At 1M rows the 160 slices' grids are 5 MB a model, and their
    cells' keys and fills cost as much as the lookups: the 5 slicings' paired calls, from
    the captured tables, 61 -> 58 ms (median of 9, three runs each)."""

    def __init__(self, candidate: ScoreStats, baseline: ScoreStats) -> None:
        self.models = (candidate, baseline)
        self.begins = [m.group_bounds for m in self.models]
        self.rows = tuple(np.empty(max(m.thresholds.shape[0], 1)) for m in self.models)

    def of(self, c: FloatArray, b: FloatArray) -> Callable[[int], tuple[FloatArray, FloatArray]]:
        held = [-1]

        def rows(label: int) -> tuple[FloatArray, FloatArray]:
            if held[0] != label:
                # Only the cells of this group's entries are read: the others may hold
                # another group's values, which nobody reads.
                for row, m, values, begins in zip(
                    self.rows, self.models, (c, b), self.begins, strict=True
                ):
                    lo, hi = int(begins[label]), int(begins[label + 1])
                    row[m.score[lo:hi]] = values[lo:hi]
                held[0] = label
            return self.rows[0], self.rows[1]

        return rows


def _block_runs(
    starts: NDArray[np.intp], n: int, block: int
) -> list[tuple[int, int, NDArray[np.intp]]]:
    """Blocks of at most ``block`` of ``n`` labels whose runs begin at ``starts``
    (:func:`_runs`), cut where the last run starting in a block begins (a run longer than
    a block is cut every ``block`` entries from its start), each ``(lo, hi, its runs'
    starts from lo)``: the cuts and every block's runs from one pass over the labels, not
    one for the cuts and another per block."""
    out = []
    start = 0
    while start < n:
        end = min(start + block, n)
        if end < n:
            last = int(starts[int(np.searchsorted(starts, end, side="right")) - 1])
            if last > start:
                end = last  # the last run starting in the block
        first = int(np.searchsorted(starts, start, side="right"))
        stop = int(np.searchsorted(starts, end, side="left"))
        runs = np.empty(stop - first + 1, dtype=np.intp)
        runs[0] = 0
        np.subtract(starts[first:stop], start, out=runs[1:])
        out.append((start, end, runs))
        start = end
    return out


def _add_by_runs(
    total: FloatArray,
    label: AnyIntArray,
    values: FloatArray,
    starts: NDArray[np.intp] | None = None,
) -> None:
    """``np.add.at(total, label, values)`` for labels that come in long runs, as the joint
    table's do (its entries are sorted by group, then candidate score, and a slice is a
    union of groups): each run of one label is summed at once (pairwise, in numpy's
    reduction), then the run sums are added in entry order. A few thousand runs per
    million entries, so this is a fraction of adding entry by entry (issue 25).
    ``starts``: :func:`_runs` of ``label``, when several sums share the labels."""
    if label.shape[0] == 0:
        return
    if starts is None:
        starts = _runs(label)
    np.add.at(total, label[starts], np.add.reduceat(values, starts))


def _blocks(label: AnyIntArray, block: int) -> list[slice]:
    """Consecutive parts of at most ``block`` entries that end where a run of one label
    ends, unless the run is longer (then at ``block`` entries from where it starts):
    :func:`_block_runs`' cuts.

    Each run is then cut at the same offsets from its start whatever precedes it, so its
    sums (:func:`_add_by_runs`) are the same bits in a table of all groups and in one of
    some of them (the report context bounds every score group a block at a time)."""
    n = label.shape[0]
    if n == 0:
        return []
    return [slice(lo, hi) for lo, hi, _ in _block_runs(_runs(label), n, block)]


def _runs(label: AnyIntArray) -> NDArray[np.intp]:
    """Where each run of equal consecutive labels starts (``label`` not empty)."""
    change = np.not_equal(label[1:], label[:-1])
    starts = np.empty(int(np.count_nonzero(change)) + 1, dtype=np.intp)
    starts[0] = 0
    starts[1:] = np.flatnonzero(change)
    starts[1:] += 1
    return starts


def paired_roc_auc_difference_se_bounds(
    candidate: ScoreStats, baseline: ScoreStats, joint: JointScores
) -> tuple[FloatArray, FloatArray]:
    """``(lower, upper)`` bounds per group on the standard error
    :func:`paired_roc_auc_difference_se` would give on the fine joint table of the same
    rows, from a coarse joint grid (``joint.factor > 1``) and the models' fine tables
    (the module docstring derives them). With ``joint.factor == 1`` both are that
    standard error. ``upper / lower − 1`` is how much wider the reported one may be."""
    if not candidate.n_groups == baseline.n_groups == joint.n_groups:
        raise ValueError("candidate, baseline and joint score tables must share the groups")
    if joint.factor == 1:
        se = paired_roc_auc_difference_se(candidate, baseline, joint)
        return se, se
    f = joint.factor
    c10, c01 = _placements(candidate)
    b10, b01 = _placements(baseline)
    n1, n0 = _class_counts(candidate)
    lows, highs = [], []
    cells_c, cells_b = _coarse_cells(candidate, f), _coarse_cells(baseline, f)
    for positive, c, b in ((True, c10, b10), (False, c01, b01)):
        mean_c, width_c, spread_c = _coarse_means(candidate, c, positive, f, cells_c)
        mean_b, width_b, spread_b = _coarse_means(baseline, b, positive, f, cells_b)
        cells, between_c, between_b = _grid_sums(
            joint.of_class(positive), mean_c, width_c, mean_b, width_b, joint.n_groups
        )
        with np.errstate(invalid="ignore"):
            # The cross terms, bin by bin: Σ_α √(B_α · Wc_α), B_α the spread of the
            # baseline's coarse means over α's rows (see the module docstring).
            cross = _cross(between_c, spread_c, width_c, joint.n_groups)
            cross += _cross(between_b, spread_b, width_b, joint.n_groups)
            # Rounding may leave a spread a hair below 0 (a sum of squares, exactly ≥ 0).
            wc = np.bincount(np.arange(spread_c.shape[0]) // width_c, weights=spread_c,
                             minlength=joint.n_groups)  # fmt: skip
            wb = np.bincount(np.arange(spread_b.shape[0]) // width_b, weights=spread_b,
                             minlength=joint.n_groups)  # fmt: skip
            rc, rb = np.sqrt(np.maximum(wc, 0.0)), np.sqrt(np.maximum(wb, 0.0))
            root = np.sqrt(cells)
        high = np.minimum((root + rc + rb) ** 2, cells + 2 * cross + (rc + rb) ** 2)
        low = np.maximum(np.maximum(root - rc - rb, 0.0) ** 2, cells - 2 * cross + (rc - rb) ** 2)
        highs.append(high)
        lows.append(np.maximum(low, 0.0))
    out = []
    for sums in (lows, highs):
        with np.errstate(divide="ignore", invalid="ignore"):
            var = sums[0] / (n1 - 1) / n1 + sums[1] / (n0 - 1) / n0
        out.append(
            np.asarray(np.where((n1 >= 2) & (n0 >= 2), np.sqrt(var), np.nan), dtype=np.float64)
        )
    return out[0], out[1]


def _coarse_means(
    s: ScoreStats,
    values: FloatArray,
    positive: bool,
    factor: int,
    cells: tuple[_Keyed, int] | None = None,
) -> tuple[FloatArray, int, FloatArray]:
    """One class's placement values over a coarse grid of ``s``'s bins: the
    count-weighted mean per (group, bin // factor), flat with that width, and per such
    cell the sum of count·(value − the cell's mean)² (what the coarse grid leaves out).
    ``cells``: :func:`_coarse_cells` of ``s``, when both classes share them."""
    keyed, width = cells if cells is not None else _coarse_cells(s, factor)
    weight = (s.pos if positive else s.neg).astype(np.float64)
    mean, spread = _spread(keyed, weight, values, s.n_groups * width)
    return mean, width, spread


def _coarse_cells(s: ScoreStats, factor: int) -> tuple[_Keyed, int]:
    """Each entry's coarse cell ``group x width + bin // factor`` (with its runs) and the
    width: the same for both classes, so made once per model (at 10M rows, the 160
    slices' tables: 1.7 ms a model)."""
    width = -(-max(s.thresholds.shape[0], 1) // factor)
    key = np.multiply(s.group, width, dtype=np.int64)  # int64: the product may not fit
    key += s.score // factor
    return _keyed(key), width


class _Keyed(NamedTuple):
    """Keys and, when they come sorted (each key's entries one run), where each run
    starts and how long it is."""

    key: NDArray[np.int64]
    starts: NDArray[np.intp] | None
    lengths: NDArray[np.intp] | None


def _keyed(key: NDArray[np.int64]) -> _Keyed:
    n = key.shape[0]
    if n == 0 or np.any(key[1:] < key[:-1]):
        return _Keyed(key, None, None)
    starts = _runs(key)
    return _Keyed(key, starts, np.diff(starts, append=n))


def _spread(
    keyed: _Keyed, weight: NDArray[Any], values: FloatArray, size: int
) -> tuple[FloatArray, FloatArray]:
    """Per key in ``[0, size)``: the ``weight``-weighted mean of ``values`` and the
    weighted sum of squared deviations from it (two passes: no cancellation).

    The keys come in the table's (group, score) order, so each key's entries are one run,
    summed at once (pairwise; a ``bincount`` adds entry by entry, several times slower);
    unsorted keys are summed by ``bincount``."""
    # Entries of weight 0 (the other class) may hold NaN placements only in groups with
    # one class, whose standard error is NaN anyway.
    key, starts, lengths = keyed
    first = None if starts is None else key[starts]

    def sums(weights: FloatArray) -> FloatArray:
        if starts is None:
            return np.asarray(np.bincount(key, weights=weights, minlength=size), dtype=np.float64)
        out = np.zeros(size, dtype=np.float64)
        out[first] = np.add.reduceat(weights, starts)
        return out

    with np.errstate(invalid="ignore"):
        total = sums(np.asarray(weight, dtype=np.float64))
        mean = sums(weight * values)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(total > 0, mean / np.where(total > 0, total, 1.0), 0.0)
        # Each entry's cell mean: repeated over the runs (the same gather, cheaper).
        at = mean[key] if first is None or lengths is None else np.repeat(mean[first], lengths)
        resid = values - at
        spread = sums(weight * resid * resid)
    return np.asarray(mean, dtype=np.float64), spread


def _grid_sums(
    entries: tuple[AnyIntArray, AnyIntArray, AnyIntArray, AnyIntArray],
    mean_c: FloatArray,
    width_c: int,
    mean_b: FloatArray,
    width_b: int,
    n_groups: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One class's sums over the coarse joint grid's entries ``(group, α, β, count)``:
    per group ``Ŝ = Σ count·(μc[α] − μb[β])²``, and per candidate bin α the spread of
    the baseline's coarse means ``μb[β]`` over α's rows (per baseline bin β that of
    ``μc[α]``), each from :func:`_spread`'s two passes.

    The grid is as long as a fine table at scale (2M entries at 10M rows), and each
    slicing's verdict reads it: the entries are taken a block at a time into buffers that
    stay in the cache, so no per-entry array of the whole grid is ever made (issue 25's
    peak). Sums by group and by candidate bin α add each run of one key at once (the
    entries are sorted by group, then α: see :func:`_add_by_runs`); sums by baseline bin
    β, whose keys change at every entry, add entry by entry (``np.add.at``)."""
    g, ci, bi, count = entries
    size_c, size_b = mean_c.shape[0], mean_b.shape[0]
    cells = np.zeros(n_groups, dtype=np.float64)
    total_c, sum_c = np.zeros(size_c), np.zeros(size_c)
    total_b, sum_b = np.zeros(size_b), np.zeros(size_b)
    block = max(min(_BLOCK, g.shape[0]), 1)
    # Block-long scratch: cell indexes in int64 (group x width need not fit 32 bits).
    at_c, at_b = np.empty(block, dtype=np.int64), np.empty(block, dtype=np.int64)
    of_c, of_b = np.empty(block), np.empty(block)
    w, t = np.empty(block), np.empty(block)

    def load(part: slice, m: int) -> None:
        np.multiply(g[part], width_c, out=at_c[:m], dtype=np.int64)
        at_c[:m] += ci[part]
        np.multiply(g[part], width_b, out=at_b[:m], dtype=np.int64)
        at_b[:m] += bi[part]
        np.take(mean_c, at_c[:m], out=of_c[:m])
        np.take(mean_b, at_b[:m], out=of_b[:m])
        np.copyto(w[:m], count[part], casting="unsafe")  # exact: counts < 2**53

    with np.errstate(invalid="ignore"):
        for part in _blocks(g, block):
            m = g[part].shape[0]
            load(part, m)
            d = np.subtract(of_c[:m], of_b[:m], out=t[:m])
            d2 = np.multiply(w[:m], d, out=d)  # count·d·d, in the order it was written
            d2 *= np.subtract(of_c[:m], of_b[:m])
            _add_by_runs(cells, g[part], d2)
            runs = _runs(at_c[:m])
            _add_by_runs(total_c, at_c[:m], w[:m], runs)
            _add_by_runs(sum_c, at_c[:m], np.multiply(w[:m], of_b[:m], out=t[:m]), runs)
            np.add.at(total_b, at_b[:m], w[:m])
            np.add.at(sum_b, at_b[:m], np.multiply(w[:m], of_c[:m], out=t[:m]))
    means = []
    for total, mean in ((total_c, sum_c), (total_b, sum_b)):
        with np.errstate(divide="ignore", invalid="ignore"):
            means.append(np.where(total > 0, mean / np.where(total > 0, total, 1.0), 0.0))
    between_c, between_b = np.zeros(size_c), np.zeros(size_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        for part in _blocks(g, block):
            m = g[part].shape[0]
            load(part, m)
            for at, other, mean, between, by_runs in (
                (at_c, of_b, means[0], between_c, True),
                (at_b, of_c, means[1], between_b, False),
            ):
                resid = np.subtract(other[:m], mean[at[:m]], out=t[:m])
                term = np.multiply(w[:m], resid)
                term *= resid
                if by_runs:
                    _add_by_runs(between, at[:m], term)
                else:
                    np.add.at(between, at[:m], term)
    return cells, between_c, between_b


def _cross(between: FloatArray, spread: FloatArray, width: int, n_groups: int) -> FloatArray:
    """Per group, Σ over one model's coarse bins of √(B · W): W that bin's own spread
    (``spread``), B the spread of the other model's coarse means over the bin's rows
    (``between``, from :func:`_grid_sums`). Bounds |Σ_rows D̂·e| of that model by
    Cauchy-Schwarz within each bin, where e sums to 0."""
    size = spread.shape[0]
    term = np.sqrt(np.maximum(between, 0.0) * np.maximum(spread, 0.0))
    return np.asarray(
        np.bincount(np.arange(size) // width, weights=term, minlength=n_groups), dtype=np.float64
    )


# Joint entries per block of the paired variance: its buffers (1.5 MB) stay in the cache.
_BLOCK = 1 << 16
# Entries per run of one group, on average, from which a class is looked up run by run
# (two np.take calls a run instead of a cell index per entry). At 1M rows, warm: runs of
# ~4,000 entries 8.3 ms a slicing against 9.3 by cells; runs of ~800, 11.5 against 8.7.
_RUN = 1024
# Largest (groups x thresholds) table of placement values looked up densely: 32 MB.
_DENSE_CELLS = 1 << 22

_Gather = Callable[[AnyIntArray, AnyIntArray, NDArray[np.int64], FloatArray], None]


def _entry_keys(s: ScoreStats) -> NDArray[np.int64]:
    """Each entry's cell ``group x width + score`` (int64: groups may come as int32)."""
    keys = np.multiply(s.group, max(s.thresholds.shape[0], 1), dtype=np.int64)
    keys += s.score
    return keys


def _gather(
    s: ScoreStats,
    values: FloatArray,
    keys: NDArray[np.int64],
    grids: dict[str, FloatArray] | None = None,
    role: str = "",
) -> _Gather:
    """A lookup of ``values`` (one per entry of ``s``) at given (group, score index)
    pairs: ``lookup(group, score, at, out)`` writes them to ``out``, with ``at`` as
    scratch space as long. Every pair asked for must be an entry of ``s``: the joint table
    and the models' tables come from the same rows. ``keys``: :func:`_entry_keys` of ``s``.

    Binned scores give a small (groups x bins) grid: spread the values over it once and
    gather, one pass and no search. Exact scores on many groups fall back to a binary
    search in the table's (group, score) order. ``grids``: where the grid is kept under
    ``role``, to be filled again by the next lookup of that role (once the last one is
    done with it): a 5 MB grid per model and class was mostly first touches of fresh
    pages. Two lookups alive at once need two roles, even over the same table."""
    width = max(s.thresholds.shape[0], 1)
    if s.n_groups * width <= _DENSE_CELLS:
        # Only the cells of the table's entries are ever read, so the grid needs no zeros:
        # a reused grid's other cells hold stale values nobody reads.
        grid = None if grids is None else grids.get(role)
        if grid is None or grid.shape[0] != s.n_groups * width:
            grid = np.empty(s.n_groups * width, dtype=np.float64)
            if grids is not None:
                grids[role] = grid
        grid[keys] = values

        def dense(
            group: AnyIntArray,
            score: AnyIntArray,
            at: NDArray[np.int64],
            out: FloatArray,
        ) -> None:
            np.multiply(group, width, out=at, dtype=np.int64)  # wide: labels may be int32
            at += score
            np.take(grid, at, out=out, mode="clip")  # in range: keys < cells

        return dense

    def search(
        group: AnyIntArray, score: AnyIntArray, at: NDArray[np.int64], out: FloatArray
    ) -> None:
        np.multiply(group, width, out=at, dtype=np.int64)  # wide: labels may be int32
        at += score
        pos = np.searchsorted(keys, at)
        if pos.shape[0] and (pos.max() >= keys.shape[0] or np.any(keys[pos] != at)):
            raise ValueError("the joint score table has a score its model's table lacks")
        np.take(values, pos, out=out)

    return search


def _loss_se(name: str, s: ScoreStats) -> FloatArray:
    p = s.thresholds[s.score]
    if name == "brier":
        loss_pos, loss_neg = (1.0 - p) ** 2, p**2
    else:  # log_loss, clipped exactly as the point estimate (see metrics.py)
        eps = np.finfo(np.float64).eps
        loss_pos = -np.log(np.clip(p, eps, 1 - eps))
        loss_neg = -np.log(np.clip(1 - p, eps, 1 - eps))
    pos, neg = s.pos.astype(np.float64), s.neg.astype(np.float64)
    n = np.bincount(s.group, weights=pos + neg, minlength=s.n_groups)
    total = np.bincount(s.group, weights=pos * loss_pos + neg * loss_neg, minlength=s.n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        dev = pos * (loss_pos - mean[s.group]) ** 2 + neg * (loss_neg - mean[s.group]) ** 2
        var = np.bincount(s.group, weights=dev, minlength=s.n_groups) / (n - 1)
        se = np.sqrt(var / n)
    return np.asarray(np.where(n >= 2, se, np.nan), dtype=np.float64)


def score_metric_se(name: str, scores: ScoreStats) -> FloatArray:
    """Standard error of a score metric per group, ``(n_groups,)``; NaN when undefined."""
    if name == "roc_auc":
        return scores.memo("se:roc_auc", lambda: _roc_auc_se(scores))
    if name in ("log_loss", "brier"):
        return scores.memo(f"se:{name}", lambda: _loss_se(name, scores))
    raise ValueError(f"no normal-theory standard error for {name!r}")


def normal_interval(
    name: str, estimate: ArrayLike, se: ArrayLike, *, level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """``estimate ± z·se`` clipped to the metric's range (NaN where either is NaN)."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    est, err = np.asarray(estimate, dtype=np.float64), np.asarray(se, dtype=np.float64)
    lo_range, hi_range = _RANGE.get(name, (-np.inf, np.inf))
    return np.clip(est - z * err, lo_range, hi_range), np.clip(est + z * err, lo_range, hi_range)


# math.erfc, elementwise: Φ(z) = erfc(-z / √2) / 2 keeps its precision in the far tails,
# where 1 - Φ(-z) would round to 0 (one C call per element; a few hundred verdicts a gate).
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _normal_cdf(z: FloatArray) -> FloatArray:
    return np.asarray(_ERFC(-z / math.sqrt(2.0)), dtype=np.float64) / 2.0


def normal_pvalue(
    estimate: ArrayLike, se: ArrayLike, *, bound: float, alternative: str
) -> FloatArray:
    """One-sided p-value for ``value < bound`` (alternative "below") or ``> bound``."""
    est, err = np.asarray(estimate, dtype=np.float64), np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (est - bound) / err
    zz = np.where(np.isnan(z), 0.0, z)
    p = _normal_cdf(zz if alternative == "below" else -zz)
    # se == 0: the estimate is certain, so p is 0 or 1 by which side it is on.
    p = np.where(
        err == 0, np.where((est < bound) if alternative == "below" else (est > bound), 0.0, 1.0), p
    )
    return np.asarray(np.where(np.isnan(est) | np.isnan(err), np.nan, p), dtype=np.float64)
