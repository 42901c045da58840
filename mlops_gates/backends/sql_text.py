"""The SQL text every engine runs over the rows: GROUP BY queries whose small results
(*cells*) the reduction turns into the shared tables (backends/sql.py), and the one
streamed query whose per-row cell indexes are counted in numpy (DuckDB).

DuckDB and Spark run the same statements; only identifier quoting, the text type and the
exact-quantile aggregate differ (`Dialect`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_gates.stats.scorebins import ScoreBins

__all__ = [
    "KEYS",
    "LABEL_KEYS",
    "SG",
    "Dialect",
    "N",
    "counts_query",
    "dense_query",
    "double_literal",
    "joint_query",
    "range_query",
    "regression_query",
    "score_query",
    "score_value",
    "unique",
]

N = "__mg_n"  # the row-count column of every cell query
SG = "__mg_sg"  # score-group id column
KEYS = "__mg_score_keys"  # view: score-slice values -> score-group id
LABEL_KEYS = "__mg_score_label_keys"  # view: score-slice values, label -> group x class


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines' SQL: identifier quoting, the text type, and the
    exact-quantile aggregate (a format string of `v`, the value, and `qs`, the levels)."""

    quote_char: str
    text: str = "VARCHAR"
    quantiles: str = "quantile_cont({v}, [{qs}])"

    def q(self, name: str) -> str:
        """`name` as a quoted identifier, so any column name is safe in a statement."""
        c = self.quote_char
        return c + name.replace(c, c + c) + c


def double_literal(x: float) -> str:
    """`x` as an SQL DOUBLE that every engine reads as exactly this float."""
    # A string cast, not a numeric literal: engines read `0.1` as DECIMAL, which would
    # round differently; repr() round-trips and both engines parse it correctly rounded.
    return f"CAST('{x!r}' AS DOUBLE)"


def unique(items: list[str]) -> list[str]:
    """`items` without repeats, in first-seen order (a column named twice is selected once)."""
    return list(dict.fromkeys(items))


def counts_query(d: Dialect, src: str, keys: list[str], outputs: list[str]) -> str:
    """The cells: one row per distinct (slice values, label, predictions) with its row
    count, the small result every count table is reduced from."""
    cols = ", ".join(d.q(c) for c in unique(keys + outputs))
    return f"SELECT {cols}, COUNT(*) AS {N} FROM {src} GROUP BY {cols}"


def range_query(d: Dialect, src: str, scores: list[str]) -> str:
    """Rows, present and NaN values, min and max of each score column: one scan for all."""
    parts = ["COUNT(*) AS n"]
    for i, score in enumerate(scores):
        s = f"CAST({d.q(score)} AS DOUBLE)"
        parts += [
            f"COUNT({d.q(score)}) AS present{i}",
            f"SUM(CASE WHEN isnan({s}) THEN 1 ELSE 0 END) AS nans{i}",
            f"MIN({s}) AS lo{i}",
            f"MAX({s}) AS hi{i}",
        ]
    return f"SELECT {', '.join(parts)} FROM {src}"


def score_query(
    d: Dialect, src: str, keys: list[str], label: str, score: str, bins: ScoreBins | None
) -> str:
    """Rows per (score group, label, score bin). The score group comes from a join with
    the small KEYS view (one row per distinct combination of `keys`), so the engine's
    hash table holds integers, not strings: at 100M rows that is what keeps DuckDB
    inside a 1 GB memory limit."""
    value = score_value(d, score, bins)
    y = f"r.{d.q(label)}"
    if not keys:
        return (
            f"SELECT 0 AS {SG}, {y} AS {d.q(label)}, {value} AS __mg_s, COUNT(*) AS {N} "
            f"FROM {src} AS r GROUP BY {y}, {value}"
        )
    on = " AND ".join(f"r.{d.q(c)} IS NOT DISTINCT FROM k.{d.q(c)}" for c in keys)
    return (
        f"SELECT k.{SG} AS {SG}, {y} AS {d.q(label)}, {value} AS __mg_s, COUNT(*) AS {N} "
        f"FROM {src} AS r JOIN {KEYS} AS k ON {on} GROUP BY k.{SG}, {y}, {value}"
    )


def score_value(d: Dialect, score: str, bins: ScoreBins | None) -> str:
    """A row's score as SQL: the value itself, or its bin code when `bins` are given."""
    s = f"CAST(r.{d.q(score)} AS DOUBLE)"
    if bins is None:
        return s
    # The formula of ScoreBins.codes, operation for operation.
    raw = f"FLOOR(({s} - {double_literal(bins.lo)}) * {double_literal(bins.scale)})"
    return f"CAST(LEAST(GREATEST({raw}, 0), {bins.n_bins - 1}) AS BIGINT)"


def joint_query(
    d: Dialect,
    src: str,
    keys: list[str],
    label: str,
    scores: tuple[str, str],
    bins: tuple[ScoreBins | None, ScoreBins | None],
    factor: int = 1,
) -> str:
    """Rows per (score group, label, candidate score, baseline score): the pairing that
    paired DeLong needs, one more grouped pass (see :func:`score_query`). With
    ``factor`` > 1 (binned scores) on a coarse grid, ``bin // factor`` per model."""
    vc, vb = (score_value(d, sc, b) for sc, b in zip(scores, bins, strict=True))
    if factor > 1:
        # The bin is a whole number below 2**53 and the factor a power of two: the
        # division and FLOOR are exact in DOUBLE, in every engine (numpy's `//`).
        vc, vb = (
            f"CAST(FLOOR(CAST({v} AS DOUBLE) / {double_literal(float(factor))}) AS BIGINT)"
            for v in (vc, vb)
        )
    y = f"r.{d.q(label)}"
    cols = f"{y} AS {d.q(label)}, {vc} AS __mg_c, {vb} AS __mg_b, COUNT(*) AS {N}"
    if not keys:
        return f"SELECT 0 AS {SG}, {cols} FROM {src} AS r GROUP BY {y}, {vc}, {vb}"
    on = " AND ".join(f"r.{d.q(c)} IS NOT DISTINCT FROM k.{d.q(c)}" for c in keys)
    return (
        f"SELECT k.{SG} AS {SG}, {cols} FROM {src} AS r JOIN {KEYS} AS k ON {on} "
        f"GROUP BY k.{SG}, {y}, {vc}, {vb}"
    )


def dense_query(
    d: Dialect,
    src: str,
    keys: list[str],
    label: str,
    scores: list[tuple[str, ScoreBins]],
    grid: tuple[int, int] | None,
) -> str:
    """One integer per row and table, for an engine that streams rows back (DuckDB):
    each model's cell index (score group x class) x bins + bin, and with `grid`
    (factor, side) the paired table's ((score group x class) x side + candidate bin //
    factor) x side + baseline bin // factor. Counting those indexes into dense arrays
    replaces a GROUP BY with millions of groups per table, which is what a score pass
    spends its time on (bench/README.md, "Fewer passes over the rows"). The score group
    and class come from one join with the small LABEL_KEYS view."""
    values = [score_value(d, s, b) for s, b in scores]
    g = "k.__mg_g"
    cols = [
        f"{g} * {b.n_bins} + {v} AS __mg_k{i}"
        for i, ((_, b), v) in enumerate(zip(scores, values, strict=True))
    ]
    if grid is not None:
        factor, side = grid
        # Bins are whole and not negative: integer division is numpy's `//`.
        c, b = (f"({v}) // {factor}" for v in values[:2])
        cols.append(f"({g} * {side} + {c}) * {side} + {b} AS __mg_kj")
    on = " AND ".join(f"r.{d.q(c)} IS NOT DISTINCT FROM k.{d.q(c)}" for c in unique([*keys, label]))
    return f"SELECT {', '.join(cols)} FROM {src} AS r JOIN {LABEL_KEYS} AS k ON {on}"


def regression_query(d: Dialect, src: str, keys: list[str], label: str, preds: list[str]) -> str:
    """Per slice, the label's count, mean and variance and each prediction's error sums:
    everything the regression metrics need, without returning a row per value."""
    y = f"CAST({d.q(label)} AS DOUBLE)"
    parts = [
        f"COUNT(*) AS {N}",
        f"COUNT({d.q(label)}) AS __mg_ny",
        f"AVG({y}) AS __mg_mean",
        f"VAR_POP({y}) AS __mg_var",
    ]
    for i, p in enumerate(preds):
        e = f"(CAST({d.q(p)} AS DOUBLE) - {y})"
        parts += [
            f"COUNT({d.q(p)}) AS __mg_np{i}",
            f"SUM({e}) AS __mg_se{i}",
            f"SUM(ABS({e})) AS __mg_sae{i}",
            f"SUM({e} * {e}) AS __mg_sse{i}",
        ]
    cols = ", ".join(d.q(c) for c in keys)
    select = ", ".join(([cols] if keys else []) + parts)
    return f"SELECT {select} FROM {src}" + (f" GROUP BY {cols}" if keys else "")
