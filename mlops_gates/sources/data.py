"""Read evaluation data from Parquet or CSV, with errors that name the file."""

from __future__ import annotations

import difflib
import functools
import hashlib
import io
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops_gates._text import EXCERPT_LIMIT, clean, excerpt
from mlops_gates.errors import DataError

__all__ = [
    "Table",
    "file_digest",
    "index_columns",
    "infer_format",
    "read_rows",
    "read_table",
    "require_columns",
    "require_regular_file",
]


_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv")


@functools.cache
def _exact_floats() -> dict[str, Any]:
    """`read_csv` options that parse floats exactly. Before pandas 3 the default converter
    can be one unit in the last place off (scores read back differ from those written:
    ties split, metrics disagree with scikit-learn's on the same data); pandas 3 is exact
    and deprecates `float_precision`. Asks for the exact parser only where it is needed."""
    text = "0.30000000000000004"  # 0.1 + 0.2, which pandas 2's default misreads
    got = pd.read_csv(io.StringIO(f"x\n{text}\n"))["x"].iloc[0]
    return {} if got == float(text) else {"float_precision": "round_trip"}


def infer_format(path: Path) -> Literal["parquet", "csv"]:
    """The format a data file's name implies (.parquet / .pq, or .csv / .tsv, compressed or not); a
    `DataError` saying how to set it when the name does not tell."""
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


class Table:
    """The rows of one data file, read once.

    `frame` is the DataFrame `pd.read_parquet` (or `pd.read_csv`) gives. Text columns that
    came through their Parquet dictionaries (`factorized`, for the grouping) are decoded
    into it only when something first asks for the frame or for one of them, so a run
    whose gates only count rows per slice never builds their text.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        factorized: Mapping[str, Factorized] | None = None,
        decode: Callable[[], pd.DataFrame] | None = None,
        columns: list[str] | None = None,
        rows: int | None = None,
    ) -> None:
        # Without `decode`, `frame` is the whole table. With it, `frame` holds the other
        # columns, `columns` names them all in order and `decode()` builds the whole table.
        self._base = frame
        self._decode = decode
        self._frame = None if decode is not None else frame
        self._columns = list(columns) if columns is not None else None
        self._rows = rows
        self.factorized: dict[str, Factorized] = dict(factorized or {})

    @classmethod
    def of(cls, rows: pd.DataFrame | Table) -> Table:
        """`rows` as a Table: a DataFrame is wrapped whole, a Table passes through."""
        return rows if isinstance(rows, Table) else cls(rows)

    @property
    def frame(self) -> pd.DataFrame:
        """The whole table as a DataFrame; text columns kept as dictionaries are decoded on first
        use."""
        if self._frame is None:
            assert self._decode is not None
            self._frame = self._decode()
            self._decode = None
        return self._frame

    @property
    def columns(self) -> list[str]:
        """Column names in file order, without decoding the table."""
        if self._frame is not None or self._columns is None:
            return list(self.frame.columns)
        return list(self._columns)

    def column(self, name: str) -> pd.Series:
        """One column, decoding the table only when it is one of the text columns."""
        if self._frame is None and name in self._base.columns:
            return self._base[name]
        return self.frame[name]

    def __len__(self) -> int:
        return self._rows if self._frame is None and self._rows is not None else len(self.frame)


def read_table(path: Path, fmt: Literal["parquet", "csv", "table"] | None = None) -> pd.DataFrame:
    """The whole table as a DataFrame; a missing, empty or corrupt file is a `DataError`."""
    return read_rows(path, fmt).frame


def read_rows(
    path: Path,
    fmt: Literal["parquet", "csv", "table"] | None = None,
    *,
    factorize: Collection[str] = (),
) -> Table:
    """The whole table (as `read_table`), with the columns of `factorize` that come
    factorized for free.

    Parquet stores a text column as a dictionary of its distinct values and, per row, an
    index into it. The text columns named in `factorize` (the ones gates slice by) are read
    that way: their codes come straight from the file rather than from hashing every row's
    text. Their text is decoded from the same dictionary when first needed, so the frame is
    exactly what `pd.read_parquet` gives. Other columns and formats read as usual.
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
    require_regular_file(path, "a Parquet or CSV file")
    fmt = fmt or infer_format(path)
    try:
        if fmt == "parquet":
            table = _read_parquet(path, factorize)
        else:
            sep = "\t" if path.name.lower().endswith(".tsv") else ","
            table = Table(pd.read_csv(path, sep=sep, **_exact_floats()))
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        # pyarrow raises ArrowInvalid (a ValueError) for a corrupt Parquet file.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: cannot read it as {fmt.upper()}: {excerpt(first, 160)}. "
            f"Is the file complete, and is `data.format` right?"
        ) from None
    if not table.columns:
        raise DataError(f"{path}: the file has no columns")
    return table


def _read_parquet(path: Path, factorize: Collection[str]) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    index = index_columns(schema)
    text = [
        c
        for c in dict.fromkeys(factorize)
        if schema.names.count(c) == 1
        and c not in index
        and (pa.types.is_string(t := schema.field(c).type) or pa.types.is_large_string(t))
    ]
    if not text:
        return Table(pd.read_parquet(path))
    with pq.ParquetFile(path, read_dictionary=text) as file:
        table = file.read()
    columns = {name: table.column(name).combine_chunks() for name in text}  # one dictionary
    rest = table.drop_columns(text)
    # One block per column: numeric columns stay the Arrow buffers just read, where
    # consolidating them would copy every one (pandas copies on write, so nothing changes).
    base = rest.to_pandas(split_blocks=True)
    dtype = pa.array([], pa.large_string()).to_pandas().dtype  # what pandas reads text as

    def decode() -> pd.DataFrame:
        import pyarrow.compute as pc

        decoded = table
        for name, column in columns.items():
            # pandas keeps text as large_string: decoding straight to it spares a cast.
            values = column.dictionary.cast(pa.large_string())
            field = schema.field(name).with_type(pa.large_string())
            i = decoded.schema.get_field_index(name)
            decoded = decoded.set_column(i, field, pc.take(values, column.indices))
        frame: pd.DataFrame = decoded.to_pandas(split_blocks=True)
        return frame

    factorized = {name: _dictionary_codes(column, dtype) for name, column in columns.items()}
    order = [c for c in table.column_names if c in text or c in base.columns]
    return Table(base, factorized=factorized, decode=decode, columns=order, rows=table.num_rows)


def index_columns(schema: Any) -> set[str]:
    """Columns a pandas-written file keeps its index in (they become the frame's index)."""
    import json

    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return set()
    return {c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)}


def _dictionary_codes(column: Any, dtype: Any) -> Factorized:
    """A dictionary column's indices as codes (no copy when nothing is missing), and its
    dictionary as values, with a missing value appended when some row is missing."""
    import pyarrow.compute as pc

    uniques = column.dictionary.to_pylist()
    indices = column.indices
    if indices.null_count > 0:
        indices = pc.fill_null(indices, len(uniques))
        uniques.append(None)
    return np.asarray(indices), pd.array(uniques, dtype=dtype)


def require_regular_file(path: Path, expected: str | None = None) -> None:
    """Refuse what is not a regular file (a device, a pipe, a /proc entry): reading one can
    block forever, and its "columns" would be whatever it holds (the environment, for
    /proc/self/environ), quoted into reports."""
    try:
        mode = path.stat().st_mode
        # /proc and /sys files say they are regular (of size 0); what they hold is live
        # process and system state, never data.
        pseudo = path.resolve().parts[1:2] in (("proc",), ("sys",), ("dev",))
    except (OSError, RuntimeError):
        return  # missing or unreadable: the reader says so, naming the file
    if pseudo or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        what = f"point the config at {expected} instead" if expected else "name a file instead"
        raise DataError(f"{path}: not a regular file (a device, pipe or /proc entry); {what}")


def file_digest(path: Path) -> str:
    """sha256 of a file, read in chunks so a large file costs no memory."""
    require_regular_file(path)
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
        # Column names are file content: quote a short excerpt, never the whole header
        # (a wrong file's "header" can be anything, secrets included).
        names = [str(c) for c in have]
        close = difflib.get_close_matches(str(missing[0]), names, n=3)
        hint = f"; did you mean {', '.join(repr(clean(c, 40)) for c in close)}?" if close else ""
        raise DataError(
            f"{path}: column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(clean(c, 60)) for c in missing[:5])} named in {where} not found; "
            f"the data has: {excerpt(', '.join(names), EXCERPT_LIMIT)} ({len(names)} "
            f"column{'s' if len(names) != 1 else ''}){hint}"
        )
