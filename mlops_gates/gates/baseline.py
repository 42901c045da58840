"""`baseline` gate: the candidate is not worse than the baseline on the same rows.

The observed number is the difference candidate - baseline; margins are stated the way
users think of them (`max_drop`, `max_relative_drop`, `min_gain`, `min_relative_gain`) with
the metric's own direction (`greater_is_better`), and become one bound on that difference.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np

from mlops_gates.config import BaselineGate
from mlops_gates.gates.base import NotEvaluated, Run, register
from mlops_gates.gates.common import (
    Context,
    check_columns,
    check_scores,
    denominator,
    scores_needed,
    slicings,
    support,
)
from mlops_gates.gates.detectable import detectable, one_sided_alpha
from mlops_gates.gates.evidence import Evidence, difference_evidence, rng_for
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult
from mlops_gates.stats.inference import discordant_counts, mcnemar_batch
from mlops_gates.stats.metrics import METRICS, metric_values
from mlops_gates.stats.reduce import ClassificationStats

__all__ = ["evaluate", "evaluate_baseline"]

_NO_BASELINE = "no baseline configured (a first model?); outcome set by if_no_baseline: {outcome}"


# Without a configured baseline the gate needs nothing: `if_no_baseline` decides.
@register("baseline", wants=("reduced",))
def evaluate(gate: BaselineGate, run: Run) -> list[GateResult]:
    """The gate on the run's reduced tables, or its `if_no_baseline` outcome."""
    has_baseline = run.config.baseline is not None and run.no_baseline is None
    ctx = run.reduced
    if has_baseline and ctx is None:
        raise NotEvaluated(run.why.get("reduced"))
    if ctx is not None:
        check_columns(gate, ctx, [c for s in slicings(False, gate.slices) for c in s])
        if has_baseline and ctx.reduced.baseline_error is None:
            check_scores(gate.metric, ctx, baseline=True)
    why = (
        ctx.reduced.baseline_error
        if ctx
        else run.inputs.baseline_error
        if run.inputs
        else run.why.get("reduced")
    )
    verdicts = evaluate_baseline(gate, ctx, why, has_baseline)
    return _name_missing_baseline(verdicts, gate, run.no_baseline)


def _name_missing_baseline(
    verdicts: list[GateResult], gate: BaselineGate, why: str | None
) -> list[GateResult]:
    """Say which registry alias is missing, where the gate says "no baseline configured"."""
    if why is None:
        return verdicts
    outcome = gate.if_no_baseline
    todo = (
        f"; if this is the first model (nothing deployed yet), set `if_no_baseline: pass` on "
        f"gate {gate.id!r}; otherwise deploy a version or fix the alias in `baseline.model`"
        if outcome in ("fail", "warn")
        else "; once a version is deployed, this gate compares against it"
    )
    message = f"{why}; treated as no baseline, outcome set by if_no_baseline: {outcome}{todo}"
    return [replace(v, message=message) if v.reason == "no_baseline" else v for v in verdicts]


def evaluate_baseline(
    gate: BaselineGate, ctx: Context | None, baseline_error: str | None, has_baseline_config: bool
) -> list[GateResult]:
    """Candidate minus baseline on the whole data and each slice, against the margins."""
    gid = gate.id
    gib = gate.greater_is_better
    if gib is None:
        gib = METRICS[gate.metric].greater_is_better
    if gib is None:
        return [
            _single(
                gate,
                "error",
                "error",
                f"{gate.metric} has no natural direction; set greater_is_better",
            )
        ]
    if not has_baseline_config:
        return [
            _single(
                gate,
                gate.if_no_baseline,
                "no_baseline",
                _NO_BASELINE.format(outcome=gate.if_no_baseline),
            )
        ]
    if baseline_error is not None or ctx is None:
        return [
            _single(
                gate, "error", "error", f"the baseline could not be evaluated: {baseline_error}"
            )
        ]
    settings = ctx.config.statistics
    rng = rng_for(settings, gid)
    findings: list[Finding] = []
    method = None
    for columns in slicings(gate.overall, gate.slices):
        table, values = ctx.table(columns, scores=scores_needed(gate.metric, baseline=True))
        ev = difference_evidence(
            gate.metric,
            table,
            settings=settings,
            rng=rng,
            draws=partial(ctx.resampled, columns, "paired"),
        )
        method = ev.method or method
        base = metric_values(gate.metric, table, model="baseline")
        mcnemar = _mcnemar(gate.metric, table)
        rows = support(table)
        counted, unit = denominator(gate.metric, table, paired=True)
        mde = detectable(
            ev,
            gate.metric,
            counted=counted,
            unit=unit,
            alpha=one_sided_alpha(gate.judge, settings.confidence),
            greater_is_better=gib,
            discordant=_discordant_share(gate.metric, table),
        )
        bounds = [_bound(gate, float(b), gib) for b in base.tolist()]
        pvalues = _pvalues(ev, bounds)
        bases, deltas, cis = base.tolist(), ev.estimate.tolist(), ev.intervals()
        for i, slc in enumerate(values):
            b, delta, bound = bases[i], deltas[i], bounds[i]
            details: dict[str, object] = {
                "candidate": delta + b,
                "baseline": b,
                "relative_change": delta / abs(b) if b != 0 and not math.isnan(b) else math.nan,
                "greater_is_better": gib,
            }
            if mcnemar is not None:
                details["mcnemar_p"] = float(mcnemar[i])
            if ev.note:
                details["ci_note"] = ev.note
            if ev.se_widening is not None:
                # The coarse paired grid's cost for this verdict (docs/scale.md).
                widening = float(ev.se_widening[i])
                details["se_widening_bound"] = None if math.isnan(widening) else widening
            findings.append(
                Finding(
                    slc=slc,
                    observed=delta,
                    bound=bound,
                    support=int(counted[i]),
                    min_support=gate.min_support if columns else 0,
                    ci=cis[i],
                    p_value=pvalues[i],
                    details=details,
                    rows=int(rows[i]),
                    unit=unit,
                    detectable=mde[i],
                )
            )
    judge = Judge.of(
        gate,
        confidence=settings.confidence,
        what=f"{gate.metric} candidate - baseline",
        undefined_why="the metric is undefined for the candidate or the baseline",
    )
    return judge.findings(findings, method=method)


def _pvalues(ev: Evidence, bounds: list[Bound]) -> list[float]:
    """Each slice's p-value against its own bound. One vectorised call when every slice
    has the same bound (absolute margins only, the usual case): the p-values are
    elementwise, so they are the same numbers as slice by slice."""
    if bounds and all(b == bounds[0] for b in bounds):
        return [float(p) for p in ev.pvalue(bounds[0]).tolist()]
    return [_pvalue(ev, i, bound) for i, bound in enumerate(bounds)]


def _pvalue(ev: Evidence, i: int, bound: Bound) -> float:
    """Slice i's p-value against its own bound (relative margins differ per slice), from
    slice i's replicates alone: O(R) per slice, not O(R x S)."""
    one = Evidence(
        ev.estimate[i : i + 1],
        replicates=None if ev.replicates is None else ev.replicates[:, i : i + 1],
        se=None if ev.se is None else ev.se[i : i + 1],
    )
    return float(one.pvalue(bound)[0])


def _discordant_share(metric: str, table: object) -> np.ndarray | None:
    """For accuracy, the share of each slice's rows on which exactly one model is right:
    what McNemar's power depends on (Connor 1987)."""
    if metric != "accuracy" or not isinstance(table, ClassificationStats):
        return None
    b, c = discordant_counts(table.counts)
    n = table.counts.reshape(len(b), -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, (b + c) / np.maximum(n, 1), 0.0)


def _mcnemar(metric: str, table: object) -> np.ndarray | None:
    """Exact (small counts) or corrected McNemar p-values per slice, for accuracy."""
    if metric != "accuracy" or not isinstance(table, ClassificationStats):
        return None
    b, c = discordant_counts(table.counts)
    return mcnemar_batch(b, c)


def _bound(gate: BaselineGate, baseline_value: float, gib: bool) -> Bound:
    """All margins must hold, so the least improvement allowed is the largest of them."""
    needs = []
    if gate.max_drop is not None:
        needs.append(-gate.max_drop)
    # A baseline of 0 leaves no room for a relative drop, and asks no relative gain.
    scale = 0.0 if math.isnan(baseline_value) else abs(baseline_value)
    if gate.max_relative_drop is not None:
        needs.append(-gate.max_relative_drop * scale)
    if gate.min_gain is not None:
        needs.append(gate.min_gain)
    if gate.min_relative_gain is not None:
        needs.append(gate.min_relative_gain * scale)
    least = max(needs)
    return Bound(min=least) if gib else Bound(max=-least)


def _single(gate: BaselineGate, status: str, reason: str, message: str) -> GateResult:
    gid = gate.id
    return GateResult(
        id=gid,
        gate=gid,
        kind="baseline",
        status=status,  # type: ignore[arg-type]
        severity=gate.severity,
        reason=reason,
        metric=gate.metric,
        message=f"{gid}: {message}",
    )
