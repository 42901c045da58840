"""Reducer backends: the one O(rows) step, run where the rows are.

Every backend turns the evaluation rows into the same `Reduced` tables (see `plan.py`);
metrics, intervals and verdicts are shared code. A run opens its engine once
(`open_backend`, the `Backend` protocol in `base.py`). `memory` (pandas/numpy, the default)
is built in; the others import their engine on first use and say which extra to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_gates.backends.base import ENGINES, FACTORIES, Backend, Engine, open_backend, require
from mlops_gates.errors import ConfigError

if TYPE_CHECKING:
    from mlops_gates.backends.profiles import SqlTable
    from mlops_gates.config import Config

__all__ = ["ENGINES", "FACTORIES", "Backend", "Engine", "open_backend", "open_table", "require"]


@contextmanager
def open_table(
    config: Config, path: Path | None = None, fmt: str | None = None
) -> Iterator[SqlTable]:
    """The configured engine's table of the evaluation data (or of the file, folder or glob
    `path`, in format `fmt` or the one its name says), for a command that reads one table
    outside a gates run (`mlops-gates data profile`)."""
    from mlops_gates.backends.sql_backend import SqlBackend

    with open_backend(config) as backend:
        if not isinstance(backend, SqlBackend):
            raise ConfigError(
                f"backend.engine: {config.backend.engine} has no SQL table; use duckdb or spark"
            )
        with backend.open_table(path, fmt) as table:
            yield table
