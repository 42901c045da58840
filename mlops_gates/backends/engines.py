"""The engines beyond memory: the module implementing each, the library it imports, and
the extra that installs it; `require` imports that library or names the extra.

Kept apart from `base.py` so the engine modules can use it without importing the registry
that imports them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple

from mlops_gates.errors import ConfigError

__all__ = ["ENGINES", "Engine", "require"]


class Engine(NamedTuple):
    """An engine beyond memory: where it lives, the library it needs, the extra providing it."""

    module: str
    dist: str
    extra: str


ENGINES: dict[str, Engine] = {
    "duckdb": Engine("mlops_gates.backends.duckdb_reducer", "duckdb", "duckdb"),
    "spark": Engine("mlops_gates.backends.spark_reducer", "pyspark", "spark"),
}


def require(module: str, engine: str) -> ModuleType:
    """Import an engine's library, or say which extra installs it."""
    extra = ENGINES[engine].extra
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"backend.engine: {engine} needs the {module!r} package, which is not installed; "
            f"install it with `pip install 'mlops-gates[{extra}]'`, or use "
            f"`backend.engine: memory`"
        ) from None
