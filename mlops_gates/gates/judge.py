"""Judging numbers against a gate's bound: one policy per gate, built once from its config.

A gate kind computes `Finding`s (a slice's number with its evidence); the `Judge` built
from the gate turns them into verdicts: support first, then definedness, then the bound,
judged on the point estimate, the interval or the adjusted p-value. A verdict's status here
is the outcome (`fail`, not yet `warn`), and a verdict short of data says only why: the
runner applies the gate's severity and names the `on_insufficient` outcome, once for every
kind (gates/runner.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_gates.config import Judge as JudgeMode
from mlops_gates.config import Multiplicity, Outcome
from mlops_gates.gates.result import (
    Bound,
    GateResult,
    Status,
    describe_detectable,
    fmt,
    slice_label,
)

__all__ = ["Finding", "Judge", "evidence_count", "result_id"]


@dataclass
class Finding:
    """One slice's number with its evidence, before it is judged."""

    slc: dict[str, Any] | None
    observed: float
    bound: Bound
    support: int
    min_support: int
    ci: tuple[float, float] | None = None
    p_value: float = math.nan  # that the bound is violated
    details: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None  # the slice's rows, when `support` counts something else
    unit: str = "rows"  # what `support` counts (see `gates.common.denominator`)
    detectable: dict[str, Any] | None = None  # the MDE (gates/detectable.py)


@dataclass(frozen=True)
class Judge:
    """How one gate judges its findings: what the number is called, the mode (estimate,
    interval, significance), the multiplicity correction across its slices, and the
    outcome when the evidence is short. Build it with `Judge.of(gate, ...)`."""

    gate_id: str
    kind: str
    severity: Literal["block", "warn"]
    metric: str
    what: str  # the number's name in sentences, e.g. "recall" or "psi drift"
    on_insufficient: Outcome = "fail"
    mode: JudgeMode = "estimate"
    multiplicity: Multiplicity = "none"
    confidence: float = 0.95
    undefined_why: str = ""  # why the number can be undefined, said when it is

    @classmethod
    def of(
        cls,
        gate: Any,
        *,
        confidence: float,
        metric: str | None = None,
        what: str | None = None,
        undefined_why: str = "",
    ) -> Judge:
        """The policy a gate's config sets: `judge`, `multiplicity`, `on_insufficient`
        and `severity` are read from the gate where it has them."""
        name = metric if metric is not None else str(getattr(gate, "metric", gate.kind))
        return cls(
            gate_id=gate.id,
            kind=gate.kind,
            severity=gate.severity,
            metric=name,
            what=what if what is not None else name,
            on_insufficient=getattr(gate, "on_insufficient", "fail"),
            mode=getattr(gate, "judge", "estimate"),
            multiplicity=getattr(gate, "multiplicity", "none"),
            confidence=confidence,
            undefined_why=undefined_why,
        )

    def findings(self, findings: list[Finding], *, method: str | None = None) -> list[GateResult]:
        """Adjust the p-values across the slices that have enough rows, then judge each.
        `method`: the interval method the findings' intervals came from."""
        from mlops_gates.stats.inference import adjust

        eligible = [
            i
            for i, f in enumerate(findings)
            if f.support >= f.min_support and not math.isnan(f.p_value)
        ]
        adjusted = [math.nan] * len(findings)
        if eligible:
            values = adjust(np.array([findings[i].p_value for i in eligible]), self.multiplicity)
            for i, v in zip(eligible, values, strict=True):
                adjusted[i] = float(v)
        out = []
        mode, confidence, multiplicity = self.mode, self.confidence, self.multiplicity
        for f, p_adj in zip(findings, adjusted, strict=True):
            # The finding's details, then the evidence, then what the support counts (when
            # not rows): built as one dict, not three merged, at a thousand verdicts a run.
            details = {
                **f.details,
                "judged_on": mode,
                "confidence": confidence,
                "ci_method": method if f.ci is not None else None,
                "p_value": None if math.isnan(f.p_value) else f.p_value,
                "p_adjusted": None if math.isnan(p_adj) else p_adj,
                "multiplicity": multiplicity,
            }
            if f.unit != "rows" and f.rows is not None:
                details["rows"], details["support_counts"] = f.rows, f.unit
            out.append(self.verdict(f, details=details, p_adjusted=p_adj))
        return out

    def verdict(
        self,
        f: Finding,
        *,
        details: dict[str, Any] | None = None,
        p_adjusted: float = math.nan,
    ) -> GateResult:
        """The verdict on one number: support first, then definedness, then the bound,
        judged on the point estimate, the interval or the (adjusted) p-value."""
        where = slice_label(f.slc)
        what, ci, observed, bound = self.what, f.ci, f.observed, f.bound
        shown = fmt(observed) + (f" [{_outward(ci[0], -1)}, {_outward(ci[1], 1)}]" if ci else "")
        status: Status
        count = evidence_count(f.support, f.rows, f.unit)
        inconclusive = False  # the evidence could not decide: say what it could detect
        undefined, undefined_why = math.isnan(observed), self.undefined_why
        if not undefined and self.mode == "interval" and (ci is None or math.isnan(ci[0] + ci[1])):
            undefined, undefined_why = True, "no confidence interval for it"
        if not undefined and self.mode == "significance" and math.isnan(p_adjusted):
            undefined, undefined_why = True, "no p-value for it"
        if f.support < f.min_support:
            status, reason = self.on_insufficient, "insufficient_support"
            inconclusive = True
            message = (
                f"{what} on {where}: insufficient evidence, {count} (min_support {f.min_support})"
            )
        elif undefined:
            why = f" ({undefined_why})" if undefined_why else ""
            reason = "undefined"
            if f.slc:
                status = self.on_insufficient
                message = f"{what} on {where} is undefined{why} over {count}"
            else:
                status = "error"
                message = f"{what} is undefined on the whole data{why} ({count})"
        else:
            too_low = bound.min is not None and observed < bound.min
            if self.mode == "interval":
                assert ci is not None
                lo_ok = bound.min is None or ci[0] >= bound.min
                hi_ok = bound.max is None or ci[1] <= bound.max
                holds, too_low = lo_ok and hi_ok, not lo_ok
                inconclusive = not holds and bound.holds(observed)
                basis = "its interval is"
            elif self.mode == "significance":
                holds = p_adjusted >= 1 - self.confidence
                inconclusive = holds and not bound.holds(observed)
                too_low = bound.max is None or (bound.min is not None and observed < bound.min)
                basis = f"adjusted p = {fmt(p_adjusted, 3)} that it is"
            else:
                holds, basis = bound.holds(observed), "it is"
            if holds and inconclusive and self.mode == "significance":
                # The estimate is past the bound, but not significantly: say so, rather
                # than print a value beside a bound it breaks under a "pass".
                status, reason = "pass", "ok"
                limit = fmt(bound.min if too_low else bound.max)
                side = "below the minimum" if too_low else "above the maximum"
                message = (
                    f"{what} on {where} is {shown}, not significantly {side} {limit} "
                    f"(adjusted p = {fmt(p_adjusted, 3)}, {count})"
                )
            elif holds:
                status, reason = "pass", "ok"
                message = f"{what} on {where} is {shown} ({bound.describe()}, {count})"
            else:
                status = "fail"
                reason = "below_min" if too_low else "above_max"
                limit = fmt(bound.min if too_low else bound.max)
                side = "below the minimum" if too_low else "above the maximum"
                message = f"{what} on {where} is {shown}: {basis} {side} {limit} ({count})"
        mde = describe_detectable(f.detectable, overall=not f.slc) if inconclusive else ""
        if mde:
            message += f"; {mde}"
        return GateResult(
            id=self.gate_id if not f.slc else f"{self.gate_id}[{where}]",  # result_id's
            gate=self.gate_id,
            kind=self.kind,
            status=status,
            severity=self.severity,
            message=message,
            reason=reason,
            metric=self.metric,
            slice=f.slc or None,
            observed=None if math.isnan(observed) else float(observed),
            bound=bound,
            ci=None if ci is None or math.isnan(ci[0] + ci[1]) else (float(ci[0]), float(ci[1])),
            support=int(f.support),
            details=details if details is not None else dict(f.details),
            detectable=f.detectable,
        )


def result_id(gate_id: str, slc: dict[str, Any] | None) -> str:
    """A verdict's id in the report: the gate's id, with the slice in brackets."""
    return gate_id if not slc else f"{gate_id}[{slice_label(slc)}]"


def evidence_count(support: int, rows: int | None, unit: str) -> str:
    """ "12 positives of 340 rows", or "340 rows" when the metric is a share of all rows."""
    if unit == "rows" or rows is None:
        return f"{support} rows"
    return f"{support} {unit} of {rows} rows"


def _outward(x: float, side: int, digits: int = 3) -> str:
    """An interval end to ``digits`` significant digits, rounded away from the estimate
    (``side`` -1: down, 1: up), so the interval shown contains the one computed."""
    if not math.isfinite(x) or x == 0:
        return fmt(x)
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(abs(x))))
    scaled = x * scale
    # A hair of slack: 0.95 * 100 is 94.99999999999999, and must stay 95.
    near = round(scaled)
    if abs(scaled - near) < 1e-9 * max(1.0, abs(scaled)):
        scaled = near
    return fmt((math.floor(scaled) if side < 0 else math.ceil(scaled)) / scale)
