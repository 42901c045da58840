"""`mlops-gates.yaml`: typed, validated configuration.

pydantic models with `extra="forbid"`; gates form a union discriminated on `kind`.
Relative paths are resolved against the config file's folder. Every validation problem
becomes one `ConfigError` naming the file, the dotted field path, the bad value and, where
there is a fixed set, the valid choices.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_gates.errors import ConfigError

CONFIG_FILENAME = "mlops-gates.yaml"
CONFIG_ENV = "MLOPS_GATES_CONFIG"

Severity = Literal["block", "warn"]
TaskType = Literal["binary", "multiclass", "regression"]
Outcome = Literal["skip", "pass", "warn", "fail"]

# Kept here (not imported from stats) so that config validation needs no numpy; a unit test
# checks that this list and the metric registry agree.
BINARY_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "fpr",
    "fnr",
    "tpr",
    "selection_rate",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
)
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
)
REGRESSION_METRICS = ("mae", "mse", "rmse", "r2", "mean_error")
SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")
ALL_METRICS = tuple(dict.fromkeys(BINARY_METRICS + MULTICLASS_METRICS + REGRESSION_METRICS))
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary": tuple(dict.fromkeys(BINARY_METRICS + MULTICLASS_METRICS)),
    "multiclass": MULTICLASS_METRICS,
    "regression": REGRESSION_METRICS,
}
FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)

SliceSpec = str | list[str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Model):
    """Where the evaluation data lives."""

    path: Path = Field(
        description="Parquet (.parquet, .pq) or CSV (.csv, .csv.gz) file; with "
        "`backend.engine` duckdb or spark also a folder or glob of Parquet files (hive "
        "partitions read as columns), and with spark and `format: table` a table name."
    )
    format: Literal["parquet", "csv", "table"] | None = Field(
        default=None,
        description="File format; inferred from the suffix when omitted. `table`: `path` is "
        "a Spark catalog table (backend.engine: spark).",
    )


class TaskConfig(_Model):
    """What is predicted and where the truth is."""

    type: TaskType = Field(description="binary, multiclass or regression.")
    label: str = Field(description="Column holding the true label (or target value).")
    positive_label: str | int | float | bool | None = Field(
        default=None,
        description="Binary tasks: the positive class. Default: 1 / True when labels are 0/1.",
    )
    classes: list[str | int | float | bool] | None = Field(
        default=None,
        description="Declared classes; a label or prediction outside them is a data error.",
    )

    @model_validator(mode="after")
    def _check(self) -> TaskConfig:
        if self.type == "regression" and (self.positive_label is not None or self.classes):
            raise ValueError("positive_label and classes apply to classification tasks only")
        if self.type == "binary" and self.classes is not None and len(self.classes) != 2:
            raise ValueError(f"a binary task has exactly 2 classes, got {len(self.classes)}")
        if (
            self.classes is not None
            and self.positive_label is not None
            and self.positive_label not in self.classes
        ):
            raise ValueError(
                f"positive_label {self.positive_label!r} is not one of classes {self.classes!r}"
            )
        return self


class ModelConfig(_Model):
    """A model's predictions: columns already in the data, or a model to run on it."""

    predictions: str | None = Field(
        default=None, description="Column with predicted labels (or values, for regression)."
    )
    scores: str | None = Field(
        default=None, description="Binary tasks: column with the positive-class score."
    )
    model: str | None = Field(
        default=None,
        description="scikit-learn model file (.skops, .joblib, .pkl), relative to this file.",
    )
    features: list[str] | None = Field(
        default=None,
        description="Columns passed to the model; default: the model's feature_names_in_.",
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Types to trust, by full name, beyond those skops trusts by default when "
        "loading a .skops file (or an MLflow scikit-learn model saved with skops).",
    )
    allow_pickle: bool = Field(
        default=False,
        description="Load a pickle-based model: a .pkl or .joblib file, or an MLflow model "
        "saved with pickle or cloudpickle (or any flavour other than scikit-learn with skops). "
        "Loading a pickle runs any code it holds: only for files you trust. Each run that "
        "uses it says so in the report's warnings.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.model is None) == (self.predictions is None):
            raise ValueError("give exactly one of `model` or `predictions`")
        if self.model is not None and self.scores is not None:
            raise ValueError("`scores` is a column name; with `model` scores come from the model")
        if self.model is None and self.features is not None:
            raise ValueError("`features` applies to `model` only")
        if self.model is None and (self.allow_pickle or self.trusted_types):
            raise ValueError("`allow_pickle` and `trusted_types` apply to `model` only")
        return self


class StatisticsConfig(_Model):
    """How uncertainty is computed for every gate number."""

    intervals: bool = Field(
        default=True, description="Compute a confidence interval for every number."
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Confidence level of the intervals."
    )
    replicates: int = Field(default=1000, ge=100, le=100_000, description="Bootstrap replicates.")
    seed: int = Field(default=0, description="Seed: the same seed gives the same intervals.")
    max_slices: int = Field(
        default=10_000,
        ge=1,
        description="Most slices (distinct values, or value combinations) one slicing of a "
        "metric, fairness or baseline gate may have; more is an error naming the gate and "
        "column. Each slice costs its bootstrap replicates in memory (~100 KB at 1,000).",
    )
    interval: Literal["auto", "wilson", "jeffreys", "clopper_pearson", "bootstrap"] = Field(
        default="auto",
        description="Interval for proportion metrics (accuracy, recall, FPR, precision, "
        "...) and their fairness gaps: auto (= wilson), wilson, jeffreys, clopper_pearson "
        "(a guaranteed level, wider) or bootstrap; other metrics use the bootstrap or "
        "normal theory regardless.",
    )


class SparkConfig(_Model):
    """Where the Spark backend runs."""

    master: str | None = Field(
        default=None,
        description="Spark master URL (`local[2]`, `spark://host:7077`, `yarn`); default: the "
        "active session if there is one, else `local[2]`.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Extra Spark settings for the session it starts."
    )


class BackendConfig(_Model):
    """Which engine reduces the rows to the small tables every gate reads."""

    engine: Literal["memory", "duckdb", "spark"] = Field(
        default="memory",
        description="memory: pandas/numpy in this process (models may be scored); duckdb: "
        "Parquet larger than memory, out of core (`mlops-gates[duckdb]`); spark: a Spark "
        "session (`mlops-gates[spark]`). duckdb and spark need predictions as columns.",
    )
    score_bins: Literal["auto", "exact"] | Annotated[int, Field(ge=16, le=1 << 20)] = Field(
        default="auto",
        description="Scores for rank metrics: exact (one cell per distinct score), a number "
        "of equal-width bins (ROC AUC within a reported bound), or auto: exact up to "
        "250,000 rows, 4,096 bins above.",
    )
    sample_rows: int = Field(
        default=100_000,
        ge=1,
        description="duckdb / spark: schema checks SQL cannot run over every row (dtypes, "
        "regexes, custom checks) validate a seeded sample of this many rows.",
    )
    memory_limit: str | None = Field(
        default=None, description="duckdb: memory cap (`1GB`); it spills to disk beyond it."
    )
    spark: SparkConfig = Field(default_factory=SparkConfig)


Judge = Literal["estimate", "interval", "significance"]
Multiplicity = Literal["holm", "bh", "none"]


class _GateBase(_Model):
    id: str | None = Field(default=None, description="Unique name; default: `<kind>-<metric>`.")
    severity: Severity = Field(default="block", description="block fails the run; warn reports.")
    description: str | None = Field(default=None, description="Shown in the report.")


class _Sliced(_Model):
    overall: bool = Field(default=True, description="Also judge the whole data set.")
    slices: list[SliceSpec] = Field(
        default_factory=list,
        description="Columns to slice by; a list of columns is their cross.",
    )
    min_support: int = Field(
        default=30,
        ge=0,
        description="Slices with less evidence are insufficient: the metric's own "
        "denominator (positives for recall, negatives for FPR, predicted positives for "
        "precision), rows for other metrics.",
    )
    on_insufficient: Outcome = Field(
        default="skip", description="Outcome of a slice below min_support."
    )


class _Judged(_Model):
    judge: Judge = Field(
        default="estimate",
        description="estimate: the point estimate must be within the bound; interval: the "
        "whole confidence interval must be; significance: fail only on significant evidence "
        "that the bound is violated.",
    )
    multiplicity: Multiplicity = Field(
        default="holm",
        description="With judge: significance, how p-values are adjusted across the gate's "
        "slices: holm (family-wise error), bh (false discovery rate) or none.",
    )


class SchemaGate(_GateBase):
    kind: Literal["schema"]
    schema_: str = Field(
        alias="schema",
        description="pandera YAML file, or `package.module:attribute` naming a schema object.",
    )
    max_failure_cases: int = Field(
        default=20, ge=0, description="Failure cases kept per check in the report."
    )


class MetricGate(_GateBase, _Sliced, _Judged):
    kind: Literal["metric"]
    metric: str = Field(description="Metric name (see the metrics reference).")
    min: float | None = Field(default=None, description="Lower bound (inclusive).")
    max: float | None = Field(default=None, description="Upper bound (inclusive).")

    _metric_name = field_validator("metric")(lambda v: _check_metric_name(v))

    @model_validator(mode="after")
    def _bounds(self) -> MetricGate:
        _need_bound(self.min, self.max)
        return self


class FairnessGate(_GateBase, _Judged):
    kind: Literal["fairness"]
    metric: str = Field(description="A fairness metric, or any metric with `measure`.")
    measure: Literal["difference", "ratio"] | None = Field(
        default=None, description="With a plain metric: its max gap or min ratio across groups."
    )
    sensitive: str = Field(description="Column holding the sensitive attribute.")
    control: list[str] = Field(
        default_factory=list,
        description="Columns whose strata are judged separately; the worst stratum counts.",
    )
    min: float | None = Field(default=None, description="Lower bound (ratios).")
    max: float | None = Field(default=None, description="Upper bound (differences).")
    min_support: int = Field(default=30, ge=0, description="Smaller groups are left out.")
    on_insufficient: Outcome = Field(
        default="skip", description="Outcome when fewer than two groups have enough rows."
    )

    _metric_name = field_validator("metric")(
        lambda v: _check_metric_name(v, extra=FAIRNESS_METRICS)
    )

    @model_validator(mode="after")
    def _check(self) -> FairnessGate:
        if self.metric in FAIRNESS_METRICS:
            if self.measure is not None:
                raise ValueError(f"`measure` is implied by {self.metric!r}; remove it")
        else:
            if self.measure is None:
                raise ValueError(
                    f"with metric {self.metric!r} say `measure: difference` or `measure: ratio`"
                )
        _need_bound(self.min, self.max)
        return self

    @property
    def resolved_measure(self) -> Literal["difference", "ratio"]:
        if self.measure is not None:
            return self.measure
        return "ratio" if self.metric.endswith("_ratio") else "difference"


class BaselineGate(_GateBase, _Sliced, _Judged):
    kind: Literal["baseline"]
    metric: str = Field(description="Metric compared between candidate and baseline.")
    greater_is_better: bool | None = Field(
        default=None, description="Default: the metric's own direction."
    )
    max_drop: float | None = Field(
        default=None, ge=0, description="Candidate may be at most this much worse (absolute)."
    )
    max_relative_drop: float | None = Field(
        default=None, ge=0, description="... or this fraction of the baseline value worse."
    )
    min_gain: float | None = Field(
        default=None, description="Candidate must be at least this much better (absolute)."
    )
    min_relative_gain: float | None = Field(
        default=None,
        ge=0,
        description="... or at least this fraction of the baseline value better (MLflow's "
        "min_relative_change).",
    )
    if_no_baseline: Outcome = Field(
        default="skip", description="Outcome when the config has no baseline (a first model)."
    )

    _metric_name = field_validator("metric")(lambda v: _check_metric_name(v))

    @model_validator(mode="after")
    def _check(self) -> BaselineGate:
        margins = (self.max_drop, self.max_relative_drop, self.min_gain, self.min_relative_gain)
        if all(m is None for m in margins):
            raise ValueError(
                "give at least one of max_drop, max_relative_drop, min_gain, min_relative_gain"
            )
        return self


DriftStatistic = Literal["psi", "js", "wasserstein", "chi2", "ks"]
# Bounds a drift gate uses when it gives no `max`: the usual rules of thumb for each number.
DRIFT_DEFAULT_MAX: dict[str, float] = {
    "psi": 0.2,
    "js": 0.1,
    "wasserstein": 0.1,
    "chi2": 0.1,
    "ks": 0.1,
}


class DriftGate(_GateBase):
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
    min_support: int = Field(
        default=100, ge=0, description="Features with fewer rows on either side are skipped."
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

    @property
    def bound(self) -> float:
        return self.max if self.max is not None else DRIFT_DEFAULT_MAX[self.statistic]


_DURATION_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HELP = "write whole numbers with units w, d, h, m, s, largest first: 30d, 12h, 1d12h, 2w"


def parse_duration(text: object) -> timedelta:
    """`"30d"`, `"12h"`, `"1d12h"`, `"2w"`, `"90m"`, `"45s"` -> timedelta; anything else is a
    ValueError that says how to write it. Months and years are refused: their length varies."""
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, int | float):
            raise ValueError(f"{text} has no unit; {_DURATION_HELP}")
        raise ValueError(f"expected a duration such as '30d'; {_DURATION_HELP}")
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None:
        low = text.strip().lower()
        if re.fullmatch(r"\d+\s*(mo|mon|month|months|y|yr|year|years|M)", text.strip()) or (
            low.endswith(("month", "months", "year", "years"))
        ):
            raise ValueError(
                f"not a duration: {text!r}; months and years have no fixed length, "
                f"use days (90d, 365d)"
            )
        raise ValueError(f"not a duration: {text!r}; {_DURATION_HELP}")
    seconds = sum(
        int(n) * _DURATION_UNITS[unit]
        for n, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
        if n is not None
    )
    if seconds == 0:
        raise ValueError(f"duration {text!r} is zero; give a positive age")
    return timedelta(seconds=seconds)


def _duration(value: object) -> object:
    # Before pydantic's own str check, so `max_age: 30` gets "has no unit", not "not a string".
    parse_duration(value)
    return value


Duration = Annotated[
    str,
    BeforeValidator(_duration),
    Field(
        json_schema_extra={"pattern": r"^(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"},
        description="A duration: whole numbers with units w, d, h, m, s (30d, 12h, 1d12h).",
    ),
]


class ModelAgeCheck(_Model):
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
        return parse_duration(self.max_age)


class DataAgeCheck(_Model):
    """How old the newest row of the evaluation data may be."""

    column: str = Field(description="Timestamp column (datetime, or ISO 8601 text).")
    max_age: Duration

    @property
    def max_age_delta(self) -> timedelta:
        return parse_duration(self.max_age)


class StalenessGate(_GateBase):
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


class FeatureTolerance(_Model):
    """Tolerance of one numeric feature in a skew gate."""

    atol: float = Field(default=0.0, ge=0, description="Absolute tolerance.")
    rtol: float = Field(default=0.0, ge=0, description="Tolerance relative to |training value|.")


class SkewGate(_GateBase):
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
    min_support: int = Field(
        default=1, ge=0, description="Fewer joined rows than this: `on_insufficient`."
    )
    on_insufficient: Outcome = Field(
        default="fail", description="Outcome when too few keys join (an empty join, say)."
    )
    show_keys: int = Field(
        default=5, ge=0, le=100, description="Mismatching keys shown per feature."
    )

    @property
    def keys(self) -> list[str]:
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


Scalar = str | int | float | bool


class InvarianceCheck(_Model):
    """A column that should not matter: replacing its value must not change predictions."""

    column: str = Field(description="The column whose value is replaced.")
    values: list[Scalar] | None = Field(
        default=None,
        description="Replacement values; default: drawn like the rows (the schema's strategy "
        "for the column, or values seen in the data).",
    )
    max_flip_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Largest share of examples whose prediction may change.",
    )
    max_score_change: float | None = Field(
        default=None,
        ge=0,
        description="Count a change of the score (binary: positive-class probability; "
        "regression: the predicted value) above this as a flip, instead of a label change. "
        "Regression default: 0.",
    )


class DirectionalCheck(_Model):
    """Raising a numeric feature moves the score the declared way."""

    column: str = Field(description="Numeric column that is raised.")
    direction: Literal["increasing", "decreasing"] = Field(
        description="increasing: the score must not go down when the column goes up; "
        "decreasing: it must not go up."
    )
    delta: float = Field(default=1.0, gt=0, description="How much the column is raised.")
    tolerance: float = Field(
        default=0.0, ge=0, description="Score moves the wrong way by at most this much are allowed."
    )
    max_violation_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Largest share of examples whose score may move the wrong way.",
    )


class MinimumCase(_Model):
    """A hand-written row with the answer any acceptable model gives."""

    name: str = Field(description="Shown in the verdict id: `<gate id>[case=<name>]`.")
    row: dict[str, Any] = Field(description="Column -> value; every model feature is needed.")
    label: Scalar | None = Field(default=None, description="Expected predicted label.")
    min_score: float | None = Field(
        default=None,
        description="Lowest acceptable score (binary: P(positive); regression: the value).",
    )
    max_score: float | None = Field(default=None, description="Highest acceptable score.")

    @model_validator(mode="after")
    def _check(self) -> MinimumCase:
        if self.label is None and self.min_score is None and self.max_score is None:
            raise ValueError("give an expectation: `label`, `min_score`, `max_score`")
        lo, hi = self.min_score, self.max_score
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_score ({lo}) is greater than max_score ({hi})")
        return self


class BehaviourGate(_GateBase):
    kind: Literal["behaviour"]
    rows: Literal["schema", "data"] = Field(
        default="schema",
        description="Where example rows come from: schema (generated by hypothesis from the "
        "pandera schema's column strategies) or data (rows drawn from the evaluation data).",
    )
    schema_: str | None = Field(
        default=None,
        alias="schema",
        description="pandera YAML file, or `package.module:attribute`; needed for rows: schema.",
    )
    max_examples: int = Field(
        default=100, ge=1, le=10_000, description="Examples hypothesis tries per property."
    )
    seed: int | None = Field(
        default=None, description="Seed of the search; default: `statistics.seed`."
    )
    invariance: list[InvarianceCheck] = Field(
        default_factory=list, description="Columns that must not change predictions."
    )
    directional: list[DirectionalCheck] = Field(
        default_factory=list, description="Columns that move the score one way."
    )
    cases: list[MinimumCase] = Field(
        default_factory=list, description="Minimum-functionality rows and their expected output."
    )

    @model_validator(mode="after")
    def _check(self) -> BehaviourGate:
        if not (self.invariance or self.directional or self.cases):
            raise ValueError("give at least one of `invariance`, `directional`, `cases`")
        if self.rows == "schema" and self.schema_ is None and (self.invariance or self.directional):
            raise ValueError(
                "rows: schema needs `schema: <pandera YAML>`; or draw rows from the "
                "evaluation data with `rows: data`"
            )
        names = [c.name for c in self.cases]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"case names must be unique; repeated: {', '.join(dup)}")
        return self


Gate = Annotated[
    SchemaGate
    | MetricGate
    | FairnessGate
    | BaselineGate
    | DriftGate
    | StalenessGate
    | SkewGate
    | BehaviourGate,
    Field(discriminator="kind"),
]


class TrackingConfig(_Model):
    """Where each gates run is logged (MLflow) and what happens when that fails."""

    enabled: bool = Field(
        default=True, description="Log every run to MLflow (MLOPS_GATES_TRACKING=off overrides)."
    )
    uri: str | None = Field(
        default=None,
        description="Tracking URI; default $MLFLOW_TRACKING_URI, else "
        "sqlite:///<config folder>/mlruns.db. Relative sqlite paths are relative to this file.",
    )
    registry_uri: str | None = Field(
        default=None, description="Model registry URI; default: the tracking URI."
    )
    experiment: str = Field(default="mlops-gates", description="Experiment of the runs.")
    nest: bool = Field(
        default=True,
        description="Nest the run under the candidate's training run (in its experiment) "
        "when the candidate comes from MLflow.",
    )
    tag_model_version: bool = Field(
        default=True,
        description="Tag the candidate's model version with mlops_gates.status, "
        "mlops_gates.report_run_id and mlops_gates.config_digest.",
    )
    on_failure: Literal["warn", "error"] = Field(
        default="warn",
        description="Verdict added when MLflow cannot be reached: warn (reported) or error "
        "(fails the run). The report is written either way.",
    )
    timeout: float = Field(
        default=10.0, gt=0, le=600, description="Seconds per HTTP request to MLflow."
    )
    retries: int = Field(default=2, ge=0, le=10, description="Retries per HTTP request.")
    max_duration: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Seconds after which the tracking step gives up (checked between requests).",
    )


class Config(_Model):
    """The whole `mlops-gates.yaml`."""

    version: Literal[1] = Field(description="Config format version; always 1.")
    data: DataConfig
    task: TaskConfig
    candidate: ModelConfig
    baseline: ModelConfig | None = None
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    gates: list[Gate] = Field(min_length=1)

    # Set by load_config: where the file was, so paths resolve and digests can be taken.
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    @model_validator(mode="after")
    def _backend_checks(self) -> Config:
        engine = self.backend.engine
        if self.data.format == "table" and engine != "spark":
            raise _FieldError(
                ("data", "format"),
                f"`format: table` reads a Spark catalog table; set `backend.engine: spark` "
                f"(engine is {engine!r}), or point `data.path` at Parquet files",
            )
        if engine != "memory":
            for role in ("candidate", "baseline"):
                mc = getattr(self, role)
                if mc is not None and mc.predictions is None:
                    raise _FieldError(
                        (role, "model"),
                        f"backend.engine {engine!r} reduces columns where the data lives and "
                        f"does not score models; give `{role}.predictions` (and `scores`) "
                        f"columns, or use `backend.engine: memory`",
                    )
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        allowed = METRICS_BY_TASK[self.task.type]
        seen: dict[str, int] = {}
        for i, gate in enumerate(self.gates):
            gid = gate_id(gate)
            if gid in seen:
                raise _FieldError(
                    ("gates", i, "id"),
                    f"duplicate gate id {gid!r} (also gates.{seen[gid]}); give each gate an `id`",
                )
            seen[gid] = i
            if getattr(gate, "judge", "estimate") != "estimate" and not self.statistics.intervals:
                raise _FieldError(
                    ("gates", i, "judge"),
                    f"judge: {getattr(gate, 'judge', '')} needs intervals; remove "
                    f"`statistics.intervals: false` or use judge: estimate",
                )
            metric = getattr(gate, "metric", None)
            if metric is not None and metric not in FAIRNESS_METRICS and metric not in allowed:
                raise _FieldError(
                    ("gates", i, "metric"),
                    f"metric {metric!r} does not apply to a {self.task.type} task; "
                    f"valid: {', '.join(allowed)}",
                )
            is_named_fairness = isinstance(gate, FairnessGate) and metric in FAIRNESS_METRICS
            if is_named_fairness and self.task.type != "binary":
                raise _FieldError(
                    ("gates", i, "metric"),
                    f"{metric} needs a binary task; use a metric with `measure` instead",
                )
            scores_needed = metric in SCORE_METRICS
            if scores_needed:
                for role in ("candidate", "baseline"):
                    mc = getattr(self, role)
                    if mc is not None and mc.predictions is not None and mc.scores is None:
                        if role == "baseline" and not isinstance(gate, BaselineGate):
                            continue
                        raise _FieldError(
                            (role, "scores"),
                            f"gate {gid!r} uses {metric}, which needs scores: "
                            f"add `scores: <column>` to `{role}`",
                        )
            if isinstance(gate, BehaviourGate):
                _check_behaviour(gate, i, gid, self)
        return self

    def resolve(self, path: Path | str) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source is None:
            return p
        return self.source.parent / p


class _FieldError(ValueError):
    """A cross-field problem that should be reported at a specific location."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _check_behaviour(gate: BehaviourGate, i: int, gid: str, config: Config) -> None:
    """Behaviour gates run the candidate on new rows, so it must be a model, and scores
    (directional checks, score bounds) exist only for binary and regression tasks."""
    if config.candidate.model is None:
        raise _FieldError(
            ("candidate", "model"),
            f"gate {gid!r} (behaviour) runs the candidate on new rows, which stored "
            f"`predictions` cannot do: give `candidate.model`",
        )
    if config.task.type != "multiclass":
        return
    if gate.directional:
        raise _FieldError(
            ("gates", i, "directional"),
            "directional checks move a score, which a multiclass task does not have; "
            "use `invariance` or `cases` with `label`",
        )
    for j, inv in enumerate(gate.invariance):
        if inv.max_score_change is not None:
            raise _FieldError(
                ("gates", i, "invariance", j, "max_score_change"),
                "a multiclass task has no single score; remove it (flips are label changes)",
            )
    for j, case in enumerate(gate.cases):
        if case.min_score is not None or case.max_score is not None:
            raise _FieldError(
                ("gates", i, "cases", j),
                "a multiclass task has no single score; expect a `label` instead",
            )


def gate_id(
    gate: SchemaGate
    | MetricGate
    | FairnessGate
    | BaselineGate
    | DriftGate
    | StalenessGate
    | SkewGate
    | BehaviourGate,
) -> str:
    if gate.id:
        return gate.id
    metric = getattr(gate, "metric", None)
    if isinstance(gate, FairnessGate):
        return f"fairness-{gate.metric}-{gate.sensitive}"
    if isinstance(gate, DriftGate):
        return f"drift-{gate.statistic}"
    return f"{gate.kind}-{metric}" if metric else gate.kind


def _check_metric_name(name: str, extra: tuple[str, ...] = ()) -> str:
    valid = ALL_METRICS + extra
    if name not in valid:
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown metric{did_you_mean}; valid: {', '.join(valid)}")
    return name


def _need_bound(lo: float | None, hi: float | None) -> None:
    if lo is None and hi is None:
        raise ValueError("give a bound: `min`, `max` or both")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min ({lo}) is greater than max ({hi})")


def find_config(given: Path | str | None = None, *, candidates: Sequence[Path] = ()) -> Path:
    """The config a command or the pytest plugin uses, found the same way by all of them:
    the path given (--config / --mlops-gates-config), else $MLOPS_GATES_CONFIG, else the
    first of `candidates` that exists (default: `mlops-gates.yaml` in the working
    directory). With none existing, the first candidate: the not-found message names it."""
    if given is not None:
        return Path(given)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    places = list(candidates) or [Path.cwd() / CONFIG_FILENAME]
    return next((p for p in places if p.is_file()), places[0])


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file; every problem is one `ConfigError`."""
    cfg_path = find_config(path)
    if not cfg_path.is_file():
        where = ""
        if path is None:
            where = f" (${CONFIG_ENV})" if os.environ.get(CONFIG_ENV) else f" in {Path.cwd()}"
        raise ConfigError(
            f"{cfg_path}: config file not found{where}. Create one with `mlops-gates init` "
            f"or pass its path with --config / --mlops-gates-config."
        )
    try:
        raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read the config file: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{cfg_path}{where}: not valid YAML: {problem}") from None
    return config_from_dict(raw, source=cfg_path)


def gate_lines(path: Path) -> list[int]:
    """The 1-based line where each entry of `gates:` starts in the config file at `path`,
    so pytest can point a verdict at its gate; [] when the file does not parse."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "gates" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def config_from_dict(raw: Any, *, source: Path | None = None) -> Config:
    name = str(source) if source is not None else "config"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{name}: expected a mapping with `version: 1` at the top, got {type(raw).__name__}"
        )
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(name, raw, exc)) from None
    cfg._source = source.resolve() if source is not None else None
    return cfg


def _format_validation_error(name: str, raw: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = _drop_union_tags(tuple(err["loc"]))
        msg = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _FieldError):
            loc = loc + ctx_error.loc
            msg = ctx_error.msg
        field = ".".join(str(p) for p in loc) or "(top level)"
        etype = err["type"]
        if etype == "extra_forbidden":
            siblings = _known_fields(loc[:-1], raw)
            hint = difflib.get_close_matches(str(loc[-1]), siblings, n=1)
            msg = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            if siblings:
                msg += f"; valid keys here: {', '.join(siblings)}"
        elif etype == "union_tag_invalid":
            msg = f"unknown gate kind; valid: {', '.join(_GATE_MODELS)}"
            loc = (*loc, "kind")
            field = ".".join(str(p) for p in loc)
        elif etype == "union_tag_not_found":
            msg = f"each gate needs `kind:` ({', '.join(_GATE_MODELS)})"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = _lookup(raw, loc)
        shown = "" if value is _MISSING or etype == "missing" else f" (got {_short(value)})"
        lines.append(f"{name}: {field}: {msg}{shown}")
    return "\n".join(lines)


_MISSING = object()


def _drop_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator value into the location (gates.3.metric.min);
    # users think of gates.3.min.
    if len(loc) >= 3 and loc[0] == "gates" and loc[2] in _KINDS:
        return loc[:2] + loc[3:]
    return loc


_KINDS = {"schema", "metric", "fairness", "baseline", "drift", "staleness", "skew", "behaviour"}
_GATE_MODELS: dict[str, type[BaseModel]] = {
    "schema": SchemaGate,
    "metric": MetricGate,
    "fairness": FairnessGate,
    "baseline": BaselineGate,
    "drift": DriftGate,
    "staleness": StalenessGate,
    "skew": SkewGate,
    "behaviour": BehaviourGate,
}


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    cur = raw
    for part in loc:
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            cur = cur[part]
        else:
            return _MISSING
    return cur


def _known_fields(loc: tuple[Any, ...], raw: Any) -> list[str]:
    model: type[BaseModel] | None = Config
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if model is None:
            return []
        if model is Config and part == "gates":
            if not parts:
                return []
            # The gate's own keys depend on its kind; walk on into its nested sections.
            gate = _lookup(raw, ("gates", parts.pop(0)))
            kind = gate.get("kind") if isinstance(gate, dict) else None
            model = _GATE_MODELS.get(str(kind))
            continue
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        model = next((t for t in _NESTED if ann is t or ann == (t | None)), None)
        # Lists and mappings of sections (behaviour checks, skew tolerances): the next
        # part is an index or a key, and the section's keys are those of the item model.
        if model is None and parts:
            args = get_args(ann) if get_origin(ann) in (list, dict) else ()
            item = next((t for t in _NESTED if args and args[-1] is t), None)
            if item is not None:
                parts.pop(0)
                model = item
    if model is None:
        return []
    return [(f.alias or n) for n, f in model.model_fields.items()]


_NESTED: tuple[type[BaseModel], ...] = (
    DataConfig,
    TaskConfig,
    ModelConfig,
    StatisticsConfig,
    TrackingConfig,
    ModelAgeCheck,
    DataAgeCheck,
    FeatureTolerance,
    InvarianceCheck,
    DirectionalCheck,
    MinimumCase,
)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def json_schema() -> dict[str, Any]:
    """JSON Schema of mlops-gates.yaml (for editors and the docs)."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlops-gates.dev/schemas/config.schema.json"
    schema["title"] = "mlops-gates.yaml"
    return schema
