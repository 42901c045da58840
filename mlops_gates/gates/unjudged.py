"""No verdict, no pass: gates and runs that judged nothing become `error`; and the one
place a verdict's final status and outcome wording are set (`settle`).

A skipped slice is "not enough evidence", which is fine next to slices that were judged.
A gate whose every verdict was skipped for want of rows (or that produced none at all), or a
run in which nothing was judged, has shown nothing about the model; counting it as a pass
would let an empty file or an all-missing sensitive column promote a model. The user can
still accept that, explicitly, with the gate's `on_insufficient` key.

Everything here reads the verdicts' reason codes and statuses, never their sentences: gate
kinds say what they found, and the outcome a config key chose is named here, after the
floor has decided whether the gate judged anything.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlops_gates.config import Config
from mlops_gates.gates.common import error_result
from mlops_gates.gates.result import GateResult, Status

__all__ = ["floor_gates", "judged", "nothing_judged", "settle", "severe"]

# Reasons that mean "too little data to judge" (a missing baseline is the documented
# first-model exception, with its own `if_no_baseline` key).
SHORT_OF_DATA = ("insufficient_support", "undefined")
# Reasons whose status is the gate's `on_insufficient` outcome (unless it is an error: a
# metric undefined on the whole data).
OUTCOME_SET = (*SHORT_OF_DATA, "unknown_age")
JUDGED = ("pass", "fail", "warn", "error")
# Gates about the model's quality on the evaluation data. (A drift gate short of rows in a
# monitoring window keeps its `on_insufficient` outcome: an error there would open a
# retraining issue for a quiet day.)
FLOORED = ("metric", "fairness", "baseline", "calibration", "churn")


def judged(results: list[GateResult]) -> bool:
    """Did any verdict come from the data (or say why it could not)?"""
    return any(r.status in JUDGED for r in results)


def floor_gates(config: Config, results: list[GateResult]) -> list[GateResult]:
    """`results` plus one `error` per gate that produced no verdict; a gate whose every
    verdict was skipped for want of rows, with its `on_insufficient` left at the default,
    has those verdicts turned into errors."""
    by_gate: dict[str, list[GateResult]] = {}
    for r in results:
        by_gate.setdefault(r.gate, []).append(r)
    extra: list[GateResult] = []
    unjudged: set[str] = set()
    for gate in config.gates:
        gid = gate.id
        mine = by_gate.get(gid, [])
        metric = getattr(gate, "metric", None)
        if not mine:
            extra.append(
                error_result(
                    gid,
                    gate.kind,
                    gate.severity,
                    f"{gid}: produced no verdict (no rows or no groups to judge); check that "
                    f"{_data_hint(config, gate)} has rows",
                    metric=metric,
                )
            )
            continue
        if judged(mine) or not _defaulted(gate) or gate.kind not in FLOORED:
            continue
        if all(r.status == "skip" and r.reason in SHORT_OF_DATA for r in mine):
            unjudged.add(gid)
    out = [_as_error(r) if r.gate in unjudged else r for r in results]
    return out + extra


def _as_error(r: GateResult) -> GateResult:
    return replace(
        r,
        status="error",
        message=f"{r.message}; the gate judged nothing: add data, lower min_support, or set "
        "`on_insufficient` on the gate (pass or skip) to accept that",
    )


def settle(gate: Any, verdict: GateResult) -> GateResult:
    """A verdict as the report shows it: one whose status came from `on_insufficient`
    says so, and a `fail` of a `severity: warn` gate is a `warn`. (`gate`: the configured
    gate the verdict belongs to, None when there is none.)"""
    outcome = getattr(gate, "on_insufficient", None)
    if outcome is not None and verdict.reason in OUTCOME_SET and verdict.status != "error":
        verdict = replace(
            verdict, message=f"{verdict.message}; outcome set by on_insufficient: {outcome}"
        )
    status = severe(verdict.status, verdict.severity)
    return verdict if status == verdict.status else replace(verdict, status=status)


def severe(status: Status, severity: str) -> Status:
    """A failure of a gate that only warns is a warning: the one severity rule."""
    return "warn" if status == "fail" and severity == "warn" else status


def nothing_judged(config: Config, results: list[GateResult]) -> str | None:
    """The run-level error when not one verdict came from the data."""
    if judged(results):
        return None
    n = len(config.gates)
    return (
        f"no gate produced a verdict ({n} gate{'s' if n != 1 else ''}, all skipped): the run "
        f"shows nothing about the model; check that {_data_hint(config, None)} has rows and "
        "the columns the gates name"
    )


def _defaulted(gate: Any) -> bool:
    """The gate has `on_insufficient` and the config did not set it."""
    return "on_insufficient" in type(gate).model_fields and (
        "on_insufficient" not in gate.model_fields_set
    )


def _data_hint(config: Config, gate: Any) -> str:
    sensitive = getattr(gate, "sensitive", None)
    where = f"`{config.data.path}`"
    return f"{where} (column {sensitive!r})" if sensitive else where
