"""`mlops-gates monitor` with the documented setup: the deployed version is judged (never the
config's challenger), the label and prediction columns are not drift-checked as features,
a non-null label in the schema does not fail on rows whose label has not arrived, and a
healthy window whose recent rows lack labels opens no monitoring issue (issue #20, item 3).

The last test is the "done means" of that item: the Adult example's data and model, a real
monitoring run and `mlops-gates alert` against the GitHub double over HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from github_double import GitHubDouble
from helpers import base_config
from test_monitor import NOW, by_id, production, run

from mlops_gates.cli import main
from mlops_gates.promote.manifest import build_manifest, dump_manifest

EXAMPLE = Path(__file__).parents[1] / "examples" / "adult"


def _logged(n: int, seed: int, *, days: float = 7.0) -> pd.DataFrame:
    """test_monitor's production rows without `z` (x is then the one feature the drift
    assertions here count); the same draws, z being drawn last."""
    return production(n, seed, days=days).drop(columns=["z"])


def _unlabel_recent(frame: pd.DataFrame, label: str, days: float = 2.0) -> pd.Series:
    late = frame.ts > pd.Timestamp(NOW) - pd.Timedelta(days=days)
    frame.loc[late, label] = None
    return late


# -- feature drift leaves the label and the model's output out -------------------------------
@pytest.mark.parametrize("asked", [False, True], ids=["default", "include_label_and_predictions"])
def test_label_and_prediction_columns_are_not_drift_features_unless_asked(
    tmp_path: Path, asked: bool
) -> None:
    _logged(3000, 1, days=30).drop(columns=["ts"]).to_parquet(tmp_path / "ref.parquet")
    frame = _logged(1500, 2)
    late = _unlabel_recent(frame, "y")
    frame.to_parquet(tmp_path / "prod.parquet", index=False)
    drift: dict[str, Any] = {"id": "drift", "kind": "drift", "reference": "ref.parquet"}
    if asked:
        drift["include_label_and_predictions"] = True
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=[drift],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, doc = run(path, out=tmp_path / "out")
    gates = by_id(doc)
    if not asked:
        # Healthy data: x is the only feature, and it did not move.
        assert code == 0, doc["gates"]
        assert set(gates) == {"drift[feature=x]"}
        return
    # Asked for, the label is compared, and two days without labels look like drift: the
    # false alarm the default avoids. (PSI of the label's missing share, from the counts.)
    assert set(gates) == {f"drift[feature={c}]" for c in ("x", "y", "pred", "score")}
    label = gates["drift[feature=y]"]
    assert label["status"] == "fail" and code == 1
    missing = label["details"]["missing_share"]["current"]
    assert missing == pytest.approx(late.mean())


def test_features_listed_by_name_are_compared_even_when_they_are_the_label(
    tmp_path: Path,
) -> None:
    _logged(3000, 1, days=30).drop(columns=["ts"]).to_parquet(tmp_path / "ref.parquet")
    _logged(1500, 2).to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=[{"id": "d", "kind": "drift", "reference": "ref.parquet", "features": ["y", "x"]}],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    _, doc = run(path, out=tmp_path / "out")
    assert set(by_id(doc)) == {"d[feature=y]", "d[feature=x]"}


# -- the schema's non-null label ---------------------------------------------------------------
def _schema_project(tmp_path: Path, frame: pd.DataFrame) -> Path:
    import pandera.pandas as pa

    schema = pa.DataFrameSchema(
        {
            "y": pa.Column(float, pa.Check.isin([0.0, 1.0]), nullable=False),
            "x": pa.Column(float, nullable=False),
        }
    )
    (tmp_path / "schema.yaml").write_text(schema.to_yaml())
    frame.to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=[
            {"id": "schema", "kind": "schema", "schema": "schema.yaml"},
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.6},
        ],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_a_non_null_label_does_not_fail_the_schema_on_rows_awaiting_their_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _logged(1200, 3)
    late = _unlabel_recent(frame, "y")
    path = _schema_project(tmp_path, frame)
    code, doc = run(path, out=tmp_path / "out")
    gates = by_id(doc)
    assert code == 0, gates
    assert gates["schema"]["status"] == "pass" and gates["schema"]["support"] == 1200
    # The label-dependent gate judged the labelled rows and says how many wait.
    waiting = int(late.sum())
    assert gates["acc"]["support"] == 1200 - waiting
    assert f"{waiting} await their label" in gates["acc"]["message"]
    mon = doc["context"]["monitor"]
    assert (mon["labeled_rows"], mon["unlabeled_rows"]) == (1200 - waiting, waiting)

    # The label's other checks still hold where it is present ...
    frame.loc[frame.index[~late][:3], "y"] = 7.0
    code, doc = run(_schema_project(tmp_path, frame), out=tmp_path / "out2")
    assert by_id(doc)["schema"]["status"] == "fail" and code == 1
    # ... and `check`, which judges labelled evaluation data, still refuses missing labels.
    frame.loc[frame.index[~late][:3], "y"] = 1.0
    path = _schema_project(tmp_path, frame)
    assert main(["check", "--config", str(path), "--report-dir", str(tmp_path / "c")]) == 1
    check = json.loads((tmp_path / "c" / "report.json").read_text())
    assert {g["id"]: g["status"] for g in check["gates"]}["schema"] == "fail"
    capsys.readouterr()


# -- an empty window ----------------------------------------------------------------------------
def test_an_empty_window_counts_every_gate_as_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _logged(200, 4, days=30)
    frame = frame[frame.ts < pd.Timestamp(NOW) - pd.Timedelta(days=10)]
    path = _schema_project(tmp_path, frame)
    code, doc = run(path, out=tmp_path / "out")
    out = capsys.readouterr().out
    # Exit 1 and status error: data that stopped arriving needs a person, and no gate
    # passed. The summary counts the same thing: every gate an error, reason no_rows.
    assert code == 1 and doc["status"] == "error"
    assert doc["summary"]["error"] == len(doc["gates"]) == 2
    assert {g["reason"] for g in doc["gates"]} == {"no_rows"}
    assert "0 errors" not in out and "2 errors" in out
    assert "monitor: not judged:" in out and "no rows in the window" in out
    assert doc["context"]["monitor"]["reasons"] == doc["errors"]
    assert doc["context"]["monitor"]["outcome"] == "no_data"


def test_no_data_opens_the_issue_but_starts_no_retraining(
    tmp_path: Path,
    gh: GitHubDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Retraining on an empty window fixes nothing: `alert --dispatch-workflow` keeps the
    issue (is data still arriving?) and dispatches nothing."""
    frame = _logged(200, 4, days=30)
    path = _schema_project(tmp_path, frame[frame.ts < pd.Timestamp(NOW) - pd.Timedelta(days=10)])
    code, doc = run(path, out=tmp_path / "out")
    assert code == 1 and doc["context"]["monitor"]["retrain"] is False
    train = b"on: {workflow_dispatch: {}}\njobs: {}\n"
    gh.repo.commit("main", {".github/workflows/mlops-train-promote.yml": train}, "workflows")
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    monkeypatch.setenv("GITHUB_API_URL", gh.base_url)
    monkeypatch.setenv("GITHUB_REPOSITORY", gh.repo.full_name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github-output"))
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    capsys.readouterr()
    alerted = main(
        ["alert", str(tmp_path / "out"), "--dispatch-workflow", "mlops-train-promote.yml"]
    )
    out = capsys.readouterr().out
    assert alerted == 0, out
    assert gh.repo.dispatches == []
    [issue] = gh.issues()
    assert issue.state == "open" and issue.body is not None
    assert issue.title == "Model monitoring: the model could not be judged"  # not "warranted"
    assert "could not judge the model: no production rows in the window" in issue.body
    assert "not judged (no_data): no retraining" in out
    outputs = (tmp_path / "github-output").read_text()
    assert "retrain=false\n" in outputs and "dispatched=false\n" in outputs


# -- the deployed version, from the registry or the manifest ------------------------------------
def _registry_project(tmp_path: Path, url: str, name: str) -> Path:
    from mlflow_server import model_frame

    model_frame(2000, seed=1).to_parquet(tmp_path / "ref.parquet", index=False)
    prod = model_frame(800, seed=2)
    prod["ts"] = pd.Timestamp(NOW) - pd.to_timedelta(np.arange(800), unit="min")
    prod.to_parquet(tmp_path / "prod.parquet", index=False)
    config = {
        "version": 1,
        "data": {"path": "prod.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{name}@challenger"},
        "baseline": {"model": f"models:/{name}@production"},
        "tracking": {"uri": url},
        "gates": [
            {"id": "drift", "kind": "drift", "reference": "ref.parquet", "features": ["x1", "x2"]},
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
        ],
    }
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_monitor_judges_the_deployed_version_never_the_challenger(
    tmp_path: Path, mlflow_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow_server import model_frame, register_models

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registered = register_models(mlflow_server.url, f"live-{uuid.uuid4().hex[:8]}", model_frame())
    name, versions = registered.name, registered.versions
    path = _registry_project(tmp_path, mlflow_server.url, name)

    # Nothing deployed yet: the model's gates are not judged (never with the challenger);
    # feature drift reads only the table and still is.
    code, doc = run(path, out=tmp_path / "none")
    gates = by_id(doc)
    assert code == 1 and doc["status"] == "error"
    assert gates["acc"]["status"] == "error" and gates["acc"]["reason"] == "not_deployed"
    assert gates["drift[feature=x1]"]["status"] == "pass"
    assert (doc["context"]["monitor"]["outcome"], doc["context"]["monitor"]["retrain"]) == (
        "not_deployed",
        False,
    )
    assert "nothing is deployed to monitor" in doc["errors"][0]
    assert "'production'" in doc["errors"][0] and "--manifest" in doc["errors"][0]

    # The deploy alias serves the baseline's version (2); the challenger is version 1.
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    client.set_registered_model_alias(name, "production", versions["baseline"])
    code, doc = run(path, out=tmp_path / "alias")
    assert code == 0, doc["gates"]
    judged = doc["context"]["models"]["candidate"]
    assert (judged["version"], judged["alias"]) == (versions["baseline"], "production")
    mon = doc["context"]["monitor"]["model"]
    assert mon["source"] == "alias" and f"models:/{name}@production" == mon["uri"]
    assert "not the config's candidate" in mon["note"]

    # A deploy manifest names the version exactly (here the other one, as after a revert
    # whose deploy has not run yet).
    report = json.loads((Path(__file__).parent / "fixtures" / "adult-report.json").read_text())
    manifest = build_manifest(
        report,
        model=name,
        version=versions["candidate"],
        uri=f"models:/{name}/{versions['candidate']}",
        promoted_at="2026-11-20T00:00:00Z",
    )
    (tmp_path / "deploy.yaml").write_text(dump_manifest(manifest))
    code, doc = run(path, "--manifest", str(tmp_path / "deploy.yaml"), out=tmp_path / "manifest")
    assert code == 0, doc["gates"]
    assert doc["context"]["models"]["candidate"]["version"] == versions["candidate"]
    assert doc["context"]["monitor"]["model"]["source"] == "manifest"


def test_a_broken_manifest_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _schema_project(tmp_path, _logged(100, 5))
    (tmp_path / "deploy.yaml").write_text("model: {name: x}\n")
    code, _ = run(path, "--manifest", str(tmp_path / "deploy.yaml"), out=tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 2 and "--manifest" in err and "required" in err and "Traceback" not in err


# -- done means: healthy data whose recent rows lack labels opens no issue ----------------------
@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adult") / "adult"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    proc = subprocess.run(
        [sys.executable, str(root / "train.py")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
        assert double.violations == [], "\n".join(double.violations)


def _adult_monitoring(example: Path, tmp_path: Path, *, include: bool) -> Path:
    """The example's promotion config, cut to its monitoring gates plus a drift gate against
    the training data, over adult.test logged as a week of production traffic."""
    config = yaml.safe_load((example / "mlops-gates.yaml").read_text())
    prod = pd.read_parquet(example / "data" / "eval.parquet")
    rng = np.random.default_rng(20)
    prod["ts"] = pd.Timestamp(NOW) - pd.to_timedelta(rng.uniform(0, 7 * 86400, len(prod)), "s")
    _unlabel_recent(prod, "income")
    prod.to_parquet(tmp_path / "recent.parquet", index=False)
    drift = {"id": "drift", "kind": "drift", "reference": str(example / "data" / "train.parquet")}
    if include:
        drift["include_label_and_predictions"] = True
    keep = {"schema", "accuracy", "roc-auc", "equalized-odds-sex"}
    config["gates"] = [g for g in config["gates"] if g["id"] in keep] + [drift]
    for g in config["gates"]:
        if g["kind"] == "schema":
            g["schema"] = str(example / "schema.yaml")
    config["candidate"]["model"] = str(example / "models" / "candidate.skops")
    config["data"]["path"] = str(tmp_path / "recent.parquet")
    del config["baseline"]
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize("include", [False, True], ids=["documented", "label-drift-on"])
def test_healthy_data_whose_recent_rows_lack_labels_opens_no_issue(
    example: Path,
    tmp_path: Path,
    gh: GitHubDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    include: bool,
) -> None:
    path = _adult_monitoring(example, tmp_path, include=include)
    code, doc = run(path, out=tmp_path / "out")
    gates = by_id(doc)
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    monkeypatch.setenv("GITHUB_API_URL", gh.base_url)
    monkeypatch.setenv("GITHUB_REPOSITORY", gh.repo.full_name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github-output"))
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    alerted = main(["alert", str(tmp_path / "out")])
    capsys.readouterr()
    if include:
        # The label compared as a feature: two days without labels look like drift, an
        # issue is opened on healthy data. This is what the default prevents.
        assert gates["drift[feature=income]"]["status"] == "fail"
        assert code == 1 and len(gh.issues()) == 1
        return
    mon = doc["context"]["monitor"]
    assert 0 < mon["unlabeled_rows"] < mon["rows"]
    assert not any("income" in g for g in gates), "the label is not a drift feature"
    assert gates["schema"]["status"] == "pass", gates["schema"]["message"]
    assert gates["accuracy"]["support"] == mon["labeled_rows"]
    assert code == 0 and mon["retrain"] is False, [
        (g["id"], g["status"], g["message"]) for g in doc["gates"] if g["status"] != "pass"
    ]
    assert alerted == 0 and gh.issues() == []
