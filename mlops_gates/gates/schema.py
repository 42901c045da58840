"""`schema` gate: the evaluation data match a pandera schema, with every failure listed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates._values import plain
from mlops_gates.config import Config, SchemaGate
from mlops_gates.errors import DataError
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.common import error_result
from mlops_gates.gates.result import Bound, GateResult
from mlops_gates.gates.schema_import import import_pandera

__all__ = ["evaluate", "evaluate_schema", "load_schema"]


def load_schema(ref: str, config: Config) -> Any:
    """A pandera DataFrameSchema from a YAML file or a `package.module:attribute` name."""
    import_pandera()  # without pyspark.pandas (gates/schema_import.py)
    import pandera.pandas as pa

    if ":" in ref and not ref.lower().endswith((".yaml", ".yml")) and not Path(ref).exists():
        module_name, _, attr = ref.partition(":")
        base = str(config.source.parent) if config.source else str(Path.cwd())
        # Let a schema module sit beside the config, as a conftest.py would.
        if base not in sys.path:
            sys.path.insert(0, base)
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise DataError(
                f"schema {ref!r}: cannot import it ({type(exc).__name__}: {exc}); "
                f"use `package.module:attribute` importable from {base}"
            ) from None
        if not isinstance(obj, pa.DataFrameSchema):
            to_schema = getattr(obj, "to_schema", None)  # a pandera DataFrameModel class
            if callable(to_schema):
                obj = to_schema()
            else:
                raise DataError(
                    f"schema {ref!r} is a {type(obj).__name__}, not a pandera "
                    f"DataFrameSchema or DataFrameModel"
                )
        return obj
    path = config.resolve(ref)
    if not path.is_file():
        raise DataError(f"{path}: schema file not found; check `schema:` in the config")
    from mlops_gates._text import excerpt

    try:
        schema = pa.DataFrameSchema.from_yaml(path)
    except Exception as exc:  # pandera raises a mix of yaml, key and type errors
        # The parser's message can quote the file: its first line, shortened, is enough.
        said = excerpt((str(exc).strip().splitlines() or [""])[0], 160)
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        if mark is not None and problem:  # a YAML syntax error: where, not what is there
            said = f"line {mark.line + 1}, column {mark.column + 1}: {excerpt(problem, 120)}"
        raise DataError(
            f"{path}: not a valid pandera YAML schema ({type(exc).__name__}: {said}). "
            f"`mlops-gates schema infer` writes one to start from."
        ) from None
    if not schema.columns and not schema.checks and not schema.index:
        # An empty file parses as a schema that checks nothing: that is no evidence.
        raise DataError(
            f"{path}: the schema defines no columns and no checks, so it would pass any "
            "data; is the file empty or truncated? `mlops-gates schema infer` writes one."
        )
    return schema


@register("schema", needs=("table",))
def evaluate(gate: SchemaGate, run: Run) -> list[GateResult]:
    """The gate on the run's rows in memory (at scale the runner checks an engine's
    sample with `evaluate_schema` while it reduces)."""
    return evaluate_schema(gate, run.config, run.need("table").frame)


def evaluate_schema(
    gate: SchemaGate,
    config: Config,
    frame: pd.DataFrame,
    *,
    all_rows: Callable[[Any], Any] | None = None,
    rows: int | None = None,
) -> list[GateResult]:
    """Validate `frame` against the gate's schema. At scale `frame` is a seeded sample of
    `rows` rows, and `all_rows(schema)` first runs what it can over every row (a
    `backends.schema_sql.FullChecks`); the sample is then checked for the rest."""
    import_pandera()
    import pandera.errors as pe

    gid = gate.id
    try:
        schema = load_schema(gate.schema_, config)
    except DataError as exc:
        return [error_result(gid, "schema", gate.severity, str(exc))]
    relaxed = {c: {"nullable": True} for c in gate.allow_missing if c in schema.columns}
    if relaxed:  # e.g. the label of production rows whose label has not arrived
        schema = schema.update_columns(relaxed)
    frame, schema, failures = _whole_floats_as_ints(gate, schema, frame)
    n_full = 0
    if all_rows is not None:
        full = all_rows(schema)
        failures, n_full, schema = failures + list(full.failures), full.checks, full.rest
    try:
        schema.validate(frame, lazy=True)
    except pe.SchemaErrors as exc:
        failures += _failures(gate, exc.failure_cases)
    except pe.SchemaError as exc:  # raised even with lazy=True for some whole-frame problems
        cases = pd.DataFrame(
            [
                {
                    "schema_context": "DataFrameSchema",
                    "column": getattr(exc, "column_name", None),
                    "check": str(getattr(exc, "check", "") or exc.reason_code),
                    "failure_case": str(exc),
                }
            ]
        )
        failures += _failures(gate, cases)
    except Exception as exc:
        return [
            error_result(
                gid,
                "schema",
                gate.severity,
                f"schema {gate.schema_!r} could not be checked ({type(exc).__name__}: {exc})",
            )
        ]
    where = ""
    if all_rows is not None:
        where = (
            f" ({n_full} checks over all {rows:,} rows, {_count_checks(schema)} on a seeded "
            f"sample of {len(frame):,} rows)"
        )
    if failures:
        return [_failed(gate, gid, len(frame) if rows is None else rows, failures, where)]
    n_checks = _count_checks(schema) + n_full
    return [
        GateResult(
            id=gid,
            gate=gid,
            kind="schema",
            status="pass",
            severity=gate.severity,
            reason="ok",
            observed=0.0,
            bound=Bound(max=0),
            support=len(frame) if rows is None else rows,
            message=f"data match schema {gate.schema_!r}: {rows or len(frame)} rows, "
            f"{len(schema.columns)} columns, {n_checks} checks{where}",
            details={"failures": []},
        )
    ]


def _whole_floats_as_ints(
    gate: SchemaGate, schema: Any, frame: pd.DataFrame
) -> tuple[pd.DataFrame, Any, list[dict[str, Any]]]:
    """Judge integer columns with missing values as integers.

    A missing value turns an integer column into float64 (NaN) when it is read, so
    pandera's `dtype: int64` failed every missing row, even of a column the schema or
    `allow_missing` lets be missing (e.g. labels not arrived yet). Such a column is cast to
    pandas' nullable integer when its present values are whole numbers: its missing values
    then pass where allowed and fail once, as `not_nullable`, where not. Otherwise its
    non-whole values are its failure cases (pandera's would be the missing ones)."""
    failures: list[dict[str, Any]] = []
    updates: dict[str, dict[str, Any]] = {}
    for name, column in schema.columns.items():
        nullable_int = _nullable_int(column.dtype)
        if nullable_int is None or name not in frame.columns:
            continue
        values = frame[name]
        if not pd.api.types.is_float_dtype(values.dtype) or not values.isna().any():
            continue  # a float column with nothing missing is a float column
        present = values.dropna()
        whole = np.isfinite(present) & (present % 1 == 0)
        if bool(whole.all()):
            try:
                cast = values.astype(nullable_int)
            except (TypeError, ValueError, OverflowError):
                continue  # out of the type's range: pandera reports the dtype as it is
            frame = frame.assign(**{name: cast})
            continue
        bad = present[~whole]
        keep = gate.max_failure_cases
        failures.append(
            {
                "context": "Column",
                "column": name,
                "check": f"dtype('{column.dtype}'): whole numbers (or missing)",
                "count": len(bad),
                "failure_cases": [plain(v) for v in bad.head(keep).tolist()],
                "rows": [plain(v) for v in bad.index[:keep].tolist()],
            }
        )
        # Its other checks still run on the values; the dtype is judged above.
        updates[name] = {"dtype": None}
    if updates:
        schema = schema.update_columns(updates)
    return frame, schema, failures


def _nullable_int(dtype: Any) -> str | None:
    """pandas' nullable integer type for a schema's integer dtype (`int64` -> `Int64`)."""
    if dtype is None:
        return None
    try:
        d = pd.api.types.pandas_dtype(str(dtype))
    except TypeError:
        return None
    if not pd.api.types.is_integer_dtype(d):
        return None
    if isinstance(d, np.dtype):
        return f"{'U' if d.kind == 'u' else ''}Int{d.itemsize * 8}"
    return str(d)  # already nullable (`Int64`)


def _count_checks(schema: Any) -> int:
    return len(schema.checks) + sum(len(c.checks) + 1 for c in schema.columns.values())


def _failures(gate: SchemaGate, cases: pd.DataFrame) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []
    keys = ["schema_context", "column", "check"]
    cases = cases.copy()
    for k in keys:
        if k not in cases.columns:
            cases[k] = None
    cases[keys] = cases[keys].astype(object).where(cases[keys].notna(), None).astype(str)
    for (ctx, column, check), grp in cases.groupby(keys, sort=False, dropna=False):
        sample = grp["failure_case"].head(gate.max_failure_cases).tolist()
        rows = grp["index"].dropna().head(gate.max_failure_cases).tolist() if "index" in grp else []
        failures.append(
            {
                "context": ctx,
                "column": None if plain(column) in (None, "None") else column,
                "check": check,
                "count": len(grp),
                "failure_cases": [plain(v) for v in sample],
                "rows": [plain(v) for v in rows],
            }
        )
    return failures


def _failed(
    gate: SchemaGate, gid: str, support: int, failures: list[dict[str, Any]], where: str
) -> GateResult:
    total = sum(int(f["count"]) for f in failures)
    worst = sorted(failures, key=lambda f: int(f["count"]), reverse=True)[:3]
    summary = "; ".join(f"{f['column'] or '(frame)'}: {f['check']} ({f['count']})" for f in worst)
    more = f"; and {len(failures) - 3} more checks" if len(failures) > 3 else ""
    return GateResult(
        id=gid,
        gate=gid,
        kind="schema",
        status="fail",
        severity=gate.severity,
        reason="schema_failures",
        observed=float(total),
        bound=Bound(max=0),
        support=support,
        message=f"{total} failure cases in {len(failures)} checks of schema "
        f"{gate.schema_!r}: {summary}{more}{where}",
        details={"failures": failures},
    )
