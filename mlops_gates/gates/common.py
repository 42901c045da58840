"""What every gate kind shares: the evaluation context, slicing and verdict wording."""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import Reduced
from mlops_gates.config import Config, Judge, Multiplicity, Outcome, SliceSpec
from mlops_gates.gates.result import Bound, GateResult, Status, fmt, slice_label
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.stats.reduce import (
    ClassificationStats,
    JointScores,
    RegressionStats,
    ScoreStats,
)

ScoresNeeded = Literal["none", "candidate", "both"]
Resample = Literal["candidate", "paired"]
# Replicates of one slicing take R x cells x 8 bytes (1,000 x 160 slices x 4 cells: 5 MB);
# a multiclass table with a baseline can take far more, and is then not kept.
_KEEP_DRAWS_BYTES = 64 * 2**20


def scores_needed(metric: str, *, baseline: bool = False) -> ScoresNeeded:
    from mlops_gates.config import SCORE_METRICS

    if metric not in SCORE_METRICS:
        return "none"
    return "both" if baseline else "candidate"


@dataclass
class Context:
    """What gates read: the reduced tables (from whichever backend) and the config."""

    config: Config
    reduced: Reduced
    data: EvalData | None = None  # the rows, when the memory backend read them
    _tables: dict[tuple[str, ...], ClassificationStats | RegressionStats] = field(
        default_factory=dict
    )
    _scores: dict[tuple[tuple[str, ...], str], ScoreStats | None] = field(default_factory=dict)
    _draws: dict[tuple[tuple[str, ...], Resample], np.ndarray] = field(default_factory=dict)
    _joint: dict[tuple[str, ...], JointScores] = field(default_factory=dict)

    @property
    def grouping(self) -> Grouping:
        return self.reduced.grouping

    @property
    def stats(self) -> ClassificationStats | RegressionStats:
        return self.reduced.stats

    def table(
        self, columns: tuple[str, ...], *, scores: ScoresNeeded = "none"
    ) -> tuple[ClassificationStats | RegressionStats, list[dict[str, Any]]]:
        """The reduced table of one slicing (one row per slice) and the slices' values.

        Each part is built once per slicing and shared by every gate: the count table, and
        each model's score table, which is only built for gates that use scores. Score
        tables come over a coarser grouping (the score gates' columns only); both list
        the slices of a slicing in the same sorted order."""
        from mlops_gates.stats.reduce import marginalize

        g2s, values = self.grouping.slicing(columns)
        _check_slice_count(columns, len(values), self.config.statistics.max_slices)
        stats = self.stats
        if columns not in self._tables:
            self._tables[columns] = marginalize(stats, g2s, len(values))
        table = self._tables[columns]
        if scores == "none" or not isinstance(stats, ClassificationStats):
            return table, values
        assert isinstance(table, ClassificationStats)
        score_grouping = self.reduced.score_grouping
        if not set(columns) <= set(score_grouping.keys.columns):
            raise RuntimeError(f"no score table was reduced over {list(columns)}")
        s2s, score_values = score_grouping.slicing(columns)
        if len(score_values) != len(values):
            raise RuntimeError("score and count tables disagree on the slices")
        parts: dict[str, ScoreStats | JointScores | None] = {}
        for model in ("candidate", "baseline") if scores == "both" else ("candidate",):
            if (columns, model) not in self._scores:
                full = self.reduced.scores.get(model)
                self._scores[columns, model] = (
                    None if full is None else marginalize(full, s2s, len(values))
                )
            parts[f"{model}_scores"] = self._scores[columns, model]
        joint = self.reduced.joint_scores
        if scores == "both" and joint is not None:
            from mlops_gates.stats.reduce import marginalize_joint

            if columns not in self._joint:
                self._joint[columns] = marginalize_joint(joint, s2s, len(values))
            parts["joint_scores"] = self._joint[columns]
        return dataclasses.replace(table, **parts), values  # type: ignore[arg-type]

    def resampled(
        self, columns: tuple[str, ...], what: Resample, slices: list[int] | None = None
    ) -> np.ndarray:
        """Bootstrap replicates of one slicing's cells, shared by every gate that reads it.

        ``"candidate"``: ``(R, S, K, K)`` candidate confusion matrices; ``"paired"``:
        ``(R, S, K, K, K)`` counts over (true, candidate, baseline), both models' cells of a
        row drawn together. The stream is seeded by ``statistics.seed``, the slicing and
        ``what`` alone, so the draws do not depend on which other gates the config holds,
        and the accuracy, recall and F1 intervals of one slice come from the same
        replicates. Kept for later gates while small; a large one is drawn again, the same.
        ``slices``: keep only these slices of the slicing (each slice is resampled on its
        own, so a subset of the replicates is a resample of the subset).
        """
        draws = self._draws.get((columns, what))
        if draws is not None:
            return draws if slices is None else draws[:, slices]
        table, _ = self.table(columns)
        if not isinstance(table, ClassificationStats):
            raise TypeError("only classification tables are resampled")
        cells = int(np.prod(table.counts.shape[1:] if what == "paired" else (table.n_classes,) * 2))
        size = self.config.statistics.replicates * table.n_groups * cells * 8
        if slices is None or size <= _KEEP_DRAWS_BYTES:
            draws = self._draw(table, columns, what, None)
            if size <= _KEEP_DRAWS_BYTES:
                self._draws[columns, what] = draws
            return draws if slices is None else draws[:, slices]
        # Too large to keep: draw only the slices asked for (a stream of their own), so a
        # gate over many strata costs one draw per stratum, not one of the whole slicing.
        return self._draw(table, columns, what, slices)

    def _draw(
        self,
        table: ClassificationStats,
        columns: tuple[str, ...],
        what: Resample,
        slices: list[int] | None,
    ) -> np.ndarray:
        from mlops_gates.stats import intervals

        settings = self.config.statistics
        which = "" if slices is None else ":" + ",".join(map(str, slices))
        rng = np.random.default_rng(
            [settings.seed, zlib.crc32(f"{what}:{','.join(columns)}{which}".encode())]
        )
        if what == "paired":
            counts = table.counts if slices is None else table.counts[slices]
            return intervals.bootstrap_paired(counts, replicates=settings.replicates, rng=rng)
        cm = table.candidate_confusion()
        return intervals.bootstrap_confusion(
            cm if slices is None else cm[slices],
            replicates=settings.replicates,
            rng=rng,
            smoothing=intervals.SMOOTHING,
        )


def _check_slice_count(columns: tuple[str, ...], count: int, limit: int) -> None:
    """Stop before the bootstrap of a slicing with more slices than memory allows."""
    if count <= limit:
        return
    from mlops_gates.errors import DataError

    named = " x ".join(repr(c) for c in columns)
    raise DataError(
        f"column {named} has {count:,} distinct values (slices), more than "
        f"statistics.max_slices ({limit:,}); slice by a coarser column, or raise "
        f"`statistics.max_slices` in the config (each slice's bootstrap costs memory)"
    )


def support(table: ClassificationStats | RegressionStats) -> np.ndarray:
    """Rows behind each group of a (marginalized) table."""
    if isinstance(table, ClassificationStats):
        return table.support()
    return table.n


# What a proportion metric is a share of, when that is not every row of the slice.
DENOMINATORS = {
    "recall": "positives",
    "tpr": "positives",
    "fnr": "positives",
    "fpr": "negatives",
    "specificity": "negatives",
    "precision": "predicted positives",
}


def denominator(
    metric: str, table: ClassificationStats | RegressionStats, *, paired: bool = False
) -> tuple[np.ndarray, str]:
    """The evidence behind each slice's value of ``metric``: its own denominator (positives
    for recall, negatives for FPR, predicted positives for precision) or, for every other
    metric, the slice's rows; and the name of what is counted. ``paired``: for a
    candidate − baseline difference, the smaller of the two models' denominators."""
    from mlops_gates.stats.intervals import proportion_counts

    unit = DENOMINATORS.get(metric)
    if unit is None or not isinstance(table, ClassificationStats) or table.n_classes != 2:
        return support(table), "rows"
    _, n = proportion_counts(metric, table.candidate_confusion())
    if paired and table.has_baseline:
        n = np.minimum(n, proportion_counts(metric, table.baseline_confusion())[1])
    return n, unit


def evidence_count(support: int, rows: int | None, unit: str) -> str:
    """ "12 positives of 340 rows", or "340 rows" when the metric is a share of all rows."""
    if unit == "rows" or rows is None:
        return f"{support} rows"
    return f"{support} {unit} of {rows} rows"


def slicings(overall: bool, slices: list[SliceSpec]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()] if overall else []
    for s in slices:
        cols = (s,) if isinstance(s, str) else tuple(s)
        if cols not in out:
            out.append(cols)
    return out


def outcome_status(outcome: Outcome, severity: Literal["block", "warn"]) -> Status:
    if outcome == "fail":
        return "fail" if severity == "block" else "warn"
    return outcome


def result_id(gate_id: str, slc: dict[str, Any] | None) -> str:
    return gate_id if not slc else f"{gate_id}[{slice_label(slc)}]"


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
    unit: str = "rows"  # what `support` counts (see `denominator`)


def judge_findings(
    findings: list[Finding],
    *,
    gate_id: str,
    kind: str,
    severity: Literal["block", "warn"],
    metric: str,
    on_insufficient: Outcome,
    what: str,
    mode: Judge = "estimate",
    multiplicity: Multiplicity = "none",
    confidence: float = 0.95,
    method: str | None = None,
    undefined_why: str = "",
) -> list[GateResult]:
    """Adjust the p-values across the gate's slices that have enough rows, then judge each."""
    from mlops_gates.stats.inference import adjust

    eligible = [
        i
        for i, f in enumerate(findings)
        if f.support >= f.min_support and not math.isnan(f.p_value)
    ]
    adjusted = [math.nan] * len(findings)
    if eligible:
        values = adjust(np.array([findings[i].p_value for i in eligible]), multiplicity)
        for i, v in zip(eligible, values, strict=True):
            adjusted[i] = float(v)
    out = []
    for f, p_adj in zip(findings, adjusted, strict=True):
        evidence = {
            "judged_on": mode,
            "confidence": confidence,
            "ci_method": method if f.ci is not None else None,
            "p_value": None if math.isnan(f.p_value) else f.p_value,
            "p_adjusted": None if math.isnan(p_adj) else p_adj,
            "multiplicity": multiplicity,
        }
        out.append(
            judge(
                gate_id=gate_id,
                kind=kind,
                severity=severity,
                metric=metric,
                slc=f.slc,
                observed=f.observed,
                bound=f.bound,
                support=f.support,
                min_support=f.min_support,
                on_insufficient=on_insufficient,
                what=what,
                details={**f.details, **evidence, **_counted(f)},
                undefined_why=undefined_why,
                counted=evidence_count(f.support, f.rows, f.unit),
                ci=f.ci,
                mode=mode,
                p_adjusted=p_adj,
                alpha=1 - confidence,
            )
        )
    return out


def _counted(f: Finding) -> dict[str, Any]:
    if f.unit == "rows" or f.rows is None:
        return {}
    return {"rows": f.rows, "support_counts": f.unit}


def judge(
    *,
    gate_id: str,
    kind: str,
    severity: Literal["block", "warn"],
    metric: str,
    slc: dict[str, Any] | None,
    observed: float,
    bound: Bound,
    support: int,
    min_support: int,
    on_insufficient: Outcome,
    what: str,
    details: dict[str, Any] | None = None,
    undefined_why: str = "",
    ci: tuple[float, float] | None = None,
    mode: Judge = "estimate",
    p_adjusted: float = math.nan,
    alpha: float = 0.05,
    counted: str | None = None,
) -> GateResult:
    """The verdict on one number: support first, then definedness, then the bound, judged
    on the point estimate, the interval or the (adjusted) p-value as `mode` says."""
    where = slice_label(slc)
    shown = fmt(observed) + (f" [{_outward(ci[0], -1)}, {_outward(ci[1], 1)}]" if ci else "")
    status: Status
    count = counted or f"{support} rows"
    undefined = math.isnan(observed)
    if not undefined and mode == "interval" and (ci is None or math.isnan(ci[0] + ci[1])):
        undefined, undefined_why = True, "no confidence interval for it"
    if not undefined and mode == "significance" and math.isnan(p_adjusted):
        undefined, undefined_why = True, "no p-value for it"
    if support < min_support:
        status, reason = outcome_status(on_insufficient, severity), "insufficient_support"
        message = (
            f"{what} on {where}: insufficient evidence, {count} "
            f"(min_support {min_support}); outcome set by on_insufficient: {on_insufficient}"
        )
    elif undefined:
        why = f" ({undefined_why})" if undefined_why else ""
        reason = "undefined"
        if slc:
            status = outcome_status(on_insufficient, severity)
            message = (
                f"{what} on {where} is undefined{why} over {count}; "
                f"outcome set by on_insufficient: {on_insufficient}"
            )
        else:
            status = "error"
            message = f"{what} is undefined on the whole data{why} ({count})"
    else:
        too_low = bound.min is not None and observed < bound.min
        if mode == "interval":
            assert ci is not None
            lo_ok = bound.min is None or ci[0] >= bound.min
            hi_ok = bound.max is None or ci[1] <= bound.max
            holds, too_low = lo_ok and hi_ok, not lo_ok
            basis = "its interval is"
        elif mode == "significance":
            holds = p_adjusted >= alpha
            too_low = bound.max is None or (bound.min is not None and observed < bound.min)
            basis = f"adjusted p = {fmt(p_adjusted, 3)} that it is"
        else:
            holds, basis = bound.holds(observed), "it is"
        if holds:
            status, reason = "pass", "ok"
            message = f"{what} on {where} is {shown} ({bound.describe()}, {count})"
        else:
            status = outcome_status("fail", severity)
            reason = "below_min" if too_low else "above_max"
            limit = fmt(bound.min if too_low else bound.max)
            side = "below the minimum" if too_low else "above the maximum"
            message = f"{what} on {where} is {shown}: {basis} {side} {limit} ({count})"
    return GateResult(
        id=result_id(gate_id, slc),
        gate=gate_id,
        kind=kind,
        status=status,
        severity=severity,
        message=message,
        reason=reason,
        metric=metric,
        slice=slc or None,
        observed=None if math.isnan(observed) else float(observed),
        bound=bound,
        ci=None if ci is None or math.isnan(ci[0] + ci[1]) else (float(ci[0]), float(ci[1])),
        support=int(support),
        details=details or {},
    )


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


def error_result(
    gate_id: str, kind: str, severity: Literal["block", "warn"], message: str, **extra: Any
) -> GateResult:
    return GateResult(
        id=gate_id,
        gate=gate_id,
        kind=kind,
        status="error",
        severity=severity,
        reason="error",
        message=message,
        **extra,
    )
