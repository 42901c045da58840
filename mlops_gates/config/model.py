"""The whole `mlops-gates.yaml`: data, task, models, statistics, backend, tracking and
gates, with the checks that need more than one section (a metric must suit the task, a
behaviour gate needs a model, ...).

Paths are resolved once, at load: `Config.data_path` is where the evaluation data is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from mlops_gates.catalog import FAIRNESS_METRICS, METRICS_BY_TASK, SCORE_METRICS
from mlops_gates.config.base import FieldError, StrictModel, TaskType
from mlops_gates.config.behaviour import BehaviourGate
from mlops_gates.config.gates import _ON_CHANGE, Gate
from mlops_gates.config.metric_gates import BaselineGate, FairnessGate
from mlops_gates.config.monitoring import MonitorConfig

__all__ = [
    "BackendConfig",
    "Config",
    "DataConfig",
    "ModelConfig",
    "ReportConfig",
    "SparkConfig",
    "StatisticsConfig",
    "TaskConfig",
    "TrackingConfig",
]


class DataConfig(StrictModel):
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

    # The config file's folder, set once by Config's validator at load (None for a section
    # built on its own). `path` is resolved against it on reading, so a copy with another
    # `path` (model_copy runs no validator) never answers with the old file.
    _base: Path | None = PrivateAttr(default=None)

    @property
    def resolved_path(self) -> Path:
        """Where the data is: `path`, resolved against the config file's folder at load.
        With `format: table` (Spark) `path` is a table name: read `path` instead."""
        p = self.path.expanduser()
        if p.is_absolute() or self._base is None:
            return p
        return self._base / p


class TaskConfig(StrictModel):
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


class ModelConfig(StrictModel):
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


class StatisticsConfig(StrictModel):
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


class SparkConfig(StrictModel):
    """Where the Spark backend runs."""

    master: str | None = Field(
        default=None,
        description="Spark master URL (`local[2]`, `spark://host:7077`, `yarn`); default: the "
        "active session if there is one, else `local[2]`.",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="Extra Spark settings for the session it starts."
    )


class BackendConfig(StrictModel):
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


class ReportConfig(StrictModel):
    """What the report directory holds beside report.json and report.md."""

    html: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="report.html. auto: the page, with the plots of the gates that did not "
        "pass (at most 6; drawn without matplotlib); on: every plot (the curves and the "
        "confusion matrix need matplotlib: the `plots` extra); off: no page. "
        "`mlops-gates check --html` overrides.",
    )


class TrackingConfig(StrictModel):
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


class Config(StrictModel):
    """The whole `mlops-gates.yaml`."""

    version: Literal[1] = Field(description="Config format version; always 1.")
    data: DataConfig
    task: TaskConfig
    candidate: ModelConfig
    baseline: ModelConfig | None = None
    statistics: StatisticsConfig = Field(default_factory=StatisticsConfig)
    backend: BackendConfig = Field(default_factory=BackendConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    gates: list[Gate] = Field(min_length=1)

    # Where the file was (the loader passes it as validation context `source`), so paths
    # resolve and digests can be taken.
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The config file this was loaded from (absolute), or None (built in code)."""
        return self._source

    @property
    def data_path(self) -> Path:
        """Where the evaluation data is (`data.path`, resolved once at load)."""
        return self.data.resolved_path

    @model_validator(mode="after")
    def _locate(self, info: ValidationInfo) -> Config:
        source = (info.context or {}).get("source")
        self._source = Path(source).resolve() if source is not None else None
        self.data._base = self.source.parent if self.source is not None else None
        return self

    @model_validator(mode="after")
    def _backend_checks(self) -> Config:
        engine = self.backend.engine
        if self.data.format == "table" and engine != "spark":
            raise FieldError(
                ("data", "format"),
                f"`format: table` reads a Spark catalog table; set `backend.engine: spark` "
                f"(engine is {engine!r}), or point `data.path` at Parquet files",
            )
        if engine != "memory":
            for role in ("candidate", "baseline"):
                mc = getattr(self, role)
                if mc is not None and mc.predictions is None:
                    raise FieldError(
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
            gid = gate.id
            if gid in seen:
                raise FieldError(
                    ("gates", i, "id"),
                    f"duplicate gate id {gid!r} (also gates.{seen[gid]}); give each gate an `id`",
                )
            seen[gid] = i
            check = getattr(gate, "check_against", None)
            if check is not None:  # a kind's own checks against the task and the models
                check(self, i)
            if getattr(gate, "judge", "estimate") != "estimate" and not self.statistics.intervals:
                raise FieldError(
                    ("gates", i, "judge"),
                    f"judge: {getattr(gate, 'judge', '')} needs intervals; remove "
                    f"`statistics.intervals: false` or use judge: estimate",
                )
            metric = getattr(gate, "metric", None)
            if metric is not None and metric not in FAIRNESS_METRICS and metric not in allowed:
                raise FieldError(
                    ("gates", i, "metric"),
                    f"metric {metric!r} does not apply to a {self.task.type} task; "
                    f"valid: {', '.join(allowed)}",
                )
            is_named_fairness = isinstance(gate, FairnessGate) and metric in FAIRNESS_METRICS
            if is_named_fairness and self.task.type != "binary":
                raise FieldError(
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
                        raise FieldError(
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


def _check_behaviour(gate: BehaviourGate, i: int, gid: str, config: Config) -> None:
    """Behaviour gates run the candidate on new rows, so it must be a model, and scores
    (directional checks, score bounds) exist only for binary and regression tasks."""
    if config.candidate.model is None:
        raise FieldError(
            ("candidate", "model"),
            f"gate {gid!r} (behaviour) runs the candidate on new rows, which stored "
            f"`predictions` cannot do: give `candidate.model`",
        )
    if config.task.type != "multiclass":
        return
    if gate.directional:
        raise FieldError(
            ("gates", i, "directional"),
            "directional checks move a score, which a multiclass task does not have; "
            "use `invariance` or `cases` with `label`",
        )
    for j, inv in enumerate(gate.invariance):
        if inv.max_score_change is not None:
            raise FieldError(
                ("gates", i, "invariance", j, "max_score_change"),
                "a multiclass task has no single score; remove it (flips are label changes)",
            )
    for j, case in enumerate(gate.cases):
        if case.min_score is not None or case.max_score is not None:
            raise FieldError(
                ("gates", i, "cases", j),
                "a multiclass task has no single score; expect a `label` instead",
            )


def _rebuild() -> None:
    # A gate kind registered later joins the union: rebuild the model that validates it.
    Config.model_rebuild(force=True)


_ON_CHANGE.append(_rebuild)
