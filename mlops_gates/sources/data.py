"""Read evaluation data from Parquet or CSV, with errors that name the file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

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


def read_table(path: Path, fmt: Literal["parquet", "csv", "table"] | None = None) -> pd.DataFrame:
    """The whole table as a DataFrame; a missing, empty or corrupt file is a `DataError`."""
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
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
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
    return frame


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
