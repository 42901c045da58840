"""From the SQL engines' results to the shared tables (the statements are in sql_text.py).

DuckDB and Spark run the same statements (only identifier quoting differs). Their results
are *cells*: one row per distinct (slice values, label, predictions) with a row count,
and per model one row per (score-slice values, label, score bin) with a count. Those go
through the same numpy reducer as rows do, with the counts as weights, so every backend
produces bit-identical count and score tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.backends.cells import reduce_cells
from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import (
    Model,
    Plan,
    Reduced,
    paired_factor,
    plan_for,
    resolve_bins,
)
from mlops_gates.backends.sql_text import (
    KEYS,
    LABEL_KEYS,
    SG,
    Dialect,
    N,
    counts_query,
    dense_query,
    joint_query,
    range_query,
    regression_query,
    score_query,
    unique,
)
from mlops_gates.config import Config
from mlops_gates.errors import DataError
from mlops_gates.sources.evaluation import encode_labels
from mlops_gates.stats.reduce import (
    RegressionStats,
    reduce_joint_scores,
    reduce_scores,
)
from mlops_gates.stats.scorebins import ScoreBins

__all__ = ["DENSE_CELLS", "reduce_sql", "to_frame"]

# The most cells a dense count array of the streamed score pass may have (64 MB of int64
# each, as many again while a batch is counted); larger tables (many slices x many
# bins) are grouped by the engine. The benchmark's 800 slices x 2 x 4,096 bins fit.
DENSE_CELLS = 1 << 23


Run = Callable[[str], pd.DataFrame]
Stream = Callable[[str], Iterable[Any]]  # SQL text -> its rows as Arrow record batches
Register = Callable[[str, Any], object]  # (view name, pyarrow Table)


def to_frame(table: Any) -> pd.DataFrame:
    """An engine's Arrow result as pandas, integers kept integers when NULLs occur (as
    pandas' own Parquet reader does for files pandas wrote): `tier=1`, never `tier=1.0`."""
    import pyarrow as pa

    def mapper(t: Any) -> Any:
        return pd.Int64Dtype() if pa.types.is_integer(t) else None

    frame: pd.DataFrame = table.to_pandas(types_mapper=mapper)
    return frame


def reduce_sql(
    config: Config,
    *,
    engine: str,
    dialect: Dialect,
    src: str,
    columns: list[str],
    run: Run,
    register: Register,
    where: Path,
    stream: Stream | None = None,
) -> Reduced:
    """Reduce the table `src` with `run` (SQL text -> small DataFrame) to the shared tables;
    `register` makes a small Arrow table queryable under a name. With `stream` (SQL text ->
    Arrow batches of its rows), binned score tables are counted from one streamed pass
    over the rows instead of one GROUP BY per table."""
    missing = [c for c in _needed(config) if c not in columns]
    if missing:
        shown = ", ".join(columns[:40])
        raise DataError(
            f"{where}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} named in the config not found; the data has: {shown}"
        )
    plan = plan_for(config, set(columns))
    keys = plan.columns
    label = config.task.label
    preds = [m.predictions for m in (config.candidate, config.baseline) if m is not None]
    assert all(p is not None for p in preds)  # config validation: columns only here
    pred_cols = [p for p in preds if p is not None]
    if config.task.type == "regression":
        frame = run(regression_query(dialect, src, keys, label, pred_cols))
        return _finish_regression(config, plan, engine, columns, frame, where)

    counts = run(counts_query(dialect, src, keys, [label, *pred_cols]))
    weights = counts[N].to_numpy(dtype=np.int64)
    n_rows = int(weights.sum())
    reduced = reduce_cells(
        config,
        plan,
        counts.drop(columns=[N]),
        weights,
        engine=engine,
        n_rows=n_rows,
        columns=columns,
        where=where,
    )
    grouping = reduced.grouping
    if config.task.type != "binary":
        return reduced
    n_bins = resolve_bins(config.backend.score_bins, n_rows)
    wanted: list[tuple[Model, str]] = []
    for model in plan.score_models:
        mc = config.candidate if model == "candidate" else config.baseline
        if mc is None or mc.scores is None or (model == "baseline" and reduced.baseline_error):
            reduced.scores[model] = None
        else:
            wanted.append((model, mc.scores))
    if wanted:
        ranges = run(range_query(dialect, src, [c for _, c in wanted])).iloc[0]
        for i, (model, column) in enumerate(wanted):
            _bins(reduced, model, column, ranges, i, n_bins, where)
        factor = 1
        if len(wanted) == 2 and plan.joint:
            ng = reduced.score_grouping.n_groups
            factor = paired_factor(n_bins, ng, reduced.n_rows, fine=plan.joint_fine)
        models = [m for m, _ in wanted]
        sizes = _dense_sizes(reduced, models, len(wanted) == 2 and plan.joint, factor)
        if stream is not None and sizes is not None:
            _register_label_keys(counts, reduced, plan, register, where)
            _dense_tables(reduced, wanted, plan, dialect, src, stream, factor, sizes, where)
            return reduced
        if plan.score_columns:
            _register_score_keys(counts, grouping, plan, register)
        for model, column in wanted:
            _score_table(reduced, model, column, plan, dialect, src, run, where)
        if len(wanted) == 2 and plan.joint:
            columns2 = (wanted[0][1], wanted[1][1])
            _joint_table(reduced, columns2, plan, dialect, src, run, factor, where)
    return reduced


def _dense_sizes(
    reduced: Reduced, models: list[Model], joint: bool, factor: int
) -> list[int] | None:
    """The cells of each dense table of the streamed pass (score tables, then the paired
    grid), or None when a table is not binned or too large to hold densely: the fine
    paired table (factor 1) has bins² cells per group and class."""
    bins = [reduced.bins.get(m) for m in models]
    if not bins or any(b is None for b in bins) or (joint and factor == 1):
        return None
    cells = reduced.score_grouping.n_groups * len(reduced.classes)
    n_bins = max(b.n_bins for b in bins if b is not None)
    sizes = [cells * n_bins] * len(bins)
    if joint:
        side = (n_bins - 1) // factor + 1
        sizes.append(cells * side * side)
    return sizes if max(sizes) <= DENSE_CELLS else None


def _dense_tables(
    reduced: Reduced,
    wanted: list[tuple[Model, str]],
    plan: Plan,
    dialect: Dialect,
    src: str,
    stream: Stream,
    factor: int,
    sizes: list[int],
    where: Path,
) -> None:
    """Every score table, and the paired grid, from one streamed pass over the rows."""
    scores: list[tuple[str, ScoreBins]] = []
    for model, column in wanted:
        bins = reduced.bins[model]
        assert bins is not None  # _dense_sizes: binned only
        scores.append((column, bins))
    n_bins = sizes[0] // (reduced.score_grouping.n_groups * len(reduced.classes))
    grid = None
    if len(sizes) > len(wanted):
        grid = (factor, (n_bins - 1) // factor + 1)
    query = dense_query(dialect, src, plan.score_columns, reduced.label, scores, grid)
    counts = [np.zeros(n, dtype=np.int64) for n in sizes]
    for batch in stream(query):
        for i, acc in enumerate(counts):
            acc += np.bincount(batch.column(i).to_numpy(), minlength=len(acc))
    k = len(reduced.classes)
    ng = reduced.score_grouping.n_groups
    for (model, _), (_, bins), acc in zip(wanted, scores, counts, strict=False):
        _check_matched(reduced, model, plan, int(acc.sum()), where)
        # The cells a GROUP BY would have returned: the non-zero counts, in any order.
        at = np.flatnonzero(acc)
        cell, value = np.divmod(at, n_bins)
        sg, y = np.divmod(cell, k)
        reduced.scores[model] = reduce_scores(
            sg, ng, y, value, thresholds=bins.thresholds(), weights=acc[at]
        )
    if grid is not None:
        side = grid[1]
        at = np.flatnonzero(counts[-1])
        cell, pair = np.divmod(at, side * side)
        sg, y = np.divmod(cell, k)
        c, b = np.divmod(pair, side)
        reduced.joint_scores = reduce_joint_scores(
            sg, ng, y, c, b, weights=counts[-1][at], factor=factor
        )


def _check_matched(reduced: Reduced, model: Model, plan: Plan, total: int, where: Path) -> None:
    if total != reduced.n_rows:
        # Only a key the join cannot match (a float NaN, which is not NULL) gets here.
        raise DataError(
            f"{where}: {total:,} of {reduced.n_rows:,} rows matched their slice "
            f"when reducing {model} scores; do the slice columns "
            f"{', '.join(map(repr, plan.score_columns))} hold NaN? Use NULL for missing values"
        )


def _joint_table(
    reduced: Reduced,
    columns: tuple[str, str],
    plan: Plan,
    dialect: Dialect,
    src: str,
    run: Run,
    factor: int,
    where: Path,
) -> None:
    """Both models' scores per row, for paired DeLong on baseline ROC AUC; on a coarse
    grid at scale (plan.paired_factor)."""
    bins = (reduced.bins["candidate"], reduced.bins["baseline"])
    label = reduced.label
    ng = reduced.score_grouping.n_groups
    query = joint_query(dialect, src, plan.score_columns, label, columns, bins, factor)
    cells = run(query)
    y = encode_labels(
        cells[label].to_numpy(), reduced.classes, f"column {label!r} (task.label)", where
    )
    index = []
    for model, b, col in zip(("candidate", "baseline"), bins, ("__mg_c", "__mg_b"), strict=True):
        table = reduced.scores[model]
        assert table is not None
        values = cells[col].to_numpy()
        index.append(
            values.astype(np.int64)
            if b is not None
            else np.searchsorted(table.thresholds, values.astype(np.float64))
        )
    reduced.joint_scores = reduce_joint_scores(
        cells[SG].to_numpy(dtype=np.int64),
        ng,
        y,
        index[0],
        index[1],
        weights=cells[N].to_numpy(dtype=np.int64),
        factor=factor,
    )


def _register_score_keys(
    counts: pd.DataFrame, grouping: Grouping, plan: Plan, register: Register
) -> None:
    import pyarrow as pa

    _, to_coarse = grouping.coarsen(plan.score_columns)
    keys = counts[plan.score_columns].copy()
    keys[SG] = to_coarse[grouping.codes]
    keys = keys.drop_duplicates(subset=[SG])
    # from_pandas turns NaN / None / pd.NA into SQL NULL, which the join matches with
    # IS NOT DISTINCT FROM, as the GROUP BY that produced `counts` grouped them.
    register(KEYS, pa.Table.from_pandas(keys, preserve_index=False))


def _register_label_keys(
    counts: pd.DataFrame, reduced: Reduced, plan: Plan, register: Register, where: Path
) -> None:
    """LABEL_KEYS: each (score-slice values, label) of the cells -> score group x class."""
    import pyarrow as pa

    label = reduced.label
    _, to_coarse = reduced.grouping.coarsen(plan.score_columns)
    columns = unique([*plan.score_columns, label])
    keys = counts[columns].copy()
    y = encode_labels(
        counts[label].to_numpy(), reduced.classes, f"column {label!r} (task.label)", where
    )
    keys["__mg_g"] = to_coarse[reduced.grouping.codes] * len(reduced.classes) + y
    keys = keys.drop_duplicates(subset=["__mg_g"])
    register(LABEL_KEYS, pa.Table.from_pandas(keys, preserve_index=False))


def _needed(config: Config) -> list[str]:
    cols = [config.task.label]
    for mc in (config.candidate, config.baseline):
        if mc is not None:
            cols += [c for c in (mc.predictions, mc.scores) if c is not None]
    return unique(cols)


def _bins(
    reduced: Reduced,
    model: Model,
    column: str,
    r: pd.Series,
    i: int,
    n_bins: int | None,
    where: Path,
) -> None:
    """`model`'s score range (refused if a score is missing or not finite) and bins."""
    n, present = int(r["n"]), int(r[f"present{i}"])
    nans = 0 if pd.isna(r[f"nans{i}"]) else int(r[f"nans{i}"])
    lo, hi = (float(r[f"lo{i}"]), float(r[f"hi{i}"])) if present else (0.0, 0.0)
    bad = (n - present) + nans
    if bad or not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(
            f"{where}: {model} scores (column {column!r}): {bad or 'some'} rows are missing "
            f"or not finite; drop or fill them before gating"
        )
    reduced.score_range[model] = (lo, hi)
    reduced.bins[model] = None if n_bins is None else ScoreBins(lo, hi, n_bins)


def _score_table(
    reduced: Reduced,
    model: Model,
    column: str,
    plan: Plan,
    dialect: Dialect,
    src: str,
    run: Run,
    where: Path,
) -> None:
    bins = reduced.bins[model]
    label = reduced.label
    cells = run(score_query(dialect, src, plan.score_columns, label, column, bins))
    y = encode_labels(
        cells[label].to_numpy(), reduced.classes, f"column {label!r} (task.label)", where
    )
    values = cells["__mg_s"].to_numpy()
    weights = cells[N].to_numpy(dtype=np.int64)
    _check_matched(reduced, model, plan, int(weights.sum()), where)
    sg = cells[SG].to_numpy(dtype=np.int64)
    ng = reduced.score_grouping.n_groups
    if bins is None:
        table = reduce_scores(sg, ng, y, values.astype(np.float64), weights=weights)
    else:
        table = reduce_scores(
            sg, ng, y, values.astype(np.int64), thresholds=bins.thresholds(), weights=weights
        )
    reduced.scores[model] = table


def _finish_regression(
    config: Config, plan: Plan, engine: str, columns: list[str], frame: pd.DataFrame, where: Path
) -> Reduced:
    label = config.task.label
    n = frame[N].to_numpy(dtype=np.int64)
    roles = [m for m in (config.candidate, config.baseline) if m is not None]
    if (frame["__mg_ny"].to_numpy() < n).any():
        raise DataError(f"{where}: column {label!r} (task.label): some rows are missing")
    for i, mc in enumerate(roles):
        if (frame[f"__mg_np{i}"].to_numpy() < n).any():
            raise DataError(f"{where}: predictions ({mc.predictions!r}): some rows are missing")
    grouping = Grouping.of(frame, plan.columns)
    order = np.empty(len(frame), dtype=np.int64)
    order[grouping.codes] = np.arange(len(frame))
    f = frame.iloc[order] if len(frame) else frame
    n = f[N].to_numpy(dtype=np.int64)
    mean = f["__mg_mean"].to_numpy(dtype=np.float64)
    occupied = n > 0
    total = int(n.sum())
    shift = float(np.sum(n[occupied] * mean[occupied]) / total) if total else 0.0
    if not np.isfinite(shift):
        shift = 0.0

    def sums(prefix: str) -> np.ndarray:
        return np.stack(
            [f[f"__mg_{prefix}{i}"].to_numpy(dtype=np.float64) for i in range(len(roles))], axis=1
        )

    stats = RegressionStats(
        n=n,
        mean_true=np.where(occupied, mean - shift, 0.0),
        m2_true=np.where(occupied, f["__mg_var"].to_numpy(dtype=np.float64) * n, 0.0),
        sum_err=sums("se"),
        sum_abs_err=sums("sae"),
        sum_sq_err=sums("sse"),
        has_baseline=config.baseline is not None,
        shift=shift,
    )
    if not all(np.isfinite(a).all() for a in (stats.mean_true, stats.m2_true, stats.sum_sq_err)):
        raise DataError(
            f"{where}: the label or predictions hold NaN or infinite values; drop or fill them"
        )
    return Reduced(
        engine=engine,
        n_rows=total,
        columns=tuple(columns),
        grouping=grouping,
        stats=stats,
        score_grouping=grouping.coarsen(plan.score_columns)[0],
        models={
            role: {"source": "column", "predictions": m.predictions, "scores": m.scores}
            for role, m in (("candidate", config.candidate), ("baseline", config.baseline))
            if m is not None
        },
    )
