"""The engine protocol: the evaluation data opened once per run, then reduced, sampled and
queried, and the registry that finds an engine by the name `backend.engine` gives.

A gates run opens one `Backend` (a context manager) and hands it to whatever reads rows:
the reduction, the schema gates (a sample, and SQL checks over every row), drift and
staleness. No gate opens the data itself, so a file, a DuckDB connection or a Spark view is
set up once, and a run reads the same bytes throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeVar

from mlops_gates.backends.engines import ENGINES, Engine, require
from mlops_gates.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from mlops_gates.backends.memory import MemoryBackend
    from mlops_gates.backends.plan import Reduced
    from mlops_gates.backends.sql_backend import SqlBackend
    from mlops_gates.config import Config
    from mlops_gates.sources.evaluation import EvalData

__all__ = ["ENGINES", "FACTORIES", "Backend", "Engine", "open_backend", "require"]

TableT = TypeVar("TableT", covariant=True)


class Backend(Protocol[TableT]):
    """An engine holding the evaluation data for one run.

    Opening is cheap and lazy: the data is read (or a connection made) on first use and
    kept until the `with` block ends, so a file that cannot be read fails where it is used,
    with that step's message. `TableT` is what `table()` gives: the rows as a pandas-backed
    `Table` (memory) or an `SqlTable` the engine queries (duckdb, spark).
    """

    @property
    def engine(self) -> str:
        """The `backend.engine` name this backend implements."""
        ...

    @property
    def where(self) -> Path:
        """The data's path (or table name), for messages and the report."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def table(self) -> TableT:
        """The evaluation rows, opened once: what schema, drift and staleness gates read."""
        ...

    def reduce(self, inputs: EvalData | None = None) -> Reduced:
        """The one O(rows) step: the rows to the shared sufficient statistics. In memory the
        encoded `inputs` (labels and the models' output made in this process) are reduced;
        the SQL engines read labels and predictions from columns and ignore `inputs`."""
        ...

    def digest(self) -> str | None:
        """sha256 of the data file(s) read, or None when no file was read."""
        ...

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """A seeded uniform sample of `rows` rows (all rows when there are fewer)."""
        ...


def _memory(config: Config) -> MemoryBackend:
    from mlops_gates.backends.memory import MemoryBackend

    return MemoryBackend(config)


def _duckdb(config: Config) -> SqlBackend:
    from mlops_gates.backends.duckdb_reducer import DuckDBBackend

    return DuckDBBackend(config)


def _spark(config: Config) -> SqlBackend:
    from mlops_gates.backends.spark_reducer import SparkBackend

    return SparkBackend(config)


# backend.engine -> the factory. The engine's library is imported on first use (`require`),
# so a missing one is an error of the run that needed it, naming the extra to install.
FACTORIES: dict[str, Callable[[Config], MemoryBackend | SqlBackend]] = {
    "memory": _memory,
    "duckdb": _duckdb,
    "spark": _spark,
}


def open_backend(config: Config, *, rows: pd.DataFrame | None = None) -> MemoryBackend | SqlBackend:
    """The configured engine over the configured data, to be used in a `with` block.

    `rows` given: those rows, already in this process, are the data, and the memory engine
    judges them whatever `backend.engine` says (the backend's `notes` say so when it
    differs); `data.path` then only names them in messages and the report."""
    engine = config.backend.engine
    if rows is not None:
        from mlops_gates.backends.memory import MemoryBackend

        backend = MemoryBackend(config, rows=rows)
        if engine != "memory":
            backend.notes.append(
                f"backend.engine: {engine} is configured, but the rows were given in memory "
                "(run_gates(config, table=...)): the memory engine judged them"
            )
        return backend
    factory = FACTORIES.get(engine)
    if factory is None:
        raise ConfigError(
            f"backend.engine: unknown engine {engine!r}; use one of {list(FACTORIES)}"
        )
    return factory(config)


if TYPE_CHECKING:
    from mlops_gates.backends.profiles import SqlTable
    from mlops_gates.sources.data import Table

    def _implement(
        memory: MemoryBackend, sql: SqlBackend
    ) -> tuple[Backend[Table], Backend[SqlTable]]:
        """Never called: mypy checks here that both kinds of engine implement `Backend`."""
        return memory, sql
