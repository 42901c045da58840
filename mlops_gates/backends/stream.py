"""The memory engine's reduction read in record batches: a Parquet file to the shared tables
holding about one batch of rows at a time.

Each batch is reduced to *cells*, as the SQL engines' GROUP BYs return them (one per
distinct slice values, label and predictions, with a row count; per model one per score
group, label and score bin; for paired DeLong one per score group, label and both bins,
or both coarse bins at scale), and the cells of every batch are merged by adding their
counts. At the end the cells go through the same numpy reducers as the SQL engines' cells,
with the counts as weights, so the tables are exactly those a whole read gives
(tests/backends/test_stream.py).

Values are numbered as they first appear (a Parquet file keeps one dictionary per row
group, so a batch's dictionary codes are mapped to run-wide ones), and so are the
combinations of slice values; the order every table is finally sorted in is settled only
at the end, from the few distinct values.

Only runs whose every gate reads the reduced tables stream (`streams`); a schema, drift,
staleness or behaviour gate reads the rows themselves, and a model must be called on the
whole frame, so those runs read the file whole. So do data the batches cannot reproduce
exactly (exact score tables, which are row-sized whatever their form; slice columns that are
not text), and anything wrong with the data: the whole read then says what, in its words.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlops_gates.backends.cells import (
    Combos,
    DictionaryCombos,
    Packed,
    Values,
    coarsen_grid,
    joint_grid,
    joint_table,
    reduce_cells,
    score_table,
    unseen_keys,
)
from mlops_gates.backends.plan import (
    Plan,
    Reduced,
    paired_factor,
    paired_grid,
    plan_for,
    resolve_bins,
)
from mlops_gates.config import Config
from mlops_gates.errors import DataError
from mlops_gates.sources.data import Table, index_columns, infer_format
from mlops_gates.sources.evaluation import encode_labels, small_int_values
from mlops_gates.stats.reduce import counted_cells, factorize_keys, key_type, narrow_counts
from mlops_gates.stats.scorebins import ScoreBins

__all__ = ["STREAMING_KINDS", "STREAM_MIN_ROWS", "Unstreamable", "stream_reduce", "streams"]

# Gate kinds that read only the reduced tables: a run of these alone never needs the rows.
STREAMING_KINDS = frozenset({"metric", "fairness", "baseline", "calibration", "churn"})
BATCH_ROWS = 1 << 18  # rows per batch: its temporaries are what streaming holds
# Files with fewer rows are read whole: at 1M rows both reads take about the same CPU
# (bench/README.md, 2026-12-07), and the rows of such a file fit in a few hundred MB.
STREAM_MIN_ROWS = 1 << 21


class Unstreamable(Exception):
    """The batches cannot give exactly the whole read's tables (or the data has a problem
    the whole read words better): read the file whole instead."""


def streams(config: Config) -> bool:
    """Whether `config`'s run can reduce its data in batches (see the module docstring)."""
    if config.task.type not in ("binary", "multiclass"):
        return False
    if any(g.kind not in STREAMING_KINDS for g in config.gates):
        return False
    models = [m for m in (config.candidate, config.baseline) if m is not None]
    if any(m.predictions is None for m in models):
        return False
    try:
        fmt = config.data.format or infer_format(config.data_path)
    except DataError:
        return False
    return fmt == "parquet" and config.data_path.is_file()


def stream_reduce(config: Config, path: Path) -> Reduced:
    """The data file at `path` reduced for `config`'s gates in batches; `Unstreamable`
    when only a whole read gives the same tables or the same message."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    names = list(schema.names)
    index = index_columns(schema)
    columns = [c for c in names if c not in index]
    plan = plan_for(config, set(columns))
    label = config.task.label
    models = [(r, m) for r, m in (("candidate", config.candidate), ("baseline", config.baseline))]
    used = [(r, m) for r, m in models if m is not None]
    preds = [str(m.predictions) for _, m in used]
    scored: dict[str, str] = {
        r: m.scores for r, m in used if m.scores is not None and r in plan.score_models
    }
    needed = [*plan.columns, label, *preds, *scored.values()]
    if len(set(needed)) != len(needed) or any(names.count(c) != 1 or c in index for c in needed):
        raise Unstreamable("a column is missing, repeated or shared")
    for c in plan.columns:
        t = schema.field(c).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise Unstreamable(f"slice column {c!r} is not text")
    for c in scored.values():
        t = schema.field(c).type
        if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
            raise Unstreamable(f"score column {c!r} is not numeric")
    # pre_buffer off: on, the reader keeps every row group it has read (the whole file).
    with pq.ParquetFile(path, read_dictionary=plan.columns, pre_buffer=False) as file:
        n_rows = file.metadata.num_rows
        if n_rows == 0:
            raise Unstreamable("no rows")
        n_bins = resolve_bins(config.backend.score_bins, n_rows)
        if config.task.type != "binary":
            scored = {}
        if scored and n_bins is None:
            raise Unstreamable("exact score tables are row-sized")
        ranges: dict[str, tuple[float, float]] = {
            r: _score_range(file, c) for r, c in scored.items()
        }
        bins: dict[str, ScoreBins] = {
            r: ScoreBins(lo, hi, n_bins or 1) for r, (lo, hi) in ranges.items()
        }
        joint = plan.joint and len(bins) == 2
        reducer = _Batches(plan, label, preds, scored, bins, joint, n_rows)
        parallel = _decode_in_parallel()
        batches = file.iter_batches(batch_size=BATCH_ROWS, columns=needed, use_threads=parallel)
        # Decoded on one core, a batch takes the reading thread about as long as counting
        # it takes this one: its preparation is then done here (`add`), which balances them.
        prepare = reducer.prepare if parallel else None
        for batch, prepared in _read_ahead(batches, prepare):
            reducer.add(batch, prepared)
            del batch, prepared  # their buffers are free to go back before the next is read
    _give_back()
    reduced = reducer.finish(config, columns, n_rows, ranges, path)
    del reducer
    _give_back()
    return reduced


def _read_ahead(
    batches: Iterator[Any], prepare: Callable[[Any], Any] | None
) -> Iterator[tuple[Any, Any]]:
    """`batches`, each with `prepare(batch)` (None without `prepare`), the next one read and
    prepared on a second thread while this one is reduced: pyarrow reads and decodes, and
    numpy computes on whole arrays, without holding the GIL, so both overlap the counting.
    One batch more is held; the thread's work finishes before this generator does."""

    def step() -> tuple[Any, Any] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        return batch, None if prepare is None else prepare(batch)

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(step)
        while (item := ahead.result()) is not None:
            ahead = pool.submit(step)
            yield item
            del item


def _decode_in_parallel() -> bool:
    """Whether pyarrow should decode a batch's columns on its own threads (and the batch
    be prepared on the reading thread): only when its pool has more than the two cores the
    reading thread and the counting already keep busy (pyarrow sizes it by the process's
    CPU affinity, or `OMP_NUM_THREADS`, or `pa.set_cpu_count`). On two cores its threads only
    compete with the counting: on the bench machine its `np.add.at` ran twice as slow
    beside them (`bench/contention.py`; bench/README.md, 2026-12-07)."""
    import pyarrow as pa

    return bool(pa.cpu_count() > 2)


def _give_back() -> None:
    """Hand the memory the batches freed back to the system before the verdict stage
    allocates its own: pyarrow's pool keeps freed pages for reuse, and glibc's heap
    keeps the batches' freed temporaries (bench/README.md measures what this spares)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).malloc_trim(0)  # glibc only: elsewhere the name is absent


def _score_range(file: Any, column: str) -> tuple[float, float]:
    """The scores' min and max, from the row groups' statistics when every one has them
    (no read), else from one pass over the column alone."""
    meta = file.metadata
    leaf = [meta.schema.column(j).path for j in range(meta.num_columns)].index(column)
    lo, hi = np.inf, -np.inf
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(leaf).statistics
        if stats is None or not stats.has_min_max or meta.row_group(g).num_rows == 0:
            break
        lo, hi = min(lo, float(stats.min)), max(hi, float(stats.max))
    else:
        if np.isfinite(lo) and np.isfinite(hi):
            return lo, hi
    lo, hi = np.inf, -np.inf
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
        s = np.asarray(batch.column(0), dtype=np.float64)
        if s.shape[0]:
            lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise Unstreamable(f"scores in {column!r} are not finite")
    return lo, hi


class _Prepared(NamedTuple):
    """What `_Batches.prepare` computes of a batch from the batch alone."""

    packed: Packed  # the slice columns' dictionary indices, packed
    labels: list[_Distinct]  # the label's, then each prediction column's
    bins: dict[str, np.ndarray]  # per scored model, each row's score bin


class _Batches:
    """The cells of every batch so far."""

    def __init__(
        self,
        plan: Plan,
        label: str,
        preds: list[str],
        scored: dict[str, str],
        bins: dict[str, ScoreBins],
        joint: bool,
        n_rows: int,
    ) -> None:
        self.plan, self.label, self.preds, self.scored, self.bins = plan, label, preds, scored, bins
        self.slice_values = {c: Values() for c in plan.columns}
        self.label_values = {c: Values() for c in [label, *preds]}
        self.fine = Combos(len(plan.columns))  # slice values
        self.by_dictionary = DictionaryCombos(plan.columns, self.slice_values, self.fine)
        self.cells: list[tuple[np.ndarray, np.ndarray]] = []  # (fine, y, c[, b]) codes, counts
        self.score_cols = [plan.columns.index(c) for c in plan.score_columns]
        self.score = Combos(len(self.score_cols))  # score-slice values
        self.fine_to_score = np.zeros(0, dtype=np.int64)
        self.pairs = Combos(2)  # (score combo, label code)
        self.pair_lut = np.zeros(0, dtype=np.int32)  # (fine, label) key -> pair (-1: new)
        self.pair_radix = 0
        self.n_bins = next(iter(bins.values())).n_bins if bins else 1
        # Per model, rows per (pair, bin), flat; 32 bits hold any count of a smaller file.
        self.count_type = narrow_counts(n_rows)
        self.hist = {m: _Tally(self.count_type, self.n_bins) for m in bins}
        # Paired scores. On a coarse grid (plan.paired_factor; the factor grows with the
        # score groups seen, so the grid only ever coarsens, exactly): rows per (pair,
        # candidate bin // f, baseline bin // f), dense like `hist`. Else one packed key
        # per row, (pair, candidate bin, baseline bin), 8 bytes a row: nearly every row is
        # a cell of its own (a table of cells would be larger).
        self.n_rows = n_rows
        coarse = joint and paired_grid(n_rows, fine=plan.joint_fine)
        self.grid_factor = paired_factor(self.n_bins, 1, n_rows, fine=False) if coarse else 1
        # Counts as narrow as `hist`'s: the dense grid is pairs x C² whatever the rows.
        side = self._side(self.grid_factor)
        self.grid = _Tally(self.count_type, side * side) if coarse else None
        self.joint = np.empty(n_rows, dtype=np.int64) if joint and not coarse else None
        self.filled = 0

    def prepare(self, batch: Any) -> _Prepared | None:
        """What of `batch`'s reduction depends on the batch alone: the slice keys'
        packing, the label columns' distinct values and the score bins. It may run on the
        reading thread (`_read_ahead`) while the batch before is added, so it reads nothing
        `add` changes."""
        n = batch.num_rows
        if n == 0:
            return None
        packed = self.by_dictionary.pack(batch, n)
        labels = []
        for c in [self.label, *self.preds]:
            col = batch.column(c)
            if col.null_count:
                raise Unstreamable(f"{c!r} has missing values")
            labels.append(_distinct(col.to_numpy(zero_copy_only=False)))
        index = {}
        for model, column in self.scored.items():
            s = np.asarray(batch.column(column), dtype=np.float64)
            if not np.isfinite(s).all():
                raise Unstreamable(f"scores in {column!r} are not finite")
            index[model] = self.bins[model].codes(s)
        return _Prepared(packed, labels, index)

    def add(self, batch: Any, prepared: _Prepared | None = None) -> None:
        """Count `batch`'s rows (`prepared`: its `prepare`, computed here when not given)."""
        n = batch.num_rows
        if n == 0:
            return
        if prepared is None:
            prepared = self.prepare(batch)
            assert prepared is not None
        fine = self.by_dictionary.ids(prepared.packed, n)
        labels, lradix = [], []
        for c, column in zip([self.label, *self.preds], prepared.labels, strict=True):
            labels.append(_run_codes(column, self.label_values[c]))
            lradix.append(len(self.label_values[c]))
        # (fine combination, label): the score tables' pairs come from it, and it is the
        # first digits of the cells' key.
        first = np.multiply(fine, lradix[0], dtype=np.int64)
        first += labels[0]
        pair = self._pairs_of(first, lradix[0]) if self.bins else None
        cells, counts = self._count_cells(first, labels[1:], lradix)
        if pair is None:
            return
        n_pairs, nb = len(self.pairs), self.n_bins
        index = prepared.bins
        # The batch's rows per pair (what the 16-bit tallies check), from its few
        # thousand cells: a bincount of the cells' pairs, not of every row's.
        at = cells[:, 0] * lradix[0] + cells[:, 1]
        rows = np.bincount(self.pair_lut[at], weights=counts, minlength=n_pairs)
        rows = rows.astype(np.int64)  # (exact: a batch has far fewer than 2**53 rows)
        for model in self.scored:
            key = np.multiply(pair, nb, dtype=key_type(n_pairs * nb))
            key += index[model]
            self.hist[model].add(key, n_pairs * nb, rows)
            del key
        if self.grid is not None:
            self._add_grid(pair, index["candidate"], index["baseline"], rows)
        if self.joint is not None:
            if self.filled + n > self.joint.shape[0]:
                raise Unstreamable("more rows than the file's metadata says")
            key = self.joint[self.filled : self.filled + n]
            np.multiply(pair, nb, out=key)
            key += index["candidate"]
            key *= nb
            key += index["baseline"]
            self.filled += n

    def _side(self, factor: int) -> int:
        return -(-self.n_bins // factor)

    def _regrid(self, factor: int) -> None:
        """Coarsen the paired grid to `factor` (a multiple of the current one)."""
        assert self.grid is not None
        if factor < self.grid_factor:
            raise Unstreamable("the paired grid cannot become finer")
        if factor == self.grid_factor:
            return
        side, new = self._side(self.grid_factor), self._side(factor)
        self.grid.coarsen(side, factor // self.grid_factor, new)
        self.grid_factor = factor

    def _add_grid(
        self, pair: np.ndarray, cand: np.ndarray, base: np.ndarray, rows: np.ndarray
    ) -> None:
        self._regrid(paired_factor(self.n_bins, len(self.score), self.n_rows, fine=False))
        f, side = self.grid_factor, self._side(self.grid_factor)
        assert self.grid is not None
        size = len(self.pairs) * side * side
        key = np.multiply(pair, side * side, dtype=key_type(size))
        part = np.floor_divide(cand, f)
        part *= side
        key += part
        np.floor_divide(base, f, out=part)
        key += part
        self.grid.add(key, size, rows)

    def _pairs_of(self, first: np.ndarray, label_radix: int) -> np.ndarray:
        """Each row's (score combination, label) pair id, from its (fine combination,
        label) key `first`: only the keys not seen before go through the score map and
        `self.pairs` (numbered as they would be row by row: a pair never seen can only
        come from such a key)."""
        size = len(self.fine) * label_radix
        if label_radix != self.pair_radix:  # a new label value: the packing changed
            self.pair_lut = np.full(size, -1, dtype=np.int32)
            self.pair_radix = label_radix
        elif self.pair_lut.shape[0] < size:  # new combinations: the keys so far stay
            grown = np.full(size, -1, dtype=np.int32)
            grown[: self.pair_lut.shape[0]] = self.pair_lut
            self.pair_lut = grown
        # Looked up first, and only the rows not found searched for new keys: once every
        # pair has been seen (the second batch at 10M rows) that is one pass, not a
        # bincount of every key and a scan of its table.
        pair: np.ndarray = self.pair_lut[first]
        if pair.min() >= 0:
            return pair
        new = unseen_keys(first, pair, size)
        self._map_scores()
        sid = self.fine_to_score[new // label_radix]
        radices = [max(len(self.score), 1), label_radix]
        self.pair_lut[new] = self.pairs.of([sid, new % label_radix], radices, new.shape[0])
        found: np.ndarray = self.pair_lut[first]
        return found

    def _count_cells(
        self, first: np.ndarray, labels: list[np.ndarray], radix: list[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Count the rows per (fine, label, predictions...) cell: `first` is the (fine,
        label) key (overwritten), `labels` the predictions' codes, `radix` every label
        column's. The batch's cells (digits a row) and their rows, also kept."""
        key = first
        for codes, r in zip(labels, radix[1:], strict=True):
            key *= r
            key += codes
        # A few thousand slice combinations times the labels' values: counted densely.
        cells, counts = counted_cells(key, len(self.fine) * int(np.prod(radix)))
        digits = []
        for r in reversed(radix):
            digits.append(cells % r)
            cells //= r
        digits.append(cells)
        digits.reverse()
        stacked = np.stack(digits, axis=1)
        self.cells.append((stacked, counts))
        return stacked, counts

    def _merged_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """Every batch's cells, each once, in ascending (fine, label, predictions...)
        order, with their rows: the digits packed with the run's final radices (each batch
        packed with the values it had seen) and counted."""
        rows = np.concatenate([c for c, _ in self.cells])
        weights = np.concatenate([w for _, w in self.cells])
        self.cells = []
        radices = [len(self.fine), *(len(self.label_values[c]) for c in [self.label, *self.preds])]
        space = int(np.prod(radices, dtype=object))
        if space >= 1 << 62:  # (not with a few slice and label values): sort the rows
            cells, inverse = np.unique(rows, axis=0, return_inverse=True)
            summed = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(cells))
            return cells, np.rint(summed).astype(np.int64)
        key = rows[:, 0].copy()
        for j, r in enumerate(radices[1:], start=1):
            key *= r
            key += rows[:, j]
        del rows
        present, inverse = factorize_keys(key, space)
        summed = np.bincount(inverse, weights=weights, minlength=present.shape[0])
        digits = []
        for r in reversed(radices[1:]):
            digits.append(present % r)
            present //= r
        digits.append(present)
        digits.reverse()
        return np.stack(digits, axis=1), np.rint(summed).astype(np.int64)

    def _map_scores(self) -> None:
        """Extend fine combination -> score combination to the combinations seen so far."""
        if len(self.fine) == self.fine_to_score.shape[0]:
            return
        table = self.fine.table(self.fine_to_score.shape[0])
        cols = [table[:, i] for i in self.score_cols]
        radices = [len(self.slice_values[self.plan.columns[i]]) for i in self.score_cols]
        sid = self.score.of(cols, radices, table.shape[0])
        self.fine_to_score = np.concatenate([self.fine_to_score, sid])

    def finish(
        self,
        config: Config,
        columns: list[str],
        n_rows: int,
        ranges: dict[str, tuple[float, float]],
        path: Path,
    ) -> Reduced:
        # The cells of all batches, each once: (fine, label, predictions...) -> rows.
        cells, weights = self._merged_cells()
        combos = self.fine.table()
        plan = self.plan
        factorized = {}
        text = _text_dtype()
        for i, c in enumerate(plan.columns):
            values = self.slice_values[c].array()
            factorized[c] = (combos[cells[:, 0], i], pd.array(values.tolist(), dtype=text))
        base = {
            c: self.label_values[c].array()[cells[:, 1 + j]]
            for j, c in enumerate([self.label, *self.preds])
        }
        frame = pd.DataFrame(base)
        order = [c for c in columns if c in factorized or c in frame.columns]
        table = Table(
            frame,
            factorized=factorized,
            decode=lambda: _decoded(frame, factorized, order),
            columns=order,
            rows=cells.shape[0],
        )
        reduced = reduce_cells(
            config,
            plan,
            table,
            weights,
            engine="memory",
            n_rows=n_rows,
            columns=columns,
            where=path,
        )
        if reduced.baseline_error is not None:
            raise Unstreamable("the baseline's predictions cannot be read")
        grouping = reduced.grouping
        score_grouping, to_coarse = grouping.coarsen(plan.score_columns)
        for model, mc in (("candidate", config.candidate), ("baseline", config.baseline)):
            if model in plan.score_models and config.task.type == "binary":
                wanted = mc is not None and mc.scores is not None
                reduced.scores[model] = None if not wanted else reduced.scores.get(model)
        if not self.bins:
            return reduced
        # Score combination -> score group, through any fine combination of it.
        fine_group = np.zeros(len(self.fine), dtype=np.int64)
        fine_group[cells[:, 0]] = grouping.codes
        score_group = np.zeros(len(self.score), dtype=np.int64)
        score_group[self.fine_to_score] = to_coarse[fine_group]
        label_values = self.label_values[self.label].array()
        what = f"column {self.label!r} (task.label)"
        class_of = encode_labels(label_values, reduced.classes, what, path)
        pairs = self.pairs.table()
        pair_group, pair_class = score_group[pairs[:, 0]], class_of[pairs[:, 1]]
        ng, nb = score_grouping.n_groups, self.n_bins
        for model in list(self.hist):
            reduced.score_range[model] = ranges[model]
            reduced.bins[model] = self.bins[model]
            tally = self.hist.pop(model)
            reduced.scores[model] = score_table(
                tally.table,
                pair_group,
                pair_class,
                ng,
                self.bins[model].thresholds(),
                spill=tally.spill,
                count_type=self.count_type,
            )
            del tally
        if self.grid is not None:
            # The factor every engine uses for this many score groups: the same grid.
            self._regrid(paired_factor(nb, ng, n_rows, fine=False))
            side = self._side(self.grid_factor)
            reduced.joint_scores = joint_grid(
                self.grid.table,
                pair_group,
                pair_class,
                ng,
                side,
                self.grid_factor,
                spill=self.grid.spill,
                count_type=self.count_type,
            )
            self.grid = None
        if self.joint is not None:
            # Handed over in a list, so that joint_table holds the only reference and frees
            # the keys (8 bytes a row) once it has read the cells off them.
            keys = [self.joint[: self.filled]]
            self.joint = None
            reduced.joint_scores = joint_table(keys, pair_group, pair_class, ng, nb)
        return reduced


class _Distinct(NamedTuple):
    """A batch's label or prediction column and its distinct values (`_distinct`)."""

    rows: np.ndarray  # the values themselves (small), or each row's index into `values`
    values: np.ndarray  # the distinct values: ascending (small), or in order of appearance
    small: bool  # small non-negative integers


def _distinct(values: np.ndarray) -> _Distinct:
    """`values`' distinct values, without the run's state (`_Batches.prepare`). Labels and
    predictions are mostly small non-negative integers: their distinct values are found
    without hashing (`small_int_values`); anything else is factorized."""
    present = small_int_values(values)
    if present is not None:
        return _Distinct(values, present, True)
    k, u = pd.factorize(values)
    return _Distinct(np.asarray(k), np.asarray(u), False)


def _run_codes(column: _Distinct, seen: Values) -> np.ndarray:
    """Each of a batch's values as its run-wide code in `seen` (new values added), in an
    integer type int64 holds."""
    code = seen.lookup(column.values)
    if not column.small:
        factorized: np.ndarray = code[column.rows]
        return factorized
    values, present = column.rows, column.values
    if np.array_equal(code, present):
        # Each value is its own code (0/1 labels, 0 seen first): no lookup per row,
        # and no copy as int64 where the keys' arithmetic widens it exactly anyway.
        if np.can_cast(values.dtype, np.int64):
            return values
        return values.astype(np.int64)
    lut = np.zeros(int(present[-1]) + 1, dtype=np.int64)
    lut[present] = code
    codes: np.ndarray = lut[values]
    return codes


# The largest count a tally keeps in its 16-bit table (a module name, so tests can lower it).
NARROW_MAX = int(np.iinfo(np.uint16).max)


class _Tally:
    """Rows per key of a dense table, `width` keys a score pair and the pairs one after
    another, that grows with the pairs seen.

    A batch's keys are added with `np.add.at` and a ones array of the table's own type:
    4-5 ns a key (below), against about 30 for sorting them into cells, and nothing as large
    as the table is allocated (a `bincount` of the table's size would be, each batch).

    The table is 16 bits wide: no key can count more rows than its pair has had since its
    counts were last moved out (`since`), and a pair about to pass `NARROW_MAX` rows has
    its keys' counts moved to `spill` first (at 10M rows a pair has at most 126k rows, a
    key at most 184). Half the memory of int32: `np.add.at` takes 3.9 ns a key instead of
    5.2 (the bench's keys), and the table's fresh pages cost half as much to fault in (up
    to 60 ms for 26 MB on the bench VM). A batch giving one pair more rows than that
    widens the table to `count_type` for the rest of the run."""

    def __init__(self, count_type: np.dtype[Any], width: int) -> None:
        self.count_type, self.width = count_type, width
        self.room: np.ndarray = np.zeros(0, dtype=np.uint16)  # the table and room to grow
        self.size = 0
        self.ones = np.ones(0, dtype=np.uint16)
        self.since = np.zeros(0, dtype=np.int64)  # per pair: rows counted in `room`
        self.spill: dict[int, np.ndarray] = {}  # pair -> its keys' counts moved out

    @property
    def table(self) -> np.ndarray:
        """Rows per key in the table, for every key below the largest `size` given: with
        `spill` added, the counts."""
        return self.room[: self.size]

    def counts(self) -> np.ndarray:
        """Rows per key, as `count_type`."""
        out = self.table.astype(self.count_type)
        for p, part in self.spill.items():
            out[p * self.width : (p + 1) * self.width] += part
        return out

    def coarsen(self, side: int, ratio: int, new_side: int) -> None:
        """The counts of a paired grid (`width` = ``side``²) summed onto a coarser one
        (`coarsen_grid`): within a pair no sum exceeds its rows, so the table's width
        holds them."""
        self.room = coarsen_grid(self.table, side, ratio, new_side)
        self.size = self.room.shape[0]
        self.spill = {
            p: coarsen_grid(part, side, ratio, new_side) for p, part in self.spill.items()
        }
        self.width = new_side * new_side

    def add(self, keys: np.ndarray, size: int, rows: np.ndarray) -> None:
        """Count `keys`, each below `size` (the table grows to it); `rows`: the batch's
        rows per pair (every pair, the keys' own included)."""
        if self.room.dtype == np.uint16:
            if self.since.shape[0] < rows.shape[0]:
                grown = np.zeros(rows.shape[0], dtype=np.int64)
                grown[: self.since.shape[0]] = self.since
                self.since = grown
            if int(rows.max()) > NARROW_MAX:
                self.room, self.size, self.spill = self.counts(), self.size, {}
                self.ones = np.ones(0, dtype=self.room.dtype)
            else:
                since = self.since[: rows.shape[0]]
                since += rows
                for p in np.flatnonzero(since > NARROW_MAX).tolist():
                    self._spill(p)
                    since[p] = rows[p]
        if self.room.shape[0] < size:
            # Twice the room asked for: the pages of a large np.zeros are mapped only when
            # first written, so the room no key has reached costs no memory, and the few
            # values first seen after the first batch (one score pair of 1600 at 10M rows)
            # land in it instead of in a copy of the table. The copy, 5/4 as large, cost
            # 60-65 ms a table (three tables, 26 MB each, on the bench machine).
            grown = np.zeros(max(size, self.room.shape[0]) * 2, dtype=self.room.dtype)
            grown[: self.size] = self.table
            self.room = grown
        self.size = max(self.size, size)
        if self.ones.shape[0] < keys.shape[0]:
            self.ones = np.ones(keys.shape[0], dtype=self.room.dtype)
        np.add.at(self.room, keys, self.ones[: keys.shape[0]])

    def _spill(self, pair: int) -> None:
        """Move `pair`'s counts out of the table (into `spill`)."""
        at = slice(pair * self.width, min((pair + 1) * self.width, self.size))
        part = self.spill.setdefault(pair, np.zeros(self.width, dtype=self.count_type))
        part[: at.stop - at.start] += self.room[at]
        self.room[at] = 0


def _text_dtype() -> Any:
    import pyarrow as pa

    return pa.array([], pa.large_string()).to_pandas().dtype  # what pandas reads text as


def _decoded(frame: pd.DataFrame, factorized: dict[str, Any], order: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for c, (codes, values) in factorized.items():
        out[c] = values.take(codes)
    return out[order]
