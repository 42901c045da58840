"""`churn` gate: few decisions flip against the baseline, or a metric is shown equivalent.

Both forms read the label cells the reduction keeps per slice, (true class × candidate
label × baseline label), through `stats/churn.py`:

- flips: the share of rows whose label differs, split negative→positive and
  positive→negative (shares of all the slice's rows, so they add up), each a binomial
  proportion with the `statistics.interval` interval and its dual test; `max` bounds one
  of them (`direction`);
- equivalence (`metric` with `within`): TOST on the paired difference of a metric scored
  on rows both models share; the verdict passes only when the 1 − 2α interval lies inside
  (−δ, δ) (α = 1 − confidence). Each slice is its own test and all must pass: an
  intersection-union test, so no multiplicity adjustment is needed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from mlops_gates.config import ChurnGate
from mlops_gates.gates.base import NotEvaluated, Run, register
from mlops_gates.gates.common import Context, check_columns, denominator, slicings
from mlops_gates.gates.evidence import proportion_method, proportion_test
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult, fmt
from mlops_gates.stats.reduce import ClassificationStats

__all__ = ["evaluate", "evaluate_churn"]

_NO_BASELINE = "no baseline configured (a first model?); outcome set by if_no_baseline: {outcome}"
_WHAT = {
    "any": "flipped decisions",
    "neg_to_pos": "negative→positive flips",
    "pos_to_neg": "positive→negative flips",
}


# Without a configured baseline the gate needs nothing: `if_no_baseline` decides.
@register("churn", wants=("reduced",))
def evaluate(gate: ChurnGate, run: Run) -> list[GateResult]:
    """The gate on the run's label cells, or its `if_no_baseline` outcome."""
    outcome = gate.if_no_baseline
    if run.no_baseline is not None:  # the registry alias is not set yet
        message = f"{run.no_baseline}; treated as no baseline, outcome set by if_no_baseline"
        return [_single(gate, outcome, "no_baseline", f"{message}: {outcome}")]
    if run.config.baseline is None:
        return [_single(gate, outcome, "no_baseline", _NO_BASELINE.format(outcome=outcome))]
    ctx = run.reduced
    if ctx is None:
        raise NotEvaluated(run.why.get("reduced"))
    check_columns(gate, ctx, [c for s in slicings(False, gate.slices) for c in s])
    if ctx.reduced.baseline_error is not None:
        why = f"the baseline could not be evaluated: {ctx.reduced.baseline_error}"
        return [_single(gate, "error", "error", why)]
    return evaluate_churn(gate, ctx)


def evaluate_churn(gate: ChurnGate, ctx: Context) -> list[GateResult]:
    """Flip shares (or the TOST) on the whole data and each slice."""
    if gate.metric is not None:
        return _equivalence(gate, ctx)
    from mlops_gates.stats.churn import flip_pvalue, flip_rates

    settings = ctx.config.statistics
    level = settings.confidence
    method = proportion_method(settings) or "wilson"  # bootstrap: the analytic interval
    test = proportion_test(settings) or "clopper_pearson"
    bound = Bound(max=gate.max)
    findings: list[Finding] = []
    for columns in slicings(gate.overall, gate.slices):
        table, values = _table(gate, ctx, columns)
        rates = flip_rates(table.counts, level=level, method=method)
        which = {"any": "flips", "neg_to_pos": "neg_to_pos", "pos_to_neg": "pos_to_neg"}
        assert gate.max is not None  # the config asks for it in this form
        p = flip_pvalue(rates, bound=gate.max, which=which[gate.direction], method=test)  # type: ignore[arg-type]
        parts = {
            "any": (rates.flips, rates.flip_interval),
            "neg_to_pos": (rates.neg_to_pos, rates.neg_to_pos_interval),
            "pos_to_neg": (rates.pos_to_neg, rates.pos_to_neg_interval),
        }
        binary = table.n_classes == 2
        for i, slc in enumerate(values):
            n = int(rates.n[i])
            details: dict[str, Any] = {"direction": gate.direction}
            for name, (count, iv) in parts.items():
                if name != "any" and not binary:
                    continue
                key = "flips" if name == "any" else name
                details[key] = {
                    "count": int(count[i]),
                    "share": _share(int(count[i]), n),
                    "ci": _pair(float(iv.lo[i]), float(iv.hi[i])),
                }
            count, iv = parts[gate.direction]
            findings.append(
                Finding(
                    slc=slc,
                    observed=int(count[i]) / n if n else math.nan,
                    bound=bound,
                    support=n,
                    min_support=gate.min_support if columns else 0,
                    ci=(float(iv.lo[i]), float(iv.hi[i])),
                    p_value=float(p[i]),
                    details=details,
                )
            )
    judge = Judge.of(
        gate,
        confidence=level,
        metric="flip_rate" if gate.direction == "any" else gate.direction,
        what=_WHAT[gate.direction],
        undefined_why="no rows",
    )
    return judge.findings(findings, method=method)


def _equivalence(gate: ChurnGate, ctx: Context) -> list[GateResult]:
    """TOST per slice; the verdict is the test's: shown equivalent, or not."""
    from mlops_gates.stats.churn import tost_paired
    from mlops_gates.stats.metrics import metric_values

    assert gate.metric is not None and gate.within is not None
    settings = ctx.config.statistics
    alpha = 1.0 - settings.confidence
    delta = gate.within
    bound = Bound(min=-delta, max=delta)
    findings: list[Finding] = []
    for columns in slicings(gate.overall, gate.slices):
        table, values = _table(gate, ctx, columns)
        if table.n_classes != 2:
            raise NotEvaluated(f"an equivalence test on {gate.metric} needs a binary task")
        tost = tost_paired(gate.metric, table.counts, delta=delta, alpha=alpha)
        cand = metric_values(gate.metric, table, model="candidate")
        base = metric_values(gate.metric, table, model="baseline")
        rows = table.support()
        _, unit = denominator(gate.metric, table)
        for i, slc in enumerate(values):
            lo, hi = float(tost.interval.lo[i]), float(tost.interval.hi[i])
            p = float(tost.pvalue[i])
            findings.append(
                Finding(
                    slc=slc,
                    observed=float(tost.difference[i]),
                    bound=bound,
                    support=int(tost.n[i]),
                    min_support=gate.min_support if columns else 0,
                    ci=(lo, hi),
                    p_value=p,
                    details={
                        "candidate": _finite(cand[i]),
                        "baseline": _finite(base[i]),
                        "tost_p": _finite(p),
                        "tost_alpha": alpha,
                        "ci_level": 1.0 - 2.0 * alpha,
                        "within": delta,
                    },
                    rows=int(rows[i]),
                    unit=unit,
                )
            )
    # TOST decides by its own interval: pass exactly when the 1 − 2α interval lies
    # inside (−δ, δ); `judge` and `multiplicity` are refused in this form (config).
    judge = dataclasses.replace(
        Judge.of(
            gate,
            confidence=settings.confidence,
            metric=gate.metric,
            what=f"{gate.metric} candidate - baseline",
            undefined_why="TOST needs two rows or more",
        ),
        mode="interval",
        multiplicity="none",
    )
    results = judge.findings(findings, method="tost_paired_t")
    return [_say_equivalence(r, delta) for r in results]


def _say_equivalence(r: GateResult, delta: float) -> GateResult:
    """Name the test's outcome in the message: shown equivalent, or not shown."""
    if r.status not in ("pass", "fail"):
        return r
    p = r.details.get("tost_p")
    said = "shown equivalent" if r.status == "pass" else "not shown equivalent"
    message = f"{r.message}: {said} within ±{fmt(delta)} (TOST p = {fmt(p, 3)})"
    return dataclasses.replace(r, message=message)


def _table(gate: ChurnGate, ctx: Context, columns: tuple[str, ...]) -> tuple[Any, list[Any]]:
    table, values = ctx.table(columns)
    if not isinstance(table, ClassificationStats):
        raise NotEvaluated("churn counts changed decisions, which a regression task has none of")
    if not table.has_baseline:
        raise NotEvaluated("the reduction holds no baseline predictions to compare with")
    return table, values


def _share(count: int, n: int) -> float | None:
    return count / n if n else None


def _pair(lo: float, hi: float) -> list[float] | None:
    return None if math.isnan(lo + hi) else [lo, hi]


def _finite(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _single(gate: ChurnGate, status: str, reason: str, message: str) -> GateResult:
    gid = gate.id
    return GateResult(
        id=gid,
        gate=gid,
        kind="churn",
        status=status,  # type: ignore[arg-type]
        severity=gate.severity,
        reason=reason,
        metric=gate.metric or ("flip_rate" if gate.direction == "any" else gate.direction),
        message=f"{gid}: {message}",
    )
