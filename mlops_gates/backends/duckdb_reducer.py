"""Out-of-core reducer: DuckDB runs the GROUP BYs over Parquet files larger than memory.

Chosen over Polars' streaming engine by measurement (docs/scale.md): on the benchmark's
10M-row file the same three aggregations took DuckDB 5.8 s / 0.8 GB peak and Polars
10.7 s / 1.2 GB, and DuckDB spills to disk under a `memory_limit` where Polars' streaming
group-by may not. Only the small cell tables come back into Python, and for binned score
tables one streamed column of cell indexes per table, counted in numpy batch by batch.

One connection serves the whole run: the reduction, the sample, the schema checks over
every row, drift (references included) and staleness.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gates.backends.engines import ENGINES, require
from mlops_gates.backends.files import parquet_files, scan_pattern
from mlops_gates.backends.profiles import SqlTable
from mlops_gates.backends.sql import to_frame
from mlops_gates.backends.sql_backend import SqlBackend
from mlops_gates.backends.sql_text import Dialect
from mlops_gates.config import Config
from mlops_gates.errors import DataError

__all__ = ["DuckDBBackend"]

DIALECT = Dialect('"')
STREAM_ROWS = 1 << 20  # rows per streamed Arrow batch: 8 MB per int64 column


class DuckDBBackend(SqlBackend):
    """The data as DuckDB reads it: Parquet files, folders and globs, or a CSV file."""

    engine = "duckdb"
    dialect = DIALECT
    # Binned score tables are counted in numpy from one streamed pass: DuckDB's GROUP BY
    # with millions of groups per table cost 2.5x as much CPU (bench/README.md).
    streams = True

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._con: Any = None

    def _connection(self) -> Any:
        if self._con is None:
            duckdb = require(ENGINES["duckdb"].dist, "duckdb")
            con = duckdb.connect()
            # Order of the rows does not matter to a GROUP BY; not keeping it saves memory.
            con.execute("SET preserve_insertion_order = false")
            if self.config.backend.memory_limit:
                con.execute("SET memory_limit = ?", [self.config.backend.memory_limit])
            self._con = con
        return self._con

    def _open(self, path: Path | None, fmt: str | None) -> SqlTable:
        where = path or self.config.data_path
        fmt = fmt or (self.config.data.format if path is None else None)
        name = where.name.lower()
        if fmt == "csv" or (fmt is None and name.endswith((".csv", ".csv.gz", ".tsv"))):
            if not where.is_file():
                raise DataError(f"{where}: data file not found; check `data.path`")
            files = [where]
            src = f"read_csv({_literal(str(where))})"
        else:
            files = parquet_files(where)
            src = f"read_parquet({_literal(scan_pattern(where))}, hive_partitioning = true)"
        described = self._run(where, f"DESCRIBE SELECT * FROM {src}")
        types = {
            str(c): str(t)
            for c, t in zip(described["column_name"], described["column_type"], strict=True)
        }
        return SqlTable(DIALECT, src, types, lambda sql: self._run(where, sql), where, files)

    def _run(self, where: Path, sql: str) -> pd.DataFrame:
        con = self._connection()  # first: it names the extra when duckdb is missing
        import duckdb

        try:
            return to_frame(con.sql(sql).to_arrow_table())
        except duckdb.Error as exc:
            raise _failed(where, exc) from None

    def _stream(self, where: Path, sql: str) -> Iterator[Any]:
        con = self._connection()
        import duckdb

        try:
            yield from con.sql(sql).to_arrow_reader(STREAM_ROWS)
        except duckdb.Error as exc:
            raise _failed(where, exc) from None

    def _register(self, name: str, table: Any) -> None:
        self._connection().register(name, table)

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """A seeded uniform sample of `rows` rows (all rows when there are fewer)."""
        t = self.table()
        con = self._connection()
        threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
        # Reservoir sampling repeats with a seed only on one thread; the queries after it
        # get their threads back.
        con.execute("SET threads = 1")
        try:
            sampled = f"reservoir({int(rows)} ROWS) REPEATABLE ({seed})"
            return t.run(f"SELECT * FROM {t.src} USING SAMPLE {sampled}")
        finally:
            con.execute(f"SET threads = {threads}")

    def close(self) -> None:
        """Close the run's connection."""
        super().close()
        if self._con is not None:
            self._con.close()
            self._con = None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _failed(where: Path, exc: Exception) -> DataError:
    """One line naming the file and DuckDB's first line of complaint."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return DataError(f"{where}: DuckDB could not read or reduce it: {first}")
