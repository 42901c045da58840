"""Gate kinds judged on a binary model's scores and decisions: calibration and churn.

`calibration`: do the scores mean what they say (expected calibration error,
calibration-in-the-large, Cox's slope and intercept), overall and per slice, optionally
candidate against baseline. `churn`: how many decisions flip against the baseline (the live
model), or a TOST that a metric is equivalent within ±δ. Statistics: docs/explanation/
new-gates-statistics.md; how-to: docs/how-to/calibration-and-churn.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlops_gates.config.base import FieldError, GateBase, Judged, MinSupport, Outcome, Sliced
from mlops_gates.config.base import need_bound as _need_bound

__all__ = ["TOST_METRICS", "CalibrationGate", "ChurnGate"]

# `check_against(config, index)` is called by `Config` with itself (typed Any here: the
# config model imports this module).

# Metrics scored on rows that do not depend on either model (so candidate and baseline
# rows pair up); the same list as stats.churn.TOST_METRICS (tests check they agree).
TOST_METRICS = ("accuracy", "recall", "tpr", "specificity", "fpr", "fnr", "selection_rate")
CalibrationStatistic = Literal["ece", "squared_l2", "citl", "slope", "intercept"]
# Statistics read over score bins (`bins`, `strategy`) and with a `compare: baseline` form.
BINNED_STATISTICS = ("ece", "squared_l2")
FlipDirection = Literal["any", "neg_to_pos", "pos_to_neg"]


class CalibrationGate(GateBase, Sliced, Judged):
    """The candidate's scores are calibrated (binary tasks), on the whole data and on each
    slice; or, with `compare: baseline`, no worse calibrated than the baseline's."""

    kind: Literal["calibration"]
    statistic: CalibrationStatistic = Field(
        default="ece",
        description="ece: expected calibration error, Σ (n_b / n)·|mean score − observed "
        "rate| over score bins; squared_l2: the debiased squared ℓ2 calibration error, "
        "Σ (n_b / n)·(mean score − observed rate)² less each bin's binomial noise (Kumar, "
        "Liang & Ma 2019), only with compare: baseline, where its candidate − baseline "
        "difference is paired (the same rows' label noise cancels) and so can show a model "
        "better calibrated; citl: calibration-in-the-large, mean score − observed rate "
        "(> 0: over-predicts); slope / intercept: Cox's logistic recalibration "
        "logit P(y) = intercept + slope·logit(score) (calibrated: 1 and 0; slope < 1: "
        "over-confident).",
    )
    bins: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="With statistic: ece or squared_l2, the number of score bins.",
    )
    strategy: Literal["uniform", "quantile"] = Field(
        default="uniform",
        description="With statistic: ece or squared_l2, the bins: uniform (equal width over "
        "[0, 1]) or quantile (equal mass: each slice's own score quantiles), as scikit-learn's "
        "calibration_curve.",
    )
    compare: Literal["baseline"] | None = Field(
        default=None,
        description="baseline: judge the statistic's candidate − baseline difference on the "
        "same rows; `max: 0` reads 'no worse calibrated than the baseline'. With ece the "
        "interval is unpaired (valid but wide); with squared_l2 it is paired.",
    )
    min: float | None = Field(default=None, description="Lower bound (inclusive).")
    max: float | None = Field(
        default=None,
        description="Upper bound (inclusive): e.g. 0.05 for ECE, or 0 on the difference "
        "with `compare: baseline`.",
    )
    min_support: MinSupport = Field(
        default=100,
        description="Slices with fewer rows are insufficient: a calibration curve needs "
        "rows in its bins.",
    )
    if_no_baseline: Outcome = Field(
        default="skip",
        description="With compare: baseline, the outcome when there is no baseline (a "
        "first model).",
    )

    @model_validator(mode="after")
    def _check(self) -> CalibrationGate:
        _need_bound(self.min, self.max)
        if self.statistic not in BINNED_STATISTICS:
            for key in ("bins", "strategy"):
                if key in self.model_fields_set:
                    raise FieldError(
                        (key,), f"`{key}` applies to statistic: ece or squared_l2 only; remove it"
                    )
        if self.compare == "baseline" and self.statistic not in BINNED_STATISTICS:
            raise FieldError(
                ("compare",),
                f"compare: baseline judges an ECE or squared_l2 difference; statistic "
                f"{self.statistic!r} has no candidate-vs-baseline form (use statistic: ece "
                "or squared_l2, or a gate per model)",
            )
        if self.statistic == "squared_l2" and self.compare != "baseline":
            # Its interval is validated for the paired difference only (bench/
            # calibration_paired.py); one model's ECE has the Bonferroni interval.
            raise FieldError(
                ("statistic",),
                "statistic: squared_l2 is the paired candidate-vs-baseline comparison: add "
                "`compare: baseline`, or use statistic: ece for one model",
            )
        return self

    def default_id(self) -> str:
        """`calibration-<statistic>`, with `-vs-baseline` for the comparison."""
        suffix = "-vs-baseline" if self.compare == "baseline" else ""
        return f"calibration-{self.statistic}{suffix}"

    def check_against(self, config: Any, index: int) -> None:
        """Calibration reads the scores of a binary task (both models' with compare)."""
        if config.task.type != "binary":
            raise FieldError(
                ("gates", index, "kind"),
                f"gate {self.id!r}: calibration needs a binary task's scores; task.type is "
                f"{config.task.type!r}",
            )
        roles = ["candidate"] + (["baseline"] if self.compare == "baseline" else [])
        for role in roles:
            mc = getattr(config, role)
            if mc is not None and mc.predictions is not None and mc.scores is None:
                raise FieldError(
                    (role, "scores"),
                    f"gate {self.id!r} (calibration) reads scores: add `scores: <column>` "
                    f"(the probability of the positive class) to `{role}`",
                )


class ChurnGate(GateBase, Sliced, Judged):
    """Few decisions flip against the baseline (usually the live model), on the whole data
    and on each slice; or, with `metric` and `within`, a metric shown equivalent (TOST)."""

    kind: Literal["churn"]
    direction: FlipDirection = Field(
        default="any",
        description="Which flips `max` bounds, as a share of the slice's rows: any (every "
        "changed decision), neg_to_pos (baseline negative, candidate positive) or "
        "pos_to_neg. Every verdict reports all three.",
    )
    max: float | None = Field(
        default=None, ge=0, le=1, description="Largest share of rows whose decision may flip."
    )
    metric: str | None = Field(
        default=None,
        description="Equivalence form: the metric whose candidate − baseline difference "
        f"must be shown within ±`within` by two one-sided tests: {', '.join(TOST_METRICS)}.",
    )
    within: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Equivalence margin δ: pass when the 1 − 2α interval of the difference "
        "lies inside (−δ, δ), α = 1 − statistics.confidence.",
    )
    if_no_baseline: Outcome = Field(
        default="skip", description="Outcome when the config has no baseline (a first model)."
    )

    @model_validator(mode="after")
    def _check(self) -> ChurnGate:
        tost = self.metric is not None or self.within is not None
        if not tost:
            if self.max is None:
                raise ValueError(
                    "give `max` (the largest share of flipped decisions, e.g. 0.02), or "
                    "`metric` and `within` for an equivalence test"
                )
            return self
        if self.metric is None or self.within is None:
            missing = "metric" if self.metric is None else "within"
            raise FieldError((missing,), "an equivalence test needs both `metric` and `within`")
        if self.metric not in TOST_METRICS:
            raise FieldError(
                ("metric",),
                f"equivalence needs a metric scored on rows both models share: one of "
                f"{', '.join(TOST_METRICS)}; got {self.metric!r}",
            )
        for key in ("max", "direction", "judge", "multiplicity"):
            if key in self.model_fields_set:
                raise FieldError(
                    (key,),
                    f"`{key}` does not apply to an equivalence test (`metric` with "
                    "`within`), which passes only when shown equivalent; remove it",
                )
        return self

    def default_id(self) -> str:
        """`churn`, `churn-<direction>`, or `churn-<metric>` for an equivalence test."""
        if self.metric is not None:
            return f"churn-{self.metric}"
        return "churn" if self.direction == "any" else f"churn-{self.direction}"

    def check_against(self, config: Any, index: int) -> None:
        """Flips are label changes: not a regression task's; directions need two classes."""
        if config.task.type == "regression":
            raise FieldError(
                ("gates", index, "kind"),
                f"gate {self.id!r}: churn counts changed decisions, which a regression task "
                "does not make; compare errors with a `baseline` gate instead",
            )
        if config.task.type != "binary" and (self.direction != "any" or self.metric):
            key = "direction" if self.direction != "any" else "metric"
            raise FieldError(
                ("gates", index, key),
                f"gate {self.id!r}: `{key}` needs a binary task; with {config.task.type!r} "
                "use direction: any",
            )
