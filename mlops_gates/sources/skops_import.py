"""Import `skops.io` without importing all of scikit-learn.

When `skops.io` is imported it builds its default trusted-type list, and part of that list
is every estimator of scikit-learn, which it gets from `sklearn.utils.all_estimators()`. That
function imports every module of scikit-learn (and pytest, through `sklearn.utils._testing`)
to find them: about a third of a second of a cold `mlops-gates check`, for a model that
uses a handful of those modules.

The answer depends only on the installed scikit-learn, so it is computed once for that
installation and kept in the user's cache folder. Later imports of `skops.io` get the
recorded answer: the same class names, carried by light stand-in classes, so skops builds
exactly the trusted list it would have built. Only names under `sklearn.` are read back
(skops keeps only those anyway), so a damaged or edited cache can never make skops trust
anything outside scikit-learn; a cache that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["cache_file", "import_skops_io"]


def import_skops_io() -> ModuleType:
    """`skops.io`, with scikit-learn's estimator list read from the cache when it is there."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn
    import sklearn.utils

    path = cache_file(sklearn)
    recorded = _read(path)
    real = sklearn.utils.all_estimators
    seen: list[tuple[str, type]] = []

    def recording(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
        found: list[tuple[str, type]] = real(*args, **kwargs)
        if not args and not kwargs:
            seen.extend(found)
        return found

    def replaying(*args: Any, **kwargs: Any) -> list[tuple[str, type]]:
        if args or kwargs or recorded is None:  # a question the cache does not answer
            return real(*args, **kwargs)  # type: ignore[no-any-return]
        return [(name, _stand_in(module, name)) for name, module in recorded]

    # skops reads the function from `sklearn.utils` while its module runs; put it back after.
    sklearn.utils.all_estimators = replaying if recorded is not None else recording
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = real
    if recorded is None and seen:
        _write(path, [(name, cls.__module__) for name, cls in seen])
    module: ModuleType = skops.io
    return module


def cache_file(sklearn: ModuleType) -> Path:
    """Where the estimator list of this scikit-learn installation is kept: under
    `$XDG_CACHE_HOME` (default `~/.cache`), keyed by version, location and Python version."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    where = f"{sklearn.__version__}|{Path(sklearn.__file__ or '').resolve()}|{sys.version}"
    key = hashlib.sha256(where.encode()).hexdigest()[:16]
    return base / "mlops-gates" / f"sklearn-estimators-{key}.json"


def _stand_in(module: str, name: str) -> type:
    # skops only asks a class for its module and name (to build "module.Name").
    return type(name, (), {"__module__": module})


def _read(path: Path) -> list[tuple[str, str]] | None:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        pairs = [(str(name), str(module)) for name, module in entries]
    except (OSError, ValueError, TypeError):
        return None  # missing or damaged: import the slow way and write it again
    if not pairs or not all(m == "sklearn" or m.startswith("sklearn.") for _, m in pairs):
        return None
    return pairs


def _write(path: Path, pairs: list[tuple[str, str]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(pairs), encoding="utf-8")
        os.replace(tmp, path)  # a concurrent reader sees the whole file or none
    except OSError:
        pass  # a read-only home: every import takes the slow way, nothing else changes
