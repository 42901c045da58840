"""Load models and turn them into predictions.

Model references are resolved by a small registry so that other sources (MLflow
`models:/` and `runs:/` URIs) can plug in without touching the engine: a loader is
chosen by URI scheme, and a plain path falls back to a local scikit-learn file.

No model file runs code unless the config says so: a .skops file may hold only the types
skops trusts by default plus those listed in `trusted_types`, and pickle files (.pkl,
.joblib) are refused unless `allow_pickle: true`; a run that loads one says so in its
report's warnings.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.config import ModelConfig
from mlops_gates.errors import ModelError

__all__ = [
    "LoadedModel",
    "ModelTrust",
    "PickleLoadWarning",
    "cores_busy",
    "labels_from_proba",
    "load_model",
    "load_skops",
    "model_features",
    "notice",
    "pickle_warning",
    "predict",
    "refuse_pickle",
    "register_loader",
    "start_notices",
    "trust_of",
    "untrusted_message",
]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict, with the config reference it came from and its provenance for the
    report."""

    model: Any  # anything with .predict (and .predict_proba for scores)
    ref: str  # what the config said
    info: dict[str, Any]  # provenance for the report: path, digest, version, ...


@dataclass(frozen=True)
class ModelTrust:
    """What the config lets a model file do beyond what is safe by default.

    `trusted_types`: types, by full name, that a skops file may hold on top of those skops
    itself trusts. `allow_pickle`: load pickle-based files, which run any code they hold.
    `section` is where these keys sit in the config (`candidate`, `baseline`), for messages.
    """

    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    section: str = "candidate"


Loader = Callable[[str, Path, ModelTrust], LoadedModel]
_LOADERS: dict[str, Loader] = {}

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")

# Warnings of the current gates run (a pickle was loaded, ...): the runner starts a list,
# every load appends to it, and the report carries it.
_NOTICES: ContextVar[list[str] | None] = ContextVar("mlops_gates_model_notices", default=None)


def start_notices() -> list[str]:
    """A fresh list that model loads in this context report their warnings to."""
    notices: list[str] = []
    _NOTICES.set(notices)
    return notices


def notice(message: str) -> None:
    """Record a warning for the report of the run in progress, once, and tell Python's
    warnings machinery (pytest's summary, stderr)."""
    notices = _NOTICES.get()
    if notices is not None:
        if message in notices:
            return
        notices.append(message)
    warnings.warn(message, PickleLoadWarning, stacklevel=3)


class PickleLoadWarning(UserWarning):
    """A model was loaded with pickle because the config allowed it."""


def trust_of(mc: ModelConfig, section: str) -> ModelTrust:
    """The trust a `candidate:` / `baseline:` section of the config gives its model."""
    return ModelTrust(tuple(mc.trusted_types), mc.allow_pickle, section)


def register_loader(scheme: str, loader: Loader) -> None:
    """Make `scheme:...` model references load through `loader(ref, base_dir, trust)`."""
    _LOADERS[scheme] = loader


def load_model(
    ref: str, base_dir: Path, trust: ModelTrust | Sequence[str] = ModelTrust()
) -> LoadedModel:
    """Load the model `ref` names: a registered scheme (`models:/...`) or a file path.

    Nothing in the file runs unless `trust` allows it: a .skops file may hold only types
    skops trusts by default plus `trust.trusted_types`; a pickle loads only with
    `trust.allow_pickle`, and then the run's report says so."""
    if not isinstance(trust, ModelTrust):
        trust = ModelTrust(tuple(trust))
    scheme, sep, _ = ref.partition(":")
    # "C:\\..." on Windows is a path, not a scheme.
    if sep and len(scheme) > 1 and scheme in _LOADERS:
        loaded = _LOADERS[scheme](ref, base_dir, trust)
    elif sep and len(scheme) > 1 and ref.startswith(f"{scheme}:/"):
        known = ", ".join(f"{s}:" for s in sorted(_LOADERS)) or "none"
        raise ModelError(
            f"model {ref!r}: no loader for `{scheme}:` references (known: {known}); "
            f"give a path to a .skops, .joblib or .pkl file"
        )
    else:
        loaded = _load_file(ref, base_dir, trust)
    if loaded.info.get("warning"):
        notice(str(loaded.info["warning"]))
    return loaded


def _load_file(ref: str, base_dir: Path, trust: ModelTrust) -> LoadedModel:
    from mlops_gates.sources.data import file_digest

    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ModelError(
            f"{path}: model file not found; check `{trust.section}.model` in the config"
        )
    suffix = path.suffix.lower()
    if suffix not in (".skops", *PICKLE_SUFFIXES):
        raise ModelError(f"{path}: unknown model file type {suffix!r}; use .skops, .joblib or .pkl")
    if suffix != ".skops":
        refuse_pickle(path, f"a {suffix} file is a pickle", trust)
    digest = file_digest(path)
    # The engine and each behaviour gate ask for the same model: load each file once.
    key = (str(path), digest, trust)
    cached = _CACHE.get(key)
    if cached is not None:
        return LoadedModel(model=cached.model, ref=ref, info=dict(cached.info))
    if suffix == ".skops":
        model = load_skops(path, trust)
        info = {"source": "file", "path": str(path), "digest": digest, "format": "skops"}
    else:
        model = _load_pickle(path)
        info = {
            "source": "file",
            "path": str(path),
            "digest": digest,
            "format": "pickle",
            "warning": pickle_warning(path, trust),
        }
    if not hasattr(model, "predict"):
        raise ModelError(f"{path}: the loaded object ({type(model).__name__}) has no predict()")
    loaded = LoadedModel(model=model, ref=ref, info=info)
    _CACHE[key] = loaded
    while len(_CACHE) > _CACHE_SIZE:
        del _CACHE[next(iter(_CACHE))]
    return LoadedModel(model=model, ref=ref, info=dict(info))


_CACHE: dict[tuple[str, str, ModelTrust], LoadedModel] = {}
_CACHE_SIZE = 4


def refuse_pickle(path: Path | str, what: str, trust: ModelTrust) -> None:
    """Raise unless the config allows pickle for this model."""
    if not trust.allow_pickle:
        raise ModelError(
            f"{path}: not loaded: {what}, and loading a pickle runs any code it holds. "
            f"Save the model with skops (skops.io.dump, or mlflow.sklearn.log_model's default "
            f"serialization) or, if you trust whoever wrote it, set "
            f"`{trust.section}.allow_pickle: true` in the config"
        )


def pickle_warning(path: Path | str, trust: ModelTrust) -> str:
    """The notice a run records after loading a model with pickle: which file, and that the config
    trusted whoever can write it."""
    return (
        f"{trust.section}.model {path} was loaded with pickle (`allow_pickle: true`): "
        f"it could run any code; this run trusted whoever can write it"
    )


def _load_pickle(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # a corrupt or incompatible file can raise almost anything
        raise ModelError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc}). "
            f"Was it saved with a compatible scikit-learn version?"
        ) from None


def load_skops(path: Path, trust: ModelTrust, *, label: str | None = None) -> Any:
    """The object in a .skops file, when every type it holds is trusted: by skops itself
    (what `skops.io.get_untrusted_types` does not list) or by name in the config.
    Messages name `label` (default: the path)."""
    name = label or str(path)
    from mlops_gates.sources.skops_import import import_skops_io

    try:
        sio = import_skops_io()  # without importing every module of scikit-learn
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ModelError(
            f"{name}: cannot load the model: not a readable .skops file "
            f"({type(exc).__name__}: {exc})"
        ) from None
    untrusted = [t for t in found if t not in trust.trusted_types]
    if untrusted:
        raise ModelError(untrusted_message(name, untrusted, trust))
    try:
        # `found` is exactly what the config trusts; skops audits the file again against it.
        return sio.load(path, trusted=found or None)
    except Exception as exc:  # a corrupt or incompatible file can raise almost anything
        raise ModelError(
            f"{name}: cannot load the model ({type(exc).__name__}: {exc}). "
            f"Was it saved with a compatible scikit-learn version?"
        ) from None


def untrusted_message(path: Path | str, untrusted: list[str], trust: ModelTrust) -> str:
    """One line: which file, which types, and under which config key to trust them."""
    names = ", ".join(untrusted)
    them = "them" if len(untrusted) > 1 else "it"
    why = "loading or using such types can run code or crash the process"
    if any(t.endswith((".Tree", ".TreePredictor")) for t in untrusted):
        why = "a tree model's node arrays are not bounds-checked, so a hostile file can crash"
        why += " the process when it predicts"
    return (
        f"{path}: not loaded: the file holds types skops does not trust by default: {names} "
        f"({why}). If you trust whoever wrote this file, add {them} under "
        f"`{trust.section}.trusted_types:` in the config"
    )


def model_features(loaded: LoadedModel, features: list[str] | None) -> list[str]:
    """The input columns `loaded` predicts from: the config's `features`, else the names the model
    recorded when fitted; a `ModelError` saying to list them when neither exists."""
    if features is not None:
        return features
    names = getattr(loaded.model, "feature_names_in_", None)
    if names is None:
        raise ModelError(
            f"model {loaded.ref!r} does not record its feature names (it was fitted on an "
            f"array, not a DataFrame); list the input columns under `features:` in the config"
        )
    return [str(n) for n in names]


# Up to this many rows a model predicts on one native thread while every core is busy:
# scikit-learn's tree ensembles open a parallel region per tree, and on a few thousand rows
# the threads' start-up and spin-waiting cost more than they save when they must share the
# cores (HistGradientBoosting on Adult's 16k rows: 3x the CPU time on two threads of a busy
# 2-core machine). With a core free they help (the same batch, load 1 on 2 cores: 0.10 s
# against 0.17 s, and less CPU time). Larger batches keep every thread.
ONE_THREAD_ROWS = 100_000


def predict(
    loaded: LoadedModel,
    frame: pd.DataFrame,
    features: list[str],
    *,
    positive_label: Any = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels/values, and positive-class scores when `positive_label` is given
    and the model has predict_proba."""
    if len(frame) > ONE_THREAD_ROWS or not cores_busy():
        return _predict(loaded, frame, features, positive_label)
    with _thread_pools().limit(limits=1):
        return _predict(loaded, frame, features, positive_label)


def cores_busy(load: float | None = None, cores: int | None = None) -> bool:
    """Is every core taken: a 1-minute load average (this machine's when not given) of at
    least the number of cores less half of one? This process counts in it once it has run
    a while, so alone on the machine it finds a core free. Where the system gives no load
    average, the cores count as busy (one thread: never the slow case)."""
    import os

    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on this platform
            return True
    if cores is None:  # the cores this process may run on (a container's, not the host's)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
    return load >= cores - 0.5


@functools.cache
def _thread_pools() -> Any:
    """One controller for the process: building one scans every loaded library, which
    costs more than a one-row prediction (behaviour gates predict row by row when they
    shrink). Created on the first prediction, after the model loaded its native code."""
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def _predict(
    loaded: LoadedModel, frame: pd.DataFrame, features: list[str], positive_label: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    X = frame[features]
    model = loaded.model
    wants_scores = positive_label is not None and hasattr(model, "predict_proba")
    position = _class_position(loaded, positive_label) if wants_scores else None
    proba = None
    if position is not None:
        try:
            proba = np.asarray(model.predict_proba(X), dtype=float)
        except Exception as exc:
            raise ModelError(
                f"model {loaded.ref!r} failed in predict_proba ({type(exc).__name__}: {exc})"
            ) from None
    labels = None if proba is None else labels_from_proba(model, proba, X)
    if labels is None:
        try:
            labels = np.asarray(model.predict(X))
        except Exception as exc:
            raise ModelError(
                f"model {loaded.ref!r} failed to predict on {len(X)} rows "
                f"({type(exc).__name__}: {exc})"
            ) from None
    return labels, None if proba is None or position is None else proba[:, position]


def _class_position(loaded: LoadedModel, positive_label: Any) -> int:
    classes = list(getattr(loaded.model, "classes_", []))
    matches = [i for i, c in enumerate(classes) if c == positive_label]
    if not matches:
        raise ModelError(
            f"model {loaded.ref!r} knows classes {classes!r}, not the positive label "
            f"{positive_label!r}; check `task.positive_label`"
        )
    return matches[0]


# Classifiers whose `predict` is, in scikit-learn's own code, the class of the largest
# `predict_proba` column, or the sign / argmax of a decision function that predict_proba
# maps through a monotone function (expit, softmax, OvR normalisation): the labels follow
# from the probabilities except where two of them (nearly) tie. Named by defining module,
# so checking a model imports nothing; a class that moves in another scikit-learn version
# is simply not recognised, and predicted the usual way.
ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
        "HistGradientBoostingClassifier",  # raw > 0 / argmax raw; expit / softmax of raw
        "sklearn.linear_model._logistic.LogisticRegression",  # decision > 0 / argmax
        "sklearn.ensemble._forest.RandomForestClassifier",  # argmax(predict_proba)
        "sklearn.ensemble._forest.ExtraTreesClassifier",  # argmax(predict_proba)
        "sklearn.tree._classes.DecisionTreeClassifier",  # argmax of the same leaf values
        "sklearn.tree._classes.ExtraTreeClassifier",
    }
)
_PIPELINE = "sklearn.pipeline.Pipeline"
# Rows whose two largest probabilities are closer than this are predicted by `predict`: a
# float rounding of expit / softmax cannot move a probability this far, so every other
# row's argmax is the class predict picks.
TIE = 1e-9


def labels_from_proba(model: Any, proba: np.ndarray, X: pd.DataFrame) -> np.ndarray | None:
    """The labels `model.predict(X)` gives, from `proba = model.predict_proba(X)`, when the
    model (or a Pipeline's final step) is one of `ARGMAX_CLASSIFIERS`; rows where the two
    largest probabilities (nearly) tie, or are not finite, are asked of `model.predict`.
    None for any other model: call `predict`.

    A model with a cost per call (a Pipeline's column transforms, a boosted model's trees)
    then pays it once for labels and scores."""
    final = model
    if _is_exactly(model, _PIPELINE):
        steps = getattr(model, "steps", None)
        if not steps:
            return None
        final = steps[-1][1]
    if not any(_is_exactly(final, name) for name in ARGMAX_CLASSIFIERS):
        return None
    classes = np.asarray(getattr(model, "classes_", []))
    if proba.ndim != 2 or proba.shape != (len(X), len(classes)) or len(classes) < 2:
        return None  # several outputs, or classes the probabilities do not line up with
    top = np.argmax(proba, axis=1)
    two = -np.partition(-proba, 1, axis=1)[:, :2]
    close = ~(two[:, 0] - two[:, 1] > TIE)  # NaN included
    labels: np.ndarray = classes[top]
    if close.any():
        where = np.flatnonzero(close)
        labels = labels.copy()
        labels[where] = np.asarray(model.predict(X.iloc[where]))
    return labels


def _is_exactly(obj: Any, full_name: str) -> bool:
    # The very class at that name (not a subclass, which may predict otherwise), found
    # among the modules already imported: the model's own class is always there.
    module, _, name = full_name.rpartition(".")
    loaded = sys.modules.get(module)
    return loaded is not None and type(obj) is getattr(loaded, name, None)
