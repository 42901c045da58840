"""Verdicts are data: `GateResult` for one gate on one slice, `Report` for a run.

`Report.to_dict()` is the canonical JSON document (its JSON Schema ships as
`mlops_gates/schemas/report.schema.json`); every reporter renders from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from mlops_gates._values import jsonable

__all__ = [
    "Bound",
    "GateResult",
    "Report",
    "describe_detectable",
    "detectable_cell",
    "fmt",
    "slice_label",
]

Status = Literal["pass", "fail", "warn", "error", "skip"]
RunStatus = Literal["pass", "fail", "error"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Bound:
    """The range a gate's number must stay in: a minimum, a maximum, or both."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        """Is `value` within the bound (ends included)?"""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        """The bound as a report says it: ">= 0.8", "<= 0.1" or "in [a, b]"."""
        if self.min is not None and self.max is not None:
            return f"in [{fmt(self.min)}, {fmt(self.max)}]"
        if self.min is not None:
            return f">= {fmt(self.min)}"
        return f"<= {fmt(self.max)}"


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate on one slice (or on the whole data)."""

    id: str  # unique in the report, e.g. "accuracy[sex=Female]"
    gate: str  # the configured gate's id
    kind: str
    status: Status
    severity: Literal["block", "warn"]
    message: str  # one human sentence
    reason: str  # machine-readable code: ok, below_min, above_max, insufficient_support, ...
    metric: str | None = None
    slice: dict[str, Any] | None = None  # column -> value; None for the whole data
    observed: float | None = None
    bound: Bound | None = None
    ci: tuple[float, float] | None = None
    support: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The minimum detectable effect behind the number (gates/detectable.py), or None.
    detectable: dict[str, Any] | None = None

    @property
    def blocking(self) -> bool:
        """Does this result fail the run?"""
        return self.severity == "block" and self.status in ("fail", "error")

    @property
    def slice_label(self) -> str:
        """The slice as text, "overall" for the whole data."""
        return slice_label(self.slice)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as report.json holds it: plain JSON, no NaN."""
        # Field by field, not asdict(): that deep-copies the details only to have them
        # replaced, and costs a tenth of a second on a thousand verdicts.
        d = {name: getattr(self, name) for name in _RESULT_FIELDS}
        bound = self.bound
        d["bound"] = None if bound is None else {n: getattr(bound, n) for n in _BOUND_FIELDS}
        d["observed"] = _finite_or_none(self.observed)
        d["ci"] = None if self.ci is None else [_finite_or_none(v) for v in self.ci]
        d["details"] = jsonable(self.details)
        d["slice"] = None if self.slice is None else jsonable(self.slice)
        d["detectable"] = None if self.detectable is None else jsonable(self.detectable)
        return d


# In declaration order, as report.json lists them (dataclasses.fields() per verdict costs
# more than the rest of its conversion).
_RESULT_FIELDS = tuple(f.name for f in fields(GateResult))
_BOUND_FIELDS = tuple(f.name for f in fields(Bound))


@dataclass(frozen=True)
class Report:
    """Everything one gates run found; `to_dict()` is report.json."""

    status: RunStatus
    started_at: str
    finished_at: str
    fingerprint: dict[str, Any]
    gates: list[GateResult]
    errors: list[str] = field(default_factory=list)  # problems not tied to one gate
    context: dict[str, Any] = field(default_factory=dict)  # task, data, models, tool version
    warnings: list[str] = field(default_factory=list)  # the run trusted something (a pickle)

    @staticmethod
    def overall_status(gates: list[GateResult], errors: list[str]) -> RunStatus:
        """The run's status: error when the run hit a problem or a blocking gate could not
        be judged, fail when a blocking gate failed, else pass."""
        if errors or any(g.blocking and g.status == "error" for g in gates):
            return "error"
        if any(g.blocking for g in gates):
            return "fail"
        return "pass"

    def counts(self) -> dict[str, int]:
        """How many verdicts have each status."""
        out = {s: 0 for s in ("pass", "fail", "warn", "error", "skip")}
        for g in self.gates:
            out[g.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON document (report.json)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "fingerprint": jsonable(self.fingerprint),
            "summary": self.counts(),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "context": jsonable(self.context),
            "gates": [g.to_dict() for g in self.gates],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """A report read back from its JSON document."""
        gates = []
        for g in d["gates"]:
            g = dict(g)
            g["bound"] = Bound(**g["bound"]) if g.get("bound") else None
            g["ci"] = tuple(g["ci"]) if g.get("ci") else None
            gates.append(GateResult(**g))
        return cls(
            status=d["status"],
            started_at=d["started_at"],
            finished_at=d["finished_at"],
            fingerprint=d["fingerprint"],
            gates=gates,
            errors=list(d.get("errors", [])),
            context=dict(d.get("context", {})),
            warnings=list(d.get("warnings", [])),
        )


def slice_label(s: dict[str, Any] | None) -> str:
    """A slice as text, `col=value,...` ("overall" for the whole data)."""
    if not s:
        return "overall"
    return ",".join(f"{k}={'<missing>' if v is None else v}" for k, v in s.items())


def _effect(d: dict[str, Any]) -> str:
    """An MDE as read: points for metrics in [0, 1] ("4.1 points"), else the number."""
    effect = float(d["effect"])
    if d.get("per"):
        points = f"{effect / float(d['per']):.2g}"
        return f"{points} point{'s' * (points != '1')}"
    return fmt(effect, 2)


def detectable_cell(d: dict[str, Any] | None) -> str:
    """The MDE in a table cell: "4.1 pt", "0.032", "" when there is none."""
    if not d or d.get("effect") is None:
        return ""
    return _effect(d).replace(" points", " pt").replace(" point", " pt")


def describe_detectable(d: dict[str, Any] | None, *, overall: bool = False) -> str:
    """The MDE as a sentence: "this slice could only detect a drop of ≥ 4.1 points (80 %
    power); about 2,300 rows would detect 1 point". "" when there is none."""
    if not d or d.get("effect") is None:
        return ""
    who = "these rows" if overall else "this slice"
    what = {"drop": "a drop", "rise": "a rise"}.get(str(d.get("direction")), "a change")
    text = (
        f"{who} could only detect {what} of ≥ {_effect(d)} "
        f"({round(100 * float(d.get('power', 0.8)))} % power)"
    )
    if d.get("per") and d.get("rows_for_per") is not None:
        text += (
            f"; about {int(d['rows_for_per']):,} {d.get('unit', 'rows')} would detect "
            f"{_effect({**d, 'effect': d['per']})}"
        )
    return text


def fmt(x: float | None, digits: int = 4) -> str:
    """A number as people read it in a report: 4 significant digits, n/a for undefined."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:.{digits}g}"


def _finite_or_none(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
