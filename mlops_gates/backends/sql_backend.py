"""What the SQL engines (DuckDB, Spark) share: the evaluation data opened once, as one
queryable table, reduced, sampled and queried by the same SQL (`sql.py`, `profiles.py`).

An engine says how to open a file or folder as a table, how to register a small Arrow
table, how to sample, and how to let go of what it opened; the rest is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from mlops_gates.backends.files import files_digest
from mlops_gates.backends.sql import reduce_sql
from mlops_gates.backends.sql_text import Dialect
from mlops_gates.errors import MlopsGatesError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.backends.plan import Reduced
    from mlops_gates.backends.profiles import SqlTable
    from mlops_gates.config import Config
    from mlops_gates.sources.evaluation import EvalData

__all__ = ["SqlBackend"]


class SqlBackend:
    """An engine that reduces and profiles the rows where they are, with SQL; only small
    tables come back into Python. Implements `backends.base.Backend[SqlTable]`."""

    engine: str = ""
    dialect: Dialect
    streams: bool = False  # whether `_stream` gives a query's rows as Arrow batches

    def __init__(self, config: Config) -> None:
        self.config = config
        self.notes: list[str] = []  # what the report should warn about
        self._main: SqlTable | None = None
        self._failed: MlopsGatesError | None = None  # why the data could not be opened

    @property
    def where(self) -> Path:
        """The configured data's path (a Spark table's name as a path)."""
        if self.config.data.format == "table":
            return Path(str(self.config.data.path))
        return self.config.data_path

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def table(self) -> SqlTable:
        """The evaluation data as a table, opened on first use and kept for the run; data
        that cannot be opened raises the same error at every use, and is not retried."""
        if self._failed is not None:
            raise self._failed
        if self._main is None:
            try:
                self._main = self._open(None, None)
            except MlopsGatesError as exc:
                self._failed = exc
                raise
        return self._main

    def open_table(
        self, path: Path | None = None, fmt: str | None = None
    ) -> AbstractContextManager[SqlTable]:
        """Another file, folder or glob (a drift reference, `data profile`'s DATA) read by
        this engine, in format `fmt` or the one its name says; None: the evaluation data."""
        if path is None and fmt is None:
            return nullcontext(self.table())
        return self._other(path, fmt)

    @contextmanager
    def _other(self, path: Path | None, fmt: str | None) -> Iterator[SqlTable]:
        table = self._open(path, fmt)
        try:
            yield table
        finally:
            self._release(table)

    def reduce(self, inputs: EvalData | None = None) -> Reduced:
        """The evaluation rows to the shared tables; labels and predictions are columns."""
        t = self.table()
        return reduce_sql(
            self.config,
            engine=self.engine,
            dialect=self.dialect,
            src=t.src,
            columns=list(t.types),
            run=t.run,
            register=self._register,
            where=t.where,
            stream=(lambda sql: self._stream(t.where, sql)) if self.streams else None,
        )

    def digest(self) -> str | None:
        """sha256 of the files read (None for a catalog table)."""
        files = self.table().files
        return files_digest(files) if files else None

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """A seeded uniform sample of `rows` rows (all rows when there are fewer)."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of what the run opened."""
        if self._main is not None:
            self._release(self._main)
            self._main = None

    # What each engine provides.
    def _open(self, path: Path | None, fmt: str | None) -> SqlTable:
        """`path` (None: the configured data) as a table this engine queries."""
        raise NotImplementedError

    def _release(self, table: SqlTable) -> None:
        """Drop what `_open` made for `table` (a view); the connection stays."""

    def _register(self, name: str, table: Any) -> None:
        """Make a small Arrow table queryable under `name`."""
        raise NotImplementedError

    def _stream(self, where: Path, sql: str) -> Iterable[Any]:
        """The rows of `sql` as Arrow record batches (engines with `streams`)."""
        raise NotImplementedError
