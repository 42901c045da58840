"""A promotion's reproduce command reproduces, and its MLflow records are linked wherever
the report goes (issue #20, items 5 and 8).

One real `mlflow server`: a candidate (`@challenger`, version 1) and a baseline
(`@champion`, version 2) registered by training runs, gated by `mlops-gates check` with
tracking on. Then the alias moves on, as it does when the next candidate is trained, and
the reproduce command from the report, run by bash, must still judge version 1 on the same
data (checked by coreutils' sha256sum). The links come from report.json alone: no
--mlflow-url, no MLFLOW_TRACKING_URI when the body, summary, comment and issue are made.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow_server import MlflowServer, Registered, model_frame, register_models

from mlops_gates.alerts.alert import AlertOptions, issue_body
from mlops_gates.cli.main import main
from mlops_gates.promote.body import render_comment
from mlops_gates.promote.comment import report_markdown
from mlops_gates.promote.plan import PromoteOptions, make_plan, reproduce_lines
from mlops_gates.report.github import publish
from mlops_gates.report.links import mlflow_record, ui_root


@dataclass
class Gated:
    root: Path
    doc: dict[str, Any]
    registered: Registered
    url: str


def _config() -> dict[str, Any]:
    return {
        "version": 1,
        "data": {"path": "data/eval.parquet"},
        "task": {"type": "binary", "label": "y", "positive_label": 1},
        "candidate": {"model": "models:/{name}@challenger"},
        "baseline": {"model": "models:/{name}@champion"},
        "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    }


@pytest.fixture(scope="module")
def gated(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("repro")
    name = f"repro-{uuid.uuid4().hex[:8]}"
    frame = model_frame(400, seed=3)
    registered = register_models(mlflow_server.url, name, frame)
    (root / "data").mkdir()
    frame.to_parquet(root / "data" / "eval.parquet", index=False)
    text = yaml.safe_dump(_config(), sort_keys=False).replace("{name}", name)
    (root / "mlops-gates.yaml").write_text(text)
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, "MLOPS_GATES_TRACKING": ""}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for k, v in env.items():
            mp.setenv(k, v)
        assert main(["check", "--config", "mlops-gates.yaml", "--report-dir", "first"]) == 0
    doc = json.loads((root / "first" / "report.json").read_text())
    yield Gated(root, doc, registered, mlflow_server.url)


def test_the_reproduce_command_judges_the_same_version_and_data(
    gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    name, versions = gated.registered.name, gated.registered.versions
    monkeypatch.chdir(gated.root)  # promote runs in the repository's root
    lines = reproduce_lines(gated.doc, None)
    digest = gated.doc["fingerprint"]["data"].removeprefix("sha256:")
    assert f"echo '{digest}  data/eval.parquet' | sha256sum --check" in lines
    assert lines[-1] == (
        f"mlops-gates check --config mlops-gates.yaml --candidate models:/{name}/"
        f"{versions['candidate']} --baseline models:/{name}/{versions['baseline']} "
        "--report-dir mlops-gates-report"
    )
    # The next candidate takes the alias: the command must not follow it.
    client = MlflowClient(gated.url, gated.url)
    client.set_registered_model_alias(name, "challenger", versions["baseline"])
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": gated.url,
        "MLOPS_GATES_TRACKING": "off",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    script = "set -e\n" + "\n".join(lines) + "\n"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=gated.root, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = json.loads((gated.root / "mlops-gates-report" / "report.json").read_text())
    models = again["context"]["models"]
    assert models["candidate"]["version"] == versions["candidate"]
    assert models["baseline"]["version"] == versions["baseline"]
    assert again["fingerprint"]["data"] == gated.doc["fingerprint"]["data"]
    assert again["fingerprint"]["models"] == gated.doc["fingerprint"]["models"]

    # Other data than the gates read: the digest line stops the script before the gates.
    shutil.copy(gated.root / "data" / "eval.parquet", gated.root / "kept.parquet")
    with (gated.root / "data" / "eval.parquet").open("ab") as f:
        f.write(b"\0")
    try:
        proc = subprocess.run(
            ["bash", "-c", script], cwd=gated.root, env=env, capture_output=True, text=True
        )
    finally:
        shutil.copy(gated.root / "kept.parquet", gated.root / "data" / "eval.parquet")
    assert proc.returncode != 0 and "FAILED" in proc.stdout


def test_the_fetch_step_comes_before_the_digest_check(
    gated: Gated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(gated.root)
    lines = reproduce_lines(gated.doc, None, "dvc pull data/eval.parquet")
    fetch = lines.index("dvc pull data/eval.parquet")
    check = next(i for i, line in enumerate(lines) if "sha256sum --check" in line)
    assert fetch < check < len(lines) - 1


def test_check_refuses_to_pin_a_model_the_config_does_not_have(
    gated: Gated, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config()
    del cfg["baseline"]
    (gated.root / "no-baseline.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(gated.root)
    code = main(["check", "--config", "no-baseline.yaml", "--baseline", "models:/m/1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--baseline models:/m/1" in err and "no `baseline:`" in err


def test_every_place_the_report_goes_names_the_version_and_links_its_runs(
    gated: Gated, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No --mlflow-url, no MLFLOW_TRACKING_URI: the links come from report.json."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    name = gated.registered.name
    version = gated.registered.versions["candidate"]
    ml = gated.doc["context"]["mlflow"]
    assert ml["run_url"].startswith(gated.url + "/#/experiments/")
    model_link = f"{gated.url}/#/models/{name}/versions/{version}"
    training = gated.registered.run_ids["candidate"]
    training_link = f"{gated.url}/#/experiments/{gated.registered.experiment_id}/runs/{training}"

    # The promotion pull request body.
    plan = make_plan(gated.doc, PromoteOptions(model=name))
    body = plan.body("main", None)
    assert f"[model version]({model_link})" in body
    assert f"[gates run]({gated.url}/#/runs/{ml['run_id']})" in body
    assert f"[training run]({gated.url}/#/runs/{training})" in body

    # report.md, hence the job summary and the sticky comment.
    line = (
        f"MLflow: [model {name} version {version}]({model_link}) · "
        f"[training run {training}]({training_link}) · [gates run {ml['run_id']}]({ml['run_url']})"
    )
    summary_file = tmp_path / "summary.md"
    publish(gated.root / "first", environ={"GITHUB_STEP_SUMMARY": str(summary_file)})
    assert line in summary_file.read_text()
    assert line in render_comment(report_markdown(gated.root / "first"), key="mlops-gates.yaml")

    # The monitoring issue.
    issue = issue_body(gated.doc, "(report)", ["gate acc failed"], AlertOptions())
    assert line in issue


@pytest.mark.parametrize(
    ("address", "root"),
    [
        ("https://user:secret@mlflow.example.com/", "https://mlflow.example.com"),
        ("http://127.0.0.1:5000/#/experiments/1", "http://127.0.0.1:5000"),
        ("https://example.com/mlflow?x=1", "https://example.com/mlflow"),
        ("sqlite:///mlruns.db", None),
        ("javascript:alert(1)", None),
        ("http://x/<img>", "http://x/%3Cimg%3E"),  # percent-encoded: inert
        ("", None),
    ],
    ids=["credentials", "fragment", "query", "sqlite", "javascript", "markup", "empty"],
)
def test_ui_root_keeps_no_credentials_and_links_only_web_addresses(
    address: str, root: str | None
) -> None:
    assert ui_root(address) == root


def test_an_explicit_address_wins_over_the_reports(gated: Gated) -> None:
    record = mlflow_record(gated.doc, "https://mlflow.example.com")
    assert record.links["model_version"] == (
        f"https://mlflow.example.com/#/models/{record.model}/versions/{record.version}"
    )
    assert str(record.links["gates_run"]).startswith("https://mlflow.example.com/#/experiments/")
