"""`fairness` gate: a group metric's gap or ratio across a sensitive attribute.

With `control` columns the comparison is made within each stratum (one verdict each), as
fairlearn's MetricFrame does with control features.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from mlops_gates.config import FAIRNESS_METRICS, FairnessGate
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.common import (
    DENOMINATORS,
    Context,
    check_columns,
    check_scores,
    scores_needed,
    support,
)
from mlops_gates.gates.evidence import Evidence, parity_evidence, proportion_method, rng_for
from mlops_gates.gates.judge import Finding, Judge, result_id
from mlops_gates.gates.result import Bound, GateResult, slice_label
from mlops_gates.stats import fairness as fair
from mlops_gates.stats.fairness import Criterion
from mlops_gates.stats.intervals import PROPORTIONS, proportion_counts
from mlops_gates.stats.metrics import confusion_metric, metric_values
from mlops_gates.stats.proportions import GapInference
from mlops_gates.stats.reduce import ClassificationStats

__all__ = ["evaluate", "evaluate_fairness"]

_CRITERIA: dict[str, Criterion] = {
    "demographic_parity": "demographic_parity",
    "equalized_odds": "equalized_odds",
    "equal_opportunity": "equal_opportunity",
}
# What each named fairness metric compares, for the per-group table in the report.
_COMPONENTS = {
    "demographic_parity": ("selection_rate",),
    "equalized_odds": ("tpr", "fpr"),
    "equal_opportunity": ("tpr",),
}


@register("fairness", needs=("reduced",))
def evaluate(gate: FairnessGate, run: Run) -> list[GateResult]:
    """The gate on the run's reduced tables."""
    ctx: Context = run.need("reduced")
    check_columns(gate, ctx, [*gate.control, gate.sensitive])
    check_scores(gate.metric, ctx, baseline=False)
    return evaluate_fairness(gate, ctx)


def evaluate_fairness(gate: FairnessGate, ctx: Context) -> list[GateResult]:
    """The gap or ratio across the sensitive groups, in each stratum of `control`."""
    gid = gate.id
    measure = gate.resolved_measure
    columns = (*gate.control, gate.sensitive)
    table, values = ctx.table(columns, scores=scores_needed(gate.metric))
    rows = support(table)
    family = gate.metric.removesuffix("_difference").removesuffix("_ratio")
    named = gate.metric in FAIRNESS_METRICS
    components = _COMPONENTS[family] if named else (gate.metric,)
    per_group = {
        m: (
            confusion_metric(m, table.candidate_confusion())
            if named and isinstance(table, ClassificationStats)
            else metric_values(m, table, model="candidate")
        )
        for m in components
    }

    strata: dict[tuple[Any, ...], list[int]] = {}
    for i, v in enumerate(values):
        strata.setdefault(tuple(v[c] for c in gate.control), []).append(i)

    settings = ctx.config.statistics
    rng = rng_for(settings, gid)
    bound = Bound(gate.min, gate.max)
    results: list[GateResult] = []
    findings: list[Finding] = []
    method = None
    # Proportions are compared by simultaneous score intervals, each over the groups whose
    # own denominator (positives for TPR, negatives for FPR) reaches min_support.
    counts = _component_counts(components, table, gate.min_support)
    gaps = (
        _gap_evidence(counts, strata, rows, gate.min_support, measure, ctx)
        if counts is not None
        else None
    )
    gap_p = gaps.pvalue(bound) if gaps is not None else None  # every stratum in one pass
    for n_stratum, (key, idx) in enumerate(strata.items()):
        stratum = dict(zip(gate.control, key, strict=True)) or None
        keep = [i for i in idx if rows[i] >= gate.min_support]
        kept = set(keep)  # a set: thousands of groups must not cost groups squared
        groups = [
            {
                "group": values[i][gate.sensitive],
                "support": int(rows[i]),
                "included": i in kept,
                **{m: float(per_group[m][i]) for m in components},
                **(
                    {}
                    if counts is None
                    else {
                        f"{m}_support": int(counts[m][1][i])
                        for m in components
                        if m != "selection_rate"
                    }
                ),
            }
            for i in idx
        ]
        details = {"sensitive": gate.sensitive, "measure": measure, "groups": groups}
        if len(keep) < 2:
            found = _groups_found(groups)
            results.append(
                GateResult(
                    id=result_id(gid, stratum),
                    gate=gid,
                    kind="fairness",
                    status=gate.on_insufficient,
                    severity=gate.severity,
                    reason="insufficient_support",
                    metric=gate.metric,
                    slice=stratum,
                    bound=bound,
                    support=int(sum(rows[i] for i in keep)),
                    details=details,
                    message=(
                        f"{gate.metric} across {gate.sensitive} on {slice_label(stratum)}: "
                        f"fewer than 2 groups with {gate.min_support}+ rows to compare "
                        f"({found})"
                    ),
                )
            )
            continue
        if gaps is not None:
            # Gaps of proportions: every stratum's simultaneous interval, computed at once.
            observed = float(gaps.estimate[n_stratum])
            method = gaps.method
            ci = gaps.interval(n_stratum)
            p_value = float(gap_p[n_stratum]) if gap_p is not None else math.nan
        else:
            criterion = _CRITERIA.get(family) if named else None
            cm = (
                table.candidate_confusion()[keep]
                if isinstance(table, ClassificationStats)
                else None
            )
            if criterion is not None:
                assert cm is not None
                observed = float(fair.parity_batch(criterion, cm, measure=measure))
            else:
                observed = fair.between_groups(per_group[gate.metric][keep], measure=measure)
            if cm is not None:
                ev = parity_evidence(
                    gate.metric,
                    cm,
                    criterion=criterion,
                    measure=measure,
                    estimate=observed,
                    settings=settings,
                    rng=rng,
                    draws=partial(ctx.resampled, columns, "candidate", keep),
                )
            else:
                ev = Evidence(np.array([observed]), note="no interval for a regression metric gap")
            method = ev.method or method
            if ev.note:
                details["ci_note"] = ev.note
            ci = ev.interval(0)
            p_value = float(ev.pvalue(bound)[0])
        findings.append(
            Finding(
                slc=stratum,
                observed=observed,
                bound=bound,
                support=int(sum(rows[i] for i in keep)),
                min_support=0,
                ci=ci,
                p_value=p_value,
                details=details,
            )
        )
    judge = Judge.of(
        gate,
        confidence=settings.confidence,
        what=f"{gate.metric} across {gate.sensitive}",
        undefined_why=_undefined_why(measure, components if counts is not None else ()),
    )
    results += judge.findings(findings, method=method)
    order = {
        result_id(gid, dict(zip(gate.control, k, strict=True)) or None): n
        for n, k in enumerate(strata)
    }
    return sorted(results, key=lambda r: order.get(r.id, 0))


def _groups_found(groups: list[dict[str, Any]], shown: int = 5) -> str:
    """The groups a stratum holds, e.g. "found: <missing> 400 rows" (the first few)."""
    if not groups:
        return "no rows"
    parts = [
        f"{'<missing>' if g['group'] is None else g['group']} {g['support']} rows"
        for g in sorted(groups, key=lambda g: -g["support"])[:shown]
    ]
    more = f" and {len(groups) - shown} more" if len(groups) > shown else ""
    return "found: " + ", ".join(parts) + more


def _undefined_why(measure: str, components: tuple[str, ...]) -> str:
    if components:
        what = " and ".join(
            f"{m} ({'rows' if m == 'selection_rate' else DENOMINATORS.get(m, 'rows')} "
            "at least min_support)"
            for m in components
        )
        extra = "; or the largest group value is 0" if measure == "ratio" else ""
        return f"fewer than 2 groups with a defined {what}{extra}"
    if measure == "ratio":
        return "the largest group value is 0, or no group value is defined"
    return "no group value is defined"


_Counts = dict[str, tuple[np.ndarray, np.ndarray]]


def _component_counts(
    components: tuple[str, ...], table: object, min_support: int
) -> _Counts | None:
    """``(successes, trials)`` per group of each proportion the gap compares; a group whose
    trials fall below ``min_support`` gets 0 trials (left out). None: not proportions."""
    if not isinstance(table, ClassificationStats):
        return None
    if not all(m in PROPORTIONS for m in components):
        return None
    if table.n_classes != 2 and components != ("accuracy",):
        return None
    cm = table.candidate_confusion()
    out: _Counts = {}
    for m in components:
        x, n = proportion_counts(m, cm)
        usable = n >= max(min_support, 1)
        out[m] = (np.where(usable, x, 0), np.where(usable, n, 0))
    return out


def _gap_evidence(
    counts: _Counts,
    strata: dict[tuple[Any, ...], list[int]],
    rows: np.ndarray,
    min_support: int,
    measure: str,
    ctx: Context,
) -> Evidence | None:
    """Gap or ratio per stratum with its simultaneous interval and family-wise p-values,
    all strata at once (groups padded to the largest stratum with empty ones)."""
    settings = ctx.config.statistics
    method = proportion_method(settings)
    if method is None or not settings.intervals:
        return None
    width = max((len(idx) for idx in strata.values()), default=0)
    parts = []
    for x, n in counts.values():
        xs = np.zeros((len(strata), max(width, 2)), dtype=np.int64)
        ns = np.zeros_like(xs)
        for s, idx in enumerate(strata.values()):
            keep = [i for i in idx if rows[i] >= min_support]
            xs[s, : len(keep)] = x[keep]
            ns[s, : len(keep)] = n[keep]
        parts.append((xs, ns))
    gi = GapInference(parts, measure=measure, method=method)  # type: ignore[arg-type]
    lo, hi = gi.interval(settings.confidence)
    return Evidence(
        gi.estimate(),
        lo,
        hi,
        f"simultaneous {method} (Newcombe, Bonferroni)"
        if measure == "difference"
        else f"simultaneous {method} (Bonferroni)",
        pvalues=gi.pvalue,
    )
