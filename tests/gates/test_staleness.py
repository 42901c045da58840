"""`staleness` gates: strict durations, model and data ages, unknown ages never pass silently.

Models from the MLflow registry are aged in tests/sources/test_mlflow_models.py (they need
the server); here the candidate's provenance is what the engine records for files and columns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Project
from helpers import base_config, binary_frame, validate_report

from mlops_gates.config import config_from_dict, load_config, parse_duration
from mlops_gates.errors import ConfigError
from mlops_gates.gates.result import GateResult
from mlops_gates.gates.runner import run_gates
from mlops_gates.gates.staleness import evaluate_staleness, format_age
from mlops_gates.sources.evaluation import EvalData


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    ],
    ids=lambda v: str(v),
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (30, "30 has no unit"),
        ("30", "not a duration: '30'"),
        ("30 d", "not a duration: '30 d'"),
        ("12h1d", "largest first"),
        ("1.5d", "whole numbers"),
        ("3mo", "months and years have no fixed length"),
        ("1y", "months and years have no fixed length"),
        ("2 months", "months and years have no fixed length"),
        ("0d", "is zero"),
        ("", "not a duration"),
        ("-1d", "not a duration"),
        (None, "expected a duration"),
    ],
    ids=lambda v: repr(v),
)
def test_bad_durations_say_how_to_write_one(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def _config(data_path: str = "eval.csv", **gate: Any) -> dict[str, Any]:
    gates = [{"id": "fresh", "kind": "staleness", **gate}]
    return base_config(data={"path": data_path}, gates=gates)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict(_config(model={"max_age": "30"}))
    assert "gates.0.model.max_age: not a duration: '30'" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        config_from_dict(_config(data={"max_age": "1d", "colum": "ts"}))
    assert "gates.0.data.colum: unknown key (did you mean 'column'?)" in str(exc.value)
    with pytest.raises(ConfigError, match=r"gates\.0: give `model: "):
        config_from_dict(_config())
    with pytest.raises(ConfigError, match="on_insufficient"):
        config_from_dict(_config(model={"max_age": "1d"}, on_insufficient="maybe"))


def _frame_with_times(ages: list[timedelta | None], now: datetime) -> pd.DataFrame:
    df = binary_frame(n=len(ages))
    df["ts"] = [None if a is None else (now - a).isoformat() for a in ages]
    return df


@pytest.mark.parametrize(
    ("max_age", "severity", "status"),
    [("3d", "block", "pass"), ("1d", "block", "fail"), ("1d", "warn", "warn")],
)
def test_data_age_from_iso_text(
    make_project: Project, max_age: str, severity: str, status: str
) -> None:
    now = datetime.now(UTC)
    ages = [timedelta(days=d, hours=1) for d in (2, 5, 9)] * 20
    path = make_project(
        _config(data={"column": "ts", "max_age": max_age}, severity=severity),
        _frame_with_times(ages, now),
    )
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    (model,) = [g for g in report.gates if g.id == "fresh[age=data]"]
    assert model.status == status
    assert model.observed == pytest.approx(2 + 1 / 24, abs=1e-3)
    assert model.bound is not None and model.bound.max == parse_duration(max_age).days
    assert model.support == 60 and model.slice == {"age": "data"}
    assert "the newest row (ts = " in model.message
    assert ("within" if status == "pass" else "older than") in model.message


def test_data_age_from_datetime_column(make_project: Project) -> None:
    now = datetime.now(UTC)
    df = binary_frame(n=50)
    # Naive datetimes are taken as UTC; a parquet file keeps the dtype.
    df["ts"] = pd.Timestamp(now.replace(tzinfo=None)) - pd.to_timedelta(
        np.arange(50) + 30, unit="min"
    )
    config = _config("eval.parquet", data={"column": "ts", "max_age": "1h"})
    path = make_project(config, df, data_name="eval.parquet")
    (result,) = run_gates(load_config(path)).gates
    assert result.status == "pass", result.message
    assert result.observed == pytest.approx(30 / 1440, abs=1e-3)


@pytest.mark.parametrize(
    ("values", "status", "message"),
    [
        ([1.7e9] * 10, "error", "holds numbers, not timestamps"),
        (["2026-01-01T00:00:00Z"] * 5 + ["yesterday"] * 5, "error", "not ISO 8601 timestamps"),
        ([None] * 10, "fail", "holds no timestamps"),
    ],
    ids=["epoch-numbers", "unparseable", "all-missing"],
)
def test_unusable_timestamps(
    make_project: Project, values: list[Any], status: str, message: str
) -> None:
    df = binary_frame(n=10)
    df["ts"] = pd.Series(values, dtype=object if values[0] is None else None)
    path = make_project(_config(data={"column": "ts", "max_age": "1d"}), df)
    (result,) = run_gates(load_config(path)).gates
    assert (result.status, result.id) == (status, "fresh[age=data]")
    assert message in result.message


def test_missing_column_is_an_error_and_the_model_check_still_runs(make_project: Project) -> None:
    path = make_project(_config(model={"max_age": "1d"}, data={"column": "nope", "max_age": "1d"}))
    model, data = run_gates(load_config(path)).gates
    assert data.status == "error" and "nope" in data.message
    assert model.status == "fail" and model.reason == "unknown_age"


@pytest.mark.parametrize(
    ("outcome", "severity", "status"),
    [
        ("fail", "block", "fail"),
        ("fail", "warn", "warn"),
        ("skip", "block", "skip"),
        ("warn", "block", "warn"),
        ("pass", "block", "pass"),
    ],
)
def test_a_model_without_a_timestamp_is_never_a_silent_pass(
    make_project: Project, outcome: str, severity: str, status: str
) -> None:
    path = make_project(
        _config(model={"max_age": "30d"}, on_insufficient=outcome, severity=severity)
    )
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    (result,) = report.gates
    assert (result.id, result.status, result.reason) == ("fresh[age=model]", status, "unknown_age")
    assert "records no training or registration time" in result.message
    assert f"on_insufficient: {outcome}" in result.message


def _eval_data(info: dict[str, Any]) -> EvalData:
    frame = binary_frame(n=4)
    y = np.zeros(4, dtype=np.int64)
    return EvalData(
        frame, Path("eval.csv"), "binary", (0, 1), y, y, None, models={"candidate": info}
    )


def _gate(**model: Any) -> Any:
    cfg = config_from_dict(_config(model={"max_age": "10d", **model}))
    return cfg.gates[0]


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MLFLOW_INFO = {
    "source": "mlflow",
    "uri": "models:/income@challenger",
    "version": "7",
    "trained_at": (NOW - timedelta(days=12)).isoformat(),
    "registered_at": (NOW - timedelta(days=3)).isoformat(),
}


@pytest.mark.parametrize(
    ("source", "info", "status", "days"),
    [
        ("auto", MLFLOW_INFO, "fail", 12.0),
        ("training_run", MLFLOW_INFO, "fail", 12.0),
        ("registration", MLFLOW_INFO, "pass", 3.0),
        ("auto", {**MLFLOW_INFO, "trained_at": None}, "pass", 3.0),
        ("training_run", {**MLFLOW_INFO, "trained_at": None}, "fail", None),
    ],
    ids=["auto-uses-training", "training", "registration", "auto-falls-back", "no-run-end"],
)
def test_model_age_from_mlflow_provenance(
    source: str, info: dict[str, Any], status: str, days: float | None
) -> None:
    gate = _gate(source=source)
    (result,) = evaluate_staleness(
        gate, None, _eval_data(info), None, data_path=Path("eval.csv"), now=NOW
    )
    assert isinstance(result, GateResult)
    assert result.status == status
    if days is None:
        assert result.reason == "unknown_age" and "no training run time" in result.message
    else:
        assert result.observed == pytest.approx(days)
        assert "models:/income@challenger, version 7" in result.message


def test_inputs_that_failed_make_the_model_check_an_error() -> None:
    (result,) = evaluate_staleness(
        _gate(), None, None, "labels unusable", data_path=Path("x.csv"), now=NOW
    )
    assert (result.status, result.message) == ("error", "not evaluated: labels unusable")
    assert (result.gate, result.id) == ("fresh", "fresh[age=model]")


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(days=41, hours=3, minutes=7), "41d 3h"),
        (timedelta(days=2, minutes=5), "2d"),
        (timedelta(hours=5, minutes=12, seconds=9), "5h 12m"),
        (timedelta(seconds=42), "42s"),
        (timedelta(0), "0s"),
    ],
    ids=lambda v: str(v),
)
def test_ages_read_like_people_write_them(age: timedelta, text: str) -> None:
    assert format_age(age) == text
