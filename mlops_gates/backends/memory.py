"""The default reducer: rows already in this process (pandas), reduced with numpy."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pandas as pd

from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import Plan, Reduced, paired_factor, plan_for, resolve_bins
from mlops_gates.config import Config
from mlops_gates.errors import DataError, MlopsGatesError
from mlops_gates.sources.data import Table, file_digest, read_rows
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.sources.models import cores_busy
from mlops_gates.stats.reduce import (
    ClassificationStats,
    JointScores,
    RegressionStats,
    narrow_groups,
    reduce_classification,
    reduce_joint_scores,
    reduce_regression,
    reduce_scores,
)
from mlops_gates.stats.scorebins import ScoreBins

__all__ = ["MemoryBackend", "reduce_frame"]


def reduce_frame(
    config: Config, data: EvalData, plan: Plan, *, threads: int | None = None
) -> Reduced:
    """Encoded rows (`EvalData`) to the shared tables.

    `threads`: 2 builds the paired table on a second thread while the models' own tables
    are built, 1 never; by default 2 when the rows pay for it and a core is free. The
    tables are the same bits either way."""
    grouping = Grouping.of(data.table, plan.columns)
    n_groups = grouping.n_groups
    stats: ClassificationStats | RegressionStats
    if data.task == "regression":
        stats = reduce_regression(
            grouping.codes, n_groups, data.y_true, data.candidate, data.baseline
        )
    else:
        stats = reduce_classification(
            grouping.codes,
            n_groups,
            data.y_true,
            data.candidate,
            data.baseline,
            n_classes=len(data.classes),
        )
    score_grouping, to_coarse = grouping.coarsen(plan.score_columns)
    reduced = Reduced(
        engine="memory",
        n_rows=data.n_rows,
        columns=tuple(str(c) for c in data.table.columns),
        grouping=grouping,
        stats=stats,
        score_grouping=score_grouping,
        classes=data.classes,
        models=data.models,
        baseline_error=data.baseline_error,
    )
    if data.task != "binary" or not plan.score_models:
        return reduced
    ng = score_grouping.n_groups
    # The score tables' rows as narrow as their values (int32 groups, int8 labels, checked
    # to be 0 or 1 by the count table): each table reads them, and its keys are 32 bits
    # wide. Half to an eighth of the memory read, for the same keys.
    codes = to_coarse.astype(narrow_groups(ng, 1))[grouping.codes]
    y_true = data.y_true.astype(np.int8)
    n_bins = resolve_bins(config.backend.score_bins, data.n_rows)
    index: dict[str, np.ndarray] = {}  # each row's index into its model's score table
    binned: list[tuple[str, ScoreBins]] = []  # models whose table is built below
    for model in plan.score_models:
        scores = data.candidate_scores if model == "candidate" else data.baseline_scores
        reduced.scores[model] = None  # (the tables keep the models' order)
        if scores is None or (model == "baseline" and data.baseline is None):
            continue
        lo, hi = (float(scores.min()), float(scores.max())) if scores.shape[0] else (0.0, 0.0)
        reduced.score_range[model] = (lo, hi)
        if n_bins is None:
            reduced.bins[model] = None
            reduced.scores[model] = table = reduce_scores(codes, ng, y_true, scores)
            index[model] = np.searchsorted(table.thresholds, scores)
        else:
            bins = reduced.bins[model] = ScoreBins(lo, hi, n_bins)
            index[model] = bins.codes(scores)
            binned.append((model, bins))
    joint: Callable[[], JointScores] | None = None
    if len(index) == 2 and plan.joint:
        # One more grouped pass, over (group, class, candidate score, baseline score): the
        # pairing paired DeLong needs, which the two per-model tables lose. At scale on a
        # coarse grid of the bins (plan.paired_factor), so it does not grow with the rows.
        f = paired_factor(n_bins, ng, data.n_rows, fine=plan.joint_fine)
        joint = partial(_joint_scores, codes, ng, y_true, index, f)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The joint table's sort releases the GIL: on a second core it runs while the
        # models' tables are built, when the rows pay for a thread and a core is free.
        # Each table is made by the same code either way, so the bits are the same.
        parallel = joint is not None and bool(binned) and _second_core(data.n_rows, threads)
        pending = pool.submit(joint) if joint is not None and parallel else None
        for name, of in binned:
            reduced.scores[name] = reduce_scores(
                codes, ng, y_true, index[name], thresholds=of.thresholds()
            )
        if pending is not None:
            reduced.joint_scores = pending.result()
        elif joint is not None:
            reduced.joint_scores = joint()
    return reduced


# Rows from which the paired table is built on a second thread: at 250,000 rows it takes
# about 0.013 s, some hundred times a thread's start and handover.
THREAD_MIN_ROWS = 250_000


def _second_core(rows: int, threads: int | None) -> bool:
    if threads is not None:
        return threads > 1
    # When every core is busy (a loaded CI runner) a second thread only waits for one.
    return rows >= THREAD_MIN_ROWS and not cores_busy()


def _joint_scores(
    codes: np.ndarray, n_groups: int, y_true: np.ndarray, index: dict[str, np.ndarray], f: int
) -> JointScores:
    pair = [index["candidate"], index["baseline"]]
    if f > 1:
        pair = [np.floor_divide(i, f) for i in pair]
    return reduce_joint_scores(codes, n_groups, y_true, pair[0], pair[1], factor=f)


class MemoryBackend:
    """The rows in this process: the data file read once with pandas (or rows handed over
    as a DataFrame), reduced with numpy. Implements `backends.base.Backend[Table]`."""

    engine = "memory"

    def __init__(self, config: Config, *, rows: pd.DataFrame | None = None) -> None:
        if rows is not None and not isinstance(rows, pd.DataFrame):
            raise TypeError(
                f"run_gates(table=...) takes a pandas DataFrame, not {type(rows).__name__}"
            )
        self.config = config
        self.notes: list[str] = []  # what the report should warn about (base.open_backend)
        self._given = rows
        self._table: Table | None = None
        self._digest: str | None = None
        self._failed: MlopsGatesError | None = None

    @property
    def where(self) -> Path:
        """The configured data's path: the rows' name when they were handed over."""
        return self.config.data_path

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._table = None

    def table(self) -> Table:
        """The rows, read on first use and kept for the run."""
        if self._failed is not None:
            raise self._failed
        if self._table is None:
            try:
                self._table = self._read()
            except MlopsGatesError as exc:
                self._failed = exc
                raise
        return self._table

    def _read(self) -> Table:
        if self._given is not None:
            return Table(self._given)  # no file read: no digest
        # The file's digest is read on a second thread while the rows are parsed (both
        # release the GIL); it is waited for only if the rows could be read (a file that
        # cannot be read fails in read_rows with the clearer message).
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(file_digest, self.where)
            # The columns gates slice by come factorized from a Parquet dictionary.
            sliced = plan_for(self.config).columns
            table = read_rows(self.where, self.config.data.format, factorize=sliced)
            self._digest = digest.result()
        return table

    def digest(self) -> str | None:
        """sha256 of the data file; None for rows handed over in memory."""
        if self._digest is None:
            self.table()
        return self._digest

    def stream(self) -> Reduced | None:
        """The reduced tables read in record batches (backends/stream.py), never holding
        the rows; None when this run reads the rows whole instead (a gate reads them, a
        model is called on them, or the batches cannot give exactly the same tables).

        Either way, data that would not fit in the memory available is refused before
        anything is read, naming the engine that reads it where it lies."""
        from mlops_gates.backends import stream

        if self._given is not None:
            return None
        reduced = None
        if stream.streams(self.config) and _rows(self.where) >= stream.STREAM_MIN_ROWS:
            plan = plan_for(self.config)
            # Only a fine paired table (the paired calibration comparison) grows with the
            # rows; the coarse grid paired DeLong uses at scale does not.
            _require_room(self.where, streaming=True, paired=plan.joint and plan.joint_fine)
            with ThreadPoolExecutor(max_workers=1) as pool:
                digest = pool.submit(file_digest, self.where)
                # Else the whole read gives the tables, or words the problem its way.
                with contextlib.suppress(stream.Unstreamable, MlopsGatesError):
                    reduced = stream.stream_reduce(self.config, self.where)
                if reduced is not None:
                    self._digest = digest.result()
        if reduced is None:
            _require_room(self.where, streaming=False)
        return reduced

    def reduce(self, inputs: EvalData | None = None) -> Reduced:
        """The encoded rows (labels and the models' output, made in this process) to the
        shared tables."""
        if inputs is None:
            raise ValueError("the memory engine reduces encoded inputs: pass `inputs`")
        # A missing slice column is a problem of the gates that name it, reported on them.
        plan = plan_for(self.config, {str(c) for c in inputs.table.columns})
        return reduce_frame(self.config, inputs, plan)

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """A seeded uniform sample of `rows` rows (all rows when there are fewer)."""
        frame = self.table().frame
        return frame if len(frame) <= rows else frame.sample(n=rows, random_state=seed)


# Bytes a row costs, measured on bench/'s data (bench/README.md): a whole read holds
# pandas' frame and, beyond it, the encoded labels, score indices and the reduction's sort
# buffers; a batched run holds only a fine paired-scores table row by row (one packed key,
# then about one 4 x int64 entry per row), when the paired calibration comparison needs it.
_WHOLE_OVERHEAD = 160
_STREAMED_PAIRED = 40


def _rows(path: Path) -> int:
    """Rows of the Parquet file at `path` from its footer; 0 when it cannot be read (the
    whole read then says what is wrong)."""
    try:
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    except Exception:
        return 0


def _require_room(
    path: Path, *, streaming: bool, paired: bool = True, available: int | None = None
) -> None:
    """Refuse, before reading, a Parquet file whose rows would not fit in the memory
    `available` (by default what the system has), naming `backend.engine: duckdb`, which
    reads it where it lies."""
    available = _available_bytes() if available is None else available
    if available is None or not path.is_file():
        return
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
    except Exception:
        return  # not Parquet (or unreadable): the reader says what is wrong
    rows = meta.num_rows
    if streaming:
        need = rows * _STREAMED_PAIRED if paired else 0
    else:
        width = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)) / max(
            rows, 1
        )
        need = int(rows * (width + _WHOLE_OVERHEAD))
    if need > available:
        raise DataError(
            f"{path}: {rows:,} rows would need about {need / 1e9:.1f} GB in memory and "
            f"{available / 1e9:.1f} GB is available; set `backend.engine: duckdb` to reduce "
            f"them where they lie"
        )


def _available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where it is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
