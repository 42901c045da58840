"""Cells: the counts a batched reduction keeps between batches (backends/stream.py), and
the shared tables made from them at the end.

Values and combinations of values are numbered as they first appear, so the numbers are
stable from batch to batch; the order the tables are finally sorted in is settled from
the few distinct values once every batch has been read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import Plan, Reduced, without_scores
from mlops_gates.config import Config
from mlops_gates.sources.evaluation import build_inputs
from mlops_gates.stats.reduce import (
    JointScores,
    ScoreStats,
    key_type,
    narrow_bins,
    narrow_groups,
    reduce_classification,
    reduce_joint_scores,
    sorted_cells,
)

__all__ = [
    "Combos",
    "DictionaryCombos",
    "Packed",
    "Values",
    "coarsen_grid",
    "joint_grid",
    "joint_table",
    "reduce_cells",
    "score_table",
    "unseen_keys",
]


# Dense rows summed at a time by score_table and joint_grid (`_pair_blocks`): a 1 MB buffer.
BLOCK_ENTRIES = 1 << 17


def reduce_cells(
    config: Config,
    plan: Plan,
    table: Any,
    weights: np.ndarray,
    *,
    engine: str,
    n_rows: int,
    columns: list[str],
    where: Path,
) -> Reduced:
    """Cells to the shared count tables: `table` holds one row per distinct (slice values,
    label, predictions), standing for `weights` rows each, as an SQL engine's GROUP BY or
    the batched read returns them. Labels and predictions are encoded by the in-memory code
    on these distinct values, so classes and every message about stray labels are those of
    a whole read; the score tables are each engine's to add."""
    cells = build_inputs(without_scores(config), table, where)
    grouping = Grouping.of(table, plan.columns)
    stats = reduce_classification(
        grouping.codes,
        grouping.n_groups,
        cells.y_true,
        cells.candidate,
        cells.baseline,
        n_classes=len(cells.classes),
        weights=weights,
    )
    roles = (("candidate", config.candidate), ("baseline", config.baseline))
    return Reduced(
        engine=engine,
        n_rows=n_rows,
        columns=tuple(columns),
        grouping=grouping,
        stats=stats,
        score_grouping=grouping.coarsen(plan.score_columns)[0],
        classes=cells.classes,
        label=config.task.label,
        models={
            role: {"source": "column", "predictions": m.predictions, "scores": m.scores}
            for role, m in roles
            if m is not None and not (role == "baseline" and cells.baseline_error)
        },
        baseline_error=cells.baseline_error,
    )


class Values:
    """One column's distinct values, numbered as they first appear across batches."""

    def __init__(self) -> None:
        self.code: dict[Any, int] = {}
        self.parts: list[np.ndarray] = []

    def __len__(self) -> int:
        return len(self.code)

    def lookup(self, uniques: np.ndarray) -> np.ndarray:
        """The run-wide code of each of a batch's distinct values (new ones added)."""
        out = np.empty(len(uniques), dtype=np.int64)
        new = []
        for i, v in enumerate(uniques.tolist()):
            c = self.code.get(v)
            if c is None:
                c = self.code[v] = len(self.code)
                new.append(i)
            out[i] = c
        if new:
            self.parts.append(uniques[new])
        return out

    def array(self) -> np.ndarray:
        """Every value, in code order (with the batches' own dtype)."""
        if not self.parts:
            return np.zeros(0, dtype=object)
        return np.concatenate(self.parts)


class Combos:
    """Distinct rows of a few code columns, numbered as they first appear."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.id: dict[tuple[int, ...], int] = {}
        # Packed combination -> id (-1: not looked up yet), for the radices it was packed
        # with: batch after batch the same few thousand combinations recur, and only the
        # new ones need the dictionary.
        self.lut = np.zeros(0, dtype=np.int64)
        self.radices: list[int] = []

    def __len__(self) -> int:
        return len(self.id)

    def of(self, columns: list[np.ndarray], radices: list[int], n: int) -> np.ndarray:
        """Each of `n` rows' combination id (new combinations are numbered)."""
        if not columns:
            self.id.setdefault((), 0)
            return np.zeros(n, dtype=np.int64)
        packed = np.zeros(n, dtype=np.int64)
        for col, r in zip(columns, radices, strict=True):
            packed *= r
            packed += col
        space = int(np.prod(radices, dtype=object))
        if space <= max(4 * n, 1 << 16):
            if radices != self.radices:  # new values: the packing changed
                self.lut = np.full(space, -1, dtype=np.int64)
                self.radices = list(radices)
            lut = self.lut
            present = np.flatnonzero(np.bincount(packed, minlength=space))
            present = present[lut[present] < 0]
            rest, inverse = present.copy(), None
        else:
            present, inverse = np.unique(packed, return_inverse=True)
            rest = present.copy()
        digits = []
        for r in reversed(radices):
            digits.append(rest % r)
            rest //= r
        digits.reverse()
        ids = np.empty(present.shape[0], dtype=np.int64)
        for i, row in enumerate(np.stack(digits, axis=1).tolist()):
            key = tuple(row)
            ids[i] = self.id.setdefault(key, len(self.id))
        if inverse is None:
            lut[present] = ids
            return lut[packed]
        return ids[inverse.reshape(-1)]

    def table(self, start: int = 0) -> np.ndarray:
        """(n_combos - start, width) codes, in id order, from id `start` on."""
        # Ids are numbered as the combinations are added, so the dictionary's order is
        # theirs: one conversion of the keys instead of a row assignment each.
        keys = list(self.id)[start:]
        return np.array(keys, dtype=np.int64).reshape(len(keys), self.width)


def unseen_keys(keys: np.ndarray, ids: np.ndarray, space: int) -> np.ndarray:
    """The distinct `keys` (in ``[0, space)``) whose `ids` are negative (not numbered
    yet), ascending: counted over the space when they are many (a hash `np.unique` costs
    about 30 ns a key, a `bincount` a few and its space well under one), else `np.unique`."""
    rows = keys[ids < 0]
    if rows.shape[0] * 32 >= space:
        return np.flatnonzero(np.bincount(rows, minlength=space))
    return np.unique(rows)


class Packed(NamedTuple):
    """A batch's slice columns as `DictionaryCombos.pack` reads them."""

    indices: list[np.ndarray]  # each column's dictionary index a row (missing: the last)
    radices: list[int]  # each column's dictionary's values, and one for missing
    dictionaries: list[Any]
    space: int  # the product of the radices
    packed: np.ndarray | None  # each row's indices in one key; None when space is large


class DictionaryCombos:
    """Each row's combination id (`combos`) for a batch's dictionary-encoded text columns,
    without numbering every row of every column: each row's dictionary indices are packed
    into one key, and only the keys present in the batch and not yet known are turned into
    value codes (`values`) and numbered. The key -> id table lasts while the batches keep
    their dictionaries, as a Parquet row group's batches do. When the packed keys would be
    many (many-valued columns), each column's rows are numbered first instead.

    The codes and ids are those a column-by-column numbering gives (`Values.lookup` of each
    column's values used in the batch, ascending in its dictionary, then `Combos.of`): a
    value never seen before can only be in a combination not known yet."""

    def __init__(self, columns: list[str], values: dict[str, Values], combos: Combos) -> None:
        self.columns, self.values, self.combos = columns, values, combos
        self.dictionaries: list[Any] = []
        self.lut = np.zeros(0, dtype=np.int64)  # packed indices -> id (-1: not known yet)

    def of(self, batch: Any, n: int) -> np.ndarray:
        """The `n` rows' ids (new combinations are numbered)."""
        return self.ids(self.pack(batch, n), n)

    def pack(self, batch: Any, n: int) -> Packed:
        """The batch's dictionary indices, each row's packed into one key when the keys'
        space is small. Reads nothing of `self` that `ids` changes, so it may run on
        another thread while `ids` numbers the batch before."""
        indices, radices, dictionaries = [], [], []
        for c in self.columns:
            col = batch.column(c)
            index = col.indices
            if index.null_count:  # missing values: the index after the dictionary's
                index = index.fill_null(len(col.dictionary))
            indices.append(np.asarray(index))
            radices.append(len(col.dictionary) + 1)
            dictionaries.append(col.dictionary)
        space = int(np.prod(radices, dtype=object))
        if space > max(4 * n, 1 << 16):
            return Packed(indices, radices, dictionaries, space, None)
        # Packed as wide as the space needs: int32 arithmetic on the int32 indices takes a
        # third of the time int64 does (which converts them on the way).
        wide = key_type(space)
        packed: np.ndarray = indices[0].astype(wide) if indices else np.zeros(n, dtype=wide)
        for index, r in zip(indices[1:], radices[1:], strict=True):
            packed *= r
            packed += index
        packed = packed.astype(np.intp, copy=False)  # an index into lut: converted once
        return Packed(indices, radices, dictionaries, space, packed)

    def ids(self, batch: Packed, n: int) -> np.ndarray:
        """The `n` rows' ids from their `pack` (new combinations are numbered)."""
        indices, radices, dictionaries, space, packed = batch
        if packed is None:
            return self._by_column(indices, radices, dictionaries, n)
        fresh = len(dictionaries) != len(self.dictionaries) or not all(
            a.equals(b) for a, b in zip(dictionaries, self.dictionaries, strict=True)
        )
        if fresh:  # a new dictionary: every key is new, the keys present, ascending
            self.lut = np.full(space, -1, dtype=np.int64)
            self.dictionaries = dictionaries
            new = np.flatnonzero(np.bincount(packed, minlength=space))
        else:
            # Looked up first: the batches after a row group's first mostly find every
            # key (29 of 39 at 10M rows), and that is one pass, not a bincount of every
            # key and a scan of the key space.
            ids: np.ndarray = self.lut[packed]
            if ids.min() >= 0:
                return ids
            new = unseen_keys(packed, ids, space)
        digits = []
        rest = new.copy()
        for r in reversed(radices):
            digits.append(rest % r)
            rest //= r
        digits.reverse()
        self.lut[new] = self._by_column(digits, radices, dictionaries, new.shape[0])
        found: np.ndarray = self.lut[packed]
        return found

    def _by_column(
        self, indices: list[np.ndarray], radices: list[int], dictionaries: list[Any], n: int
    ) -> np.ndarray:
        """Ids of `n` rows given by their dictionary indices, each column numbered first."""
        codes = []
        for c, index, dictionary, r in zip(
            self.columns, indices, dictionaries, radices, strict=True
        ):
            used = np.flatnonzero(np.bincount(index, minlength=r))  # ascending
            uniques = np.asarray([*dictionary.to_pylist(), None], dtype=object)
            lut = np.zeros(r, dtype=np.int64)
            lut[used] = self.values[c].lookup(uniques[used])
            codes.append(lut[index])
        return self.combos.of(codes, [len(self.values[c]) for c in self.columns], n)


def score_table(
    hist: np.ndarray,
    pair_group: np.ndarray,
    pair_class: np.ndarray,
    n_groups: int,
    thresholds: np.ndarray,
    *,
    spill: dict[int, np.ndarray] | None = None,
    count_type: Any = None,
) -> ScoreStats:
    """A model's binned score table from its rows per (pair, bin): each pair's bins added
    into its group's positives or negatives, the occupied cells kept in (group, bin)
    order, as `reduce_scores` keeps them. `spill`: more rows of some pairs, to add to
    theirs in `hist`; `count_type`: the counts' type (`hist`'s when not given).

    The groups' dense rows are summed a block of groups at a time into one small buffer
    (`_pair_blocks`), the block's negatives' rows then its positives', not into two
    tables of groups x bins (at 10M rows 13 MB each a model, written once and dropped)."""
    nb = thresholds.shape[0]
    g = max(n_groups, 1)
    per = max(1, min(g, BLOCK_ENTRIES // nb))  # groups a block
    group = pair_group.astype(np.int64)
    row = (group // per) * (2 * per) + (pair_class == 1) * per + group % per
    group_parts, score_parts, pos_parts, neg_parts = [], [], [], []
    # Held through the verdict stage: kept as narrow as the values allow (at 10M rows
    # 14 bytes an entry instead of 32, bench/README.md). Every reader does arithmetic in
    # int64 or float64 on them or indexes with them, so the verdicts are the same bits.
    narrow, bins = narrow_groups(n_groups, nb), narrow_bins(nb)
    blocks = -(-g // per)
    count_type = hist.dtype if count_type is None else np.dtype(count_type)
    for first, block in _pair_blocks(hist, spill, row, 2 * per, 2 * per * blocks, nb, count_type):
        neg, pos = block[: per * nb], block[per * nb :]
        occupied = pos != 0
        occupied |= neg != 0
        keep = np.flatnonzero(occupied)
        del occupied
        pos_parts.append(pos[keep])  # the histograms' width: int32 below 2**31 rows
        neg_parts.append(neg[keep])
        score_parts.append((keep % nb).astype(bins))
        keep //= nb
        keep += first // 2  # the block's first group
        group_parts.append(keep.astype(narrow))
    return ScoreStats(
        thresholds=thresholds,
        group=np.concatenate(group_parts),  # one part a block, and there is a block
        score=np.concatenate(score_parts),
        pos=np.concatenate(pos_parts),
        neg=np.concatenate(neg_parts),
        n_groups=n_groups,
    )


def _pair_blocks(
    hist: np.ndarray,
    spill: dict[int, np.ndarray] | None,
    row: np.ndarray,
    per: int,
    n_rows: int,
    width: int,
    dtype: Any,
) -> Iterator[tuple[int, np.ndarray]]:
    """Pairs' rows of `hist` (flat, `width` entries a pair) and of `spill` (pair -> its
    `width` more entries, or None), summed into the dense rows `row` gives
    each pair (of `n_rows`) as `dtype`, `per` rows at a time: yields (first row, the
    block's rows, flat). One buffer serves every block.

    Why blocks: a dense table of every row is written once and dropped, and on the bench
    machine (a VM) memory a process has not written before costs up to 2.4 ms a MB to
    write (page faults; 60 ms for a 26 MB table after the read, 3 ms before it). At 10M
    rows, fresh processes, first run, 3 alternations: score_table (both models) 0.063-
    0.146 s before, 0.060-0.065 after; joint_grid 0.069-0.143 s before, 0.055-0.057
    after (its table was 52 MB of int64)."""
    spill = spill or {}
    buffer = np.zeros(min(per, n_rows) * width, dtype=dtype)
    order = np.argsort(row, kind="stable")  # pairs by row, each row's in pair order
    starts = np.searchsorted(row[order], np.arange(0, n_rows + per, per))
    for b, first in enumerate(range(0, n_rows, per)):
        rows = min(per, n_rows - first)
        block = buffer[: rows * width]
        block[:] = 0
        for p in order[starts[b] : starts[b + 1]].tolist():
            at = (int(row[p]) - first) * width
            part = hist[p * width : (p + 1) * width]
            if part.shape[0]:
                block[at : at + part.shape[0]] += part
            if p in spill:
                block[at : at + width] += spill[p]
        yield first, block


def joint_table(
    held: list[np.ndarray],
    pair_group: np.ndarray,
    pair_class: np.ndarray,
    n_groups: int,
    nb: int,
) -> JointScores:
    """The paired table from one key per row, (pair, candidate bin, baseline bin), taken
    out of `held`: each pair is renumbered in (class, score group) order in place, so one
    in-place sort puts the keys in the table's order, and the cells are read off it."""
    keys = held.pop()
    block = nb * nb
    g = max(n_groups, 1)
    rank = pair_class * g + pair_group
    if np.unique(rank).shape[0] != rank.shape[0]:  # two label values of one class
        pair = keys // block
        within = keys % block
        return reduce_joint_scores(
            pair_group[pair], n_groups, pair_class[pair], within // nb, within % nb
        )
    step = 1 << 20  # in slices: no temporary as long as the rows
    for lo in range(0, keys.shape[0], step):
        part = keys[lo : lo + step]
        within = part % block
        part //= block
        np.take(rank, part, out=part)
        part *= block
        part += within
    cells, count = sorted_cells(keys)
    del keys
    e = cells.shape[0]
    # int64 as every backend's table (int32 would spare 12 bytes an entry, but the
    # verdict stage's types and arithmetic assume int64). The cells become the groups in
    # place: one new array per column less.
    candidate = np.empty(e, dtype=np.int64)
    baseline = np.empty(e, dtype=np.int64)
    for lo in range(0, e, step):
        part = cells[lo : lo + step]
        np.remainder(part, nb, out=baseline[lo : lo + step])
        part //= nb
        np.remainder(part, nb, out=candidate[lo : lo + step])
        part //= nb  # the pair's rank: class * groups + group
    n_negative = int(np.searchsorted(cells, g))  # class 0 first
    group = cells
    group %= g
    return JointScores(group, candidate, baseline, count, n_negative, n_groups)


def coarsen_grid(hist: np.ndarray, side: int, ratio: int, new_side: int) -> np.ndarray:
    """Rows per (pair, α, β) on a grid of ``side`` bins a model (flat), summed onto the
    grid of a factor ``ratio`` times larger (``new_side`` bins). Exact: a bin is
    ``fine bin // factor`` and ``(b // f) // r == b // (f·r)``."""
    if ratio == 1:
        return hist
    pairs = hist.shape[0] // (side * side)
    starts = np.arange(0, side, ratio)  # the first old bin of each new one
    assert starts.shape[0] == new_side
    # In the counts' own width (reduceat would widen int32 to int64): no sum exceeds the rows.
    out = np.add.reduceat(hist.reshape(pairs, side, side), starts, axis=1, dtype=hist.dtype)
    return np.add.reduceat(out, starts, axis=2, dtype=hist.dtype).reshape(-1)


def joint_grid(
    hist: np.ndarray,
    pair_group: np.ndarray,
    pair_class: np.ndarray,
    n_groups: int,
    side: int,
    factor: int,
    *,
    spill: dict[int, np.ndarray] | None = None,
    count_type: Any = None,
) -> JointScores:
    """The paired table on a coarse grid from rows per (pair, α, β) (flat, ``side`` bins
    a model): each pair's grid added into its (class, group) one, the occupied cells kept
    in (class, group, α, β) order, as `reduce_joint_scores` keeps them. The (class, group)
    grids are summed a block at a time (`_pair_blocks`): at 10M rows all of them at once
    were a 52 MB table. `spill` and `count_type` as for `score_table`."""
    cells = side * side
    g = max(n_groups, 1)
    row = pair_class.astype(np.int64) * g + pair_group
    per = max(1, BLOCK_ENTRIES // cells)  # (class, group) rows a block
    bins, narrow = narrow_bins(side), narrow_groups(g, side)
    parts: list[tuple[np.ndarray, ...]] = []
    n_negative = 0
    count_type = hist.dtype if count_type is None else np.dtype(count_type)
    for first, block in _pair_blocks(hist, spill, row, per, 2 * g, cells, np.int64):
        keep = np.flatnonzero(block)
        # As narrow as the values allow, as score_table's (held to the end of the run).
        count = block[keep].astype(count_type)  # the grid's width: int32 below 2**31 rows
        baseline = (keep % side).astype(bins)
        keep //= side
        candidate = (keep % side).astype(bins)
        keep //= side
        keep += first  # the (class, group) row
        n_negative += int(np.searchsorted(keep, g))  # class 0 first
        keep %= g
        parts.append((keep.astype(narrow), candidate, baseline, count))
    group, candidate, baseline, count = (np.concatenate(c) for c in zip(*parts, strict=True))
    return JointScores(group, candidate, baseline, count, n_negative, n_groups, factor)
