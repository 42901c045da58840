"""Training-serving skew: which joined rows disagree on a feature.

Pure numpy on aligned arrays (row i of `training` and of `serving` is the same entity).
Missing on both sides is agreement: both pipelines failed to produce the value the same
way. Missing on one side only is a mismatch.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "exact_mismatch",
    "largest_difference",
    "numeric_mismatch",
]


BoolArray = NDArray[np.bool_]


def numeric_mismatch(
    training: ArrayLike, serving: ArrayLike, *, atol: float = 0.0, rtol: float = 0.0
) -> BoolArray:
    """Rows where ``|serving - training| > atol + rtol * |training|``.

    NaN on both sides matches, NaN on one side does not; equal infinities match. The
    tolerance is relative to the training value, so it is not symmetric in the two sides
    (as :func:`numpy.isclose` is relative to its second argument).
    """
    a = np.asarray(training, dtype=np.float64)
    b = np.asarray(serving, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"training and serving must be aligned, got {a.shape} and {b.shape}")
    if atol < 0 or rtol < 0:
        raise ValueError("atol and rtol must be >= 0")
    with np.errstate(invalid="ignore", over="ignore"):
        # Only finite pairs can be close: rtol * |inf| would let an infinite training
        # value match any serving value.
        close = np.isfinite(a) & np.isfinite(b) & (np.abs(b - a) <= atol + rtol * np.abs(a))
    match = (np.isnan(a) & np.isnan(b)) | (a == b) | close
    result: BoolArray = ~match
    return result


def exact_mismatch(
    training: ArrayLike,
    serving: ArrayLike,
    *,
    training_missing: ArrayLike,
    serving_missing: ArrayLike,
) -> BoolArray:
    """Rows whose values differ; the missing masks say which entries are missing (the
    caller knows the missing markers of its types: None, NaN, NA, NaT)."""
    a = np.asarray(training, dtype=object)
    b = np.asarray(serving, dtype=object)
    ma = np.asarray(training_missing, dtype=bool)
    mb = np.asarray(serving_missing, dtype=bool)
    if not (a.shape == b.shape == ma.shape == mb.shape):
        raise ValueError("training, serving and their missing masks must be aligned")
    equal = np.zeros(a.shape, dtype=bool)
    present = ~ma & ~mb
    if present.any():
        try:
            same = np.asarray(a[present] == b[present], dtype=bool)
        except (TypeError, ValueError):
            same = np.array([], dtype=bool)
        if same.shape != (int(present.sum()),):
            # Values that do not compare elementwise (containers, odd types): one by one,
            # and a pair that cannot be compared is a mismatch.
            same = np.array([_equal(x, y) for x, y in zip(a[present], b[present], strict=True)])
        equal[present] = same
    result: BoolArray = ~((ma & mb) | equal)
    return result


def _equal(x: object, y: object) -> bool:
    try:
        return bool(x == y)
    except (TypeError, ValueError):
        return False


def largest_difference(training: ArrayLike, serving: ArrayLike) -> float:
    """Largest |serving - training| over rows where both are finite; NaN if none are."""
    a = np.asarray(training, dtype=np.float64)
    b = np.asarray(serving, dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan")
    return float(np.max(np.abs(b[both] - a[both])))
