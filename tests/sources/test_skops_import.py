"""`skops.io` imported with scikit-learn's estimator list from the cache: skops trusts exactly
what it trusts the slow way, models load, and a damaged cache is ignored. Its `whichmodule`,
replaced while it is imported, names the module skops's own names.

Each case runs in a fresh interpreter: what matters is how `skops.io` gets imported, and this
test process may have imported it already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.special
from sklearn.linear_model import LogisticRegression
from skops.io import _utils as skops_utils
from skops.io import dump

from mlops_gates.sources.skops_import import make_fast_whichmodule

PROBE = """
import json, sys
from pathlib import Path
from mlops_gates.sources.models import ModelTrust, load_skops
from mlops_gates.sources.skops_import import cache_file, import_skops_io
import sklearn

sio = import_skops_io()
from skops.io import _trusted_types as t, _utils as u
import numpy as np, scipy.special

model = load_skops(Path(sys.argv[1]), ModelTrust())
# skops's own whichmodule is back, and asks every module again: the same ufunc names.
again = u.get_public_type_names(module=scipy.special, oftype=np.ufunc)
print(json.dumps({
    "trusted": sorted(t.SKLEARN_ESTIMATOR_TYPE_NAMES),
    "ufuncs": t.SCIPY_UFUNC_TYPE_NAMES,
    "ufuncs_again": again,
    "whichmodule": u.whichmodule.__module__,
    "walked": "sklearn.utils._testing" in sys.modules,  # all_estimators imports it
    "cache": str(cache_file(sklearn)),
    "predicts": model.predict([[0.0, 1.0]]).tolist(),
}))
"""


def _probe(model: Path, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(model)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def _model(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"]).to_numpy()
    y = (X[:, 0] > 0).astype(int)
    path = tmp_path / "m.skops"
    dump(LogisticRegression().fit(X, y), path)
    return path


def test_the_cached_list_is_the_list_skops_builds(tmp_path: Path) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    slow = _probe(model, cache)  # no cache yet: skops walks scikit-learn, the list is recorded
    assert slow["walked"] and Path(slow["cache"]).is_file()
    fast = _probe(model, cache)
    assert not fast["walked"]  # scikit-learn was not walked
    assert fast["trusted"] == slow["trusted"]
    assert "sklearn.linear_model._logistic.LogisticRegression" in fast["trusted"]
    for doc in (slow, fast):
        assert doc["whichmodule"] == "skops.io._utils"
        assert len(doc["ufuncs"]) > 100
        assert doc["ufuncs"] == doc["ufuncs_again"]
    assert fast["predicts"] == slow["predicts"]


def test_a_damaged_or_widened_cache_is_ignored(tmp_path: Path) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    truth = _probe(model, cache)
    path = Path(truth["cache"])
    recorded = json.loads(path.read_text())
    for text in ("not json", json.dumps([["system", "os"], ["eval", "builtins"]])):
        path.write_text(text)
        again = _probe(model, cache)
        assert again["walked"]  # the slow way, which also writes the cache again
        assert again["trusted"] == truth["trusted"]
        assert json.loads(path.read_text()) == recorded


@pytest.fixture
def planted() -> Iterator[tuple[Any, list[str]]]:
    """A ufunc (no `__module__`) under one name in modules of every kind, in this order:
    a plain module holding another object, a module whose `__getattr__` answers, a module
    subclass with a property, and a plain module holding it."""
    target = np.frompyfunc(lambda x: x, 1, 1)
    other = np.frompyfunc(lambda x: x, 1, 1)
    name = "planted_ufunc"

    class WithProperty(ModuleType):
        @property
        def planted_ufunc(self) -> Any:
            return target

    decoy = ModuleType("h16c_decoy")
    decoy.planted_ufunc = other  # type: ignore[attr-defined]
    lazy = ModuleType("h16c_lazy")

    def lazy_getattr(attr: str) -> Any:
        if attr == name:
            return target
        raise AttributeError(attr)

    lazy.__getattr__ = lazy_getattr  # type: ignore[method-assign]
    plain = ModuleType("h16c_plain")
    plain.planted_ufunc = target  # type: ignore[attr-defined]
    modules = {
        "h16c_decoy": decoy,
        "h16c_lazy": lazy,
        "h16c_property": WithProperty("h16c_property"),
        "h16c_plain": plain,
    }
    sys.modules.update(modules)
    try:
        yield target, list(modules)
    finally:
        for key in modules:
            sys.modules.pop(key, None)


def test_the_fast_whichmodule_names_the_module_skops_names(planted: tuple[Any, list[str]]) -> None:
    original = skops_utils.whichmodule
    fast = make_fast_whichmodule(original)
    target, order = planted
    asked: list[tuple[Any, str]] = [(target, "planted_ufunc")]
    for module in (scipy.special, np):
        asked += [(getattr(module, a), a) for a in dir(module)]
    asked += [(object(), "nowhere"), (target, "__doc__"), (scipy.special.erf, "a.b")]
    answers = [fast(obj, name) for obj, name in asked]
    assert answers == [original(obj, name) for obj, name in asked]
    # The module-level __getattr__ comes first of those that hold it; nothing holds object().
    assert answers[0] == "h16c_lazy" and order[1] == "h16c_lazy"
    assert answers[-3] == "__main__"
    for module in order[1:3]:  # without the __getattr__ one, the property one answers
        sys.modules.pop(module)
        assert fast(target, "planted_ufunc") == original(target, "planted_ufunc")
    assert fast(target, "planted_ufunc") == "h16c_plain"
