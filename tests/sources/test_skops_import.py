"""`skops.io` imported with scikit-learn's estimator list from the cache: skops trusts exactly
what it trusts the slow way, models load, and a damaged cache is ignored.

Each case runs in a fresh interpreter: what matters is how `skops.io` gets imported, and this
test process may have imported it already."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from skops.io import dump

PROBE = """
import json, sys
from pathlib import Path
from mlops_gates.sources.models import ModelTrust, load_skops
from mlops_gates.sources.skops_import import cache_file, import_skops_io
import sklearn

sio = import_skops_io()
from skops.io import _trusted_types as t

model = load_skops(Path(sys.argv[1]), ModelTrust())
print(json.dumps({
    "trusted": sorted(t.SKLEARN_ESTIMATOR_TYPE_NAMES),
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
