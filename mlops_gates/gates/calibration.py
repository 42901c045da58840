"""`calibration` gate: the candidate's scores mean what they say, overall and per slice.

Every number comes from the score tables (per slice and distinct score: positives and
negatives), through `stats/calibration.py` and `stats/calibration_slope.py`: ECE with its
simultaneous Clopper-Pearson-Bonferroni interval, calibration-in-the-large with the
observed rate's interval, Cox's slope and intercept with Wald intervals, the ECE
difference candidate − baseline (an unpaired, valid interval), and the paired difference
of the debiased squared ℓ2 calibration error (stats/calibration_paired.py). A number that
cannot be had (an empty slice, one class, a score of exactly 0 or 1 for the slope) is
undefined, which the judge turns into `error` on the whole data and the `on_insufficient`
outcome on a slice: never a pass.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from mlops_gates.config import CalibrationGate
from mlops_gates.errors import DataError
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.common import Context, check_columns, slicings
from mlops_gates.gates.evidence import Evidence, proportion_method
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult
from mlops_gates.stats.reduce import ClassificationStats, ScoreStats

__all__ = ["evaluate", "evaluate_calibration"]

_NO_BASELINE = "no baseline configured (a first model?); outcome set by if_no_baseline: {outcome}"
# The ECE interval is Clopper-Pearson per bin: at Bonferroni tails Wilson and Jeffreys
# undercover (docs/explanation/new-gates-statistics.md).
_ECE_METHOD: Literal["clopper_pearson"] = "clopper_pearson"
_WHAT = {
    "ece": "expected calibration error",
    "squared_l2": "squared l2 calibration error (debiased)",
    "citl": "calibration-in-the-large",
    "slope": "calibration slope",
    "intercept": "calibration intercept",
}


@register("calibration", needs=("reduced",))
def evaluate(gate: CalibrationGate, run: Run) -> list[GateResult]:
    """The gate on the run's score tables, or its `if_no_baseline` outcome."""
    ctx: Context = run.need("reduced")
    check_columns(gate, ctx, [c for s in slicings(False, gate.slices) for c in s])
    if gate.compare == "baseline":
        outcome = gate.if_no_baseline
        if run.no_baseline is not None:  # the registry alias is not set yet
            message = f"{run.no_baseline}; treated as no baseline, outcome set by "
            return [_single(gate, outcome, "no_baseline", f"{message}if_no_baseline: {outcome}")]
        if run.config.baseline is None:
            message = _NO_BASELINE.format(outcome=outcome)
            return [_single(gate, outcome, "no_baseline", message)]
        if ctx.reduced.baseline_error is not None:
            return [
                _single(
                    gate,
                    "error",
                    "error",
                    f"the baseline could not be evaluated: {ctx.reduced.baseline_error}",
                )
            ]
    _check_scores(gate, ctx)
    return evaluate_calibration(gate, ctx)


def evaluate_calibration(gate: CalibrationGate, ctx: Context) -> list[GateResult]:
    """The statistic on the whole data and each slice, judged against `min` / `max`."""
    settings = ctx.config.statistics
    level = settings.confidence
    bound = Bound(gate.min, gate.max)
    compare = gate.compare == "baseline"
    findings: list[Finding] = []
    method = None
    binned = {m: b is not None for m, b in ctx.reduced.bins.items()}
    for columns in slicings(gate.overall, gate.slices):
        table, values = ctx.table(columns, scores="both" if compare else "candidate")
        assert isinstance(table, ClassificationStats)
        scores = table.candidate_scores
        if scores is None or (compare and table.baseline_scores is None):
            raise DataError(f"gate {gate.id!r}: no score table was reduced (please report it)")
        if gate.statistic == "ece":
            ev, extra = _ece(gate, scores, table.baseline_scores if compare else None, level)
        elif gate.statistic == "squared_l2":
            ev, extra = _squared_l2(gate, table, level)
        elif gate.statistic == "citl":
            ev, extra = _citl(scores, level, proportion_method(settings) or "wilson")
        else:
            ev, extra = _slope(gate.statistic, scores, level)
        method = ev.method
        # ECE's p-value is a bisection over its Bonferroni interval (about 1 s per 200
        # slices): computed when it decides (judge: significance), else not reported.
        if gate.statistic != "ece" or gate.judge == "significance":
            p = ev.pvalue(bound)
        else:
            p = np.full(len(values), np.nan)
        rows = scores.support()
        for i, slc in enumerate(values):
            details: dict[str, Any] = {k: _item(v, i) for k, v in extra.items()}
            if any(binned.values()):
                details["scores_binned"] = True
            findings.append(
                Finding(
                    slc=slc,
                    observed=float(ev.estimate[i]),
                    bound=bound,
                    support=int(rows[i]),
                    min_support=gate.min_support if columns else 0,
                    ci=ev.interval(i),
                    p_value=float(p[i]),
                    details=details,
                )
            )
    what = _WHAT[gate.statistic]
    if compare:
        what = f"{what} candidate - baseline"
    judge = Judge.of(
        gate,
        confidence=level,
        metric=gate.statistic,
        what=what,
        undefined_why=_UNDEFINED[gate.statistic],
    )
    return judge.findings(findings, method=method)


_UNDEFINED = {
    "ece": "no rows with scores",
    "squared_l2": "no rows with scores",
    "citl": "no rows with scores",
    "slope": "the logistic fit needs both classes, two distinct scores, no score of exactly "
    "0 or 1, and no separation",
    "intercept": "the logistic fit needs both classes, two distinct scores, no score of "
    "exactly 0 or 1, and no separation",
}


def _ece(
    gate: CalibrationGate, scores: ScoreStats, baseline: ScoreStats | None, level: float
) -> tuple[Evidence, dict[str, Any]]:
    """ECE (or the candidate − baseline difference) per slice, with the curve behind it."""
    from mlops_gates.stats import calibration as cal

    bins = cal.calibration_bins(scores, n_bins=gate.bins, strategy=gate.strategy)
    ece = cal.expected_calibration_error(bins)
    extra: dict[str, Any] = {
        "bins": gate.bins,
        "strategy": gate.strategy,
        "curve": _curves(bins),
    }
    if baseline is None:
        iv = cal.ece_interval(bins, level=level, method=_ECE_METHOD)

        def pvalues(b: float, side: Literal["below", "above"]) -> np.ndarray:
            return cal.ece_pvalue(bins, bound=b, alternative=side, method=_ECE_METHOD)

        extra["mean_score"], extra["observed_rate"] = _means(scores)
        return Evidence(
            ece, iv.lo, iv.hi, method="clopper_pearson_bonferroni", pvalues=pvalues
        ), extra
    base = cal.calibration_bins(baseline, n_bins=gate.bins, strategy=gate.strategy)
    diff, iv = cal.ece_difference(bins, base, level=level, method=_ECE_METHOD)

    def diff_pvalues(b: float, side: Literal["below", "above"]) -> np.ndarray:
        return cal.ece_difference_pvalue(bins, base, margin=b, alternative=side, method=_ECE_METHOD)

    extra.update(
        candidate=ece,
        baseline=cal.expected_calibration_error(base),
        baseline_curve=_curves(base),
        greater_is_better=False,
    )
    method = "clopper_pearson_bonferroni_unpaired"
    return Evidence(diff, iv.lo, iv.hi, method=method, pvalues=diff_pvalues), extra


def _squared_l2(
    gate: CalibrationGate, table: ClassificationStats, level: float
) -> tuple[Evidence, dict[str, Any]]:
    """The paired candidate − baseline difference of the debiased squared ℓ2 calibration
    error, from both models' bins crossed on the same rows (stats/calibration_paired.py)."""
    from mlops_gates.stats import calibration as cal
    from mlops_gates.stats import calibration_paired as paired

    scores, baseline, joint = table.candidate_scores, table.baseline_scores, table.joint_scores
    if scores is None or baseline is None or joint is None:
        raise DataError(f"gate {gate.id!r}: no joint score table was reduced (please report it)")
    bins = cal.calibration_bins(scores, n_bins=gate.bins, strategy=gate.strategy)
    base = cal.calibration_bins(baseline, n_bins=gate.bins, strategy=gate.strategy)
    cells = paired.joint_calibration_bins(joint, scores, baseline, bins, base)
    diff, iv, se = paired.l2_difference(bins, base, cells, level=level)
    extra: dict[str, Any] = {
        "bins": gate.bins,
        "strategy": gate.strategy,
        "curve": _curves(bins),
        "candidate": paired.l2_calibration_error(bins),
        "baseline": paired.l2_calibration_error(base),
        "baseline_curve": _curves(base),
        "greater_is_better": False,
    }
    return Evidence(diff, iv.lo, iv.hi, method="paired_exact_variance", se=se), extra


def _citl(scores: ScoreStats, level: float, method: Any) -> tuple[Evidence, dict[str, Any]]:
    from mlops_gates.stats import calibration as cal

    citl, iv = cal.calibration_in_the_large(scores, level=level, method=method)

    def pvalues(b: float, side: Literal["below", "above"]) -> np.ndarray:
        return cal.citl_pvalue(scores, bound=b, alternative=side, method=method)

    extra: dict[str, Any] = {}
    extra["mean_score"], extra["observed_rate"] = _means(scores)
    return Evidence(citl, iv.lo, iv.hi, method=method, pvalues=pvalues), extra


def _slope(statistic: str, scores: ScoreStats, level: float) -> tuple[Evidence, dict[str, Any]]:
    from statistics import NormalDist

    from mlops_gates.stats.calibration_slope import calibration_slope

    a, b, ia, ib = calibration_slope(scores, level=level)
    est, iv = (b, ib) if statistic == "slope" else (a, ia)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    se = (iv.hi - iv.lo) / (2.0 * z)
    # Both numbers of the fit ride along: a slope is read with its intercept.
    extra = {"intercept": a, "slope": b}
    return Evidence(est, iv.lo, iv.hi, method="wald", se=se), extra


def _means(scores: ScoreStats) -> tuple[np.ndarray, np.ndarray]:
    """Mean score and observed positive rate per slice."""
    n = scores.support().astype(np.float64)
    value = scores.thresholds[scores.score] if scores.thresholds.shape[0] else np.zeros(0)
    total = np.bincount(
        scores.group, weights=(scores.pos + scores.neg) * value, minlength=scores.n_groups
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / n, scores.n_positive() / n


def _curves(bins: Any) -> list[dict[str, Any]]:
    """Per slice, the occupied bins' mean score, observed rate and rows: the reliability
    diagram (sklearn's calibration_curve gives the first two)."""
    mean, rate = bins.mean_score(), bins.observed_rate()
    out: list[dict[str, Any]] = []
    for s in range(bins.total.shape[0]):
        occupied = bins.total[s] > 0
        out.append(
            {
                "mean_score": [float(x) for x in mean[s, occupied]],
                "observed_rate": [float(x) for x in rate[s, occupied]],
                "rows": [int(x) for x in bins.total[s, occupied]],
            }
        )
    return out


def _item(value: Any, i: int) -> Any:
    """Slice i's entry of a per-slice array or list; a scalar as it is."""
    if isinstance(value, np.ndarray):
        x = float(value[i])
        return None if math.isnan(x) else x
    if isinstance(value, list):
        return value[i]
    return value


def _check_scores(gate: CalibrationGate, ctx: Context) -> None:
    """Scores must exist and be probabilities; the message names the model and the fix."""
    roles = ["candidate"] + (["baseline"] if gate.compare == "baseline" else [])
    for role in roles:
        if ctx.reduced.scores.get(role) is None:
            raise DataError(
                f"gate {gate.id!r} (calibration) reads scores, but the {role} gives none: use "
                f"a model with predict_proba, or add `scores: <column>` to `{role}`"
            )
        lo, hi = ctx.reduced.score_range.get(role, (0.0, 0.0))
        if lo < 0 or hi > 1:
            raise DataError(
                f"gate {gate.id!r} (calibration) needs probabilities, but the {role}'s scores "
                f"leave [0, 1] (min {lo:.4g}, max {hi:.4g}): give the positive class's "
                "probability as `scores`"
            )


def _single(gate: CalibrationGate, status: str, reason: str, message: str) -> GateResult:
    gid = gate.id
    return GateResult(
        id=gid,
        gate=gid,
        kind="calibration",
        status=status,  # type: ignore[arg-type]
        severity=gate.severity,
        reason=reason,
        metric=gate.statistic,
        message=f"{gid}: {message}",
    )
