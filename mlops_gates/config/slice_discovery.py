"""The `slice_discovery` gate kind: no slice nobody listed is much worse than overall."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops_gates.config.base import GateBase, Outcome

__all__ = ["DISCOVERY_METRICS", "SliceDiscoveryGate"]

# Metrics a row can be bad for: a share of some rows (see gates/slice_discovery.py).
DiscoveryMetric = Literal["accuracy", "recall", "tpr", "specificity", "precision", "fpr", "fnr"]
DISCOVERY_METRICS: tuple[str, ...] = (
    "accuracy",
    "recall",
    "tpr",
    "specificity",
    "precision",
    "fpr",
    "fnr",
)


class SliceDiscoveryGate(GateBase):
    """Search feature-value conjunctions for slices much worse than overall on one half of
    the rows, confirm each on the other half (Holm), and fail on a confirmed one."""

    kind: Literal["slice_discovery"]
    metric: DiscoveryMetric = Field(
        default="accuracy",
        description="A proportion metric: accuracy (any classification task), or recall, tpr, "
        "specificity, precision, fpr, fnr (binary).",
    )
    features: list[str] = Field(
        min_length=1, description="Columns whose values (numeric: bins) make up the slices."
    )
    reference: str | None = Field(
        default=None,
        description="Profile (.json, from `mlops-gates profile`) or data file whose numeric "
        "bin edges cut numeric features; default: the evaluation rows' own edges. Relative to "
        "this file.",
    )
    bins: int = Field(
        default=10,
        ge=2,
        le=100,
        description="Numeric bins when edges are computed here (not from a .json profile).",
    )
    max_order: int = Field(
        default=2, ge=1, le=3, description="Most features in one slice (1: single values)."
    )
    min_support: int = Field(
        default=200,
        ge=10,
        description="Fewest rows the metric counts (e.g. positives for recall) a slice needs "
        "on the search half.",
    )
    max_drop: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="How much worse than overall a slice may be (absolute; a rise for fpr/fnr).",
    )
    top_k: int = Field(
        default=10, ge=1, le=100, description="Worst slices of the search tested on the other half."
    )
    weight: float = Field(
        default=0.99,
        gt=0,
        lt=1,
        description="SliceLine's weight of the error ratio against the slice's size in the "
        "score that ranks candidates; higher ranks smaller slices higher.",
    )
    on_insufficient: Outcome = Field(
        default="skip", description="Outcome when too few rows to search (under 2 × min_support)."
    )

    @model_validator(mode="after")
    def _check(self) -> SliceDiscoveryGate:
        repeated = sorted({f for f in self.features if self.features.count(f) > 1})
        if repeated:
            raise ValueError(f"`features` lists {', '.join(repeated)} more than once")
        profile = self.reference is not None and self.reference.lower().endswith(".json")
        if profile and "bins" in self.model_fields_set:
            raise ValueError("bins applies without a profile; a .json profile keeps its own edges")
        return self
