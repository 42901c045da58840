"""run_gates collects garbage as `mlops-gates check` does while the gates run, whoever
calls it (a script, a notebook, the benchmark), and gives the host its own thresholds back."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Project
from helpers import base_config

from mlops_gates._gc import GC_THRESHOLDS
from mlops_gates.config import load_config
from mlops_gates.gates.base import Run, evaluator_for, register
from mlops_gates.gates.result import GateResult
from mlops_gates.gates.runner import run_gates

KIND = "skew"  # a kind the config knows; its evaluator is swapped for one that looks
GATE = {"id": "look", "kind": KIND, "training": "t.csv", "serving": "s.csv", "key": "id"}


@pytest.fixture
def thresholds_seen() -> Iterator[list[tuple[int, ...]]]:
    """The collector's thresholds each time a gate is evaluated; the host's are restored
    and the package's evaluator put back afterwards."""
    original, host = evaluator_for(KIND), gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    @register(KIND, replace=True, needs=("table",))
    def evaluate(gate: Any, run: Run) -> list[GateResult]:
        seen.append(gc.get_threshold())
        return []

    yield seen
    register(KIND, needs=original.needs, wants=original.wants, replace=True)(original.evaluate)
    gc.set_threshold(*host)


def _run(make_project: Project) -> None:
    run_gates(load_config(make_project(base_config(gates=[{**GATE, "max": 0.1}]))))


def test_the_run_uses_check_s_thresholds_and_restores_the_host_s(
    make_project: Project, thresholds_seen: list[tuple[int, ...]]
) -> None:
    gc.set_threshold(700, 10, 10)  # Python's defaults
    _run(make_project)
    assert thresholds_seen == [GC_THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize(
    ("host", "during"),
    [((0, 10, 10), (0, 10, 10)), ((500_000, 10, 1_000), (500_000, 50, 1_000))],
    ids=["collector-off", "rarer-already"],
)
def test_never_more_often_than_the_host_asked(
    make_project: Project,
    thresholds_seen: list[tuple[int, ...]],
    host: tuple[int, int, int],
    during: tuple[int, int, int],
) -> None:
    gc.set_threshold(*host)
    _run(make_project)
    assert thresholds_seen == [during]
    assert gc.get_threshold() == host
