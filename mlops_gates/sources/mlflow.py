"""The connection to MLflow, shared by every part that talks to it (models from the
registry, tracking, deploy, attestations): which tracking and registry URIs, the bounded
HTTP settings every call runs under, the client, and one sentence for a failed call
(including a SQL store written by a newer MLflow than the one installed).

Cheap to import: mlflow (2-4 s to import) loads inside `mlflow_session` and `client`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mlops_gates.errors import MlopsGatesError

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = [
    "MlflowConnection",
    "client",
    "connection_for",
    "describe_failure",
    "is_missing",
    "mlflow_session",
    "newer_store_message",
    "redact",
]

DEFAULT_STORE = "mlruns.db"
# Our defaults for MLflow's HTTP client; its own (7 retries, 120 s per request) let a
# refused connection take about four minutes to fail.
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2
_BACKOFF_FACTOR = "1"  # urllib3 sleeps 1 s, 2 s, 4 s ... between retries
# Registry answers for "no such alias / model": 400 over REST, 404-like from SQL stores.
_MISSING_CODES = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")


@dataclass(frozen=True)
class MlflowConnection:
    """Where MLflow is and how patiently to talk to it."""

    tracking_uri: str
    registry_uri: str
    timeout: float | None = DEFAULT_TIMEOUT_S  # None: leave MLflow's environment / default
    retries: int | None = DEFAULT_RETRIES

    @property
    def display_uri(self) -> str:
        """The tracking URI fit for messages and reports (credentials removed)."""
        return redact(self.tracking_uri)


def connection_for(
    config: Config | None, base_dir: Path | None = None, *, uri: str | None = None
) -> MlflowConnection:
    """The connection a config asks for: `uri` (a command-line override), else
    `tracking.uri`, else $MLFLOW_TRACKING_URI, else a SQLite file next to the config."""
    base = base_dir or (config.source.parent if config and config.source else Path.cwd())
    tracking = config.tracking if config is not None else None
    chosen = uri or (tracking.uri if tracking else None) or os.environ.get("MLFLOW_TRACKING_URI")
    # Always explicit: MLflow's own default moves when a ./mlruns folder exists.
    tracking_uri = _anchor_sqlite(chosen, base) if chosen else f"sqlite:///{base / DEFAULT_STORE}"
    # A tracking URI given here (option or config) brings its registry along; only an
    # environment-chosen tracking URI defers to $MLFLOW_REGISTRY_URI.
    given = uri or (tracking.uri if tracking else None)
    registry = (tracking.registry_uri if tracking else None) or (
        None if given else os.environ.get("MLFLOW_REGISTRY_URI")
    )
    registry_uri = _anchor_sqlite(registry, base) if registry else tracking_uri
    timeout: float | None = DEFAULT_TIMEOUT_S
    retries: int | None = DEFAULT_RETRIES
    explicit = tracking.model_fields_set if tracking else set()
    # Settings in the config win; otherwise a user's MLFLOW_HTTP_REQUEST_* are respected.
    if "timeout" in explicit and tracking is not None:
        timeout = tracking.timeout
    elif os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT"):
        timeout = None
    if "retries" in explicit and tracking is not None:
        retries = tracking.retries
    elif os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        retries = None
    return MlflowConnection(tracking_uri, registry_uri, timeout, retries)


def _anchor_sqlite(uri: str, base: Path) -> str:
    """`sqlite:///mlruns.db` in a config means next to the config, not next to the cwd."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(base / uri[len(prefix) :])
    return uri


def redact(uri: str) -> str:
    """A URI fit for a report or a log line: no user, password or token in it."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


_QUIET_LOGGERS = ("alembic", "mlflow.store.db.utils", "mlflow.tracking.fluent")


@contextlib.contextmanager
def mlflow_session(conn: MlflowConnection) -> Iterator[Any]:
    """Import mlflow and run MLflow calls under bounded HTTP settings; yields the module.

    Telemetry stays off unless the user turned it on. The HTTP settings are restored when
    the block ends, so a user's own MLflow calls in the same process keep theirs.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    wanted: dict[str, str] = {}
    if conn.timeout is not None:
        wanted["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(conn.timeout)))
    if conn.retries is not None:
        wanted["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(conn.retries)
        wanted["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = _BACKOFF_FACTOR
        # A Retry-After of an hour must not turn a bounded retry into an hour's wait.
        wanted["MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER"] = "false"
    # We print our own line with the run's link; MLflow's costs an extra request.
    wanted["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    # A new SQLite store logs ~40 migration lines; they say nothing a gates user needs.
    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # MLflow 2 migrates a new store under alembic.ini's logging config (fileConfig): it
    # sets those levels back to INFO and swaps the root logger's handlers. Hold INFO off
    # and give the root logger back what it had.
    root, disabled = logging.getLogger(), logging.root.manager.disable
    root_level, root_handlers = root.level, list(root.handlers)
    logging.disable(max(disabled, logging.INFO))
    try:
        try:
            import mlflow
        except ImportError as exc:
            raise MlopsGatesError(
                f"MLflow is not installed ({exc}); models:/ and runs:/ models and tracking "
                f"need it: pip install mlflow-skinny"
            ) from None
        yield mlflow
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.disable(disabled)
        root.setLevel(root_level)
        root.handlers[:] = root_handlers


def client(conn: MlflowConnection) -> Any:
    """An MlflowClient bound to `conn`'s URIs (use inside `mlflow_session`)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=conn.tracking_uri, registry_uri=conn.registry_uri)


def is_missing(exc: BaseException) -> bool:
    """Did the registry answer "no such alias / model / version"?"""
    return getattr(exc, "error_code", None) in _MISSING_CODES


def describe_failure(exc: BaseException, conn: MlflowConnection) -> str:
    """One sentence for a failed MLflow call: unreachable, refused, or something else."""
    if isinstance(exc, MlopsGatesError):
        return str(exc)
    newer = newer_store_message(exc, conn)
    if newer is not None:
        return newer
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    unreachable = (
        "max retries exceeded" in lowered
        or "connection refused" in lowered
        or "failed to establish" in lowered
        or "timed out" in lowered
        or "read timeout" in lowered
        or isinstance(exc, ConnectionError | TimeoutError)
    )
    if unreachable:
        return (
            f"cannot reach MLflow at {conn.display_uri} (connection failed or timed out "
            f"after {conn.retries if conn.retries is not None else 'default'} retries); "
            f"is the server up? Set tracking.uri or MLFLOW_TRACKING_URI"
        )
    if len(text) > 300:
        text = text[:297] + "..."
    return f"MLflow at {conn.display_uri} answered: {text}"


# -- a SQL store written by a newer MLflow -------------------------------------------------
# MLflow refuses a store whose schema revision is not its own head with one message for both
# directions: "out-of-date database schema ... run 'mlflow db upgrade'". For an older store
# that is the fix. For a newer one (left by a newer MLflow, e.g. after installing an extra
# downgraded the client) the installed MLflow does not know the revision, `mlflow db upgrade`
# fails, and the fixes are a newer MLflow or another store; `newer_store_message` says so.

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
