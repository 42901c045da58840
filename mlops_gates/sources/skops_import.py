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

The rest of that list is every ufunc of `scipy.special` by the name of the module it is
found in: skops's `whichmodule` asks every loaded module in turn (about 2,000 of them once
scikit-learn is loaded) with `getattr`, and a miss on a module costs a raised and dropped
AttributeError: about a third of a second for 230 ufuncs. While `skops.io` is imported, its
`whichmodule` is replaced by one that gives the same answer, in the same order, reading
plain modules' dictionaries and calling `getattr` only where a module could answer
differently (a module-level `__getattr__`, a module subclass, a name the module type itself
has). The original is put back once the import is done.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["cache_file", "import_skops_io", "make_fast_whichmodule"]


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
    hook = _FastWhichmodule()
    sys.meta_path.insert(0, hook)
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = real
        sys.meta_path.remove(hook)
        hook.restore()
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


# -- skops's `whichmodule`, answered from module dictionaries ------------------------------

_UTILS = "skops.io._utils"


class _FastWhichmodule(importlib.abc.MetaPathFinder):
    """Finds `skops.io._utils` as Python would and, once the module has run, gives it
    `fast_whichmodule` in place of its `whichmodule` until `restore()`."""

    def __init__(self) -> None:
        self.module: ModuleType | None = None
        self.original: Callable[[Any, str], str] | None = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _UTILS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = getattr(spec, "loader", None)
        if spec is None or not isinstance(loader, importlib.abc.Loader):
            return spec
        spec.loader = _ThenPatch(loader, self)
        return spec

    def patch(self, module: ModuleType) -> None:
        original = getattr(module, "whichmodule", None)
        if not callable(original):  # another skops: leave it as it is
            return
        self.module, self.original = module, original
        setattr(module, "whichmodule", make_fast_whichmodule(original))  # noqa: B010

    def restore(self) -> None:
        if self.module is not None:
            setattr(self.module, "whichmodule", self.original)  # noqa: B010


class _ThenPatch(importlib.abc.Loader):
    """The module's own loader, then the patch; the module keeps its own loader."""

    def __init__(self, loader: importlib.abc.Loader, hook: _FastWhichmodule) -> None:
        self.loader, self.hook = loader, hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.hook.patch(module)


def make_fast_whichmodule(original: Callable[[Any, str], str]) -> Callable[[Any, str], str]:
    """skops's `whichmodule(obj, name)`: the first module in `sys.modules` whose attribute
    `name` is `obj` (after `obj.__module__`), without a `getattr` miss per plain module.

    For a module of exactly `ModuleType` without a module-level `__getattr__`, and a name that
    `ModuleType` itself does not define, `getattr(module, name)` is the entry in the module's
    dictionary or an AttributeError: that is read directly. Every other module is asked with
    `getattr`, as skops asks it, in the same order. Dotted names and None go to the original."""

    def whichmodule(obj: Any, name: str) -> str:
        own: Any = getattr(obj, "__module__", None)
        if own is not None:
            return own  # type: ignore[no-any-return]
        # (None is "found" in any module without the name: skops's getattr default.)
        if obj is None or "." in name or hasattr(ModuleType, name):
            return original(obj, name)
        with warnings.catch_warnings():
            # as skops does: some modules warn that they are deprecated when asked
            warnings.simplefilter("ignore", DeprecationWarning)
            for module_name, module in sys.modules.copy().items():
                if module_name in ("__main__", "__mp_main__") or module is None:
                    continue
                if type(module) is ModuleType:
                    attrs = module.__dict__
                    if name in attrs:
                        if attrs[name] is obj:
                            return module_name
                        continue
                    if "__getattr__" not in attrs:
                        continue  # getattr would raise AttributeError
                try:
                    found = getattr(module, name, None)
                except (AttributeError, ImportError):
                    continue
                if found is obj:
                    return module_name
        return "__main__"

    return whichmodule
