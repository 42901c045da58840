"""What every part of the config shares: the strict base model, the field types, the gate
base class with its id, and the sections several gate kinds mix in (slicing, judging).

A concept that several gate kinds have (min_support, on_insufficient, severity, slices)
is declared here once: its type and constraints. A gate kind that needs a different
default or wording (a drift gate counts features, not slices) gives only those.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator

__all__ = [
    "Duration",
    "FieldError",
    "GateBase",
    "Judge",
    "Judged",
    "MinSupport",
    "Multiplicity",
    "Outcome",
    "Scalar",
    "Severity",
    "SliceSpec",
    "Sliced",
    "StrictModel",
    "TaskType",
    "need_bound",
    "parse_duration",
]

Severity = Literal["block", "warn"]
TaskType = Literal["binary", "multiclass", "regression"]
# What a gate reports when it cannot judge (too little evidence, no baseline, no age).
Outcome = Literal["skip", "pass", "warn", "fail"]
Judge = Literal["estimate", "interval", "significance"]
Multiplicity = Literal["holm", "bh", "none"]
SliceSpec = str | list[str]
Scalar = str | int | float | bool
# The evidence a unit (slice, group, feature, joined rows) needs before it is judged; each
# gate kind says what it counts and its default.
MinSupport = Annotated[int, Field(ge=0)]


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldError(ValueError):
    """A cross-field problem reported at a specific location (relative to the model that
    raises it), so the message names the key to fix rather than the section."""

    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


class GateBase(StrictModel):
    """What every gate kind has: its kind, an id, a severity and a description.

    The id is set once, when the gate is validated: the one the config gives, else
    `default_id()`. Read it as `gate.id`; it is never recomputed.
    """

    # `id` is the gate's final id (a property); the key as written is `id_`.
    id_: str | None = Field(
        default=None, alias="id", description="Unique name; default: `<kind>-<metric>`."
    )
    severity: Severity = Field(default="block", description="block fails the run; warn reports.")
    description: str | None = Field(default=None, description="Shown in the report.")
    # Each kind narrows this to its Literal; declared here so code can read `gate.kind`
    # of any gate, and after description so the JSON Schema keeps its key order.
    kind: str

    _id: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _set_id(self) -> GateBase:
        self._id = self.id_ or self.default_id()
        return self

    @property
    def id(self) -> str:
        """The gate's id: as given in the config, else its default (set at load)."""
        return self._id

    def default_id(self) -> str:
        """The id of a gate that gives none: `<kind>-<metric>` or `<kind>`. A kind whose
        gates differ by other keys (fairness: the sensitive column) overrides it."""
        metric = getattr(self, "metric", None)
        return f"{self.kind}-{metric}" if metric else self.kind


class Sliced(StrictModel):
    """Judged on the whole data and on slices, each slice needing enough evidence."""

    overall: bool = Field(default=True, description="Also judge the whole data set.")
    slices: list[SliceSpec] = Field(
        default_factory=list,
        description="Columns to slice by; a list of columns is their cross.",
    )
    min_support: MinSupport = Field(
        default=30,
        description="Slices with less evidence are insufficient: the metric's own "
        "denominator (positives for recall, negatives for FPR, predicted positives for "
        "precision), rows for other metrics.",
    )
    on_insufficient: Outcome = Field(
        default="skip", description="Outcome of a slice below min_support."
    )


class Judged(StrictModel):
    """How a number with a confidence interval is compared with its bound."""

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


def need_bound(lo: float | None, hi: float | None) -> None:
    """A gate judged against `min` / `max` needs at least one, in order."""
    if lo is None and hi is None:
        raise ValueError("give a bound: `min`, `max` or both")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min ({lo}) is greater than max ({hi})")


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
