"""The test items `pytest --mlops-gates` collects: the config file as a collector, one item
per verdict (or per gate, for kinds whose slices come from the data) and a status item
that fails when the engine could not use its inputs. Items read the session's one
evaluation; they never compute. pytest and the standard library only, like the plugin
module that registers them (mlops_gates/pytest_plugin.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import pytest

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Status
    from mlops_gates.gates.runner import Evaluation

__all__ = [
    "SESSION",
    "GateFailure",
    "GateItem",
    "GateWarning",
    "GatesFile",
    "GatesSession",
    "StatusItem",
    "VerdictItem",
    "custom_result",
    "session_of",
]


class GatesSession(Protocol):
    """What the items need of the session's plugin (`pytest_plugin.GatesPlugin`)."""

    config: Config
    gate_line: dict[str, int]  # gate id -> its 1-based line in the config

    def evaluation(self) -> Evaluation:
        """The session's one evaluation of the gates."""
        ...


# The session's state (config, evaluation, what was selected, the final report) lives on
# the pytest config, as pytest's own plugins keep theirs; pytest_unconfigure removes it.
SESSION = pytest.StashKey["GatesSession"]()
# Kinds whose slices are found in the data, not configured: a verdict per slice would make
# node ids (and what `-k` selects) change with the data, so the gate is one item.
_ONE_ITEM_KINDS = frozenset({"slice_discovery"})


def session_of(config: pytest.Config) -> GatesSession:
    """The session's plugin (only there with --mlops-gates)."""
    return config.stash[SESSION]


class GateWarning(pytest.PytestWarning):
    """A gate with `severity: warn` did not pass."""


class GatesFile(pytest.File):
    """The config file as a collector: one item per verdict, plus a status item."""

    def collect(self) -> Iterator[pytest.Item]:
        """The status item first, then one item per verdict."""
        plugin = session_of(self.config)
        evaluation = plugin.evaluation()
        status = StatusItem.from_parent(self, name="mlops-gates-inputs")
        status.add_marker("block")  # unusable inputs fail the run
        yield status
        from mlops_gates._text import terminal_safe

        for name, results in _item_verdicts(evaluation.report.gates):
            # The id holds slice values from the data: escaped, it cannot break a line.
            item = GateItem.from_parent(self, name=terminal_safe(name), results=results)
            item.line = plugin.gate_line.get(results[0].gate)
            yield item


def _item_verdicts(gates: list[GateResult]) -> list[tuple[str, list[GateResult]]]:
    """(item name, its verdicts): one verdict per item, except kinds in `_ONE_ITEM_KINDS`,
    whose verdicts share one item named after the gate."""
    out: list[tuple[str, list[GateResult]]] = []
    grouped: dict[str, list[GateResult]] = {}
    for r in gates:
        if r.kind not in _ONE_ITEM_KINDS:
            out.append((r.id, [r]))
        elif r.gate in grouped:
            grouped[r.gate].append(r)
        else:
            grouped[r.gate] = [r]
            out.append((r.gate, grouped[r.gate]))
    return out


class GateFailure(Exception):
    """A gate verdict that fails its item; shown as text, not a traceback."""


class VerdictItem(pytest.Item):
    """An item that reads a verdict of the session's one evaluation, never computes one;
    a failure prints the verdict, not a traceback into this plugin."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """A verdict's own text; anything else as pytest shows it."""
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))


class GateItem(VerdictItem):
    """One verdict (a gate, or one slice of it), or every verdict of a gate whose slices
    are found in the data: passes, fails, warns or skips as its worst verdict says."""

    def __init__(self, *, results: list[GateResult], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results
        # The verdict the item reports: a blocking one, else one that did not pass.
        self.result = r = min(results, key=_rank)
        self.line: int | None = None  # 1-based line of the gate in the config
        self.add_marker(r.kind)
        self.add_marker(r.severity)
        props = [
            ("mlops_gates.status", r.status),
            ("mlops_gates.observed", r.observed),
            ("mlops_gates.bound_min", r.bound.min if r.bound else None),
            ("mlops_gates.bound_max", r.bound.max if r.bound else None),
            ("mlops_gates.support", r.support),
            ("mlops_gates.slice", r.slice_label),
        ]
        # JUnit XML writes str(value): an absent number is left out, not written "None".
        self.user_properties.extend((k, v) for k, v in props if v is not None)

    def runtest(self) -> None:
        """Fail on a blocking verdict, skip a skip, warn on the rest that did not pass."""
        r = self.result
        if r.status == "skip":
            pytest.skip(r.message)
        if r.blocking:
            raise GateFailure(self._explain())
        from mlops_gates._text import terminal_safe

        for w in self.results:
            if w.status in ("warn", "error", "fail"):
                # Attributed to the gate's line in the config, not to this file.
                warnings.warn_explicit(
                    GateWarning(terminal_safe(f"{w.id}: {w.message}")),
                    GateWarning,
                    filename=str(self.path),
                    lineno=self.line or 1,
                )

    def _explain(self) -> str:
        from mlops_gates.gates.result import fmt

        head = self.result
        name = head.id if len(self.results) == 1 else head.gate
        lines = [f"gate {name!r} {head.status.upper()} ({head.kind}, severity {head.severity})"]
        # Called on a blocking verdict: a grouped item shows every verdict that fails it.
        for r in [r for r in self.results if r.blocking] or [head]:
            lines.append(f"  {r.message}")
            if r.observed is not None or r.bound is not None:
                lines.append(
                    f"  observed {fmt(r.observed)}; bound "
                    f"{r.bound.describe() if r.bound else '-'}; support "
                    f"{r.support if r.support is not None else '-'}; slice {r.slice_label}"
                )
            for failure in r.details.get("failures", [])[:10]:
                lines.append(
                    f"  - {failure['column'] or '(frame)'}: {failure['check']}: "
                    f"{failure['count']} cases, e.g. {failure['failure_cases'][:5]}"
                )
        from mlops_gates._text import terminal_safe

        # Messages quote slice values and failure cases from the data: one line each.
        return "\n".join(terminal_safe(line) for line in lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point at the gate's line in the config."""
        line = None if self.line is None else self.line - 1  # pytest counts from 0
        return self.path, line, f"mlops-gate {self.name}"


def _rank(r: GateResult) -> int:
    """Which verdict a grouped item reports: a blocking one, then one that did not pass,
    then a pass, then a skip (an item skips only when every verdict did)."""
    if r.blocking:
        return 0
    return {"warn": 1, "fail": 1, "error": 1, "pass": 2}.get(r.status, 3)


class StatusItem(VerdictItem):
    """Fails when the engine could not use the inputs (unreadable data, bad labels...)."""

    def runtest(self) -> None:
        """Fail when the engine reported errors not tied to one gate."""
        errors = session_of(self.config).evaluation().report.errors
        if errors:
            from mlops_gates._text import terminal_safe

            raise GateFailure(
                "mlops-gates could not evaluate every gate:\n"
                + "\n".join(f"  {terminal_safe(e)}" for e in errors)
            )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point at the config file."""
        return self.path, None, "mlops-gates inputs"


def custom_result(item: pytest.Item, marker: pytest.Mark, report: pytest.TestReport) -> GateResult:
    """The verdict of a test marked `mlops_gate`: pass, skip, or (by its severity) fail or
    warn; a failure in setup is an error."""
    from mlops_gates.gates.result import GateResult

    gid = str(marker.kwargs.get("id") or (marker.args[0] if marker.args else item.name))
    severity: Literal["block", "warn"] = (
        "warn" if marker.kwargs.get("severity") == "warn" else "block"
    )
    status: Status
    if report.passed:
        status, reason, message = "pass", "ok", f"{item.nodeid} passed"
    elif report.skipped:
        status, reason, message = "skip", "skipped", f"{item.nodeid} skipped"
    else:
        crash = getattr(report.longrepr, "reprcrash", None)
        detail = crash.message if crash is not None else str(report.longrepr)[:500]
        if report.when == "setup":
            status, reason = "error", "error"
        else:
            status, reason = ("fail" if severity == "block" else "warn"), "test_failed"
        message = f"{item.nodeid}: {detail}"
    props = dict(item.user_properties)
    observed = props.get("observed")
    return GateResult(
        id=gid,
        gate=gid,
        kind="custom",
        status=status,
        severity=severity,
        reason=reason,
        message=message,
        observed=float(observed) if isinstance(observed, int | float) else None,
        details={"nodeid": item.nodeid},
    )
