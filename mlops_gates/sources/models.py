"""Load models and turn them into predictions.

Model references are resolved by a small registry so that other sources (MLflow
`models:/` and `runs:/` URIs) can plug in without touching the engine: a loader is
chosen by URI scheme, and a plain path falls back to a local scikit-learn file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.errors import ModelError


@dataclass(frozen=True)
class LoadedModel:
    model: Any  # anything with .predict (and .predict_proba for scores)
    ref: str  # what the config said
    info: dict[str, Any]  # provenance for the report: path, digest, version, ...


Loader = Callable[[str, Path, list[str]], LoadedModel]
_LOADERS: dict[str, Loader] = {}


def register_loader(scheme: str, loader: Loader) -> None:
    """Make `scheme:...` model references load through `loader(ref, base_dir, trusted)`."""
    _LOADERS[scheme] = loader


def load_model(ref: str, base_dir: Path, trusted_types: list[str]) -> LoadedModel:
    scheme, sep, _ = ref.partition(":")
    # "C:\\..." on Windows is a path, not a scheme.
    if sep and len(scheme) > 1 and scheme in _LOADERS:
        return _LOADERS[scheme](ref, base_dir, trusted_types)
    if sep and len(scheme) > 1 and ref.startswith(f"{scheme}:/"):
        known = ", ".join(f"{s}:" for s in sorted(_LOADERS)) or "none"
        raise ModelError(
            f"model {ref!r}: no loader for `{scheme}:` references (known: {known}); "
            f"give a path to a .skops, .joblib or .pkl file"
        )
    return _load_file(ref, base_dir, trusted_types)


def _load_file(ref: str, base_dir: Path, trusted_types: list[str]) -> LoadedModel:
    from mlops_gates.sources.data import file_digest

    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ModelError(f"{path}: model file not found; check `model:` in the config")
    suffix = path.suffix.lower()
    try:
        if suffix == ".skops":
            import skops.io as sio

            found = sio.get_untrusted_types(file=path)
            untrusted = [t for t in found if t not in trusted_types and not _safe_type(t)]
            if untrusted:
                raise ModelError(
                    f"{path}: the file holds types that are not trusted by default: "
                    f"{', '.join(untrusted)}. If you trust this file, list them under "
                    f"`trusted_types:` next to `model:` in the config."
                )
            model = sio.load(path, trusted=[t for t in found if t not in untrusted] or None)
        elif suffix in (".joblib", ".pkl", ".pickle"):
            import joblib

            # joblib/pickle files run code when loaded: only load files you trust.
            model = joblib.load(path)
        else:
            raise ModelError(
                f"{path}: unknown model file type {suffix!r}; use .skops, .joblib or .pkl"
            )
    except ModelError:
        raise
    except Exception as exc:  # a corrupt or incompatible file can raise almost anything
        raise ModelError(
            f"{path}: cannot load the model ({type(exc).__name__}: {exc}). "
            f"Was it saved with a compatible scikit-learn version?"
        ) from None
    if not hasattr(model, "predict"):
        raise ModelError(f"{path}: the loaded object ({type(model).__name__}) has no predict()")
    return LoadedModel(
        model=model,
        ref=ref,
        info={"source": "file", "path": str(path), "digest": file_digest(path)},
    )


def _safe_type(name: str) -> bool:
    """Types skops leaves untrusted although they cannot run foreign code: scikit-learn's
    own classes (e.g. the trees of HistGradientBoosting) and numpy dtypes."""
    return name.startswith("sklearn.") or name == "numpy.dtype"


def model_features(loaded: LoadedModel, features: list[str] | None) -> list[str]:
    if features is not None:
        return features
    names = getattr(loaded.model, "feature_names_in_", None)
    if names is None:
        raise ModelError(
            f"model {loaded.ref!r} does not record its feature names (it was fitted on an "
            f"array, not a DataFrame); list the input columns under `features:` in the config"
        )
    return [str(n) for n in names]


def predict(
    loaded: LoadedModel,
    frame: pd.DataFrame,
    features: list[str],
    *,
    positive_label: Any = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels/values, and positive-class scores when `positive_label` is given
    and the model has predict_proba."""
    X = frame[features]
    try:
        labels = np.asarray(loaded.model.predict(X))
    except Exception as exc:
        raise ModelError(
            f"model {loaded.ref!r} failed to predict on {len(X)} rows ({type(exc).__name__}: {exc})"
        ) from None
    scores = None
    if positive_label is not None and hasattr(loaded.model, "predict_proba"):
        classes = list(getattr(loaded.model, "classes_", []))
        matches = [i for i, c in enumerate(classes) if c == positive_label]
        if not matches:
            raise ModelError(
                f"model {loaded.ref!r} knows classes {classes!r}, not the positive label "
                f"{positive_label!r}; check `task.positive_label`"
            )
        try:
            proba = np.asarray(loaded.model.predict_proba(X), dtype=float)
        except Exception as exc:
            raise ModelError(
                f"model {loaded.ref!r} failed in predict_proba ({type(exc).__name__}: {exc})"
            ) from None
        scores = proba[:, matches[0]]
    return labels, scores
