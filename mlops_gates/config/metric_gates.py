"""Gate kinds judged on a metric or on a schema: schema, metric, fairness, baseline."""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlops_gates.catalog import ALL_METRICS, FAIRNESS_METRICS
from mlops_gates.config.base import GateBase, Judged, MinSupport, Outcome, Sliced, need_bound

__all__ = ["BaselineGate", "FairnessGate", "MetricGate", "SchemaGate"]


def _check_metric_name(name: str, extra: tuple[str, ...] = ()) -> str:
    """`name` if it is in the metric catalog (or `extra`), else a ValueError with the
    closest name and the valid ones."""
    valid = ALL_METRICS + extra
    if name not in valid:
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown metric{did_you_mean}; valid: {', '.join(valid)}")
    return name


class SchemaGate(GateBase):
    """The evaluation data match a pandera schema."""

    kind: Literal["schema"]
    schema_: str = Field(
        alias="schema",
        description="pandera YAML file, or `package.module:attribute` naming a schema object.",
    )
    max_failure_cases: int = Field(
        default=20, ge=0, description="Failure cases kept per check in the report."
    )
    allow_missing: list[str] = Field(
        default_factory=list,
        description="Columns whose missing values pass even where the schema says "
        "`nullable: false`; their other checks still apply to the values present. "
        "`mlops-gates monitor` adds the label column on its own: in production the label "
        "of recent rows has not arrived yet.",
    )


class MetricGate(GateBase, Sliced, Judged):
    """A metric of the candidate, on the whole data and on each slice, stays within bounds."""

    kind: Literal["metric"]
    metric: str = Field(description="Metric name (see the metrics reference).")
    min: float | None = Field(default=None, description="Lower bound (inclusive).")
    max: float | None = Field(default=None, description="Upper bound (inclusive).")

    _metric_name = field_validator("metric")(lambda v: _check_metric_name(v))

    @model_validator(mode="after")
    def _bounds(self) -> MetricGate:
        need_bound(self.min, self.max)
        return self


class FairnessGate(GateBase, Judged):
    """Gaps or ratios of a metric across the groups of a sensitive column stay within bounds."""

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
    min_support: MinSupport = Field(default=30, description="Smaller groups are left out.")
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
        need_bound(self.min, self.max)
        return self

    def default_id(self) -> str:
        """`fairness-<metric>-<sensitive>`: two columns judged on one metric differ."""
        return f"fairness-{self.metric}-{self.sensitive}"

    @property
    def resolved_measure(self) -> Literal["difference", "ratio"]:
        """difference or ratio: as given, or implied by a named fairness metric."""
        if self.measure is not None:
            return self.measure
        return "ratio" if self.metric.endswith("_ratio") else "difference"


class BaselineGate(GateBase, Sliced, Judged):
    """The candidate is not worse than the baseline, or better by a margin, on the same rows."""

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
