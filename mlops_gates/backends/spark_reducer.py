"""Spark reducer: the same GROUP BYs as DataFrame SQL on a Spark session.

The driver collects only the cell tables (slices x labels x predictions, and slices x
labels x score bins), never rows, so it runs against a cluster as well as `local[2]`.
The run's data is one temporary view, created once and dropped when the run ends.
"""

from __future__ import annotations

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

__all__ = ["SparkBackend", "session"]

DIALECT = Dialect("`", text="STRING", quantiles="percentile({v}, array({qs}))")
VIEW = "__mlops_gates_rows"


def session(config: Config) -> Any:
    """The active SparkSession, or one started from `backend.spark`."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and config.backend.spark.master is None:
        return active
    builder = SparkSession.builder.master(config.backend.spark.master or "local[2]")
    # A progress bar on stderr would break into pytest's and the CLI's output.
    builder = builder.appName("mlops-gates").config("spark.ui.showConsoleProgress", "false")
    for key, value in config.backend.spark.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkBackend(SqlBackend):
    """The data as Spark reads it: Parquet files, folders and globs, CSV, or a catalog
    table (`data.format: table`)."""

    engine = "spark"
    dialect = DIALECT

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._spark: Any = None
        self._frames: dict[str, Any] = {}  # view -> the Spark DataFrame behind it

    def _session(self) -> Any:
        if self._spark is None:
            require(ENGINES["spark"].dist, "spark")
            self._spark = session(self.config)
        return self._spark

    def _open(self, path: Path | None, fmt: str | None) -> SqlTable:
        spark = self._session()
        view = VIEW if path is None else f"{VIEW}_{abs(hash(str(path)))}"
        files: list[Path] = []
        fmt = fmt or (self.config.data.format if path is None else None)
        where = path or self.where
        try:
            if fmt == "table":
                where = Path(str(self.config.data.path))
                frame = spark.table(str(self.config.data.path))
            else:
                name = where.name.lower()
                if fmt == "csv" or (fmt is None and name.endswith((".csv", ".csv.gz", ".tsv"))):
                    reader = spark.read.option("header", True).option("inferSchema", True)
                    frame = reader.csv(str(where))
                    files = [where]
                else:
                    files = parquet_files(where)
                    pattern = where if where.is_dir() else scan_pattern(where)
                    frame = spark.read.parquet(str(pattern))
        except DataError:
            raise
        except Exception as exc:  # AnalysisException and friends: a missing table or path
            raise DataError(f"{where}: Spark could not read it: {_first(exc)}") from None
        frame.createOrReplaceTempView(view)
        self._frames[view] = frame
        types = {str(c): str(t) for c, t in frame.dtypes}
        return SqlTable(DIALECT, view, types, lambda sql: self._run(where, sql), where, files)

    def _run(self, where: Path, sql: str) -> pd.DataFrame:
        try:
            table = self._session().sql(sql).toArrow()
        except Exception as exc:
            raise DataError(f"{where}: Spark could not reduce it: {_first(exc)}") from None
        return to_frame(table)

    def _register(self, name: str, table: Any) -> None:
        self._session().createDataFrame(table).createOrReplaceTempView(name)

    def _release(self, table: SqlTable) -> None:
        self._frames.pop(table.src, None)
        self._session().catalog.dropTempView(table.src)

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """A seeded uniform sample of `rows` rows (all rows when there are fewer)."""
        t = self.table()
        frame = self._frames[t.src]
        total = frame.count()
        if total <= rows:
            return t.run(f"SELECT * FROM {t.src}")
        # Bernoulli sampling with some slack, then cut to size: seeded, one pass.
        part = frame.sample(fraction=min(1.0, 1.1 * rows / total + 1e-3), seed=seed).limit(rows)
        return to_frame(part.toArrow())


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
