"""Every gates run as an MLflow run: against a real `mlflow server`, a killed one, and the
embedded SQLite default in a clean environment. Runs, metrics, artifacts and model-version
tags are read back through MlflowClient."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Project
from helpers import base_config, binary_frame, validate_report
from mlflow_server import MlflowServer, Registered, free_port, model_frame, register_models

from mlops_gates.cli import main
from mlops_gates.tracking import component, metric_keys, tracking_enabled

pytest_plugins = ["pytester"]

FRAME = model_frame()
SCHEMA = """\
schema_type: dataframe
api: pandas
columns:
  x1:
    dtype: float64
    greater_than_or_equal_to: -2.0
  y:
    dtype: int64
"""


@pytest.fixture
def tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def registered(mlflow_server: MlflowServer) -> Registered:
    return register_models(mlflow_server.url, f"tracked-{uuid.uuid4().hex[:8]}", FRAME)


def _gates() -> list[dict[str, Any]]:
    return [
        {"id": "schema", "kind": "schema", "schema": "schema.yaml"},
        {
            "id": "acc",
            "kind": "metric",
            "metric": "accuracy",
            "min": 0.6,
            "slices": ["sex", "region"],
        },
        {"id": "auc-vs", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.05},
        {"id": "fresh", "kind": "staleness", "model": {"max_age": "1d"}},
    ]


def _project(make_project: Project, url: str, registered: Registered, **tracking: Any) -> Path:
    name = registered.name
    cfg = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{name}@challenger"},
        "baseline": {"model": f"models:/{name}@champion"},
        "tracking": {"uri": url, **tracking},
        "gates": _gates(),
    }
    path = make_project(cfg, FRAME, data_name="eval.parquet")
    (path.parent / "schema.yaml").write_text(SCHEMA)
    return path


GITHUB_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_REF": "refs/pull/42/merge",
    "GITHUB_HEAD_REF": "feature/better-model",
    "GITHUB_REF_NAME": "42/merge",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/income",
    "GITHUB_RUN_ID": "987654",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_WORKFLOW": "gates",
    "GITHUB_EVENT_NAME": "pull_request",
}


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(url, url)


@pytest.mark.usefixtures("tracking_on")
def test_check_logs_one_run_with_everything(
    make_project: Project,
    mlflow_server: MlflowServer,
    registered: Registered,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    record_property: Any,
) -> None:
    for key, value in GITHUB_ENV.items():
        monkeypatch.setenv(key, value)
    path = _project(make_project, mlflow_server.url, registered)
    out_dir = tmp_path / "report"
    t0 = time.perf_counter()
    code = main(["check", "--config", str(path), "--report-dir", str(out_dir)])
    record_property("seconds_check_with_tracking", round(time.perf_counter() - t0, 2))
    out = capsys.readouterr().out
    doc = json.loads((out_dir / "report.json").read_text())
    validate_report(doc)
    assert code == 1  # the schema gate fails on purpose: x1 goes below -2
    assert doc["status"] == "fail"
    ml = doc["context"]["mlflow"]
    run_id = ml["run_id"]
    assert f"mlflow: MLflow run {run_id}" in out
    assert ml["tracking_uri"] == mlflow_server.url
    assert ml["run_url"] == f"{mlflow_server.url}/#/experiments/{ml['experiment_id']}/runs/{run_id}"

    client = _client(mlflow_server.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    # Nested under the candidate's training run, in its experiment.
    assert run.info.experiment_id == registered.experiment_id == ml["experiment_id"]
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == registered.run_ids["candidate"]
    assert tags["mlops_gates.status"] == "fail"
    assert tags["mlops_gates.gate.schema"] == "fail"
    assert tags["mlops_gates.gate.acc"] == "pass"
    assert tags["mlops_gates.gate.fresh"] == "pass"
    assert tags["mlops_gates.candidate.version"] == registered.versions["candidate"]
    assert tags["mlflow.source.git.commit"] == GITHUB_ENV["GITHUB_SHA"]
    assert tags["mlops_gates.git.branch"] == "feature/better-model"
    assert tags["mlops_gates.github.pr"] == "42"
    assert (
        tags["mlops_gates.github.run_url"]
        == "https://github.com/acme/income/actions/runs/987654/attempts/2"
    )

    params = run.data.params
    assert params["fingerprint.config"] == doc["fingerprint"]["config"]
    assert params["fingerprint.data"] == doc["fingerprint"]["data"]
    assert params["fingerprint.model.candidate"] == doc["fingerprint"]["models"]["candidate"]
    assert params["model.candidate.resolved_uri"] == (
        f"models:/{registered.name}/{registered.versions['candidate']}"
    )

    # Every number of the report is a metric, under the documented key.
    metrics = run.data.metrics
    keys = json.loads((out_dir / "mlflow" / "metric_keys.json").read_text())
    assert keys == metric_keys(doc)
    assert {k: v["value"] for k, v in keys.items()} == pytest.approx(metrics)
    by_id = {g["id"]: g for g in doc["gates"]}
    assert metrics["acc/observed"] == by_id["acc"]["observed"]
    assert metrics["acc/sex.F/observed"] == by_id["acc[sex=F]"]["observed"]
    assert metrics["acc/sex.F/ci_low"] == by_id["acc[sex=F]"]["ci"][0]
    assert metrics["acc/sex.F/support"] == by_id["acc[sex=F]"]["support"]
    assert metrics["auc-vs/baseline"] == by_id["auc-vs"]["details"]["baseline"]
    assert metrics["fresh/age.model/observed"] == by_id["fresh[age=model]"]["observed"]
    assert metrics["mlops_gates.summary.fail"] == doc["summary"]["fail"]
    # A slice value with a slash is cleaned and told apart by a hash; the map says which.
    slash = [k for k, v in keys.items() if v["verdict"] == "acc[region=east/west]"]
    assert slash and all(k.startswith("acc/region.east_west-") for k in slash)

    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.digest == doc["fingerprint"]["data"].removeprefix("sha256:")[:32]
    assert dataset.dataset.name == "eval.parquet"
    assert {t.key: t.value for t in dataset.tags} == {"mlflow.data.context": "evaluation"}

    def listing(path: str | None = None) -> set[str]:
        return {a.path for a in client.list_artifacts(run_id, path)}

    assert {"report.json", "report.md", "metric_keys.json", "config", "schema"} <= listing()
    assert listing("config") == {"config/mlops-gates.yaml"}
    assert listing("schema") == {"schema/schema.yaml", "schema/schema.failure_cases.json"}
    local = Path(client.download_artifacts(run_id, "report.json", str(tmp_path / "dl")))
    assert json.loads(local.read_text())["context"]["mlflow"]["run_id"] == run_id
    failures = Path(
        client.download_artifacts(run_id, "schema/schema.failure_cases.json", str(tmp_path))
    )
    assert json.loads(failures.read_text())[0]["column"] == "x1"

    version = client.get_model_version(registered.name, registered.versions["candidate"])
    assert version.tags == {
        "mlops_gates.status": "fail",
        "mlops_gates.report_run_id": run_id,
        "mlops_gates.config_digest": doc["fingerprint"]["config"],
    }


@pytest.mark.usefixtures("tracking_on")
def test_pytest_plugin_logs_the_run(
    pytester: pytest.Pytester, mlflow_server: MlflowServer, registered: Registered
) -> None:
    _write_pytester_project(pytester, mlflow_server.url, registered, nest=False)
    result = pytester.runpytest("--mlops-gates", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["mlflow: MLflow run *"])
    doc = json.loads((pytester.path / "mlops-gates-report" / "report.json").read_text())
    run = _client(mlflow_server.url).get_run(doc["context"]["mlflow"]["run_id"])
    assert "mlflow.parentRunId" not in run.data.tags
    experiment = _client(mlflow_server.url).get_experiment(run.info.experiment_id)
    assert experiment.name == "mlops-gates"
    assert run.data.metrics["acc/observed"] == doc["gates"][0]["observed"]


def _write_pytester_project(
    pytester: pytest.Pytester, url: str, registered: Registered, **tracking: Any
) -> None:
    FRAME.to_parquet(pytester.path / "eval.parquet", index=False)
    cfg = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{registered.name}@challenger"},
        "tracking": {"uri": url, **tracking},
        "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.6}],
    }
    (pytester.path / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


KILLER = """
import os, signal, time

import pytest


@pytest.mark.mlops_gate(id="mlflow-goes-down")
def test_the_tracking_server_dies_mid_run():
    # The gates were evaluated at collection (the models came from the server); the run
    # is logged at sessionfinish. In between, the whole server process group dies.
    os.killpg(int(os.environ["MLFLOW_SERVER_PGID"]), signal.SIGKILL)
    time.sleep(0.5)
"""


@pytest.mark.usefixtures("tracking_on")
def test_server_killed_mid_run_then_log_uploads_later(
    pytester: pytest.Pytester,
    mlflow_server: MlflowServer,
    registered: Registered,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    _write_pytester_project(pytester, mlflow_server.url, registered)
    pytester.makepyfile(test_kill=KILLER)
    assert mlflow_server.proc is not None
    monkeypatch.setenv("MLFLOW_SERVER_PGID", str(mlflow_server.proc.pid))
    try:
        t0 = time.perf_counter()
        result = pytester.runpytest("--mlops-gates", "-p", "no:cacheprovider")
        elapsed = time.perf_counter() - t0
        record_property("seconds_run_with_server_killed", round(elapsed, 2))
        assert not mlflow_server.running
    finally:
        mlflow_server.stop()  # reap the killed group
        restart_t0 = time.perf_counter()
        mlflow_server.start()
        record_property("seconds_server_restart", round(time.perf_counter() - restart_t0, 2))
    assert elapsed < 40, elapsed  # bounded retries and timeouts, not minutes
    # tracking.on_failure defaults to warn: the gates decide the exit status.
    assert result.ret == 0
    result.stdout.fnmatch_lines(["mlflow: tracking failed: cannot reach MLflow at *"])
    report_dir = pytester.path / "mlops-gates-report"
    doc = json.loads((report_dir / "report.json").read_text())
    validate_report(doc)
    assert "mlflow" not in doc["context"]
    by_id = {g["id"]: g for g in doc["gates"]}
    tracking = by_id["mlflow-tracking"]
    assert (tracking["kind"], tracking["status"], tracking["severity"]) == (
        "tracking",
        "warn",
        "warn",
    )
    assert f"cannot reach MLflow at {mlflow_server.url}" in tracking["message"]
    assert f"mlops-gates log {report_dir}" in tracking["message"]
    assert by_id["mlflow-goes-down"]["status"] == "pass" and by_id["acc"]["status"] == "pass"
    assert "mlflow-tracking" in (report_dir / "report.md").read_text()

    # An upload of this report that died half-way (MLflow killed mid-upload) left a run
    # RUNNING with metrics and no artifacts; another report's run is still going.
    client = _client(mlflow_server.url)
    experiment = client.get_run(registered.run_ids["candidate"]).info.experiment_id
    orphan = client.create_run(experiment, tags={"mlops_gates.started_at": doc["started_at"]})
    client.log_metric(orphan.info.run_id, "acc/observed", 0.9)
    other = client.create_run(experiment, tags={"mlops_gates.started_at": "2020-01-01T00:00:00"})

    # Later, with MLflow back: the same report becomes a run, and the report records it.
    capsys.readouterr()
    assert main(["log", str(report_dir)]) == 0
    out = capsys.readouterr().out
    assert "mlflow: MLflow run" in out
    assert client.get_run(orphan.info.run_id).info.status == "FAILED"
    assert f"never finished FAILED: {orphan.info.run_id}" in out
    assert client.get_run(other.info.run_id).info.status == "RUNNING", "not this report's"
    client.set_terminated(other.info.run_id, "FINISHED")
    logged = json.loads((report_dir / "report.json").read_text())
    validate_report(logged)
    assert "mlflow-tracking" not in {g["id"] for g in logged["gates"]}
    assert logged["status"] == "pass"
    run_id = logged["context"]["mlflow"]["run_id"]
    run = client.get_run(run_id)
    assert run.data.metrics["acc/observed"] == by_id["acc"]["observed"]
    assert run.data.tags["mlops_gates.gate.mlflow-goes-down"] == "pass"
    assert run.data.tags["mlflow.parentRunId"] == registered.run_ids["candidate"]
    assert {"report.json", "report.md", "metric_keys.json"} <= {
        a.path for a in client.list_artifacts(run_id)
    }
    version = client.get_model_version(registered.name, registered.versions["candidate"])
    assert version.tags["mlops_gates.report_run_id"] == run_id
    # Logging twice makes no second run.
    assert main(["log", str(report_dir)]) == 0
    assert f"already logged as MLflow run {run_id}" in capsys.readouterr().out


@pytest.mark.usefixtures("tracking_on")
def test_on_failure_error_fails_the_run_but_keeps_the_report(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tracking = {"uri": url, "on_failure": "error", "retries": 0, "timeout": 2}
    path = make_project(base_config(tracking=tracking))
    out_dir = tmp_path / "out"
    t0 = time.perf_counter()
    assert main(["check", "--config", str(path), "--report-dir", str(out_dir)]) == 1
    assert time.perf_counter() - t0 < 20
    err = capsys.readouterr().err
    assert f"mlops-gates: error: MLflow tracking failed: cannot reach MLflow at {url}" in err
    doc = json.loads((out_dir / "report.json").read_text())
    validate_report(doc)
    assert doc["status"] == "error"
    assert doc["gates"][-1]["id"] == "mlflow-tracking"
    assert doc["gates"][-1]["severity"] == "block"
    # `log` against a server that is still down: exit 1, the report is left as it was.
    assert main(["log", str(out_dir)]) == 1
    assert json.loads((out_dir / "report.json").read_text()) == doc


def test_embedded_default_in_a_clean_environment(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    binary_frame().to_csv(project / "eval.csv", index=False)
    (project / "mlops-gates.yaml").write_text(yaml.safe_dump(base_config(), sort_keys=False))
    # No MLFLOW_* or MLOPS_GATES_* variables, no home configuration: the defaults alone.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", "check"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "alembic" not in proc.stderr.lower()  # migrations of a new store stay quiet
    doc = json.loads((project / "mlops-gates-report" / "report.json").read_text())
    ml = doc["context"]["mlflow"]
    db = project / "mlruns.db"
    assert ml["tracking_uri"] == f"sqlite:///{db}"
    assert f"mlflow: MLflow run {ml['run_id']}" in proc.stdout
    # It would change MLflow 3's default URI. MLflow 2 makes it, empty (its default artifact
    # root), next to any SQLite store; there the default URI is ./mlruns anyway.
    mlruns = project / "mlruns"
    old_mlflow = int(version("mlflow-skinny").split(".")[0]) < 3
    assert not mlruns.exists() or (old_mlflow and not any(mlruns.iterdir()))
    with sqlite3.connect(db) as con:
        metrics = dict(
            con.execute("SELECT key, value FROM metrics WHERE run_uuid = ?", (ml["run_id"],))
        )
        (status,) = con.execute("SELECT status FROM runs WHERE run_uuid = ?", (ml["run_id"],))
    assert metrics["acc/observed"] == pytest.approx(doc["gates"][0]["observed"])
    assert status == ("FINISHED",)
    artifacts = project / "mlartifacts" / ml["run_id"] / "artifacts"
    assert {"report.json", "report.md", "metric_keys.json"} <= {p.name for p in artifacts.iterdir()}


@pytest.mark.usefixtures("tracking_on")
def test_tracking_can_be_turned_off(
    make_project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = make_project(base_config(tracking={"enabled": False}))
    assert main(["check", "--config", str(path), "--report-dir", str(tmp_path / "a")]) == 0
    assert "mlflow" not in json.loads((tmp_path / "a" / "report.json").read_text())["context"]
    monkeypatch.setenv("MLOPS_GATES_TRACKING", "off")
    assert tracking_enabled(None) == (False, "MLOPS_GATES_TRACKING=off")
    assert not (path.parent / "mlruns.db").exists()


def test_log_without_a_report_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["log", str(tmp_path)]) == 2
    assert "no report here" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "dots", "expected"),
    [
        ("accuracy", True, "accuracy"),
        ("auc vs baseline", True, "auc vs baseline"),
        ("v1.2", True, "v1.2"),
        ("v1.2", False, "v1_2-"),
        ("east/west", True, "east_west-"),
        ("<=50K", True, "__50K-"),
        (">50K", True, "_50K-"),
        ("Fémale", True, "F_male-"),
        ("..", True, "..-"),
        ("", True, "_-"),
        (" padded ", True, "padded-"),
        ("x" * 80, True, "x" * 60 + "-"),
    ],
)
def test_key_components_are_clean_and_distinct(text: str, dots: bool, expected: str) -> None:
    got = component(text, dots=dots)
    if expected.endswith("-"):
        assert got.startswith(expected) and len(got) == len(expected) + 6
    else:
        assert got == expected
    assert got == component(text, dots=dots)  # deterministic
    assert "/" not in got and got not in (".", "..")


def test_metric_keys_never_collide() -> None:
    def verdict(rid: str, gate: str, slc: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": rid,
            "gate": gate,
            "kind": "metric",
            "slice": slc,
            "observed": 0.5,
            "ci": None,
            "support": 10,
            "details": {},
        }

    doc = {
        "gates": [
            verdict("a+b", "a+b", None),
            verdict("a_b", "a_b", None),
            verdict("m[c=<=50K]", "m", {"c": "<=50K"}),
            verdict("m[c=>=50K]", "m", {"c": ">=50K"}),
            verdict("m[c.d=e]", "m", {"c.d": "e"}),
            verdict("m[c=d.e]", "m", {"c": "d.e"}),
            verdict("m[c=None]", "m", {"c": None}),
        ],
        "summary": {"pass": 7},
    }
    keys = metric_keys(doc)
    verdicts = [v["verdict"] for v in keys.values() if v["verdict"] and v["stat"] == "observed"]
    assert sorted(verdicts) == sorted(g["id"] for g in doc["gates"])
    assert "a_b/observed" in keys and "m/c.d.e/observed" in keys
    from mlflow.utils.validation import _validate_metric_name

    for key in keys:
        _validate_metric_name(key)


@pytest.mark.usefixtures("tracking_on")
def test_every_rewrite_of_a_tracked_run_keeps_the_page_choice(
    make_project: Project, tmp_path: Path
) -> None:
    # Tracking rewrites the report directory (its artifacts, then the failure verdict): each
    # write gets the config's `report.html`, here `check --html off`, so no page appears.
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tracking = {"uri": url, "on_failure": "warn", "retries": 0, "timeout": 2}
    path = make_project(base_config(tracking=tracking))
    out_dir = tmp_path / "out"
    main(["check", "--config", str(path), "--report-dir", str(out_dir), "--html", "off"])
    doc = json.loads((out_dir / "report.json").read_text())
    assert doc["gates"][-1]["id"] == "mlflow-tracking"  # rewritten after the upload failed
    assert not (out_dir / "report.html").exists()
    assert "report.html" not in (out_dir / "report.md").read_text()
    # The config's own choice, without the flag: the page is back after every rewrite (it
    # needs the `plots` extra, which the lowest-versions run leaves out).
    pytest.importorskip("matplotlib")
    main(["check", "--config", str(path), "--report-dir", str(out_dir)])
    assert (out_dir / "report.html").is_file()
