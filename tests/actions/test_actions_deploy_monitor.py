"""The deploy and monitor starter workflows, run by act on a fixture repository written by
`mlops-gates init` (the harness is tests/act_harness.py: stand-ins, the project copy, job
environments from the test environment; the GitHub double is reached through GITHUB_API_URL
and a GITHUB_TOKEN secret).

deploy moves the alias on a real `mlflow server` (read back through MlflowClient) and
records a GitHub deployment on the double; a failing smoke check moves the alias back and
fails the job. monitor judges the recent data and keeps one issue on the double: none while
healthy, one opened on drift, closed once healthy again.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from act_harness import Act, ActRun, git, git_repo
from github_double import GitHubDouble
from github_double.state import Commit, Pull
from mlflow_server import MlflowServer

from mlops_gates.alerts.alert import marker
from mlops_gates.init import init_repository
from mlops_gates.promote.manifest import dump_manifest

# The act harness's fixtures (`act`, once per session, and `gh`).
pytest_plugins = ["act_fixtures"]

DEPLOY_WORKFLOW = ".github/workflows/mlops-deploy.yml"
MONITOR_WORKFLOW = ".github/workflows/mlops-monitor.yml"
DIGEST = "sha256:" + "c" * 64


# -- deploy -----------------------------------------------------------------------------


class Registry:
    """A registered model on the test server: version 1 live, version 2 gated and merged."""

    def __init__(self, url: str) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(url, url)
        self.name = f"act-deployed-{uuid.uuid4().hex[:8]}"
        self.client.create_registered_model(self.name)
        experiment = self.client.create_experiment(f"gates-{self.name}")
        self.runs: dict[str, str] = {}
        for _ in range(2):
            mv = self.client.create_model_version(self.name, source=f"s3://models/{self.name}")
            # A passing gates run, and what it records on the version (mlops_gates.tracking).
            run = self.client.create_run(experiment, tags={"mlops_gates.status": "pass"})
            self.client.set_terminated(run.info.run_id, "FINISHED")
            self.runs[str(mv.version)] = run.info.run_id
            for key, value in (
                ("mlops_gates.status", "pass"),
                ("mlops_gates.config_digest", DIGEST),
                ("mlops_gates.report_run_id", run.info.run_id),
            ):
                self.client.set_model_version_tag(self.name, mv.version, key, value)
        self.client.set_registered_model_alias(self.name, "production", "1")

    def alias(self) -> str:
        return str(self.client.get_registered_model(self.name).aliases["production"])

    def manifest(self, version: str) -> str:
        return dump_manifest(
            {
                "schema_version": 1,
                "model": {
                    "name": self.name,
                    "version": version,
                    "uri": f"models:/{self.name}/{version}",
                },
                "alias": "production",
                "mlflow": {"training_run_id": None, "gates_run_id": self.runs[version]},
                "digests": {"config": DIGEST, "data": DIGEST, "code": None},
                "gates": {"status": "pass", "report_started_at": "2026-11-01T00:00:00Z"},
                "promoted_at": "2026-11-01T00:00:00Z",
            }
        )


def _deploy_repo(path: Path, registry: Registry, smoke: str) -> tuple[Path, str]:
    """The default branch right after the promotion pull request merged: the workflow with
    the user's smoke command filled in, the smoke script, deploy/<model>.yaml for version 2."""
    path.mkdir()
    [workflow] = init_repository(path, workflows=["deploy"], config=False, default_branch="main")
    text = workflow.read_text()
    assert 'smoke-command: ""' in text
    workflow.write_text(text.replace('smoke-command: ""', "smoke-command: python smoke.py"))
    (path / "smoke.py").write_text(smoke)
    (path / "deploy").mkdir()
    (path / "deploy" / f"{registry.name}.yaml").write_text(registry.manifest("2"))
    git_repo(path, "https://github.com/acme/models.git")
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    return path, sha


def _merged_on_the_double(gh: GitHubDouble, sha: str) -> int:
    """The double learns the merge commit act deploys, and the pull request it merged."""
    r = gh.repo
    r.commits[sha] = Commit(sha, {}, [r.refs["refs/heads/main"]], "Merge promotion")
    now = r.clock.tick()
    number = r.next_issue_number()
    r.pulls[number] = Pull(
        number=number,
        title="Promote to production",
        body=None,
        head="mlops-gates/promote/x/2",
        base="main",
        user="mlops-bot",
        draft=False,
        created_at=now,
        updated_at=now,
        head_sha=sha,
        state="closed",
        closed_at=now,
        merged_at=now,
        merge_commit_sha=sha,
    )
    return number


SMOKE_OK = (
    "import os\n"
    "assert os.environ['MODEL_VERSION'] == '2', os.environ['MODEL_VERSION']\n"
    "assert os.environ['MODEL_URI'].startswith('models:/')\n"
    "print('smoke check passed for', os.environ['MODEL_URI'])\n"
)
SMOKE_FAILS = "import sys\nprint('the model answers 500')\nsys.exit(3)\n"


def _run_deploy(act: Act, gh: GitHubDouble, server: MlflowServer, repo: Path) -> ActRun:
    return act.run(
        repo,
        DEPLOY_WORKFLOW,
        "push",
        secrets={"GITHUB_TOKEN": gh.token},
        variables={"MLFLOW_TRACKING_URI": server.url},  # the one setting every workflow reads
        env={"GITHUB_API_URL": gh.base_url},
    )


def test_deploy_workflow_moves_the_alias(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    registry = Registry(mlflow_server.url)
    repo, sha = _deploy_repo(tmp_path / "deploying", registry, SMOKE_OK)
    pr = _merged_on_the_double(gh, sha)
    run = _run_deploy(act, gh, mlflow_server, repo)

    assert run.returncode == 0 and run.jobs() == {"deploy": "success"}, run.log()
    assert registry.alias() == "2"
    tags = registry.client.get_model_version(registry.name, "2").tags
    assert tags["mlops_gates.deploy.production.git_sha"] == sha
    assert tags["mlops_gates.deploy.production.pr"] == str(pr)
    outputs = run.outputs("deploy")
    assert (outputs["status"], outputs["model-version"], outputs["previous-version"]) == (
        "deployed",
        "2",
        "1",
    )
    assert any("deployed version 2 (was 1)" in s for s in run.summaries("deploy"))
    assert "smoke check passed for models:/" in run.log()
    [deployment] = gh.deployments()
    assert deployment.sha == sha and deployment.environment == "production"
    assert deployment.payload["version"] == "2" and deployment.payload["pr"] == pr
    assert deployment.statuses[-1].state == "success"


def test_reverting_the_promotion_deploys_the_earlier_version(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """The GitOps rollback: the revert's merge changes the manifest back, and the same
    workflow moves the alias back, through the same checks."""
    registry = Registry(mlflow_server.url)
    registry.client.set_registered_model_alias(registry.name, "production", "2")
    smoke = "import os\nprint('smoke check of version', os.environ['MODEL_VERSION'])\n"
    repo, _ = _deploy_repo(tmp_path / "reverting", registry, smoke)
    (repo / "deploy" / f"{registry.name}.yaml").write_text(registry.manifest("1"))
    git(repo, "commit", "-q", "-am", 'Revert "Promote to production"')
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    _merged_on_the_double(gh, sha)
    run = _run_deploy(act, gh, mlflow_server, repo)

    assert run.returncode == 0 and run.jobs() == {"deploy": "success"}, run.log()
    assert registry.alias() == "1"
    outputs = run.outputs("deploy")
    assert (outputs["status"], outputs["model-version"], outputs["previous-version"]) == (
        "deployed",
        "1",
        "2",
    )
    assert "smoke check of version 1" in run.log()


def test_deploy_workflow_rolls_back_when_the_smoke_check_fails(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    registry = Registry(mlflow_server.url)
    repo, sha = _deploy_repo(tmp_path / "rolling-back", registry, SMOKE_FAILS)
    _merged_on_the_double(gh, sha)
    run = _run_deploy(act, gh, mlflow_server, repo)

    assert run.returncode != 0 and run.jobs() == {"deploy": "failure"}, run.log()
    assert registry.alias() == "1", "the alias is back on the version that was live"
    outputs = run.outputs("deploy")
    assert outputs["status"] == "rolled_back" and outputs["model-version"] == "1"
    assert any("rolled back to version 1" in s for s in run.summaries("deploy"))
    assert "the model answers 500" in run.log()
    [deployment] = gh.deployments()
    assert deployment.statuses[-1].state in ("failure", "error")


# -- monitor ----------------------------------------------------------------------------


def _logged(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """n predictions logged over the last 5 days, labels arrived; `x` shifted by `shift`."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.5 + rng.normal(0.25, 0.2, n), 0, 1)
    ago = pd.to_timedelta(rng.uniform(0, 5 * 86400, n), unit="s")
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp.now(tz="UTC") - ago,
            "y": y.astype(float),
            "pred": (score >= 0.5).astype(int),
            "score": score,
            "x": rng.normal(shift, 1, n),
            "z": rng.normal(0, 1, n),
        }
    )


MONITOR_CONFIG: dict[str, Any] = {
    "version": 1,
    "data": {"path": "recent.parquet"},
    "task": {"type": "binary", "label": "y"},
    "candidate": {"predictions": "pred", "scores": "score"},
    "gates": [
        {"id": "drift", "kind": "drift", "reference": "reference.parquet", "features": ["x", "z"]},
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7},
    ],
}
# The user's data step (the template runs `python fetch_recent.py`): here, a copy of the
# prediction log the test commits.
FETCH = "import shutil\nshutil.copy('prediction-log.parquet', 'recent.parquet')\n"


def _monitor_repo(path: Path) -> Path:
    path.mkdir()
    init_repository(path, workflows=["monitor"], config=False, default_branch="main")
    (path / "mlops-gates.yaml").write_text(yaml.safe_dump(MONITOR_CONFIG, sort_keys=False))
    _logged(3000, 1).drop(columns=["timestamp"]).to_parquet(path / "reference.parquet")
    (path / "fetch_recent.py").write_text(FETCH)
    _logged(1500, 2).to_parquet(path / "prediction-log.parquet", index=False)
    git_repo(path, "https://github.com/acme/models.git")
    return path


def _log_shifts(repo: Path, shift: float, seed: int) -> None:
    _logged(1500, seed, shift=shift).to_parquet(repo / "prediction-log.parquet", index=False)
    git(repo, "commit", "-q", "-am", f"prediction log, x shifted by {shift}")


def _run_monitor(act: Act, gh: GitHubDouble, repo: Path, tracking: str | None = None) -> ActRun:
    shutil.rmtree(act.work / f"artifacts-{repo.name}", ignore_errors=True)  # a fresh run
    return act.run(
        repo,
        MONITOR_WORKFLOW,
        "schedule",
        secrets={"GITHUB_TOKEN": gh.token},
        variables={"MLFLOW_TRACKING_URI": tracking} if tracking else None,
        env={"GITHUB_API_URL": gh.base_url},
    )


def test_monitor_workflow_keeps_one_issue(act: Act, gh: GitHubDouble, tmp_path: Path) -> None:
    repo = _monitor_repo(tmp_path / "monitored")

    healthy = _run_monitor(act, gh, repo)
    assert healthy.returncode == 0, healthy.log()
    assert healthy.jobs() == {"monitor": "success", "alert": "success"}
    assert healthy.outputs("monitor")["retrain"] == "false"
    assert gh.issues() == [] and {r.method for r in gh.requests} == {"GET"}

    _log_shifts(repo, 1.5, seed=3)
    drifted = _run_monitor(act, gh, repo)
    assert drifted.returncode == 0, drifted.log()
    assert drifted.jobs() == {"monitor": "success", "alert": "success"}
    assert drifted.outputs("monitor")["retrain"] == "true"
    [issue] = gh.issues()
    assert issue.state == "open" and issue.labels == ["model-monitoring"]
    assert issue.body is not None and issue.body.startswith(marker("default"))
    # As GitHub renders it: the body escapes Markdown ("drift\\[feature=x\\]").
    assert "drift[feature=x]" in re.sub(r"\\(.)", r"\1", issue.body)
    alert = drifted.outputs("alert")
    assert alert["issue-number"] == str(issue.number) and alert["dispatched"] == "false"
    [summary, *_] = drifted.summaries("monitor")
    assert "FAIL" in summary

    _log_shifts(repo, 0.0, seed=4)
    recovered = _run_monitor(act, gh, repo)
    assert recovered.returncode == 0, recovered.log()
    [issue] = gh.issues()
    assert issue.state == "closed" and issue.state_reason == "completed"


def test_monitor_workflow_dispatches_retraining(act: Act, gh: GitHubDouble, tmp_path: Path) -> None:
    """The user's choice of retraining over (here: besides) the issue: dispatch-workflow."""
    repo = _monitor_repo(tmp_path / "retraining")
    init_repository(repo, workflows=["train-promote"], config=False, default_branch="main")
    workflow = repo / MONITOR_WORKFLOW
    text = workflow.read_text()
    workflow.write_text(
        text.replace('dispatch-workflow: ""', "dispatch-workflow: mlops-train-promote.yml")
    )
    _log_shifts(repo, 1.5, seed=5)  # commits the edited monitor workflow too (-a)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "train-promote")
    # The double's default branch holds the workflow GitHub would dispatch.
    train = (repo / ".github/workflows/mlops-train-promote.yml").read_bytes()
    gh.repo.commit("main", {".github/workflows/mlops-train-promote.yml": train}, "workflows")

    run = _run_monitor(act, gh, repo)
    assert run.returncode == 0, run.log()
    [dispatch] = gh.repo.dispatches
    assert (dispatch.workflow, dispatch.ref) == ("mlops-train-promote.yml", "main")
    assert run.outputs("alert")["dispatched"] == "true"
    assert len(gh.issues()) == 1


def test_monitor_workflow_extends_the_sequence_kept_in_mlflow(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """`monitor.guarantee: anytime` with the starter workflow as written: its read-only
    monitor job keeps the running counts in MLflow, so the second scheduled run extends the
    first instead of starting over."""
    from mlflow import MlflowClient

    repo = _monitor_repo(tmp_path / "sequenced")
    experiment = f"act-monitor-{uuid.uuid4().hex[:8]}"
    config = {**MONITOR_CONFIG, "monitor": {"guarantee": "anytime", "experiment": experiment}}
    (repo / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(repo, "commit", "-q", "-am", "anytime-valid monitoring")

    first = _run_monitor(act, gh, repo, tracking=mlflow_server.url)
    assert first.returncode == 0, first.log()
    assert first.jobs() == {"monitor": "success", "alert": "success"}
    assert "no monitor state yet; the sequence starts with this run" in first.log()

    # A day later the log holds 400 more rows, newer than every row counted so far.
    log = pd.read_parquet(repo / "prediction-log.parquet")
    newer = _logged(400, 6)
    newer["timestamp"] = pd.Timestamp.now(tz="UTC")
    pd.concat([log, newer]).to_parquet(repo / "prediction-log.parquet", index=False)
    git(repo, "commit", "-q", "-am", "one more day of predictions")
    second = _run_monitor(act, gh, repo, tracking=mlflow_server.url)
    assert second.returncode == 0, second.log()
    assert "anytime-valid over 2 run(s)" in second.log()

    c = MlflowClient(mlflow_server.url, mlflow_server.url)
    [run] = c.search_runs([c.get_experiment_by_name(experiment).experiment_id])
    assert run.data.tags["mlops_gates.monitor.runs"] == "2"
    local = c.download_artifacts(
        run.info.run_id, run.data.tags["mlops_gates.monitor.head"], str(tmp_path)
    )
    both = pd.concat([log, newer])
    assert json.loads(Path(local).read_text())["streams"]["acc"] == {
        "n": len(both),
        "hits": int((both.y == both.pred).sum()),
    }
    assert gh.issues() == []
