"""Spark reducer: the same GROUP BYs as DataFrame SQL on a Spark session.

The driver collects only the cell tables (slices x labels x predictions, and slices x
labels x score bins), never rows, so it runs against a cluster as well as `local[2]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gates.backends.files import files_digest, parquet_files, scan_pattern
from mlops_gates.backends.plan import Reduced
from mlops_gates.backends.profiles import SqlTable
from mlops_gates.backends.sql import Dialect, reduce_sql, to_frame
from mlops_gates.config import Config
from mlops_gates.errors import DataError

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


class _Source:
    def __init__(
        self, config: Config, path: Path | None = None, view: str = VIEW, fmt: str | None = None
    ) -> None:
        self.spark = session(config)
        self.files: list[Any] = []
        fmt = fmt or (config.data.format if path is None else None)
        try:
            if fmt == "table":
                self.where = Path(str(config.data.path))
                frame = self.spark.table(str(config.data.path))
            else:
                self.where = path or config.resolve(config.data.path)
                name = self.where.name.lower()
                if fmt == "csv" or (fmt is None and name.endswith((".csv", ".csv.gz", ".tsv"))):
                    reader = self.spark.read.option("header", True).option("inferSchema", True)
                    frame = reader.csv(str(self.where))
                    self.files = [self.where]
                else:
                    self.files = parquet_files(self.where)
                    pattern = self.where if self.where.is_dir() else scan_pattern(self.where)
                    frame = self.spark.read.parquet(str(pattern))
        except DataError:
            raise
        except Exception as exc:  # AnalysisException and friends: a missing table or path
            raise DataError(f"{self.where}: Spark could not read it: {_first(exc)}") from None
        frame.createOrReplaceTempView(view)
        self.frame = frame
        self.columns = [str(c) for c in frame.columns]
        self.types = {str(c): str(t) for c, t in frame.dtypes}

    def register(self, name: str, table: Any) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def run(self, sql: str) -> pd.DataFrame:
        try:
            table = self.spark.sql(sql).toArrow()
        except Exception as exc:
            raise DataError(f"{self.where}: Spark could not reduce it: {_first(exc)}") from None
        return to_frame(table)


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def open_table(
    config: Config, path: Path | None = None, fmt: str | None = None
) -> Iterator[SqlTable]:
    """The configured data (or the file or directory `path`) as a queryable table."""
    view = VIEW if path is None else f"{VIEW}_{abs(hash(str(path)))}"
    s = _Source(config, path, view, fmt)
    try:
        yield SqlTable(DIALECT, view, s.types, s.run, s.where, list(s.files))
    finally:
        s.spark.catalog.dropTempView(view)


def reduce(config: Config) -> tuple[Reduced, str | None]:
    s = _Source(config)
    reduced = reduce_sql(
        config,
        engine="spark",
        dialect=DIALECT,
        src=VIEW,
        columns=s.columns,
        run=s.run,
        register=s.register,
        where=s.where,
    )
    return reduced, files_digest(s.files) if s.files else None


def sample(config: Config, rows: int, seed: int) -> pd.DataFrame:
    s = _Source(config)
    total = s.frame.count()
    if total <= rows:
        return s.run(f"SELECT * FROM {VIEW}")
    # Bernoulli sampling with some slack, then cut to size: seeded, one pass.
    part = s.frame.sample(fraction=min(1.0, 1.1 * rows / total + 1e-3), seed=seed).limit(rows)
    return to_frame(part.toArrow())
