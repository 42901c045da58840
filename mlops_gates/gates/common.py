"""What every gate kind shares: the evaluation context, slicing and verdict wording."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_gates.config import Config, Outcome, SliceSpec
from mlops_gates.gates.result import Bound, GateResult, Status, fmt, slice_label
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.stats.reduce import ClassificationStats, RegressionStats


@dataclass
class Grouping:
    """The finest grouping of rows over every column any gate slices by.

    Rows are reduced once per group; every slice is a union of groups, so slicing later
    needs only the small `keys` table, never the rows again.
    """

    codes: np.ndarray  # (n_rows,) group of each row
    keys: pd.DataFrame  # (n_groups, n_columns) the columns' values in each group
    _cache: dict[tuple[str, ...], tuple[np.ndarray, list[dict[str, Any]]]] = field(
        default_factory=dict
    )

    @classmethod
    def of(cls, frame: pd.DataFrame, columns: list[str]) -> Grouping:
        if not columns:
            return cls(np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0]))
        grouped = frame.groupby(columns, dropna=False, sort=True, observed=True)
        codes = grouped.ngroup().to_numpy(dtype=np.int64)
        keys = grouped.size().index.to_frame(index=False)
        return cls(codes, keys)

    @property
    def n_groups(self) -> int:
        return len(self.keys)

    def slicing(self, columns: tuple[str, ...]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Map each group to a slice of `columns`; returns (group_to_slice, slice values)."""
        if columns not in self._cache:
            if not columns:
                self._cache[columns] = (np.zeros(self.n_groups, dtype=np.int64), [{}])
            else:
                grouped = self.keys.groupby(list(columns), dropna=False, sort=True, observed=True)
                g2s = grouped.ngroup().to_numpy(dtype=np.int64)
                values = [
                    {c: _plain(v) for c, v in zip(columns, key, strict=True)}
                    for key in grouped.size().index.to_frame(index=False).itertuples(index=False)
                ]
                self._cache[columns] = (g2s, values)
        return self._cache[columns]


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    item = getattr(v, "item", None)
    return item() if callable(item) else v


@dataclass
class Context:
    config: Config
    data: EvalData
    grouping: Grouping
    stats: ClassificationStats | RegressionStats


def support(table: ClassificationStats | RegressionStats) -> np.ndarray:
    """Rows behind each group of a (marginalized) table."""
    if isinstance(table, ClassificationStats):
        return table.support()
    return table.n


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
) -> GateResult:
    """The verdict on one number: support first, then definedness, then the bound."""
    where = slice_label(slc)
    status: Status
    if support < min_support:
        status, reason = outcome_status(on_insufficient, severity), "insufficient_support"
        message = (
            f"{what} on {where}: insufficient evidence, {support} rows "
            f"(min_support {min_support}); outcome set by on_insufficient: {on_insufficient}"
        )
    elif math.isnan(observed):
        why = f" ({undefined_why})" if undefined_why else ""
        reason = "undefined"
        if slc:
            status = outcome_status(on_insufficient, severity)
            message = (
                f"{what} on {where} is undefined{why} over {support} rows; "
                f"outcome set by on_insufficient: {on_insufficient}"
            )
        else:
            status = "error"
            message = f"{what} is undefined on the whole data{why} ({support} rows)"
    elif bound.holds(observed):
        status, reason = "pass", "ok"
        message = f"{what} on {where} is {fmt(observed)} ({bound.describe()}, {support} rows)"
    else:
        too_low = bound.min is not None and observed < bound.min
        status = outcome_status("fail", severity)
        reason = "below_min" if too_low else "above_max"
        message = (
            f"{what} on {where} is {fmt(observed)}, "
            f"{'below the minimum' if too_low else 'above the maximum'} "
            f"{fmt(bound.min if too_low else bound.max)} ({support} rows)"
        )
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
        support=int(support),
        details=details or {},
    )


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
