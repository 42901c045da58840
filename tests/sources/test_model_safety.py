"""Model files run no code unless the config says so.

Real files throughout: a skops pipeline whose FunctionTransformer calls
`sklearn.datasets.dump_svmlight_file` (it writes a file when the model predicts), a pickle
whose payload runs `os.system` on load (it touches a marker file), and legitimate skops
pipelines. skops itself is the oracle for what is trusted by default.
"""

from __future__ import annotations

import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
import skops.io as sio
from conftest import Project
from helpers import validate_report
from sklearn.compose import ColumnTransformer
from sklearn.datasets import dump_svmlight_file
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mlops_gates.config import load_config
from mlops_gates.gates.result import Report
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown
from mlops_gates.sources.models import PickleLoadWarning

TREE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "colour": rng.choice(["red", "green", "blue"], n),
            "y": (x1 + 0.5 * x2 + rng.normal(0, 0.5, n) > 0).astype(int),
        }
    )


def _config(model: str, **candidate: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": model, **candidate},
        "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    }


def _run(make_project: Project, cfg: dict[str, Any], frame: pd.DataFrame) -> Report:
    report = run_gates(load_config(make_project(cfg, frame, data_name="eval.parquet")))
    validate_report(report.to_dict())
    return report


# --- skops ------------------------------------------------------------------------------


def _dumping_pipeline(frame: pd.DataFrame, target: Path) -> Pipeline:
    """Predicting with it writes `target`: the FunctionTransformer calls dump_svmlight_file."""
    X = frame[["x1", "x2"]]
    clf = LogisticRegression().fit(X, frame["y"])
    dump = FunctionTransformer(
        dump_svmlight_file, kw_args={"y": np.zeros(len(frame)), "f": str(target)}
    ).fit(X)
    return Pipeline([("dump", dump), ("clf", clf)])


def test_a_skops_file_that_writes_files_is_refused_and_writes_nothing(
    make_project: Project, tmp_path: Path
) -> None:
    frame = _frame()
    target = tmp_path / "written-by-the-model.txt"
    sio.dump(_dumping_pipeline(frame, target), tmp_path / "model.skops")
    flagged = sio.get_untrusted_types(file=tmp_path / "model.skops")
    dumper = [t for t in flagged if t.endswith("dump_svmlight_file")]
    assert dumper, flagged  # skops itself does not trust the function

    report = _run(make_project, _config("model.skops"), frame)

    assert report.status == "error"
    assert not target.exists()
    (error,) = report.errors
    assert str(tmp_path / "model.skops") in error
    assert dumper[0] in error and "`candidate.trusted_types:`" in error
    assert "\n" not in error
    assert report.gates[0].status == "error"

    # The file is a real payload: trusted by hand, predicting writes the file.
    model = sio.load(tmp_path / "model.skops", trusted=flagged)
    with pytest.raises(Exception):  # noqa: B017 - the next step gets None; the write happened
        model.predict(frame[["x1", "x2"]])
    assert target.exists()


def test_a_legitimate_skops_pipeline_loads_with_no_config(
    make_project: Project, tmp_path: Path
) -> None:
    frame = _frame()
    features = ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    model = Pipeline([("features", features), ("clf", LogisticRegression())])
    model.fit(frame[["x1", "x2", "colour"]], frame["y"])
    sio.dump(model, tmp_path / "model.skops")
    assert sio.get_untrusted_types(file=tmp_path / "model.skops") == []

    report = _run(make_project, _config("model.skops"), frame)

    assert report.status == "pass", report.errors
    expected = skm.accuracy_score(frame["y"], model.predict(frame[["x1", "x2", "colour"]]))
    assert report.gates[0].observed == pytest.approx(expected, rel=1e-12)
    assert report.warnings == []
    assert report.context["models"]["candidate"]["format"] == "skops"
    # report.json files written before `warnings` existed stay valid.
    doc = report.to_dict()
    del doc["warnings"]
    validate_report(doc)
    assert Report.from_dict(doc).warnings == []


def _boosted(tmp_path: Path, frame: pd.DataFrame) -> Pipeline:
    features = ColumnTransformer(
        [("num", "passthrough", ["x1", "x2"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    model = Pipeline([("features", features), ("clf", HistGradientBoostingClassifier())])
    model.fit(frame[["x1", "x2", "colour"]], frame["y"])
    sio.dump(model, tmp_path / "model.skops")
    return model


def test_tree_models_need_the_types_skops_flags_listed_by_full_name(
    make_project: Project, tmp_path: Path
) -> None:
    """skops leaves HistGradientBoosting's TreePredictor untrusted (a hostile node array
    can crash the process on predict): no prefix rule trusts it, the config does."""
    frame = _frame()
    model = _boosted(tmp_path, frame)
    flagged = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert TREE in flagged

    refused = _run(make_project, _config("model.skops"), frame)
    assert refused.status == "error"
    assert all(t in refused.errors[0] for t in flagged)

    # Listing some of them is not enough: the rest are named.
    partial = _run(make_project, _config("model.skops", trusted_types=[TREE]), frame)
    rest = [t for t in flagged if t != TREE]
    if rest:
        assert partial.status == "error"
        assert all(t in partial.errors[0] for t in rest) and TREE not in partial.errors[0]

    report = _run(make_project, _config("model.skops", trusted_types=flagged), frame)
    assert report.status == "pass", report.errors
    expected = skm.accuracy_score(frame["y"], model.predict(frame[["x1", "x2", "colour"]]))
    assert report.gates[0].observed == pytest.approx(expected, rel=1e-12)


def test_the_baseline_message_names_the_baseline_key(make_project: Project, tmp_path: Path) -> None:
    frame = _frame()
    _boosted(tmp_path, frame)
    clf = LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])
    sio.dump(clf, tmp_path / "lr.skops")
    cfg = _config("lr.skops")
    cfg["baseline"] = {"model": "model.skops"}
    cfg["gates"].append({"id": "acc-vs", "kind": "baseline", "metric": "accuracy", "max_drop": 1})
    report = _run(make_project, cfg, frame)
    by_id = {g.id: g for g in report.gates}
    assert by_id["acc"].status == "pass"
    assert by_id["acc-vs"].status == "error"
    assert "`baseline.trusted_types:`" in by_id["acc-vs"].message
    assert TREE in by_id["acc-vs"].message


# --- pickle -------------------------------------------------------------------------------


class _Payload:
    """Unpickling this runs a shell command, as a hostile pickle would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


def _hostile_pickle(path: Path, marker: Path, frame: pd.DataFrame) -> LogisticRegression:
    model = LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])
    # The model carries the payload as an attribute: loading it runs the command, and
    # what comes back is still a working model (os.system's exit status in the attribute).
    model.payload = _Payload(f"touch {shlex.quote(str(marker))}")
    if path.suffix == ".joblib":
        joblib.dump(model, path)
    else:
        path.write_bytes(pickle.dumps(model))
    del model.payload
    return model


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib"])
def test_a_pickle_is_refused_without_opt_in(
    make_project: Project, tmp_path: Path, name: str
) -> None:
    frame = _frame()
    marker = tmp_path / "payload-ran"
    _hostile_pickle(tmp_path / name, marker, frame)

    report = _run(make_project, _config(name), frame)

    assert not marker.exists()
    assert report.status == "error"
    (error,) = report.errors
    assert str(tmp_path / name) in error and "`candidate.allow_pickle: true`" in error
    assert report.warnings == []


def test_a_pickle_loads_with_opt_in_and_every_report_says_so(
    make_project: Project, tmp_path: Path
) -> None:
    frame = _frame()
    marker = tmp_path / "payload-ran"
    model = _hostile_pickle(tmp_path / "model.pkl", marker, frame)
    cfg = _config("model.pkl", allow_pickle=True)

    with pytest.warns(PickleLoadWarning, match="allow_pickle"):
        report = _run(make_project, cfg, frame)

    assert marker.exists()  # the payload ran: the opt-in is what let it
    assert report.status == "pass", report.errors
    expected = skm.accuracy_score(frame["y"], model.predict(frame[["x1", "x2"]]))
    assert report.gates[0].observed == pytest.approx(expected, rel=1e-12)
    (warning,) = report.warnings
    assert str(tmp_path / "model.pkl") in warning and "pickle" in warning
    doc = report.to_dict()
    assert doc["warnings"] == [warning]
    text = render_markdown(doc)
    assert "**Warnings:**" in text and "model.pkl was loaded with pickle" in text
    assert Report.from_dict(doc).warnings == [warning]

    # Every run, not just the first load in a process.
    marker.unlink()
    with pytest.warns(PickleLoadWarning):
        again = _run(make_project, cfg, frame)
    assert again.warnings == [warning]
