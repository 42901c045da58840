"""Fairness gaps and ratios across the groups of a sensitive attribute.

The caller marginalizes to one slice per sensitive group and passes the per-group
confusion matrices (binary, class 1 positive) or per-group metric values.

Semantics, matching fairlearn 0.15's ``MetricFrame(...).difference()`` / ``.ratio()`` with
``method="between_groups"`` (and the ``demographic_parity_*``, ``equalized_odds_*`` with
``agg="worst_case"``, ``equal_opportunity_*`` functions):

- difference: ``max - min`` of the group values; ratio: ``min / max``.
- Groups whose value is undefined (NaN: an empty group, or a TPR for a group without
  positives, an FPR for a group without negatives) are left out, as pandas' min/max skip
  NaN. fairlearn's own rate functions instead report such a rate as 0 (sklearn's
  ``confusion_matrix(normalize="true")`` turns 0/0 into 0), which invents a disparity; so
  where a group lacks positives or negatives we differ from fairlearn's rate-based
  functions, and agree with a MetricFrame over NaN-returning rates.
- No defined value at all: NaN. A ratio whose largest value is 0 (every group at 0,
  e.g. nobody selected) is 0/0: NaN, as in fairlearn. Ratios are meant for non-negative
  metrics; with negative values they are computed as fairlearn does, ``min / max``, and
  are NaN when ``max == 0``.
- Equalized odds is the worst case over its TPR and FPR components that are defined
  (largest difference, smallest ratio); NaN only when both are undefined.

The ``*_batch`` forms accept any leading batch shape (e.g. bootstrap replicates):
values ``(..., G)`` and confusion matrices ``(..., G, 2, 2)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mlops_gates.stats.metrics import confusion_metric

__all__ = [
    "Criterion",
    "Measure",
    "between_groups",
    "between_groups_batch",
    "demographic_parity",
    "equal_opportunity",
    "equalized_odds",
    "parity_batch",
]


FloatArray = NDArray[np.float64]
Measure = Literal["difference", "ratio"]
Criterion = Literal["demographic_parity", "equalized_odds", "equal_opportunity"]


def between_groups(values: ArrayLike, *, measure: Measure) -> float:
    """Gap (``max - min``) or ratio (``min / max``) of per-group ``values`` ``(G,)``.

    Non-finite values (undefined groups) are skipped; NaN when none is finite, and for a
    ratio when the largest value is 0.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"values must have shape (G,), got {a.shape}")
    return float(between_groups_batch(a, measure=measure))


def between_groups_batch(values: ArrayLike, *, measure: Measure) -> FloatArray:
    """:func:`between_groups` over the last axis of ``values`` ``(..., G)``."""
    a = np.asarray(values, dtype=np.float64)
    if a.ndim < 1:
        raise ValueError("values must have a group axis")
    ok = np.isfinite(a)
    any_ok = ok.any(axis=-1)
    hi = np.where(ok, a, -np.inf).max(axis=-1, initial=-np.inf)
    lo = np.where(ok, a, np.inf).min(axis=-1, initial=np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "difference":
            out = np.where(any_ok, hi - lo, np.nan)
        elif measure == "ratio":
            out = np.where(any_ok & (hi != 0), lo / np.where(hi != 0, hi, 1.0), np.nan)
        else:
            raise ValueError(f"measure must be 'difference' or 'ratio', got {measure!r}")
    return np.asarray(out, dtype=np.float64)


def demographic_parity(cm: ArrayLike, *, measure: Measure) -> float:
    """Between-group gap or ratio of selection rates (share predicted positive)."""
    return _scalar(cm, "demographic_parity", measure)


def equalized_odds(cm: ArrayLike, *, measure: Measure) -> float:
    """Worst case of the TPR and FPR gaps (``difference``) or ratios (``ratio``)."""
    return _scalar(cm, "equalized_odds", measure)


def equal_opportunity(cm: ArrayLike, *, measure: Measure) -> float:
    """Between-group gap or ratio of true positive rates."""
    return _scalar(cm, "equal_opportunity", measure)


def parity_batch(criterion: Criterion, cm: ArrayLike, *, measure: Measure) -> FloatArray:
    """``criterion`` for confusion matrices ``(..., G, 2, 2)`` ``[group, true, pred]``."""
    m = np.asarray(cm)
    if m.ndim < 3 or m.shape[-2:] != (2, 2):
        raise ValueError(f"confusion matrices must have shape (..., G, 2, 2), got {m.shape}")
    if criterion == "demographic_parity":
        return between_groups_batch(confusion_metric("selection_rate", m), measure=measure)
    tpr = between_groups_batch(confusion_metric("tpr", m), measure=measure)
    if criterion == "equal_opportunity":
        return tpr
    if criterion != "equalized_odds":
        raise ValueError(f"unknown fairness criterion {criterion!r}")
    fpr = between_groups_batch(confusion_metric("fpr", m), measure=measure)
    # fmax/fmin skip a NaN component: the other one still bounds the disparity.
    worst = np.fmax(tpr, fpr) if measure == "difference" else np.fmin(tpr, fpr)
    return np.asarray(worst, dtype=np.float64)


def _scalar(cm: ArrayLike, criterion: Criterion, measure: Measure) -> float:
    m = np.asarray(cm)
    if m.ndim != 3:
        raise ValueError(f"confusion matrices must have shape (G, 2, 2), got {m.shape}")
    return float(parity_batch(criterion, m, measure=measure))
