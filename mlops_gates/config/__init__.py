"""`mlops-gates.yaml`: typed, validated configuration.

pydantic models with `extra="forbid"`; gates form a union discriminated on `kind`, over the
one list of gate kinds in `gates.py` (extensible with `register_gate_kind`). Relative paths
are resolved against the config file's folder, once, at load. Every validation problem
becomes one `ConfigError` naming the file, the dotted field path, the bad value and, where
there is a fixed set, the valid choices.

Modules: `base` (shared field types, the gate base class and mixins), `metric_gates`,
`data_gates`, `behaviour` (one model per gate kind), `gates` (the list of kinds), `model`
(Config and its sections), `messages` (validation errors -> one message), `load`
(load_config, find_config, json_schema). Import from here.
"""

from __future__ import annotations

from mlops_gates.catalog import ALL_METRICS, FAIRNESS_METRICS, METRICS_BY_TASK, SCORE_METRICS
from mlops_gates.config.base import (
    Duration,
    FieldError,
    GateBase,
    Judge,
    Judged,
    MinSupport,
    Multiplicity,
    Outcome,
    Scalar,
    Severity,
    Sliced,
    SliceSpec,
    StrictModel,
    TaskType,
    parse_duration,
)
from mlops_gates.config.behaviour import (
    BehaviourGate,
    DirectionalCheck,
    InvarianceCheck,
    MinimumCase,
)
from mlops_gates.config.calibration_churn import CalibrationGate, ChurnGate
from mlops_gates.config.data_gates import (
    DRIFT_DEFAULT_MAX,
    DataAgeCheck,
    DriftGate,
    DriftStatistic,
    FeatureTolerance,
    ModelAgeCheck,
    SkewGate,
    StalenessGate,
)
from mlops_gates.config.gates import (
    Gate,
    gate_id,
    gate_kinds,
    gate_model,
    register_gate_kind,
    unregister_gate_kind,
)
from mlops_gates.config.load import (
    CONFIG_ENV,
    CONFIG_FILENAME,
    config_from_dict,
    find_config,
    gate_lines,
    json_schema,
    load_config,
)
from mlops_gates.config.metric_gates import BaselineGate, FairnessGate, MetricGate, SchemaGate
from mlops_gates.config.model import (
    BackendConfig,
    Config,
    DataConfig,
    ModelConfig,
    SparkConfig,
    StatisticsConfig,
    TaskConfig,
    TrackingConfig,
)
from mlops_gates.errors import ConfigError

__all__ = [
    "ALL_METRICS",
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "DRIFT_DEFAULT_MAX",
    "FAIRNESS_METRICS",
    "METRICS_BY_TASK",
    "SCORE_METRICS",
    "BackendConfig",
    "BaselineGate",
    "BehaviourGate",
    "CalibrationGate",
    "ChurnGate",
    "Config",
    "ConfigError",
    "DataAgeCheck",
    "DataConfig",
    "DirectionalCheck",
    "DriftGate",
    "DriftStatistic",
    "Duration",
    "FairnessGate",
    "FeatureTolerance",
    "FieldError",
    "Gate",
    "GateBase",
    "InvarianceCheck",
    "Judge",
    "Judged",
    "MetricGate",
    "MinSupport",
    "MinimumCase",
    "ModelAgeCheck",
    "ModelConfig",
    "Multiplicity",
    "Outcome",
    "Scalar",
    "SchemaGate",
    "Severity",
    "SkewGate",
    "SliceSpec",
    "Sliced",
    "SparkConfig",
    "StalenessGate",
    "StatisticsConfig",
    "StrictModel",
    "TaskConfig",
    "TaskType",
    "TrackingConfig",
    "config_from_dict",
    "find_config",
    "gate_id",
    "gate_kinds",
    "gate_lines",
    "gate_model",
    "json_schema",
    "load_config",
    "parse_duration",
    "register_gate_kind",
    "unregister_gate_kind",
]
