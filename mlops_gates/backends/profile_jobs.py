"""A whole data-file profile (`profile_table`) in four queries, however many columns.

Profiling column by column costs several queries per column (`SqlTable.profile`: moments
and quantiles, heavy values, the value after each, the histogram). On DuckDB a query is
cheap; on Spark each is a job of a second or more, so a 10-column reference took about
90 s at any size (docs/scale.md). Here each step covers every column at once:

1. one aggregate: the row count and, per numeric column, n, distinct count, mean,
   standard deviation, minimum, maximum, the summary quantiles and the `i / bins` cuts;
2. one `GROUPING SETS` count: every category of the categorical columns (missing
   included), and per numeric column its heavy values (all distinct values when there are
   at most `bins`);
3. one aggregate: the distinct value after each heavy value (skipped when there is none);
4. one `GROUPING SETS` count: every numeric column into its bins.

Each step computes what the per-column queries compute, with the same expressions
(`SqlTable.value_sql`, `finite_sql`, `text_sql`, `slot_sql`) and the same rules after them
(`stats.drift.edges_from`, `category_table`, `SqlTable.histogram`), so the profiles are
equal (`tests/backends/test_drift_engines.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.backends.profiles import SqlTable
from mlops_gates.backends.sql_text import double_literal
from mlops_gates.errors import DataError
from mlops_gates.sources.profile import FeatureProfile, Profile
from mlops_gates.stats.drift import SUMMARY_QUANTILES, category_table, edges_from

__all__ = ["profile_columns", "profile_table"]


def profile_columns(
    table: SqlTable, columns: list[str], *, bins: int, top_k: int
) -> tuple[int, dict[str, FeatureProfile]]:
    """The table's row count and the profiles of `columns` (numeric or categorical by
    their type, as `SqlTable.profile` decides), in at most four queries."""
    numeric = [c for c in columns if table.kind(c) == "numeric"]
    categorical = [c for c in columns if table.kind(c) == "categorical"]
    # Finite values of numeric column i as __mg_x{i}, categorical column j as text __mg_t{j}.
    values = ", ".join(
        [f"{table.value_sql(c)} AS __mg_v{i}" for i, c in enumerate(numeric)]
        + [f"{table.text_sql(c)} AS __mg_t{j}" for j, c in enumerate(categorical)]
        or ["1 AS __mg_one"]
    )
    finite = ", ".join(
        [f"CASE WHEN {table.finite_sql(f'__mg_v{i}')} THEN __mg_v{i} END AS __mg_x{i}"
         for i in range(len(numeric))]
        + [f"__mg_t{j}" for j in range(len(categorical))]
        or ["__mg_one"]
    )  # fmt: skip
    rows_sql = f"(SELECT {finite} FROM (SELECT {values} FROM {table.src}) AS t) AS u"

    stats = _moments(table, rows_sql, len(numeric), bins)
    rows = int(stats["__mg_rows"])
    n = [int(stats[f"n{i}"]) for i in range(len(numeric))]
    distinct = [int(stats[f"d{i}"]) for i in range(len(numeric))]

    groups = _groups(table, rows_sql, n, distinct, len(categorical), bins)
    out: dict[str, FeatureProfile] = {}
    for j, c in enumerate(categorical):
        cells = groups[groups[f"g_t{j}"] == 0]
        is_missing = cells[f"__mg_t{j}"].isna().to_numpy()
        names = [str(x) for x in cells[f"__mg_t{j}"][~is_missing]]
        counts = [int(x) for x in cells["n"][~is_missing]]
        missing = int(cells["n"][is_missing].sum())
        cats = category_table(names, counts, missing=missing, top_k=top_k)
        summary = {"n": int(sum(counts)), "distinct": len(names)}
        out[c] = FeatureProfile("categorical", table.types[c], summary, categorical=cats)

    kept: list[np.ndarray] = []
    for i in range(len(numeric)):
        cells = groups[(groups[f"g_x{i}"] == 0) & groups[f"__mg_x{i}"].notna()]
        kept.append(np.sort(cells[f"__mg_x{i}"].to_numpy(dtype=np.float64)))
    after = _after(table, rows_sql, [k if distinct[i] > bins else None for i, k in enumerate(kept)])

    summaries: list[dict[str, Any]] = []
    edges: list[np.ndarray] = []
    for i in range(len(numeric)):
        summary, e = _edges(stats, i, n[i], distinct[i], kept[i], after[i], bins)
        summaries.append(summary)
        edges.append(e)
    for i, c in enumerate(numeric):
        out[c] = FeatureProfile("numeric", table.types[c], summaries[i])
    if numeric:
        for i, hist in enumerate(_histograms(table, numeric, edges)):
            out[numeric[i]] = FeatureProfile(
                "numeric", table.types[numeric[i]], summaries[i], numeric=hist.numeric
            )
    return rows, {c: out[c] for c in columns if c in out}


def _moments(table: SqlTable, rows_sql: str, k: int, bins: int) -> pd.Series:
    qs = ", ".join(repr(float(q)) for q in SUMMARY_QUANTILES)
    cuts = ", ".join(repr(float(q)) for q in np.arange(1, bins) / bins)
    parts = ["COUNT(*) AS __mg_rows"]
    for i in range(k):
        x = f"__mg_x{i}"
        parts += [
            f"COUNT({x}) AS n{i}",
            f"COUNT(DISTINCT {x}) AS d{i}",
            f"AVG({x}) AS mean{i}",
            f"STDDEV_SAMP({x}) AS std{i}",
            f"MIN({x}) AS lo{i}",
            f"MAX({x}) AS hi{i}",
            f"{table.dialect.quantiles.format(v=x, qs=qs)} AS q{i}",
            f"{table.dialect.quantiles.format(v=x, qs=cuts)} AS c{i}",
        ]
    return table.run(f"SELECT {', '.join(parts)} FROM {rows_sql}").iloc[0]


def _groups(
    table: SqlTable, rows_sql: str, n: list[int], distinct: list[int], k_cat: int, bins: int
) -> pd.DataFrame:
    """Categories (missing included) and heavy numeric values, one grouping set each."""
    keys = [f"__mg_x{i}" for i in range(len(n))] + [f"__mg_t{j}" for j in range(k_cat)]
    flags = [f"g_x{i}" for i in range(len(n))] + [f"g_t{j}" for j in range(k_cat)]
    empty = pd.DataFrame({c: [] for c in [*keys, *flags, "n"]})
    if not keys:
        return empty
    # A numeric value is kept when it holds at least 1/bins of the column's values, or
    # always when the column has at most `bins` distinct ones (they are its edges).
    wanted = [
        f"(g_x{i} = 0 AND __mg_x{i} IS NOT NULL AND n * {int(bins)} >= "
        f"{0 if distinct[i] <= bins else n[i]})"
        for i in range(len(n))
    ] + [f"g_t{j} = 0" for j in range(k_cat)]
    grouping = ", ".join(f"GROUPING({k}) AS {g}" for k, g in zip(keys, flags, strict=True))
    sets = ", ".join(f"({k})" for k in keys)
    return table.run(
        f"SELECT * FROM (SELECT {', '.join(keys)}, {grouping}, COUNT(*) AS n FROM {rows_sql} "
        f"GROUP BY GROUPING SETS ({sets})) AS g WHERE {' OR '.join(wanted)}"
    )


def _after(
    table: SqlTable, rows_sql: str, heavy: list[np.ndarray | None]
) -> list[np.ndarray | None]:
    """For each column's heavy values, the next larger value (itself when none)."""
    parts = [
        f"MIN(CASE WHEN __mg_x{i} > {double_literal(float(h))} THEN __mg_x{i} END) AS a{i}_{k}"
        for i, hs in enumerate(heavy)
        if hs is not None
        for k, h in enumerate(hs)
    ]
    if not parts:  # no column has a heavy value: nothing comes after one
        return [None if hs is None else np.empty(0, dtype=np.float64) for hs in heavy]
    row = table.run(f"SELECT {', '.join(parts)} FROM {rows_sql}").iloc[0]
    out: list[np.ndarray | None] = []
    for i, hs in enumerate(heavy):
        if hs is None:
            out.append(None)
            continue
        nxt = [row[f"a{i}_{k}"] for k in range(hs.size)]
        out.append(np.array([h if pd.isna(a) else float(a) for h, a in zip(hs, nxt, strict=True)]))
    return out


def _edges(
    stats: pd.Series,
    i: int,
    n: int,
    distinct: int,
    kept: np.ndarray,
    after: np.ndarray | None,
    bins: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """Column i's summary and bin edges, as `SqlTable._edges` makes them."""
    if n == 0:
        empty: dict[str, Any] = {
            "n": 0, "mean": None, "std": None, "min": None, "max": None, "quantiles": {},
        }  # fmt: skip
        return empty, np.empty(0, dtype=np.float64)
    lo, hi = float(stats[f"lo{i}"]), float(stats[f"hi{i}"])
    std = stats[f"std{i}"]
    summary = {
        "n": n,
        "mean": float(stats[f"mean{i}"]),
        "std": float(std) if n > 1 and not pd.isna(std) else None,
        "min": lo,
        "max": hi,
        "quantiles": {
            str(q): float(x) for q, x in zip(SUMMARY_QUANTILES, stats[f"q{i}"], strict=True)
        },
    }
    if distinct <= bins:
        return summary, edges_from(lo, hi, distinct=kept)
    assert after is not None
    cuts = np.asarray(stats[f"c{i}"], dtype=np.float64)
    return summary, edges_from(lo, hi, quantiles=cuts, heavy=kept, after=after)


def _histograms(
    table: SqlTable, numeric: list[str], edges: list[np.ndarray]
) -> list[FeatureProfile]:
    """Every numeric column counted into its bins: one grouping set per column."""
    d = table.dialect
    inner = ", ".join(
        f"{table.value_sql(c)} AS __mg_v{i}, {d.q(c)} AS __mg_r{i}" for i, c in enumerate(numeric)
    )
    cells = ", ".join(
        f"{table.slot_sql(f'__mg_r{i}', f'__mg_v{i}', e)} AS __mg_s{i}, "
        f"CASE WHEN {table.finite_sql(f'__mg_v{i}')} THEN __mg_v{i} END AS __mg_x{i}"
        for i, e in enumerate(edges)
    )
    aggs = ", ".join(
        f"GROUPING(__mg_s{i}) AS g{i}, SUM(__mg_x{i}) AS s{i}, MIN(__mg_x{i}) AS lo{i}, "
        f"MAX(__mg_x{i}) AS hi{i}"
        for i in range(len(numeric))
    )
    keys = ", ".join(f"__mg_s{i}" for i in range(len(numeric)))
    sets = ", ".join(f"(__mg_s{i})" for i in range(len(numeric)))
    frame = table.run(
        f"SELECT {keys}, {aggs}, COUNT(*) AS n FROM (SELECT {cells} FROM (SELECT {inner} "
        f"FROM {table.src}) AS t) AS u GROUP BY GROUPING SETS ({sets})"
    )
    out = []
    for i, c in enumerate(numeric):
        part = frame[frame[f"g{i}"] == 0]
        one = pd.DataFrame(
            {
                "__mg_slot": part[f"__mg_s{i}"].to_numpy(dtype=np.int64),
                "n": part["n"].to_numpy(dtype=np.int64),
                "s": part[f"s{i}"],
                "lo": part[f"lo{i}"],
                "hi": part[f"hi{i}"],
            }
        )
        out.append(table.histogram(c, edges[i], one))
    return out


def profile_table(
    table: SqlTable,
    *,
    columns: list[str] | None = None,
    bins: int,
    top_k: int,
    source: dict[str, Any] | None = None,
) -> Profile:
    """A profile of `columns` (default: every numeric or categorical one), as
    `profile.build_profile` makes of a frame."""
    skipped: dict[str, str] = {}
    if columns is None:
        chosen = []
        for col in table.types:
            if table.kind(col) is None:
                skipped[col] = f"type {table.types[col]} is not profiled"
            else:
                chosen.append(col)
    else:
        missing = [c for c in columns if not table.has(c)]
        if missing:
            raise DataError(
                f"{table.where}: column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))} not found; the data has: "
                f"{', '.join(list(table.types)[:40])}"
            )
        chosen = list(dict.fromkeys(columns))
    # Every column in the same few queries (one Spark job each), not several per column.
    rows, features = profile_columns(table, chosen, bins=bins, top_k=top_k)
    return Profile(
        features=features,
        rows=rows,
        bins=bins,
        top_k=top_k,
        source={"path": str(table.where), "rows": rows, **(source or {})},
        skipped=skipped,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
