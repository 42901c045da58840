"""The gate registry: an evaluator defined here, in the test, is found by the runner for its
kind; what it needs is made for it or turned into one `error` in one wording; the runner,
not the evaluator, applies the gate's severity and names the `on_insufficient` outcome. A
whole new kind takes a config model and an evaluator, both defined in this file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from conftest import Project
from helpers import base_config, binary_frame, validate_report
from pydantic import Field

from mlops_gates.config import (
    GateBase,
    gate_kinds,
    load_config,
    register_gate_kind,
    unregister_gate_kind,
)
from mlops_gates.gates.base import Run, evaluator_for, register, registered, unregister
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult, Report
from mlops_gates.gates.runner import run_gates

# A kind the config already knows, whose own evaluator is swapped for the test's one.
KIND = "skew"


def _gate(**kw: Any) -> dict[str, Any]:
    return {
        "id": "mine",
        "kind": KIND,
        "training": "train.csv",
        "serving": "serve.csv",
        "key": "id",
        "max": 0.1,
        **kw,
    }


@pytest.fixture
def own_kind() -> Iterator[list[Run]]:
    """Stand the test's evaluator in for `KIND`; put the package's one back afterwards.
    Yields the runs the evaluator was called with."""
    original = evaluator_for(KIND)
    seen: list[Run] = []
    yield seen
    register(KIND, needs=original.needs, wants=original.wants, replace=True)(original.evaluate)
    assert registered()[KIND].evaluate is original.evaluate


def _share_of_ones(seen: list[Run], **needs: Any) -> None:
    """Register an evaluator that judges the share of 1s in column `y` against `max`."""

    @register(KIND, replace=True, **needs)
    def evaluate(gate: Any, run: Run) -> list[GateResult]:
        seen.append(run)
        frame = run.need("table").frame
        share = float((frame["y"] == 1).mean())
        judge = Judge.of(gate, confidence=0.95, metric="share_of_ones")
        finding = Finding(
            slc=None, observed=share, bound=Bound(max=gate.max), support=len(frame), min_support=1
        )
        return [judge.verdict(finding)]


def _report(make_project: Project, gates: list[dict[str, Any]], **kw: Any) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates), **kw)))
    validate_report(report.to_dict())
    return report


@pytest.mark.parametrize(
    ("severity", "status", "run_status"),
    [("block", "fail", "fail"), ("warn", "warn", "pass")],
    ids=["block", "warn"],
)
def test_an_evaluator_defined_in_a_test_is_run_and_its_severity_applied_once(
    make_project: Project, own_kind: list[Run], severity: str, status: str, run_status: str
) -> None:
    _share_of_ones(own_kind, needs=("table",))
    frame = binary_frame()
    report = _report(make_project, [_gate(severity=severity)], frame=frame)
    (verdict,) = report.gates
    assert len(own_kind) == 1 and own_kind[0].table is not None
    assert len(own_kind[0].table) == len(frame)
    expected = float((frame["y"] == 1).mean())
    assert verdict.observed == pytest.approx(expected)
    assert verdict.message.startswith("share_of_ones on overall is ")
    # The evaluator said "fail"; the runner made it a warning for a gate that only warns.
    assert (verdict.status, verdict.reason, report.status) == (status, "above_max", run_status)


def test_only_what_the_gates_read_is_made(make_project: Project, own_kind: list[Run]) -> None:
    # Labels and predictions are encoded (and models loaded) only for a gate that reads them.
    _share_of_ones(own_kind, needs=("table",))
    _report(make_project, [_gate()])
    _share_of_ones(own_kind, needs=("table",), wants=("inputs",))
    _report(make_project, [_gate()])
    alone, wanting = own_kind
    assert alone.inputs is None and alone.reduced is None
    assert wanting.inputs is not None and wanting.reduced is not None
    assert wanting.inputs.n_rows == len(binary_frame())


def test_an_unmet_need_is_one_error_in_one_wording_for_every_kind(
    make_project: Project, own_kind: list[Run]
) -> None:
    _share_of_ones(own_kind, needs=("table", "inputs"))
    frame = binary_frame()
    frame["y"] = frame["y"].map({0: "no", 1: "yes"}).astype(object)
    frame.loc[:5, "y"] = "maybe"  # a third label in a binary task: inputs cannot be made
    metric = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}
    report = _report(make_project, [_gate(), metric], frame=frame)
    got = {v.gate: v for v in report.gates}
    assert own_kind == []  # never called without what it needs
    (why,) = report.errors
    for gid in ("mine", "acc"):
        assert got[gid].status == "error"
        assert got[gid].message == f"{gid}: not evaluated: {why}"
    assert report.status == "error"


def test_the_runner_names_the_on_insufficient_outcome(
    make_project: Project, own_kind: list[Run]
) -> None:
    @register(KIND, replace=True, needs=("table",))
    def evaluate(gate: Any, run: Run) -> list[GateResult]:
        judge = Judge.of(gate, confidence=0.95, metric="share_of_ones")
        few = Finding(
            slc={"sex": "F"}, observed=0.5, bound=Bound(max=1.0), support=3, min_support=30
        )
        return [judge.verdict(few)]

    report = _report(make_project, [_gate(on_insufficient="warn")])
    (verdict,) = report.gates
    assert verdict.status == "warn" and verdict.reason == "insufficient_support"
    assert verdict.message == (
        "share_of_ones on sex=F: insufficient evidence, 3 rows (min_support 30); "
        "outcome set by on_insufficient: warn"
    )


def test_a_kind_is_registered_once_unless_replaced() -> None:
    evaluator_for(KIND)  # the package's own, imported on first use
    with pytest.raises(ValueError, match="already has an evaluator"):
        register(KIND)(lambda gate, run: [])
    with pytest.raises(ValueError, match="unknown need"):
        register("another", needs=("rows",))  # type: ignore[arg-type]


def test_every_kind_the_config_accepts_has_an_evaluator() -> None:
    kinds = gate_kinds()
    assert {"schema", "metric", "fairness", "baseline", "behaviour"} <= set(kinds)
    for kind in kinds:
        assert evaluator_for(kind).kind == kind


# --- a new kind in two pieces: its config section and its evaluator -------------------


class PositiveShareGate(GateBase):
    """The share of rows labelled positive stays at most `max` (defined only in this test)."""

    kind: Literal["positive_share"]
    max: float = Field(ge=0, le=1, description="Largest share of positive labels allowed.")


def _positive_share(gate: PositiveShareGate, run: Run) -> list[GateResult]:
    data = run.need("inputs")  # labels encoded by the run: 1 is the positive class
    judge = Judge.of(gate, confidence=0.95, metric="positive_share")
    share = float(data.y_true.mean())
    found = Finding(
        slc=None, observed=share, bound=Bound(max=gate.max), support=data.n_rows, min_support=1
    )
    return [judge.verdict(found)]


@pytest.fixture
def positive_share() -> Iterator[None]:
    register_gate_kind(PositiveShareGate)
    register("positive_share", needs=("inputs",))(_positive_share)
    try:
        yield
    finally:
        unregister("positive_share")
        unregister_gate_kind("positive_share")


@pytest.mark.parametrize(
    ("limit", "severity", "status"),
    [(0.9, "block", "pass"), (0.1, "block", "fail"), (0.1, "warn", "warn")],
    ids=["within", "above-block", "above-warn"],
)
def test_a_kind_defined_in_a_test_runs_like_a_built_in_one(
    make_project: Project, positive_share: None, limit: float, severity: str, status: str
) -> None:
    frame = binary_frame()
    gate = {"kind": "positive_share", "max": limit, "severity": severity}
    report = run_gates(load_config(make_project(base_config(gates=[gate]), frame=frame)))
    validate_report(report.to_dict())  # a registered kind's report is a valid report
    (verdict,) = report.gates
    assert (verdict.gate, verdict.kind) == ("positive_share", "positive_share")
    assert verdict.status == status
    assert verdict.observed == pytest.approx(float((frame["y"] == 1).mean()))
    assert verdict.support == len(frame)


def test_a_kind_defined_in_a_test_gets_the_one_not_evaluated_error(
    make_project: Project, positive_share: None
) -> None:
    frame = binary_frame()
    frame["y"] = frame["y"].astype(object)
    frame.loc[:5, "y"] = "maybe"  # a third label in a binary task: no inputs
    gates = [{"kind": "positive_share", "max": 0.9}]
    report = run_gates(load_config(make_project(base_config(gates=gates), frame=frame)))
    (verdict,) = report.gates
    (why,) = report.errors
    assert verdict.status == "error"
    assert verdict.message == f"positive_share: not evaluated: {why}"
