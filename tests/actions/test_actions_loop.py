"""The exact output of `mlops-gates init`, untouched, runs the whole loop under act.

A fresh repository gets all four starter workflows from `init` and only what a user adds
beside them: requirements.txt, the training command the template names (`train.py`), the
data command it names (`fetch_recent.py`), mlops-gates.yaml and data. The workflow files are
compared with init's output at the end: no hand edits. MLflow is a real `mlops-gates`-free
`mlflow server` on loopback, reached through the one repository variable the docs name
(MLFLOW_TRACKING_URI); GitHub is the OpenAPI-checked double.

The candidate is a registry model, `models:/my-model@challenger` (the tutorial's §10): the
PR workflow gates it, train-promote trains, registers, gates and opens the promotion pull
request, deploy moves `production` to the manifest's version, monitor judges recent data.
The local-model-file case is test_actions.py's train-promote test.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from act_harness import Act, git, git_repo, requirements_with_trainlib
from github_double import GitHubDouble
from mlflow_server import MlflowServer

from mlops_gates.init import WORKFLOWS, init_repository
from mlops_gates.promote.manifest import parse_manifest

# The act harness's fixtures (`act`, once per session, and `gh`).
pytest_plugins = ["act_fixtures"]

MODEL = "my-model"  # the name train-promote's template promotes; the user keeps it here

TRAIN = """\
import os

import mlflow
import pandas as pd
import trainlib  # installed from requirements.txt, before this step
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

train = pd.read_parquet("data/train.parquet")
model = LogisticRegression().fit(train[trainlib.FEATURES], train["label"])
# MLFLOW_TRACKING_URI comes from the repository variable, through the job's env:.
with mlflow.start_run(run_name="train my-model"):
    info = mlflow.sklearn.log_model(
        model, name="model", registered_model_name="my-model", pip_requirements=["scikit-learn"]
    )
version = str(info.registered_model_version)
MlflowClient().set_registered_model_alias("my-model", "challenger", version)
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    out.write(f"model-version={version}\\n")
print("registered my-model version", version)
"""

FETCH = "import shutil\nshutil.copy('prediction-log.parquet', 'recent.parquet')\n"

CONFIG: dict[str, Any] = {
    "version": 1,
    "data": {"path": "data/eval.parquet"},
    "task": {"type": "binary", "label": "label", "positive_label": 1},
    "candidate": {"model": f"models:/{MODEL}@challenger"},
    "gates": [{"id": "accuracy", "kind": "metric", "metric": "accuracy", "min": 0.7}],
}


def frame(n: int, seed: int) -> pd.DataFrame:
    """Two features and a label they predict well (accuracy about 0.9)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 2))
    y = (x[:, 0] + x[:, 1] + rng.normal(0, 0.4, n) > 0).astype(int)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "label": y})


def user_repository(path: Path) -> dict[Path, str]:
    """init's four workflows and what the user adds; returns init's files as written."""
    path.mkdir()
    written = init_repository(path, workflows=list(WORKFLOWS), default_branch="main")
    generated = {p: p.read_text() for p in written if p.suffix == ".yml"}
    (path / "mlops-gates.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    requirements_with_trainlib(path)
    (path / "train.py").write_text(TRAIN)
    (path / "fetch_recent.py").write_text(FETCH)
    (path / "data").mkdir()
    frame(800, 1).to_parquet(path / "data/train.parquet", index=False)
    frame(400, 2).to_parquet(path / "data/eval.parquet", index=False)
    recent = frame(600, 3)
    ago = pd.to_timedelta(np.random.default_rng(4).uniform(0, 5 * 86400, 600), unit="s")
    recent["timestamp"] = pd.Timestamp.now(tz="UTC") - ago
    recent.to_parquet(path / "prediction-log.parquet", index=False)
    git_repo(path, "https://github.com/acme/models.git")
    return generated


def test_untouched_init_output_runs_the_loop_with_a_registry_model(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    registry = MlflowClient(mlflow_server.url, mlflow_server.url)
    repo = tmp_path / "loop"
    generated = user_repository(repo)
    secrets = {"GITHUB_TOKEN": gh.token}
    variables = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    # Tracking on (the harness turns it off to save time): deploy reads the gates verdict
    # the gates run recorded on the model version.
    env = {"GITHUB_API_URL": gh.base_url, "MLOPS_GATES_TRACKING": ""}

    def run(workflow: str, event_name: str, **kw: Any) -> Any:
        # Artifacts live for one workflow run, as on GitHub.
        shutil.rmtree(act.work / f"artifacts-{repo.name}", ignore_errors=True)
        return act.run(
            repo,
            f".github/workflows/{WORKFLOWS[workflow]}",
            event_name,
            secrets=secrets,
            variables=variables,
            env=env,
            **kw,
        )

    # 1. train-promote: requirements, training (registers v1 as @challenger), gates, PR.
    trained = run("train-promote", "workflow_dispatch")
    assert trained.returncode == 0, trained.log()
    assert trained.jobs() == {"train": "success", "promote": "success"}, trained.log()
    assert trained.annotations("warning", "train") == [], "requirements.txt was found"
    version = trained.outputs("train")["model-version"]
    assert registry.get_model_version_by_alias(MODEL, "challenger").version == version
    [pr] = gh.open_pulls()
    assert pr.head == f"mlops-gates/promote/{MODEL}/{version}"
    manifest = gh.repo.file(pr.head, f"deploy/{MODEL}.yaml")
    assert manifest is not None
    assert parse_manifest(manifest.decode())["model"]["uri"] == f"models:/{MODEL}/{version}"
    tags = registry.get_model_version(MODEL, version).tags
    assert tags["mlops_gates.status"] == "pass", tags
    # MLflow links and a pinned reproduce command, although the promote job has no MLflow
    # settings: they come from report.json.
    model_link = f"{mlflow_server.url}/#/models/{MODEL}/versions/{version}"
    assert pr.body is not None and f"[model version]({model_link})" in pr.body
    assert f"--candidate models:/{MODEL}/{version}" in pr.body
    [summary, *_] = trained.summaries("train")
    assert f"MLflow: [model {MODEL} version {version}]({model_link})" in summary

    # 2. The promotion pull request is merged: deploy moves `production` to the version.
    number = pr.number
    (repo / "deploy").mkdir()
    (repo / "deploy" / f"{MODEL}.yaml").write_bytes(manifest)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"Promote {MODEL} {version} to production (#{number})")
    deployed = run("deploy", "push")
    assert deployed.returncode == 0 and deployed.jobs() == {"deploy": "success"}, deployed.log()
    assert deployed.outputs("deploy")["status"] == "deployed"
    assert registry.get_model_version_by_alias(MODEL, "production").version == version

    # 3. A pull request gates the registry candidate with the same settings. (Run before
    # the merge, its gates run would replace the version's mlops_gates.report_run_id, and
    # deploy would refuse the manifest promoted from the training run's report.)
    gated = run("pr", "pull_request", event={"pull_request": {"number": number}})
    assert gated.returncode == 0 and gated.jobs() == {"gates": "success"}, gated.log()
    assert gated.outputs("gates")["status"] == "pass"
    [comment] = gh.repo.comments.values()
    assert f"MLflow: [model {MODEL} version {version}]({model_link})" in comment.body

    # 4. Monitoring judges the recent, healthy data: no issue.
    monitored = run("monitor", "schedule")
    assert monitored.returncode == 0, monitored.log()
    assert monitored.jobs() == {"monitor": "success", "alert": "success"}, monitored.log()
    assert monitored.outputs("monitor")["retrain"] == "false"
    assert gh.issues() == []

    # Untouched: the workflow files are init's output, byte for byte.
    for path, text in generated.items():
        assert path.read_text() == text, f"{path.name} was edited"
