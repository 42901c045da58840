"""Reducer backends: the one O(rows) step, run where the rows are.

Every backend turns the evaluation rows into the same `Reduced` tables (see `plan.py`);
metrics, intervals and verdicts are shared code. `memory` (pandas/numpy, the default) is
built in; the others import their engine on first use and say which extra to install.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.errors import ConfigError

if TYPE_CHECKING:
    from mlops_gates.backends.profiles import SqlTable

# engine -> (module implementing it, the distribution it needs, the extra providing it)
ENGINES: dict[str, tuple[str, str, str]] = {
    "duckdb": ("mlops_gates.backends.duckdb_reducer", "duckdb", "duckdb"),
    "spark": ("mlops_gates.backends.spark_reducer", "pyspark", "spark"),
}


def require(module: str, engine: str) -> Any:
    """Import an engine's library, or say which extra installs it."""
    extra = ENGINES[engine][2]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"backend.engine: {engine} needs the {module!r} package, which is not installed; "
            f"install it with `pip install 'mlops-gates[{extra}]'`, or use "
            f"`backend.engine: memory`"
        ) from None


def backend_module(engine: str) -> Any:
    """The module implementing `engine` (with `reduce(config, plan)` and `sample(...)`)."""
    if engine not in ENGINES:
        raise ConfigError(f"backend.engine: unknown engine {engine!r}; use one of {list(ENGINES)}")
    module, dist, _ = ENGINES[engine]
    require(dist, engine)
    return importlib.import_module(module)


def open_table(
    config: Any, path: Path | None = None, fmt: str | None = None
) -> AbstractContextManager[SqlTable]:
    """The configured engine's table of the evaluation data (or of the file, folder or glob
    `path`, in format `fmt` or the one its name says), for the queries that come after
    the reduction: drift, staleness, schema."""
    opened: AbstractContextManager[SqlTable] = backend_module(config.backend.engine).open_table(
        config, path, fmt
    )
    return opened


def reduce_at_scale(config: Any) -> tuple[Any, str | None, Any]:
    """Reduce with the configured engine other than memory.

    Returns the `Reduced` tables, the data's digest, and a seeded sample of
    `backend.sample_rows` rows for the schema gates (None when there are none): checking
    a sample costs one pass and reuses the pandera schema as it is (docs/scale.md)."""
    from mlops_gates.config import SchemaGate

    module = backend_module(config.backend.engine)
    reduced, digest = module.reduce(config)
    sample = None
    if any(isinstance(g, SchemaGate) for g in config.gates):
        sample = module.sample(config, config.backend.sample_rows, config.statistics.seed)
    return reduced, digest, sample
