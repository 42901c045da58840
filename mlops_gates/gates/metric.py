"""`metric` gate: a metric within bounds, overall and on every slice."""

from __future__ import annotations

from functools import partial

import numpy as np

from mlops_gates.config import MetricGate
from mlops_gates.gates.base import Run, register
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
from mlops_gates.gates.evidence import metric_evidence, rng_for
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult
from mlops_gates.stats.metrics import METRICS

__all__ = ["evaluate", "evaluate_metric"]


@register("metric", needs=("reduced",))
def evaluate(gate: MetricGate, run: Run) -> list[GateResult]:
    """The gate on the run's reduced tables."""
    ctx: Context = run.need("reduced")
    check_columns(gate, ctx, [c for s in slicings(False, gate.slices) for c in s])
    check_scores(gate.metric, ctx, baseline=False)
    return evaluate_metric(gate, ctx)


def evaluate_metric(gate: MetricGate, ctx: Context) -> list[GateResult]:
    """The metric on the whole data and each slice, judged against `min` / `max`."""
    gid = gate.id
    bound = Bound(gate.min, gate.max)
    settings = ctx.config.statistics
    rng = rng_for(settings, gid)
    findings: list[Finding] = []
    method = None
    for columns in slicings(gate.overall, gate.slices):
        table, values = ctx.table(columns, scores=scores_needed(gate.metric))
        ev = metric_evidence(
            gate.metric,
            table,
            model="candidate",
            settings=settings,
            rng=rng,
            draws=partial(ctx.resampled, columns, "candidate"),
        )
        method = ev.method or method
        p = ev.pvalue(bound)
        rows = support(table)
        # min_support applies to what the metric is a share of (positives for recall).
        counted, unit = denominator(gate.metric, table)
        mde = detectable(
            ev,
            gate.metric,
            counted=counted,
            unit=unit,
            alpha=one_sided_alpha(gate.judge, settings.confidence),
            greater_is_better=METRICS[gate.metric].greater_is_better,
        )
        # Each array to Python numbers in one call (tolist), not a conversion per slice.
        min_support = gate.min_support if columns else 0
        findings += [
            Finding(
                slc=slc,
                observed=observed,
                bound=bound,
                support=int(n),
                min_support=min_support,
                ci=ci,
                p_value=p_value,
                details={"ci_note": ev.note} if ev.note else {},
                rows=int(r),
                unit=unit,
                detectable=m,
            )
            for slc, observed, n, ci, p_value, r, m in zip(
                values,
                _floats(ev.estimate),
                counted.tolist(),
                ev.intervals(),
                _floats(p),
                rows.tolist(),
                mde,
                strict=True,
            )
        ]
    results = Judge.of(gate, confidence=settings.confidence).findings(findings, method=method)
    return [
        _why_undefined(r, ctx) if r.reason == "undefined" and not r.slice else r for r in results
    ]


def _floats(values: np.ndarray) -> list[float]:
    """An array's values as Python floats (what ``float(values[i])`` gives each)."""
    return np.asarray(values, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def _why_undefined(result: GateResult, ctx: Context) -> GateResult:
    """Say why a metric is undefined on the whole data when the labels are the cause
    (one class, one row): the error names the label column and what to do."""
    from dataclasses import replace

    from mlops_gates.stats.reduce import ClassificationStats

    table, _ = ctx.table(())
    if not isinstance(table, ClassificationStats):
        return result
    per_class = table.candidate_confusion().sum(axis=(0, 2))
    present, rows = int(np.count_nonzero(per_class)), int(per_class.sum())
    if present >= 2:
        return result
    label = ctx.config.task.label
    return replace(
        result,
        message=f"{result.message}: the label column {label!r} (task.label) holds {present} "
        f"class{'es' if present != 1 else ''} over {rows} row{'s' if rows != 1 else ''}, and "
        f"{result.metric} needs rows of every class; evaluate on data with both classes",
    )
