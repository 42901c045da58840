"""Values as JSON holds them: numpy scalars become Python numbers, missing becomes None.

Ground floor: no numpy or pandas import here (pandas' missing markers are recognised only
when pandas is already loaded, which is the only way such a value can exist).
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["is_missing", "jsonable", "plain", "scalar"]


def is_missing(v: Any) -> bool:
    """None, a float NaN (numpy's included), or pandas' NA / NaT."""
    if v is None:
        return True
    if isinstance(v, float):  # np.float64 is a float subclass
        return math.isnan(v)
    pd = sys.modules.get("pandas")
    if pd is not None and (v is pd.NA or v is pd.NaT):
        return True
    kind = getattr(v, "dtype", None)
    # A numpy float32/float16 scalar is not a float subclass; its NaN is missing too.
    return kind is not None and getattr(kind, "kind", "") == "f" and bool(v != v)


def scalar(v: Any) -> Any:
    """A numpy scalar as the Python number it holds, missing as None, anything else as is."""
    if is_missing(v):
        return None
    item = getattr(v, "item", None)
    return item() if callable(item) else v


def plain(v: Any) -> Any:
    """A JSON scalar: str, int, float, bool or None; any other value as its text."""
    v = scalar(v)
    return v if v is None or isinstance(v, str | int | float | bool) else str(v)


def jsonable(obj: Any) -> Any:
    """Plain JSON types all the way down: dict keys as text, tuples as lists, numpy scalars
    as Python numbers, NaN and infinities as null (JSON has neither)."""
    # Exact built-in types first: a report's tens of thousands of values are nearly all
    # str, float, int and dict, and the general path below costs a few calls each (issue 25).
    kind = type(obj)
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    v = plain(obj)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
