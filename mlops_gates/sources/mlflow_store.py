"""A SQL tracking store written by a newer MLflow than the one installed.

MLflow refuses a store whose schema revision is not its own head with one message for both
directions: "out-of-date database schema ... run 'mlflow db upgrade'". For an older store
that is the fix. For a newer one (left by a newer MLflow, e.g. after installing an extra
downgraded the client) the installed MLflow does not know the revision, `mlflow db upgrade`
fails, and the fixes are a newer MLflow or another store; this module says so.
"""

from __future__ import annotations

import re
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = [
    "newer_store_message",
]


_FOUND = re.compile(r"out-of-date database schema \(found version (\w+)", re.IGNORECASE)


def newer_store_message(exc: BaseException, conn: MlflowConnection) -> str | None:
    """The sentence for `exc` when it is MLflow refusing a store written by a newer MLflow
    (a schema revision the installed MLflow does not know); None for anything else."""
    match = _FOUND.search(str(exc))
    if match is None:
        return None
    found = match.group(1)
    known = _known_revisions()
    if found == "None" or known is None or found in known:
        return None  # an older store: MLflow's own advice (`mlflow db upgrade`) is right
    # Full `mlflow` pins its mlflow-skinny: upgrading the client means upgrading it.
    dist = "mlflow" if _installed("mlflow") else "mlflow-skinny"
    installed = _installed(dist) or "?"
    return (
        f"the MLflow store {_store_uri(conn, found)} was written by a newer MLflow than the "
        f"one installed ({dist} {installed}): its schema revision {found!r} is unknown to "
        f"this MLflow. Upgrade MLflow to the version that wrote the store "
        f"(pip install -U '{dist}>{installed}'), or point tracking.uri or "
        f"MLFLOW_TRACKING_URI at another store"
    )


def _known_revisions() -> set[str] | None:
    """Every schema revision the installed MLflow's migrations know; None if unreadable."""
    spec = find_spec("mlflow.store.db_migrations")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory(next(iter(spec.submodule_search_locations)))
        return {rev.revision for rev in script.walk_revisions()}
    except Exception:
        return None  # cannot tell: leave MLflow's message as it is


def _installed(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _store_uri(conn: MlflowConnection, found: str) -> str:
    """The tracking or registry store holding revision `found` (SQLite files are read to
    tell them apart), else the tracking store."""
    from mlops_gates.sources.mlflow import redact

    prefix = "sqlite:///"
    for uri in dict.fromkeys((conn.tracking_uri, conn.registry_uri)):
        if not uri.startswith(prefix):
            continue
        path = Path(uri[len(prefix) :])
        try:
            with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        except (sqlite3.Error, ValueError):
            continue
        if row and row[0] == found:
            return redact(uri)
    return conn.display_uri
