"""`mlops-gates schema infer`: a pandera schema to start from, inferred from a data file.

pandera's own ``infer_schema`` gives dtypes, nullability and numeric ranges, but no category
sets for text columns, an index check and ``coerce: true`` (which converts a column of the
wrong type instead of reporting it). This starts from its dtypes and adds:

- ``nullable: true`` exactly where the data have missing values;
- for a Parquet file, the integer type the file stores (pandas' nullable ``Int64`` & co.)
  for an integer column with missing values, which pandas reads as float64;
- ``in_range`` from the observed minimum to maximum, exact by default (``slack`` widens it
  by a fraction of the range on each side; integer bounds round outward, and a column
  that never goes below 0 keeps a lower bound of at least 0);
- ``isin`` with the sorted values of every text or categorical column with at most
  ``max_categories`` distinct values;
- ``coerce: false`` and ``strict: false`` (extra columns such as stored predictions pass)
  and no index check.

The result round-trips through ``DataFrameSchema.to_yaml`` / ``from_yaml`` and passes on
the data it was inferred from.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gates._values import scalar

__all__ = ["DEFAULT_MAX_CATEGORIES", "infer_schema", "schema_yaml", "stored_integer_dtypes"]

DEFAULT_MAX_CATEGORIES = 50


def infer_schema(
    frame: pd.DataFrame,
    *,
    name: str | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    slack: float = 0.0,
    integer_dtypes: Mapping[str, str] | None = None,
) -> Any:
    """A pandera ``DataFrameSchema`` describing ``frame``.

    ``integer_dtypes`` names the columns the source stores as integers, with pandas'
    nullable integer dtype for each (see `stored_integer_dtypes`): such a column that pandas
    read as float64 because values are missing is described with that dtype instead."""
    import pandera.pandas as pa

    if max_categories < 0:
        raise ValueError(f"max_categories must be >= 0, got {max_categories}")
    if not (slack >= 0 and math.isfinite(slack)):
        raise ValueError(f"slack must be a finite number >= 0, got {slack}")
    base = pa.infer_schema(frame)
    columns = {}
    for col in frame.columns:
        series = frame[col]
        dtype = base.columns[col].dtype
        stored = (integer_dtypes or {}).get(str(col))
        if stored is not None and pd.api.types.is_float_dtype(series.dtype):
            # Whole numbers by the file's type; the schema gate reads them back the same way.
            # Not whole after all (or out of range): describe what pandas read.
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                series, dtype = series.astype(pd.api.types.pandas_dtype(stored)), stored
        checks, note = _checks(series, max_categories=max_categories, slack=slack)
        missing = int(series.isna().sum())
        columns[str(col)] = pa.Column(
            dtype,
            checks=checks,
            nullable=missing > 0,
            description=f"{note}; {missing} of {len(series)} rows missing",
        )
    return pa.DataFrameSchema(columns, name=name, coerce=False, strict=False)


def stored_integer_dtypes(path: Path) -> dict[str, str]:
    """pandas' nullable integer dtype (``Int64``, ``UInt8``, ...) of each integer column of
    a Parquet file, from the types the file stores. pandas reads an integer column with
    missing values as float64, so its own dtype cannot tell."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for field in pq.read_schema(path):
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_integer(kind):
            unsigned = "U" if pa.types.is_unsigned_integer(kind) else ""
            out[field.name] = f"{unsigned}Int{kind.bit_width}"
    return out


def _checks(series: pd.Series, *, max_categories: int, slack: float) -> tuple[list[Any], str]:
    import pandera.pandas as pa

    present = series.dropna()
    distinct = int(present.nunique())
    note = f"{distinct} distinct values"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or present.empty:
        return [], note
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        lo, hi = _range(present, slack, integer=pd.api.types.is_integer_dtype(dtype))
        seen = f"observed {scalar(present.min())} to {scalar(present.max())}"
        return [pa.Check.in_range(lo, hi)], f"{note}, {seen}"
    if isinstance(dtype, pd.CategoricalDtype):
        values = [scalar(v) for v in dtype.categories]
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        if not all(isinstance(v, str) for v in present.unique()):
            return [], note  # mixed types: no set that YAML can carry faithfully
        values = sorted(str(v) for v in present.unique())
    else:
        return [], note  # dates and times: dtype only
    if len(values) > max_categories:
        return [], note
    return [pa.Check.isin(sorted(values, key=str))], note


def _range(present: pd.Series, slack: float, *, integer: bool) -> tuple[float | int, float | int]:
    lo, hi = scalar(present.min()), scalar(present.max())
    width = (hi - lo) * slack
    new_lo, new_hi = lo - width, hi + width
    if lo >= 0:
        new_lo = max(new_lo, 0)  # a count or an amount stays non-negative
    if integer:
        return math.floor(new_lo), math.ceil(new_hi)
    return float(new_lo), float(new_hi)


def schema_yaml(schema: Any, *, source: Path, rows: int, slack: float) -> str:
    """The schema as pandera YAML, headed by a comment saying where it came from."""
    when = datetime.now(UTC).date().isoformat()
    ranges = "observed min and max" if slack == 0 else f"observed range widened by {slack:g}"
    header = [
        f"# pandera schema inferred by `mlops-gates schema infer` from {source.name}",
        f"# ({rows} rows, {when}). Ranges: {ranges}; category sets: every value seen.",
        "# A starting point: review each check and tighten it (docs/schema.md). Read it with",
        "# pandera.pandas.DataFrameSchema.from_yaml(path), or use it in a `schema` gate.",
    ]
    return "\n".join(header) + "\n" + str(schema.to_yaml())
