"""`monitor.store: mlflow` against a real `mlflow server`: scheduled runs extend one
sequence kept as artifacts of one MLflow run per deployed model version, a new version
starts over, a broken or missing state artifact starts over with a clear note, and two
monitor runs at once never lose counts silently (mlops_gates.monitor_store)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from helpers import base_config
from mlflow_server import MlflowServer, free_port
from sklearn.metrics import accuracy_score
from test_monitor import DAY2, DAY3, NOW, by_id, day, run_on

from mlops_gates.config import load_config
from mlops_gates.monitor_state import SequenceState
from mlops_gates.monitor_store import TAG, open_state, save_state

pytestmark = pytest.mark.usefixtures("quick_mlflow")


@pytest.fixture
def quick_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)  # the ephemeral-store note aside


def project(tmp_path: Path, rows: pd.DataFrame, url: str, experiment: str) -> Path:
    rows.to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        tracking={"uri": url, "retries": 0, "timeout": 5},
        monitor={"guarantee": "anytime", "store": "mlflow", "experiment": experiment},
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.8}],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def state_runs(url: str, experiment: str) -> dict[str, Any]:
    """The experiment's state runs by model, read back with MLflow's own client."""
    from mlflow import MlflowClient

    c = MlflowClient(url, url)
    exp = c.get_experiment_by_name(experiment)
    return {r.data.tags[f"{TAG}.model"]: r for r in c.search_runs([exp.experiment_id])}


def head_state(url: str, run: Any, tmp_path: Path) -> dict[str, Any]:
    from mlflow import MlflowClient

    c = MlflowClient(url, url)
    head = c.get_run(run.info.run_id).data.tags[f"{TAG}.head"]
    local = c.download_artifacts(run.info.run_id, head, str(tmp_path))
    doc: dict[str, Any] = json.loads(Path(local).read_text())
    return doc


def test_runs_extend_the_sequence_in_mlflow_and_a_new_version_starts_over(
    tmp_path: Path, mlflow_server: MlflowServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url, experiment = mlflow_server.url, f"monitor-{uuid.uuid4().hex[:8]}"
    first = day(400, 11, NOW)
    path = project(tmp_path, first, url, experiment)
    code, doc = run_on(path, NOW, "--model-version", "churn/3")
    assert code == 0, capsys.readouterr()
    err = capsys.readouterr().err
    assert "no monitor state yet" in err and "MLflow run" in err
    seq = doc["context"]["monitor"]["sequence"]
    assert (seq["store"], seq["runs"], by_id(doc)["acc"]["support"]) == ("mlflow", 1, 400)

    # The next scheduled run: a fresh checkout (no file left behind), one more day of rows.
    assert not (tmp_path / "monitoring").exists()
    second = day(300, 12, DAY2)
    both = pd.concat([first, second])
    both.to_parquet(tmp_path / "prod.parquet", index=False)
    code, doc = run_on(path, DAY2, "--model-version", "churn/3")
    assert code == 0
    acc = by_id(doc)["acc"]
    assert acc["support"] == 700
    assert acc["observed"] == pytest.approx(accuracy_score(both.y, both.pred))
    seq = doc["context"]["monitor"]["sequence"]
    assert seq["runs"] == 2 and seq["restarted"] is None and seq["since"] == NOW

    runs = state_runs(url, experiment)
    assert set(runs) == {"churn/3"}
    tags = runs["churn/3"].data.tags
    assert (tags[f"{TAG}.model_name"], tags[f"{TAG}.model_version"]) == ("churn", "3")
    assert seq["run_id"] == runs["churn/3"].info.run_id
    state = head_state(url, runs["churn/3"], tmp_path / "dl")
    assert state["streams"]["acc"] == {"n": 700, "hits": int((both.y == both.pred).sum())}
    assert state["runs"] == 2

    # Version 4 deployed: a new run and a new sequence, from the rows after the last counted.
    third = day(200, 13, DAY3)
    pd.concat([first, second, third]).to_parquet(tmp_path / "prod.parquet", index=False)
    code, doc = run_on(path, DAY3, "--model-version", "churn/4")
    assert "deployed model changed from churn/3 to churn/4" in capsys.readouterr().err
    assert by_id(doc)["acc"]["support"] == 200
    assert doc["context"]["monitor"]["sequence"]["runs"] == 1
    assert set(state_runs(url, experiment)) == {"churn/3", "churn/4"}


@pytest.mark.parametrize("broken", ["corrupt", "missing"])
def test_a_broken_state_artifact_starts_over_with_a_clear_note(
    tmp_path: Path, mlflow_server: MlflowServer, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    from mlflow import MlflowClient

    url, experiment = mlflow_server.url, f"monitor-{uuid.uuid4().hex[:8]}"
    rows = day(400, 21, NOW)
    path = project(tmp_path, rows, url, experiment)
    assert run_on(path, NOW, "--model-version", "churn/3")[0] == 0
    run = state_runs(url, experiment)["churn/3"]
    c = MlflowClient(url, url)
    if broken == "corrupt":
        bad = tmp_path / "000009-broken.json"
        bad.write_text('{"mlops_gates_monitor_state": 1, "streams": {"acc": {"n": -3}}}')
        c.log_artifact(run.info.run_id, str(bad), artifact_path="monitor-state")
        c.set_tag(run.info.run_id, f"{TAG}.head", "monitor-state/000009-broken.json")
    else:
        c.set_tag(run.info.run_id, f"{TAG}.head", "monitor-state/000009-gone.json")
    capsys.readouterr()
    code, doc = run_on(path, NOW, "--model-version", "churn/3")
    assert code == 0
    err = capsys.readouterr().err
    said = "unreadable monitor state" if broken == "corrupt" else "cannot be read"
    assert said in err and "starts over" in err and run.info.run_id in err
    assert "Traceback" not in err
    seq = doc["context"]["monitor"]["sequence"]
    assert seq["restarted"] and said in seq["restarted"] and seq["runs"] == 1
    assert by_id(doc)["acc"]["support"] == 400
    # Written back whole, as the next revision: the sequence goes on from here.
    assert head_state(url, state_runs(url, experiment)["churn/3"], tmp_path / "dl")["runs"] == 1


def test_two_monitor_runs_at_once_never_lose_counts_silently(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    from mlflow import MlflowClient

    url, experiment = mlflow_server.url, f"monitor-{uuid.uuid4().hex[:8]}"
    config = load_config(project(tmp_path, day(10, 1, NOW), url, experiment))
    key = {"model": "churn/3", "name": "churn", "version": "3"}
    first, second = open_state(config, **key).handle, open_state(config, **key).handle
    assert first.run_id == second.run_id and first.head is None
    one = SequenceState("churn/3", NOW, runs=1).to_json()
    assert save_state(first, one, runs=1, through=None) is None
    lost = save_state(second, SequenceState("churn/3", NOW, runs=1).to_json(), runs=1, through=None)
    assert lost is not None and "not saved" in lost and "another monitor run" in lost
    opened = open_state(config, **key)
    assert (opened.text, opened.why, opened.handle.notes) == (one, None, ())

    # Had both passed that check at the same instant, both artifacts hold revision 2: the
    # next run names the one left out (here written by hand, as the racing run would).
    c = MlflowClient(url, url)
    raced = tmp_path / "000002-raced.json"
    raced.write_text(one)
    two = SequenceState("churn/3", NOW, runs=2).to_json()
    assert save_state(opened.handle, two, runs=2, through=None) is None
    c.log_artifact(opened.handle.run_id, str(raced), artifact_path="monitor-state")
    later = open_state(config, **key)
    assert later.text == two
    [note] = later.handle.notes
    assert "monitor-state/000002-raced.json" in note and "not in the sequence" in note


def test_mlflow_unreachable_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_monitor import main

    path = project(tmp_path, day(100, 2, NOW), f"http://127.0.0.1:{free_port()}", "m")
    window = ["--time-column", "ts", "--window", "7d", "--now", NOW]
    code = main(["monitor", "--config", str(path), *window, "--report-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "monitor.store: mlflow: cannot read the monitor state" in err
    assert "cannot reach MLflow" in err


def test_a_store_the_ci_job_throws_away_is_called_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In GitHub Actions with no tracking server set, the state lands in the job's own
    SQLite file and every scheduled run would start over: the run says so."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    path = project(tmp_path, day(200, 3, NOW), f"sqlite:///{tmp_path / 'job.db'}", "m")
    code, doc = run_on(path, NOW, "--model-version", "churn/3")
    assert code == 0
    err = capsys.readouterr().err
    assert "which this job discards: every scheduled run starts over" in err
    assert "MLFLOW_TRACKING_URI" in err
    [note] = doc["context"]["monitor"]["sequence"]["notes"]
    assert "job.db" in note
