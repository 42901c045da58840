"""Gate kinds about the data itself: drift, staleness (model and data age), skew."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from mlops_gates.config.base import (
    Duration,
    GateBase,
    MinSupport,
    Multiplicity,
    Outcome,
    StrictModel,
    parse_duration,
)

__all__ = [
    "DRIFT_DEFAULT_MAX",
    "DataAgeCheck",
    "DriftGate",
    "DriftStatistic",
    "FeatureTolerance",
    "ModelAgeCheck",
    "SkewGate",
    "StalenessGate",
]


DriftStatistic = Literal["psi", "js", "wasserstein", "chi2", "ks"]
# Bounds a drift gate uses when it gives no `max`: the usual rules of thumb for each number.
DRIFT_DEFAULT_MAX: dict[str, float] = {
    "psi": 0.2,
    "js": 0.1,
    "wasserstein": 0.1,
    "chi2": 0.1,
    "ks": 0.1,
}


class DriftGate(GateBase):
    """The evaluation data's distribution stays close to a reference's, feature by feature."""

    kind: Literal["drift"]
    reference: str = Field(
        description="Reference data: a profile written by `mlops-gates profile` (.json), or "
        "a Parquet / CSV file profiled on the fly; relative to this file."
    )
    features: list[str] | None = Field(
        default=None,
        description="Columns to compare; default: every column of the reference (numeric "
        "ones only for wasserstein and ks).",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Columns left out of the default feature list."
    )
    include_label_and_predictions: bool = Field(
        default=False,
        description="Also compare the label column and the prediction and score columns "
        "that `candidate` / `baseline` name, when `features` is not given. Left out by "
        "default: in production labels arrive late, so the label's share of missing values "
        "measures when labels came, not drift; the model's output is `predictions: true`.",
    )
    statistic: DriftStatistic = Field(
        default="psi",
        description="psi, js (Jensen-Shannon distance), wasserstein (in reference standard "
        "deviations), chi2 (Cramér's V) or ks (Kolmogorov-Smirnov D).",
    )
    max: float | None = Field(
        default=None,
        ge=0,
        description="Largest drift allowed per feature; default psi 0.2, js 0.1, "
        "wasserstein 0.1, chi2 0.1, ks 0.1.",
    )
    predictions: bool = Field(
        default=False,
        description="Also compare the candidate's output (scores, else labels or values).",
    )
    bins: int | None = Field(
        default=None,
        ge=2,
        le=1000,
        description="Data-file reference: numeric bins (default 10); a profile fixes its own.",
    )
    top_k: int | None = Field(
        default=None,
        ge=1,
        description="Data-file reference: categories kept per column (default 50), the rest "
        "become `other`.",
    )
    min_support: MinSupport = Field(
        default=100, description="Features with fewer rows on either side are skipped."
    )
    on_insufficient: Outcome = Field(
        default="skip", description="Outcome of a feature below min_support."
    )
    multiplicity: Multiplicity = Field(
        default="holm",
        description="How the features' p-values are adjusted: holm, bh or none (reported; "
        "the verdict is on the effect size).",
    )

    @model_validator(mode="after")
    def _check(self) -> DriftGate:
        if self.features is not None and self.exclude:
            raise ValueError("give `features` or `exclude`, not both")
        if self.features is not None and not self.features:
            raise ValueError("`features` is empty; list columns, or leave it out for all")
        if self.reference.lower().endswith(".json"):
            fixed = [k for k in ("bins", "top_k") if getattr(self, k) is not None]
            if fixed:
                raise ValueError(
                    f"{' and '.join(fixed)} apply to a data-file reference; a profile keeps "
                    f"the ones it was written with (`mlops-gates profile --bins N --top-k K`)"
                )
        return self

    def default_id(self) -> str:
        """`drift-<statistic>`: a drift gate has no metric."""
        return f"drift-{self.statistic}"

    @property
    def bound(self) -> float:
        """The largest drift allowed: `max`, else the statistic's rule of thumb."""
        return self.max if self.max is not None else DRIFT_DEFAULT_MAX[self.statistic]


class ModelAgeCheck(StrictModel):
    """How old the candidate model may be."""

    max_age: Duration
    source: Literal["auto", "training_run", "registration"] = Field(
        default="auto",
        description="Where the age comes from: training_run (end of the MLflow run that "
        "logged it), registration (model version creation), or auto (training run, else "
        "registration).",
    )

    @property
    def max_age_delta(self) -> timedelta:
        """`max_age` as a timedelta."""
        return parse_duration(self.max_age)


class DataAgeCheck(StrictModel):
    """How old the newest row of the evaluation data may be."""

    column: str = Field(description="Timestamp column (datetime, or ISO 8601 text).")
    max_age: Duration

    @property
    def max_age_delta(self) -> timedelta:
        """`max_age` as a timedelta."""
        return parse_duration(self.max_age)


class StalenessGate(GateBase):
    """The candidate model and the newest rows of the data are recent enough."""

    kind: Literal["staleness"]
    model: ModelAgeCheck | None = Field(
        default=None, description="Bound on the candidate's age (a model from MLflow)."
    )
    data: DataAgeCheck | None = Field(
        default=None, description="Bound on the age of the newest timestamp in the data."
    )
    on_insufficient: Outcome = Field(
        default="fail",
        description="Outcome when an age cannot be known (a model file, no timestamps).",
    )

    @model_validator(mode="after")
    def _check(self) -> StalenessGate:
        if self.model is None and self.data is None:
            raise ValueError(
                "give `model: {max_age: ...}`, `data: {column: ..., max_age: ...}` or both"
            )
        return self


class FeatureTolerance(StrictModel):
    """Tolerance of one numeric feature in a skew gate."""

    atol: float = Field(default=0.0, ge=0, description="Absolute tolerance.")
    rtol: float = Field(default=0.0, ge=0, description="Tolerance relative to |training value|.")


class SkewGate(GateBase):
    """Training and serving pipelines produce the same feature values for the same entities."""

    kind: Literal["skew"]
    training: str = Field(
        description="Features of some entities as the training pipeline produced them: "
        "Parquet or CSV, relative to this file."
    )
    serving: str = Field(
        description="Features of the same entities as the serving pipeline produced them "
        "(a feature log): Parquet or CSV, relative to this file."
    )
    key: str | list[str] = Field(description="Column(s) that identify an entity on both sides.")
    features: list[str] | None = Field(
        default=None,
        description="Columns to compare; default: every column both sides have, except the key.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Columns left out of the default feature list."
    )
    max: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Largest mismatch rate allowed per feature (share of joined rows).",
    )
    atol: float = Field(
        default=1e-9, ge=0, description="Numeric features: absolute tolerance of a match."
    )
    rtol: float = Field(
        default=1e-6,
        ge=0,
        description="Numeric features: tolerance relative to |training value|; values match "
        "when |serving - training| <= atol + rtol * |training|.",
    )
    tolerances: dict[str, FeatureTolerance] = Field(
        default_factory=dict,
        description="Per-feature atol / rtol, replacing the gate's for that feature.",
    )
    max_unmatched: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Also judge the share of keys found on one side only (verdict "
        "`<id>[keys=unmatched]`); default: reported in the details, not judged.",
    )
    on_duplicate_keys: Literal["error", "first", "drop"] = Field(
        default="error",
        description="A key that occurs more than once on a side: error (the gate is not "
        "evaluated), first (keep its first row), drop (leave the key out).",
    )
    min_support: MinSupport = Field(
        default=1, description="Fewer joined rows than this: `on_insufficient`."
    )
    on_insufficient: Outcome = Field(
        default="fail", description="Outcome when too few keys join (an empty join, say)."
    )
    show_keys: int = Field(
        default=5, ge=0, le=100, description="Mismatching keys shown per feature."
    )

    @property
    def keys(self) -> list[str]:
        """`key` as a list of columns."""
        return [self.key] if isinstance(self.key, str) else list(self.key)

    @model_validator(mode="after")
    def _check(self) -> SkewGate:
        if not self.keys:
            raise ValueError("`key` is empty; name the column(s) that identify an entity")
        if self.features is not None and self.exclude:
            raise ValueError("give `features` or `exclude`, not both")
        if self.features is not None and not self.features:
            raise ValueError("`features` is empty; list columns, or leave it out for all")
        both = [c for c in self.features or [] if c in self.keys]
        if both:
            raise ValueError(f"{', '.join(map(repr, both))} is the key, not a feature")
        return self
