"""Schema checks over every row, as SQL aggregations, for the DuckDB and Spark engines.

A pandera schema's built-in column checks are predicates on one value, so an engine can
count their violations over every row with a `COUNT(*) ... WHERE NOT (check)`: column
presence, `nullable: false`, `unique`, and the comparison and set checks
(`greater_than[_or_equal_to]`, `less_than[_or_equal_to]`, `in_range`, `equal_to`,
`not_equal_to`, `isin`, `notin`). Those run here over all rows; what SQL cannot say the
same way (dtypes, regexes, custom and whole-frame checks) stays with the seeded sample.
Like pandera, the value checks ignore missing values (NULL, and NaN in float columns).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlops_gates._values import plain
from mlops_gates.backends.profiles import SqlTable
from mlops_gates.backends.sql_text import double_literal

__all__ = ["FullChecks", "run_full_checks"]

# pandera check name -> SQL condition that a value *passes*, from the check's statistics.
_COMPARISONS = {
    "greater_than": ("min_value", ">"),
    "greater_than_or_equal_to": ("min_value", ">="),
    "less_than": ("max_value", "<"),
    "less_than_or_equal_to": ("max_value", "<="),
    "equal_to": ("value", "="),
    "not_equal_to": ("value", "<>"),
}
_FLOAT_TYPES = ("float", "double", "real")


@dataclass
class FullChecks:
    """What ran over every row: the failures (in the report's shape), the checks run,
    and the schema left for the sample (those checks removed)."""

    failures: list[dict[str, Any]] = field(default_factory=list)
    checks: int = 0
    rest: Any = None  # pandera DataFrameSchema


def run_full_checks(schema: Any, table: SqlTable, *, max_cases: int) -> FullChecks:
    """Run the pandera `schema`'s checks that SQL can state over every row of `table`,
    so a violation outside the sample is still found; the rest are left for the sample."""
    out = FullChecks()
    rest = schema
    for name, column in schema.columns.items():
        if getattr(column, "regex", False):
            continue  # a pattern over column names: the sample's job
        name = str(name)
        if not table.has(name):
            if column.required:
                out.checks += 1
                out.failures.append(
                    _failure("DataFrameSchema", None, "column_in_dataframe", 1, [name])
                )
            rest = rest.remove_columns([name]) if name in rest.columns else rest
            continue
        q = table.dialect.q(name)
        is_float = table.types[name].strip().lower().startswith(_FLOAT_TYPES)
        present = f"{q} IS NOT NULL" + (f" AND NOT isnan({q})" if is_float else "")
        done: dict[str, Any] = {}
        if not column.nullable:
            out.checks += 1
            _count(out, table, name, "not_nullable", f"NOT ({present})", max_cases, examples=False)
            done["nullable"] = True
        if column.unique:
            out.checks += 1
            _duplicates(out, table, name, present, max_cases)
            done["unique"] = False
        kept = []
        for check in column.checks:
            passes = _passes(check, q, table)
            if passes is None:
                kept.append(check)
                continue
            out.checks += 1
            label = getattr(check, "error", None) or str(getattr(check, "name", check))
            _count(out, table, name, label, f"{present} AND NOT ({passes})", max_cases)
        if done or len(kept) != len(column.checks):
            rest = rest.update_column(name, checks=kept, **done)
    out.rest = rest
    return out


def _passes(check: Any, q: str, table: SqlTable) -> str | None:
    """The SQL condition a value passes, or None when the check is not one of ours."""
    stats = getattr(check, "statistics", None) or {}
    name = getattr(check, "name", None)
    if name in _COMPARISONS:
        key, op = _COMPARISONS[name]
        value = _literal(stats.get(key))
        return None if value is None else f"{q} {op} {value}"
    if name == "in_range":
        lo, hi = _literal(stats.get("min_value")), _literal(stats.get("max_value"))
        if lo is None or hi is None:
            return None
        lo_op = ">=" if stats.get("include_min", True) else ">"
        hi_op = "<=" if stats.get("include_max", True) else "<"
        return f"{q} {lo_op} {lo} AND {q} {hi_op} {hi}"
    if name in ("isin", "notin"):
        values = list(stats.get("allowed_values" if name == "isin" else "forbidden_values") or [])
        literals = [_literal(v) for v in values]
        if not literals or any(v is None for v in literals):
            return None
        kind = {type(v) for v in values}
        if len(kind) > 1:
            return None  # mixed types compare differently in SQL and in pandas
        listed = ", ".join(str(v) for v in literals)
        return f"{q} IN ({listed})" if name == "isin" else f"{q} NOT IN ({listed})"
    return None


def _literal(value: Any) -> str | None:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return double_literal(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return None


def _count(
    out: FullChecks,
    table: SqlTable,
    column: str,
    check: str,
    fails: str,
    max_cases: int,
    *,
    examples: bool = True,
) -> None:
    n = int(table.run(f"SELECT COUNT(*) AS n FROM {table.src} WHERE {fails}")["n"].iloc[0])
    if not n:
        return
    cases: list[Any] = [None] * min(n, max_cases)
    if examples:
        q = table.dialect.q(column)
        frame = table.run(
            f"SELECT DISTINCT {q} AS v FROM {table.src} WHERE {fails} LIMIT {int(max_cases)}"
        )
        cases = sorted((plain(v) for v in frame["v"]), key=str)
    out.failures.append(_failure("Column", column, check, n, cases))


def _duplicates(
    out: FullChecks, table: SqlTable, column: str, present: str, max_cases: int
) -> None:
    q = table.dialect.q(column)
    groups = (
        f"SELECT {q} AS v, COUNT(*) AS c FROM {table.src} WHERE {present} "
        f"GROUP BY {q} HAVING COUNT(*) > 1"
    )
    total = table.run(f"SELECT SUM(c) AS n FROM ({groups}) AS d")["n"].iloc[0]
    if total is None or total != total or not int(total):
        return
    frame = table.run(f"SELECT v FROM ({groups}) AS d LIMIT {int(max_cases)}")
    cases = sorted((plain(v) for v in frame["v"]), key=str)
    out.failures.append(_failure("Column", column, "field_uniqueness", int(total), cases))


def _failure(
    context: str, column: str | None, check: str, count: int, cases: list[Any]
) -> dict[str, Any]:
    return {
        "context": context,
        "column": column,
        "check": check,
        "count": count,
        "failure_cases": cases,
        "rows": [],
        "over": "all rows",
    }
