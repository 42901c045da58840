"""`staleness` gate: the candidate model and the evaluation data are recent enough.

Two verdicts, each only when configured: `<id>[age=model]` (the candidate's age: the end of
the MLflow run that trained it, or its registration as a model version) and `<id>[age=data]`
(the age of the newest timestamp in a column). Observed values are ages in days; the bound is
the configured `max_age`. An age that cannot be known (a model file, a column without
timestamps) is `on_insufficient`, stated in the verdict, never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gates.config import DataAgeCheck, ModelAgeCheck, StalenessGate
from mlops_gates.errors import DataError, MlopsGatesError
from mlops_gates.gates.base import Run, not_evaluated, register
from mlops_gates.gates.common import error_result
from mlops_gates.gates.judge import result_id
from mlops_gates.gates.result import Bound, GateResult, Status
from mlops_gates.sources.data import require_columns
from mlops_gates.sources.evaluation import EvalData

__all__ = ["evaluate", "evaluate_staleness", "evaluate_staleness_on", "format_age", "timestamps"]

_DAY = 86_400.0
# Verdicts are told apart the way drift tells features apart: a one-key "slice".
MODEL = {"age": "model"}
DATA = {"age": "data"}
# Clocks disagree a little; a timestamp further in the future is worth a word.
_FUTURE_SLACK = timedelta(minutes=5)


# The newest timestamp of a column, the rows holding a timestamp, and all rows.
Newest = Callable[[str], tuple[datetime | None, int, int]]


# Each check judges what it can: the data's age needs no model, the model's needs no rows.
@register("staleness", wants=("table", "inputs"))
def evaluate(gate: StalenessGate, run: Run) -> list[GateResult]:
    """The gate on the run's rows in memory and its models' records."""
    frame = None if run.table is None else run.table.frame
    why = run.why.get("inputs")
    return evaluate_staleness(gate, frame, run.inputs, why, data_path=run.data_path)


def evaluate_staleness(
    gate: StalenessGate,
    frame: pd.DataFrame | None,
    data: EvalData | None,
    inputs_error: str | None,
    *,
    data_path: Path,
    now: datetime | None = None,
) -> list[GateResult]:
    """The gate on rows in memory."""
    newest = None if frame is None else partial(_newest_in_frame, gate, frame, data_path)
    models = None if data is None else data.models
    return evaluate_staleness_on(gate, newest, models, inputs_error, now=now)


def evaluate_staleness_on(
    gate: StalenessGate,
    newest: Newest | None,
    models: dict[str, dict[str, Any]] | None,
    inputs_error: str | None,
    *,
    now: datetime | None = None,
) -> list[GateResult]:
    """The gate from what it needs: the newest timestamp of a column (`newest`, from the
    rows in memory or an engine's MAX), and the models' records (None: not available)."""
    at = now or datetime.now(UTC)
    gid = gate.id
    out: list[GateResult] = []
    if gate.model is not None:
        rid = result_id(gid, MODEL)
        model = partial(_model_age, gate, rid, gate.model, models, inputs_error, at)
        out.append(_each(gate, rid, "model_age_days", model))
    if gate.data is not None:
        rid = result_id(gid, DATA)
        rows = partial(_data_age, gate, rid, gate.data, newest, inputs_error, at)
        out.append(_each(gate, rid, "data_age_days", rows))
    return out


def _each(gate: StalenessGate, rid: str, metric: str, fn: Callable[[], GateResult]) -> GateResult:
    # Each check stands alone: a bad timestamp column must not hide the model's age.
    try:
        return fn()
    except MlopsGatesError as exc:
        message = str(exc)
    except Exception as exc:
        message = f"internal error ({type(exc).__name__}: {exc}); please report it"
    return _error(gate, rid, metric, message)


def _error(gate: StalenessGate, rid: str, metric: str, message: str) -> GateResult:
    res = error_result(gate.id, "staleness", gate.severity, message, metric=metric)
    return replace(res, id=rid, slice=_slice(metric))


def _slice(metric: str) -> dict[str, str]:
    return MODEL if metric == "model_age_days" else DATA


def _model_age(
    gate: StalenessGate,
    rid: str,
    check: ModelAgeCheck,
    models: dict[str, dict[str, Any]] | None,
    inputs_error: str | None,
    now: datetime,
) -> GateResult:
    metric = "model_age_days"
    if models is None:
        return _error(gate, rid, metric, not_evaluated(inputs_error))
    info = models.get("candidate") or {}
    what = _describe_model(info)
    if info.get("source") != "mlflow":
        return _insufficient(
            gate,
            rid,
            metric,
            f"the candidate ({what}) records no training or registration time; "
            f"load it from MLflow (models:/name@alias) to judge its age",
        )
    sources = {
        "training_run": [("training_run", "trained_at")],
        "registration": [("registration", "registered_at")],
        "auto": [("training_run", "trained_at"), ("registration", "registered_at")],
    }[check.source]
    found = [(name, info.get(key)) for name, key in sources if info.get(key)]
    if not found:
        wanted = " or ".join(name.replace("_", " ") for name, _ in sources)
        return _insufficient(
            gate, rid, metric, f"the candidate ({what}) has no {wanted} time in MLflow"
        )
    source, stamp = found[0]
    when = datetime.fromisoformat(str(stamp))
    event = "finished training" if source == "training_run" else "was registered"
    return _judge(
        gate,
        rid,
        metric,
        check.max_age,
        check.max_age_delta,
        now - when,
        subject=f"the candidate ({what}) {event}",
        details={"timestamp": when.isoformat(), "source": source},
        support=None,
    )


def _data_age(
    gate: StalenessGate,
    rid: str,
    check: DataAgeCheck,
    newest_of: Newest | None,
    inputs_error: str | None,
    now: datetime,
) -> GateResult:
    metric = "data_age_days"
    if newest_of is None:
        return _error(gate, rid, metric, not_evaluated(inputs_error))
    newest, valid, rows = newest_of(check.column)
    if newest is None or not valid:
        return _insufficient(
            gate, rid, metric, f"column {check.column!r} holds no timestamps ({rows} rows)"
        )
    return _judge(
        gate,
        rid,
        metric,
        check.max_age,
        check.max_age_delta,
        now - newest,
        subject=f"the newest row ({check.column} = {newest.isoformat()}) is from",
        details={"timestamp": newest.isoformat(), "column": check.column},
        support=valid,
    )


def _newest_in_frame(
    gate: StalenessGate, frame: pd.DataFrame, path: Path, column: str
) -> tuple[datetime | None, int, int]:
    require_columns(frame, [column], where=f"gate {gate.id!r}", path=path)
    stamps = timestamps(frame[column], column)
    valid = stamps.dropna()
    if valid.empty:
        return None, 0, len(stamps)
    return valid.max().to_pydatetime(), len(valid), len(stamps)


def timestamps(column: pd.Series, name: str) -> pd.Series:
    """A column as UTC timestamps: datetimes (naive ones are taken as UTC) or ISO 8601 text.
    Numbers are refused: seconds or milliseconds since when cannot be guessed safely."""
    if column.isna().all():
        # An empty column reads as floats from CSV; it holds no timestamps, not numbers.
        empty: pd.Series = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]")
        return empty
    if pd.api.types.is_datetime64_any_dtype(column):
        tz = getattr(column.dt, "tz", None)
        utc: pd.Series = column.dt.tz_localize(UTC) if tz is None else column.dt.tz_convert(UTC)
        return utc
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        raise DataError(
            f"column {name!r} holds numbers, not timestamps; store datetimes or ISO 8601 text "
            f"(2026-11-22T10:00:00Z) so the age is unambiguous"
        )
    parsed = pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & column.notna()
    if bad.any():
        sample = [str(v) for v in column[bad].iloc[:5]]
        raise DataError(
            f"column {name!r}: {int(bad.sum())} values are not ISO 8601 timestamps, "
            f"e.g. {sample}; fix them or choose another column"
        )
    return parsed


def _judge(
    gate: StalenessGate,
    rid: str,
    metric: str,
    max_text: str,
    max_age: timedelta,
    age: timedelta,
    *,
    subject: str,
    details: dict[str, Any],
    support: int | None,
) -> GateResult:
    days = age.total_seconds() / _DAY
    bound = Bound(max=max_age.total_seconds() / _DAY)
    ok = age <= max_age
    status: Status = "pass" if ok else "fail"
    if age < -_FUTURE_SLACK:
        when = f"{format_age(-age)} in the future (check the clocks)"
    else:
        when = f"{format_age(age)} ago"
    verdict = "within" if ok else "older than"
    return GateResult(
        id=rid,
        gate=gate.id,
        kind="staleness",
        status=status,
        severity=gate.severity,
        reason="ok" if ok else "above_max",
        message=f"{subject} {when}, {verdict} the maximum age {max_text}",
        metric=metric,
        slice=_slice(metric),
        observed=days,
        bound=bound,
        support=support,
        details={**details, "age_seconds": round(age.total_seconds(), 3), "max_age": max_text},
    )


def _insufficient(gate: StalenessGate, rid: str, metric: str, why: str) -> GateResult:
    outcome = gate.on_insufficient
    return GateResult(
        id=rid,
        gate=gate.id,
        kind="staleness",
        status=outcome,
        severity=gate.severity,
        reason="unknown_age",
        message=f"age unknown: {why}",
        metric=metric,
        slice=_slice(metric),
    )


def _describe_model(info: dict[str, Any]) -> str:
    if info.get("source") == "mlflow":
        version = f", version {info['version']}" if info.get("version") else ""
        return f"{info.get('uri')}{version}"
    if info.get("source") == "column":
        return f"predictions in column {info.get('predictions')!r}"
    return str(info.get("path") or info.get("ref") or "unknown")


def format_age(age: timedelta) -> str:
    """41d 3h, 5h 12m, 42s: the two largest units people read ages in."""
    seconds = int(abs(age.total_seconds()))
    values = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        values.append((n, unit))
    first = next((i for i, (n, _) in enumerate(values) if n), len(values) - 1)
    return " ".join(f"{n}{unit}" for n, unit in values[first : first + 2] if n) or "0s"
