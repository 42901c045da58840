"""Models from MLflow: `models:/name@alias`, `models:/name/version` and `runs:/<id>/<path>`.

Importing this module registers loaders for the `models` and `runs` schemes with
`mlops_gates.sources.models` and costs nothing: mlflow (2-4 s to import) loads on first use.
The connection to MLflow (URIs, HTTP settings, client, error sentences) is
`mlops_gates.sources.mlflow`.

An alias is resolved to a version once, then that exact version (`models:/name/7`) is
downloaded, so a model moved while the gates run cannot mix two versions in one report.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.errors import ModelError
from mlops_gates.sources.mlflow import (
    MlflowConnection,
    client,
    connection_for,
    describe_failure,
    is_missing,
    mlflow_session,
    redact,
)
from mlops_gates.sources.models import (
    LoadedModel,
    ModelTrust,
    load_skops,
    pickle_warning,
    refuse_pickle,
    register_loader,
)

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = [
    "PyfuncModel",
    "RegistryRef",
    "absent_baseline",
    "load_registered_model",
    "load_run_model",
    "parse_models_uri",
    "resolving",
    "tree_digest",
]

# -- the session a gates run resolves models in -------------------------------------------


@dataclass
class _Resolution:
    conn: MlflowConnection
    versions: dict[str, Any] = field(default_factory=dict)  # ref -> ModelVersion
    missing: dict[str, str] = field(default_factory=dict)  # ref -> why it is absent


_ACTIVE: ContextVar[_Resolution | None] = ContextVar("mlops_gates_mlflow", default=None)


@contextlib.contextmanager
def resolving(config: Config) -> Iterator[None]:
    """Models loaded inside this block use `config`'s tracking and registry URIs, and an
    alias is looked up at most once."""
    token = _ACTIVE.set(_Resolution(connection_for(config)))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _resolution(base_dir: Path) -> _Resolution:
    active = _ACTIVE.get()
    return active if active is not None else _Resolution(connection_for(None, base_dir))


@dataclass(frozen=True)
class RegistryRef:
    """A `models:/` reference split into model name and alias or version."""

    name: str
    alias: str | None
    version: str | None

    @property
    def pinned_uri(self) -> str:
        """The reference by version number, which no alias move can change."""
        return f"models:/{self.name}/{self.version}"


def parse_models_uri(ref: str) -> RegistryRef:
    """Split `models:/name@alias` or `models:/name/3`; anything else is a `ModelError`."""
    body = ref[len("models:/") :].lstrip("/")
    if "@" in body:
        name, _, alias = body.rpartition("@")
        if name and alias:
            return RegistryRef(name, alias, None)
    name, sep, version = body.rpartition("/")
    if sep and name and version.isdigit():
        return RegistryRef(name, None, version)
    if sep and name and version:
        raise ModelError(
            f"model {ref!r}: {version!r} is not a version number; registry stages are "
            f"deprecated in MLflow, address the model by alias (models:/{name}@champion) "
            f"or by version (models:/{name}/3)"
        )
    raise ModelError(
        f"model {ref!r}: say which version, by alias (models:/{body or 'name'}@champion) "
        f"or by number (models:/{body or 'name'}/3)"
    )


def absent_baseline(config: Config) -> str | None:
    """Why the configured baseline does not exist yet, when it is a registry alias that is
    not set (a first model): the run then treats it as "no baseline". None otherwise,
    including when MLflow cannot be asked: loading the baseline reports that."""
    ref = config.baseline.model if config.baseline is not None else None
    if not ref or not ref.startswith("models:/"):
        return None
    try:
        parsed = parse_models_uri(ref)
    except ModelError:
        return None
    if parsed.alias is None:
        return None
    res = _resolution(config.source.parent if config.source else Path.cwd())
    try:
        _lookup_version(ref, parsed, res)
    except _Absent as exc:
        return str(exc)
    except Exception:
        return None
    return None


class _Absent(ModelError):
    """The registry has no such alias (or model) yet."""


def _lookup_version(ref: str, parsed: RegistryRef, res: _Resolution) -> Any:
    if ref in res.missing:
        raise _Absent(res.missing[ref])
    if ref in res.versions:
        return res.versions[ref]
    with mlflow_session(res.conn):
        c = client(res.conn)
        try:
            if parsed.alias is not None:
                mv = c.get_model_version_by_alias(parsed.name, parsed.alias)
            else:
                mv = c.get_model_version(parsed.name, parsed.version)
        except Exception as exc:
            if parsed.alias is not None and is_missing(exc):
                why = (
                    f"registry alias {parsed.alias!r} of model {parsed.name!r} does not exist "
                    f"yet ({ref} at {res.conn.display_uri})"
                )
                res.missing[ref] = why
                raise _Absent(why) from None
            if is_missing(exc):
                raise ModelError(
                    f"model {ref!r}: version {parsed.version} of {parsed.name!r} is not in the "
                    f"registry at {res.conn.display_uri}"
                ) from None
            raise ModelError(f"model {ref!r}: {describe_failure(exc, res.conn)}") from None
    res.versions[ref] = mv
    return mv


# -- loaders -----------------------------------------------------------------------------


def load_registered_model(ref: str, base_dir: Path, trust: ModelTrust) -> LoadedModel:
    """`models:/name@alias` or `models:/name/version` from the model registry."""
    parsed = parse_models_uri(ref)
    res = _resolution(base_dir)
    mv = _lookup_version(ref, parsed, res)
    pinned = RegistryRef(parsed.name, parsed.alias, str(mv.version))
    run = _run_or_none(res.conn, mv.run_id)
    with mlflow_session(res.conn):
        try:
            storage = client(res.conn).get_model_version_download_uri(parsed.name, mv.version)
        except Exception as exc:
            raise ModelError(f"model {ref!r}: {describe_failure(exc, res.conn)}") from None
    model, flavor, digest, warning = _download_and_load(storage, ref, res.conn, trust)
    info: dict[str, Any] = {
        "source": "mlflow",
        "uri": ref,
        "resolved_uri": pinned.pinned_uri,
        "name": parsed.name,
        "version": str(mv.version),
        "alias": parsed.alias,
        "run_id": mv.run_id or None,
        "experiment_id": run.info.experiment_id if run is not None else None,
        "registered_at": _iso(mv.creation_timestamp),
        "trained_at": _iso(run.info.end_time) if run is not None else None,
        "flavor": flavor,
        "digest": digest,
        "registry_uri": redact(res.conn.registry_uri),
        **_deployment(mv),
    }
    if warning:
        info["warning"] = warning
    return LoadedModel(model=model, ref=ref, info=info)


def _deployment(mv: Any) -> dict[str, Any]:
    """The aliases pointing at the version now, and when and by which pull request each
    deployment alias was moved to it (the tags `mlops-gates deploy` writes): how a
    promotion says which version it replaces and since when that one is live."""
    aliases = sorted(str(a) for a in (getattr(mv, "aliases", None) or []))
    tags = dict(getattr(mv, "tags", None) or {})
    deployed: dict[str, dict[str, str | None]] = {}
    for alias in aliases:
        at = tags.get(f"mlops_gates.deploy.{alias}.deployed_at")
        if at:
            deployed[alias] = {"at": at, "pr": tags.get(f"mlops_gates.deploy.{alias}.pr")}
    return {"aliases": aliases, "deployed": deployed}


def load_run_model(ref: str, base_dir: Path, trust: ModelTrust) -> LoadedModel:
    """`runs:/<run id>/<artifact path>`: a model logged by a run, not registered."""
    body = ref[len("runs:/") :].lstrip("/")
    run_id, _, path = body.partition("/")
    if not run_id or not path:
        raise ModelError(
            f"model {ref!r}: write runs:/<run id>/<artifact path>, e.g. runs:/abc/model"
        )
    res = _resolution(base_dir)
    run = _run_or_none(res.conn, run_id, required=ref)
    model, flavor, digest, warning = _download_and_load(
        _run_storage(res.conn, run, path), ref, res.conn, trust
    )
    info: dict[str, Any] = {
        "source": "mlflow",
        "uri": ref,
        "resolved_uri": ref,
        "name": None,
        "version": None,
        "alias": None,
        "run_id": run_id,
        "experiment_id": run.info.experiment_id if run is not None else None,
        "registered_at": None,
        "trained_at": _iso(run.info.end_time) if run is not None else None,
        "flavor": flavor,
        "digest": digest,
        "registry_uri": redact(res.conn.tracking_uri),
    }
    if warning:
        info["warning"] = warning
    return LoadedModel(model=model, ref=ref, info=info)


def _run_or_none(conn: MlflowConnection, run_id: str | None, required: str = "") -> Any:
    if not run_id:
        return None
    with mlflow_session(conn):
        try:
            return client(conn).get_run(run_id)
        except Exception as exc:
            if not required:
                return None  # a deleted training run leaves the model usable
            if is_missing(exc):
                raise ModelError(
                    f"model {required!r}: no run {run_id!r} at {conn.display_uri}"
                ) from None
            raise ModelError(f"model {required!r}: {describe_failure(exc, conn)}") from None


def _run_storage(conn: MlflowConnection, run: Any, path: str) -> str:
    """Where `runs:/<id>/<path>` is stored. MLflow 3 keeps a model logged by a run as a
    "logged model" outside the run's artifacts; older models sit among them. Resolved here
    rather than by MLflow's runs:/ repository, which falls back to the process-wide
    registry URI instead of ours."""
    name, _, rest = path.partition("/")
    with mlflow_session(conn):
        try:
            page = client(conn).search_logged_models(
                experiment_ids=[run.info.experiment_id],
                filter_string=f"name = '{name}'" if "'" not in name else None,
                max_results=100,
            )
            for logged in page:
                if logged.source_run_id == run.info.run_id and logged.name == name:
                    return str(logged.artifact_location) + (f"/{rest}" if rest else "")
        except Exception:
            pass  # a store without logged models: the run's own artifacts below
    return f"{run.info.artifact_uri}/{path}"


def _download_and_load(
    uri: str, ref: str, conn: MlflowConnection, trust: ModelTrust
) -> tuple[Any, str, str, str | None]:
    """The model at `uri`: the object, its flavour, the digest of its files, and the
    warning the report must carry when it was loaded with pickle."""
    folder = Path(tempfile.mkdtemp(prefix="mlops-gates-model-"))
    keep = False
    try:
        with mlflow_session(conn) as mlflow:
            import mlflow.artifacts

            try:
                # A storage URI (mlflow-artifacts:/, s3://, a path), never models:/ or
                # runs:/, whose repositories use the process-wide URIs, not ours.
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=uri, dst_path=str(folder), tracking_uri=conn.tracking_uri
                    )
                )
            except Exception as exc:
                raise ModelError(f"model {ref!r}: {describe_failure(exc, conn)}") from None
            digest = tree_digest(local)
            try:
                from mlflow.models import Model

                flavors = Model.load(str(local)).flavors
            except Exception as exc:
                raise ModelError(
                    f"model {ref!r}: no readable MLmodel file ({type(exc).__name__}: {exc})"
                ) from None
            sk = flavors.get("sklearn") or {}
            # MLflow's own gate (MLFLOW_ALLOW_PICKLE_DESERIALIZATION) trusts the types the
            # model's MLmodel lists, i.e. whoever logged it. Ours: the skops file is read
            # here, with skops' default trust plus the config's `trusted_types` only.
            if sk.get("serialization_format") == "skops" and sk.get("pickled_model"):
                file = (local / str(sk["pickled_model"])).resolve()
                if not file.is_relative_to(local.resolve()) or not file.is_file():
                    raise ModelError(
                        f"model {ref!r}: its MLmodel names a model file "
                        f"{sk['pickled_model']!r} that is not in the model's folder"
                    )
                estimator = load_skops(file, trust, label=f"model {ref!r}")
                return estimator, "sklearn", digest, None
            where = f"model {ref!r}"
            if sk:
                what = (
                    f"its scikit-learn flavour was saved with "
                    f"{sk.get('serialization_format') or 'pickle'}"
                )
                refuse_pickle(where, what, trust)
            else:
                what = f"its {_flavour_names(flavors)} flavour loads through pickle or code"
                refuse_pickle(where, f"{what} in the model's files", trust)
            warning = pickle_warning(ref, trust)
            try:
                if sk:
                    import mlflow.sklearn

                    # The sklearn flavour gives the estimator itself: predict_proba
                    # (scores) and feature_names_in_ survive, which pyfunc would hide.
                    model: Any = mlflow.sklearn.load_model(str(local))
                    return model, "sklearn", digest, warning
                import mlflow.pyfunc

                keep = True  # a pyfunc model may read its files lazily
                model = PyfuncModel(mlflow.pyfunc.load_model(str(local)))
                return model, "python_function", digest, warning
            except ModelError:
                raise
            except Exception as exc:
                raise ModelError(
                    f"model {ref!r}: cannot load it ({type(exc).__name__}: {exc}). Was it "
                    f"logged with compatible versions of MLflow and its flavour?"
                ) from None
    finally:
        if keep:
            atexit.register(shutil.rmtree, folder, True)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _flavour_names(flavors: dict[str, Any]) -> str:
    names = [f for f in flavors if f != "python_function"] or list(flavors) or ["unknown"]
    return "/".join(names)


class PyfuncModel:
    """A pyfunc model seen as a scikit-learn-like predictor: `predict` only (no scores),
    feature names from its signature when it has one."""

    def __init__(self, model: Any) -> None:
        self._model = model
        signature = getattr(getattr(model, "metadata", None), "signature", None)
        names = None
        inputs = getattr(signature, "inputs", None)
        if inputs is not None and getattr(inputs, "has_input_names", lambda: False)():
            names = list(inputs.input_names())
        if names:
            self.feature_names_in_ = names

    def predict(self, X: Any) -> Any:
        """Predictions as a 1-d array (a one-column frame is unwrapped)."""
        import numpy as np

        out = self._model.predict(X)
        columns = getattr(out, "columns", None)
        if columns is not None and len(columns) == 1:
            out = out[columns[0]]
        return np.asarray(out)


def tree_digest(path: Path) -> str:
    """sha256 over a model folder: every file's relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        rel = p.name if p == path else p.relative_to(path).as_posix()
        h.update(rel.encode() + b"\0")
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def _iso(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


register_loader("models", load_registered_model)
register_loader("runs", load_run_model)
