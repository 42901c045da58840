"""Read evaluation data from Parquet or CSV, with errors that name the file."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_gates.errors import DataError

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv")


def infer_format(path: Path) -> Literal["parquet", "csv"]:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise DataError(
        f"{path}: cannot tell the format from the file name; use a .parquet or .csv file, "
        f"or set `data.format: parquet` / `csv` in the config"
    )


Factorized = tuple[np.ndarray, Any]
"""A column as codes into its distinct values, in no particular order (as
``pd.factorize(column, use_na_sentinel=False)`` gives it: a missing value is one of the
values). The values may include some that no row holds."""


def read_table(path: Path, fmt: Literal["parquet", "csv", "table"] | None = None) -> pd.DataFrame:
    """The whole table as a DataFrame; a missing, empty or corrupt file is a `DataError`."""
    return read_frame(path, fmt)[0]


def read_frame(
    path: Path,
    fmt: Literal["parquet", "csv", "table"] | None = None,
    *,
    factorize: Collection[str] = (),
) -> tuple[pd.DataFrame, dict[str, Factorized]]:
    """The whole table (as `read_table`), and the columns of `factorize` that come
    factorized for free.

    Parquet stores a text column as a dictionary of its distinct values and, per row, an
    index into it. The text columns named in `factorize` (the ones gates slice by) are read
    that way: their codes come straight from the file rather than from hashing every row's
    text, and the frame's column is decoded from the same dictionary, so it is exactly what
    `pd.read_parquet` gives. Other columns and formats read as usual, with no codes.
    """
    if fmt == "table":
        raise DataError(f"{path}: `format: table` names a Spark table; set `backend.engine: spark`")
    if not path.exists():
        raise DataError(f"{path}: data file not found; check `data.path` in the config")
    if path.is_dir():
        raise DataError(
            f"{path}: is a folder; `data.path` must name one Parquet or CSV file, or set "
            f"`backend.engine: duckdb` to read a folder or glob of Parquet files"
        )
    fmt = fmt or infer_format(path)
    factorized: dict[str, Factorized] = {}
    try:
        if fmt == "parquet":
            frame, factorized = _read_parquet(path, factorize)
        else:
            sep = "\t" if path.name.lower().endswith(".tsv") else ","
            frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        # pyarrow raises ArrowInvalid (a ValueError) for a corrupt Parquet file.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: cannot read it as {fmt.upper()}: {first}. "
            f"Is the file complete, and is `data.format` right?"
        ) from None
    if len(frame.columns) == 0:
        raise DataError(f"{path}: the file has no columns")
    return frame, factorized


def _read_parquet(
    path: Path, factorize: Collection[str]
) -> tuple[pd.DataFrame, dict[str, Factorized]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [
        c
        for c in dict.fromkeys(factorize)
        if schema.names.count(c) == 1
        and (pa.types.is_string(t := schema.field(c).type) or pa.types.is_large_string(t))
    ]
    if not text:
        return pd.read_parquet(path), {}
    with pq.ParquetFile(path, read_dictionary=text) as file:
        table = file.read()
    factorized: dict[str, Factorized] = {}
    for name in text:
        i = table.schema.get_field_index(name)
        column = table.column(i).combine_chunks()  # one dictionary for all row groups
        # pandas keeps text as large_string: decoding straight to it spares a cast.
        values = column.dictionary.cast(pa.large_string())
        field = schema.field(name).with_type(pa.large_string())
        table = table.set_column(i, field, pc.take(values, column.indices))
        factorized[name] = (column, values)
    # One block per column: numeric columns stay the Arrow buffers just read, where
    # consolidating them would copy every one (pandas copies on write, so nothing changes).
    frame = table.to_pandas(split_blocks=True)
    for name, (column, values) in list(factorized.items()):
        factorized[name] = _dictionary_codes(column, values, frame[name].dtype)
    return frame, factorized


def _dictionary_codes(column: Any, values: Any, dtype: Any) -> Factorized:
    """A dictionary column's indices as codes (no copy when nothing is missing), and its
    dictionary as values, with a missing value appended when some row is missing."""
    import pyarrow.compute as pc

    uniques = values.to_pylist()
    indices = column.indices
    if indices.null_count > 0:
        indices = pc.fill_null(indices, len(uniques))
        uniques.append(None)
    return np.asarray(indices), pd.array(uniques, dtype=dtype)


def file_digest(path: Path) -> str:
    """sha256 of a file, read in chunks so a large file costs no memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def require_columns(
    frame: pd.DataFrame | Sequence[str], columns: list[str], *, where: str, path: Path
) -> None:
    """Raise a `DataError` naming every missing column and the columns there are (of a
    frame, or a list of column names from a backend that never loads the rows)."""
    have = list(frame.columns) if isinstance(frame, pd.DataFrame) else list(frame)
    missing = [c for c in columns if c not in have]
    if missing:
        shown = ", ".join(map(str, have[:40]))
        more = f" (and {len(have) - 40} more)" if len(have) > 40 else ""
        raise DataError(
            f"{path}: column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"named in {where} not found; the data has: {shown}{more}"
        )
