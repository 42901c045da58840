"""Example rows for behaviour gates: hypothesis strategies from a pandera schema, or rows
drawn from the evaluation data (the search over them is in `strategies`).

A schema column becomes pandera's element strategy for its dtype and checks (plus `None`
when it is nullable). pandera would turn a check without a strategy into a filter that
can take forever, or drop a vectorized one silently; here such a check is an error that
names the column and the check, so generated rows always satisfy the schema.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates._values import is_missing
from mlops_gates.errors import DataError
from mlops_gates.gates.result import fmt

__all__ = ["Row", "RowSource", "data_rows", "did_you_mean", "same", "schema_rows", "show"]

Row = dict[str, Any]


@dataclass
class RowSource:
    """Where example rows come from, and how a batch of them becomes a typed frame."""

    kind: str  # "schema" or "data"
    where: str  # for messages: the schema reference or the data file
    columns: list[str]  # every column the rows can hold
    dtypes: dict[str, Any]  # column -> dtype rows are cast to (when the cast works)
    _values: dict[str, Any]  # column -> strategy of one value (replacements)
    _checks: dict[str, Any]  # column -> pandera Column, to test a raised value (schema)
    _data: dict[str, pd.Series] | None = None  # data rows: each column
    _distinct: dict[str, list[Any]] | None = None  # data rows: each column's distinct values
    _accepted: dict[tuple[str, str], bool] = field(default_factory=dict)

    def values(self, column: str) -> Any:
        """Strategy of one replacement value for `column` (invariance)."""
        return self._values[column]

    def rows(self, columns: list[str]) -> Any:
        """Strategy of one Row with these columns. Each property asks for the model's
        features and its own column only, so its examples do not change when another
        property is added to the gate."""
        from hypothesis import strategies as st

        if self._data is None:
            return st.fixed_dictionaries({c: self._values[c] for c in columns})
        # A row number, shrinking towards the first row; the row is built only when drawn.
        data = {c: self._data[c] for c in columns}
        n = len(next(iter(data.values()))) if data else 0
        return st.integers(0, max(n - 1, 0)).map(lambda i: {c: v.iat[i] for c, v in data.items()})

    def draw(
        self,
        columns: list[str],
        n: int,
        rng: np.random.Generator,
        keep: Callable[[Row], bool] | None = None,
    ) -> list[Row]:
        """Data rows only: up to `n` rows drawn uniformly without replacement (those
        `keep` accepts), so a rate measured on them estimates the rate in the data."""
        assert self._data is not None
        data = {c: self._data[c] for c in columns}
        total = len(next(iter(data.values()))) if data else 0
        out: list[Row] = []
        for i in rng.permutation(total):
            row = {c: v.iat[i] for c, v in data.items()}
            if keep is None or keep(row):
                out.append(row)
                if len(out) == n:
                    break
        return out

    def other_value(self, column: str, current: Any, rng: np.random.Generator) -> Any:
        """Data rows only: a value the column holds in the data, other than `current`;
        None when the column holds no other value."""
        assert self._distinct is not None
        choices = self._distinct[column]
        for _ in range(50):  # rejection: cheap even for a column of distinct numbers
            value = choices[int(rng.integers(len(choices)))]
            if not same(value, current):
                return value
        others = [v for v in choices if not same(v, current)]
        return others[int(rng.integers(len(others)))] if others else None

    def frame(self, rows: Sequence[Row]) -> pd.DataFrame:
        """Rows as a frame with the columns' dtypes, ready for the model."""
        out = pd.DataFrame(list(rows))
        for c, dtype in self.dtypes.items():
            if c in out.columns:
                # A missing value in an int column cannot be cast: keep what pandas inferred.
                with contextlib.suppress(TypeError, ValueError):
                    out[c] = out[c].astype(dtype)
        return out

    def accepts(self, column: str, value: Any) -> bool:
        """Does the schema allow this value in this column? (True without a schema)"""
        col = self._checks.get(column)
        if col is None:
            return True
        # Validation costs milliseconds and hypothesis may ask about the same value many
        # times while it looks for raisable rows: remember the answers.
        key = (column, repr(value))
        if key not in self._accepted:
            import pandera.errors as pe

            frame = pd.DataFrame({column: pd.Series([value], dtype=self.dtypes[column])})
            try:
                col.validate(frame)
                self._accepted[key] = True
            except (pe.SchemaError, pe.SchemaErrors, TypeError, ValueError):
                self._accepted[key] = False
        return self._accepted[key]


def schema_rows(schema: Any, ref: str, columns: list[str], frame: pd.DataFrame | None) -> RowSource:
    """Rows whose every column follows the schema's dtype and checks."""
    from mlops_gates.gates.schema_import import import_pandera

    import_pandera()  # the schema came from load_schema; this keeps the order safe anyway
    # The built-in checks register their strategies when pandera's pandas backend loads
    # them, which happens on first validation; load them now so they are known.
    import pandera.backends.pandas.builtin_checks  # noqa: F401
    from hypothesis import strategies as st
    from pandera.strategies import base_strategies
    from pandera.strategies.pandas_strategies import field_element_strategy

    missing = [c for c in columns if c not in schema.columns]
    if missing:
        raise DataError(
            f"schema {ref}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} needed by the gate "
            f"{'are' if len(missing) > 1 else 'is'} not in the schema"
            f"{did_you_mean(missing[0], list(schema.columns))}; add "
            f"{'them' if len(missing) > 1 else 'it'}, or use `rows: data`"
        )
    if schema.checks:
        names = ", ".join(_check_name(c) for c in schema.checks)
        raise DataError(
            f"schema {ref}: whole-table check(s) {names} constrain several columns at once, "
            f"and generated rows could break them; use `rows: data` (rows drawn from the "
            f"evaluation data) or move the checks to the columns"
        )
    # Checks' strategies live in STRATEGY_DISPATCHER; newer pandera adds constraints.
    constraints = getattr(base_strategies, "CONSTRAINT_DISPATCHER", {})
    strategies = base_strategies.STRATEGY_DISPATCHER
    values: dict[str, Any] = {}
    dtypes: dict[str, Any] = {}
    for c in columns:
        col = schema.columns[c]
        for check in col.checks:
            known = (
                getattr(check, "constraint", None)
                or constraints.get((check.name, pd.Series))
                or check.strategy
                or strategies.get((check.name, pd.Series))
            )
            if known is None:
                raise DataError(
                    f"schema {ref}: column {c!r} has check {_check_name(check)}, which has no "
                    f"hypothesis strategy, so rows cannot be generated for it; give the check "
                    f"a strategy (pandera's register_check_method(strategy=...)), or use "
                    f"`rows: data` to draw rows from the evaluation data"
                )
        try:
            elements = field_element_strategy(col.dtype, checks=col.checks)
        except Exception as exc:  # pandera: unsatisfiable or unsupported dtype
            raise DataError(
                f"schema {ref}: column {c!r} ({col.dtype}): cannot generate values "
                f"({type(exc).__name__}: {exc}); use `rows: data`"
            ) from None
        values[c] = st.none() | elements if col.nullable else elements
        use = frame[c].dtype if frame is not None and c in frame.columns else None
        dtypes[c] = use if use is not None else _pandas_dtype(col.dtype)
    checks = {c: schema.columns[c] for c in columns}
    return RowSource("schema", ref, columns, dtypes, values, checks)


def data_rows(
    frame: pd.DataFrame, where: str, columns: list[str], schema: Any | None = None
) -> RowSource:
    """Rows of the evaluation data; a replacement value is one the column already holds."""
    from hypothesis import strategies as st

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"needed by the gate not found{did_you_mean(missing[0], list(frame.columns))}"
        )
    if len(frame) == 0:
        raise DataError(f"{where}: the evaluation data has no rows to draw examples from")
    part = frame[columns].reset_index(drop=True)
    # Rows are read one at a time when drawn: no copy of the data, however large.
    arrays = {c: part[c] for c in columns}
    distinct = {c: _distinct(part[c]) for c in columns}
    values = {c: st.sampled_from(distinct[c]) for c in columns}
    checks = {}
    if schema is not None:
        checks = {c: schema.columns[c] for c in columns if c in schema.columns}
    dtypes = {c: part[c].dtype for c in columns}
    return RowSource("data", where, columns, dtypes, values, checks, arrays, distinct)


def _distinct(s: pd.Series) -> list[Any]:
    values = [None if is_missing(v) else v for v in pd.unique(s)]
    return list(dict.fromkeys(values)) or [None]


def did_you_mean(name: str, choices: list[Any]) -> str:
    """A " (did you mean 'x'?)" hint for a misspelt column, or nothing."""
    hint = difflib.get_close_matches(name, [str(c) for c in choices], n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _check_name(check: Any) -> str:
    name = getattr(check, "name", None) or getattr(check, "error", None) or repr(check)
    return repr(str(name))


def _pandas_dtype(dtype: Any) -> Any:
    return getattr(dtype, "type", None) or str(dtype)


def same(a: Any, b: Any) -> bool:
    """Equal values, with missing equal to missing."""
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def show(v: Any) -> str:
    """A value as a message quotes it."""
    if v is None:
        return "<missing>"
    if isinstance(v, float):
        return fmt(v, 6)
    return repr(v) if isinstance(v, str) else str(v)
