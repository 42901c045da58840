"""The starter workflows and the composite actions, run by a local Actions runner.

act runs each workflow in host mode on a fixture repository written by `mlops-gates init`,
exactly as a user would commit it (the harness, shared with test_actions_deploy_monitor.py,
is tests/act_harness.py: the project copy the actions install from, stand-ins for pinned
third-party actions, job environments built from the test environment). GitHub is the
OpenAPI-checked double of tests/github_double/. act ignores `on:` filters, so triggers have
their own tests in test_actions_structure.py.
"""

from __future__ import annotations

import json
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from act_harness import Act, git, git_repo, requirements_with_trainlib, site_dirs, standins
from github_double import GitHubDouble
from github_double.state import Pull
from helpers import base_config, binary_frame, validate_report

from mlops_gates.init import init_repository
from mlops_gates.promote.manifest import parse_manifest

# The act harness's fixtures (`act`, once per session, and `gh`).
pytest_plugins = ["act_fixtures"]

PASSING_GATES = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7, "slices": ["sex"]},
    {"id": "auc-high", "kind": "metric", "metric": "roc_auc", "min": 0.99, "severity": "warn"},
]
FAILING_GATES = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99, "slices": ["sex"]},
]


# What the setup-python stand-in gives a job, told back through a step output.
_PROBE = """\
import json, os, sys, sysconfig, pip, setuptools
seen = {
    "prefix": sys.prefix,
    "path": sys.path,
    "purelib": sysconfig.get_path("purelib"),
    "setuptools": [setuptools.__version__, setuptools.__file__],
    "pip": pip.__file__,
}
with open(os.environ["GITHUB_OUTPUT"], "a") as f:
    f.write("seen=" + json.dumps(seen) + "\\n")
"""


def test_jobs_see_the_test_environment_never_the_base_interpreter(act: Act, tmp_path: Path) -> None:
    """A job's Python is a venv of its own whose other packages are this test
    environment's: the build backend and pip come from here, the base interpreter's
    site-packages (setuptools 65 on a stock 3.11) stay out unless they are ours."""
    [ref] = {r for r in standins() if r.startswith("actions/setup-python@")}
    repo = tmp_path / "probe"
    (repo / ".github" / "workflows").mkdir(parents=True)
    workflow = {
        "on": "push",
        "jobs": {
            "probe": {
                "runs-on": "ubuntu-latest",
                "steps": [
                    {"uses": ref},
                    {"shell": "bash", "run": f"python - <<'PY'\n{_PROBE}PY\n"},
                ],
            }
        },
    }
    (repo / ".github/workflows/probe.yml").write_text(yaml.safe_dump(workflow))
    git_repo(repo, "https://github.com/acme/models.git")
    run = act.run(repo, ".github/workflows/probe.yml", "push")

    assert run.returncode == 0 and run.jobs() == {"probe": "success"}, run.log()
    seen = json.loads(run.outputs("probe")["seen"])
    ours = site_dirs()
    assert seen["prefix"] != sys.prefix and seen["prefix"].startswith(str(act.work))
    # The job's own site-packages first (installs land and win there), then ours.
    job_sites = [p for p in seen["path"] if p.endswith(("site-packages", "dist-packages"))]
    assert job_sites == [seen["purelib"], *ours], seen["path"]
    base = sysconfig.get_path("purelib", vars={"base": sys.base_prefix})
    assert base in ours or base not in seen["path"]
    assert seen["setuptools"][0] == version("setuptools")
    assert any(seen["setuptools"][1].startswith(d) for d in ours), seen["setuptools"]
    assert any(seen["pip"].startswith(d) for d in ours), seen["pip"]


def _user_repo(path: Path, gates: list[dict[str, Any]], *workflows: str) -> Path:
    """What a user commits after `mlops-gates init`: the workflows, their config, data."""
    path.mkdir()
    init_repository(path, workflows=workflows, default_branch="main")
    binary_frame().to_csv(path / "eval.csv", index=False)
    config = base_config(gates=gates)
    (path / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git_repo(path, "https://github.com/acme/models.git")
    return path


def _open_user_pull(gh: GitHubDouble) -> int:
    """A pull request someone opened on the double, for the sticky comment."""
    r = gh.repo
    head = r.commit("feature", {"train.py": b"print('better model')\n"}, "a better model")
    now = r.clock.tick()
    number = r.next_issue_number()
    r.pulls[number] = Pull(
        number=number,
        title="A better model",
        body=None,
        head="feature",
        base="main",
        user="alice",
        draft=False,
        created_at=now,
        updated_at=now,
        head_sha=head.sha,
    )
    return number


def _github(gh: GitHubDouble) -> tuple[dict[str, str], dict[str, str]]:
    return {"GITHUB_TOKEN": gh.token}, {"GITHUB_API_URL": gh.base_url}


def _line_of(repo: Path, gate_id: str) -> str:
    lines = (repo / "mlops-gates.yaml").read_text().splitlines()
    return str(next(i for i, line in enumerate(lines, 1) if line.strip() == f"- id: {gate_id}"))


PR_WORKFLOW = ".github/workflows/mlops-gates-pr.yml"
TRAIN_WORKFLOW = ".github/workflows/mlops-train-promote.yml"


def test_pr_workflow_passes(act: Act, gh: GitHubDouble, tmp_path: Path) -> None:
    repo = _user_repo(tmp_path / "passing", PASSING_GATES, "pr")
    number = _open_user_pull(gh)
    secrets, env = _github(gh)
    env["MLOPS_GATES_TRACKING"] = ""  # the default: track (to a local store)
    head, base = gh.head_sha(number), gh.repo.refs["refs/heads/main"]
    event = {
        "pull_request": {
            "number": number,
            "head": {"ref": "feature", "sha": head, "repo": {"full_name": "acme/models"}},
            "base": {"ref": "main", "sha": base},
        }
    }
    run = act.run(repo, PR_WORKFLOW, "pull_request", event=event, secrets=secrets, env=env)

    assert run.returncode == 0 and run.jobs() == {"gates": "success"}, run.log()
    assert run.annotations("error") == []
    [warning] = run.annotations("warning")
    assert warning["file"] == "mlops-gates.yaml" and warning["line"] == _line_of(repo, "auc-high")
    assert warning["title"] == "mlops-gates: auc-high warning"
    assert "below the minimum 0.99" in warning["message"]
    [summary] = run.summaries()
    assert summary.startswith("## ✅ mlops-gates: PASS") and "auc-high" in summary
    assert run.outputs()["status"] == "pass"
    report = json.loads((act.work / "artifacts-passing/mlops-gates-report/report.json").read_text())
    validate_report(report)
    run_id = (report["context"].get("mlflow") or {}).get("run_id") or ""
    assert run.outputs()["mlflow-run-id"] == run_id
    [comment] = gh.repo.comments.values()
    # Keyed by the config path, relative to the workspace (stable across runners).
    marker = "<!-- mlops-gates:report key=mlops-gates.yaml -->\n"
    assert comment.issue == number and comment.body.startswith(marker)
    assert "mlops-gates: PASS" in comment.body
    # A change that promotes nothing gets the required promotion check from this workflow.
    status = gh.status(head, "mlops-gates/promotion")
    assert status is not None and status.state == "success", run.log()
    assert status.description == "no model promotion: deploy/ unchanged"


def test_pr_workflow_on_a_merge_group(act: Act, gh: GitHubDouble, tmp_path: Path) -> None:
    """A merge queue's event has no pull request number: the gates run on the merge-group
    commit, nothing is commented, and the group gets its promotion check."""
    repo = _user_repo(tmp_path / "queued", PASSING_GATES, "pr")
    number = _open_user_pull(gh)
    base = gh.repo.refs["refs/heads/main"]
    ref = f"gh-readonly-queue/main/pr-{number}-{gh.head_sha(number)}"
    gh.repo.refs[f"refs/heads/{ref}"] = base
    group = gh.repo.commit(ref, {"train.py": b"print('better model')\n"}, "merge group")
    secrets, env = _github(gh)
    event = {
        "merge_group": {"head_sha": group.sha, "base_sha": base, "head_ref": f"refs/heads/{ref}"}
    }
    run = act.run(repo, PR_WORKFLOW, "merge_group", event=event, secrets=secrets, env=env)

    assert run.returncode == 0 and run.jobs() == {"gates": "success"}, run.log()
    assert run.outputs()["status"] == "pass"
    assert gh.repo.comments == {}
    status = gh.status(group.sha, "mlops-gates/promotion")
    assert status is not None and status.state == "success", run.log()


def test_pr_workflow_fails_with_one_annotation_per_failing_gate(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    repo = _user_repo(tmp_path / "failing", FAILING_GATES, "pr")
    number = _open_user_pull(gh)
    secrets, env = _github(gh)
    event = {"pull_request": {"number": number}}
    run = act.run(repo, PR_WORKFLOW, "pull_request", event=event, secrets=secrets, env=env)

    assert run.returncode != 0 and run.jobs() == {"gates": "failure"}, run.log()
    errors = run.annotations("error")
    assert [e["title"] for e in errors] == [
        "mlops-gates: acc failed",
        "mlops-gates: acc[sex=F] failed",
        "mlops-gates: acc[sex=M] failed",
    ]
    assert {e["file"] for e in errors} == {"mlops-gates.yaml"}
    assert {e["line"] for e in errors} == {_line_of(repo, "acc")}
    assert all("below the minimum 0.99" in e["message"] for e in errors)
    [summary] = run.summaries()
    assert summary.startswith("## ❌ mlops-gates: FAIL")
    assert run.step_exit("Verdict") == "exit status 1", run.log()
    # The evidence is published before the verdict fails the job.
    [comment] = gh.repo.comments.values()
    assert "mlops-gates: FAIL" in comment.body
    report = json.loads((act.work / "artifacts-failing/mlops-gates-report/report.json").read_text())
    assert report["status"] == "fail"


# The user's training command (the template runs `python train.py`): it imports its own
# package from requirements.txt, writes the model file mlops-gates.yaml names, and tells
# the promote job the version it will be registered as.
TRAIN_LOCAL = """\
import os

import numpy as np
import pandas as pd
import trainlib  # installed from requirements.txt, before this step
from skops.io import dump
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(0)
train = pd.DataFrame(rng.normal(0, 1, (600, 2)), columns=trainlib.FEATURES)
y = (train.x1 + train.x2 + rng.normal(0, 0.4, 600) > 0).astype(int)
dump(LogisticRegression().fit(train, y), "models/candidate.skops")
with open(os.environ["GITHUB_OUTPUT"], "a") as f:
    f.write("model-version=7\\n")
"""


def test_train_promote_opens_the_promotion_pull_request(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    """The untouched template with a local model file: requirements first, then training,
    which writes the file the gates judge; then the promotion pull request."""
    repo = tmp_path / "training"
    repo.mkdir()
    [workflow] = init_repository(
        repo, workflows=["train-promote"], config=False, default_branch="main"
    )
    generated = workflow.read_text()
    requirements_with_trainlib(repo)
    (repo / "train.py").write_text(TRAIN_LOCAL)
    (repo / "models").mkdir()
    (repo / "models" / ".gitkeep").write_text("")
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(0, 1, (400, 2)), columns=["x1", "x2"])
    data["y"] = (data.x1 + data.x2 + rng.normal(0, 0.4, 400) > 0).astype(int)
    data["sex"] = rng.choice(["F", "M"], 400)
    data.to_csv(repo / "eval.csv", index=False)
    config = base_config(gates=PASSING_GATES, candidate={"model": "models/candidate.skops"})
    del config["baseline"]
    (repo / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git_repo(repo, "https://github.com/acme/models.git")
    secrets, env = _github(gh)
    run = act.run(repo, TRAIN_WORKFLOW, "workflow_dispatch", secrets=secrets, env=env)

    assert run.returncode == 0, run.log()
    assert run.jobs() == {"train": "success", "promote": "success"}, run.log()
    warnings = [w["message"] for w in run.annotations("warning", "train")]
    assert not any("requirements.txt" in w for w in warnings), warnings
    [pr] = gh.open_pulls()
    assert pr.head == "mlops-gates/promote/my-model/7" and pr.base == "main"
    assert pr.labels == ["model-promotion"]
    manifest = gh.repo.file(pr.head, "deploy/my-model.yaml")
    assert manifest is not None
    assert parse_manifest(manifest.decode())["model"]["version"] == "7"
    outputs = run.outputs("promote")
    assert outputs["pr-number"] == str(pr.number)
    assert outputs["pr-url"].startswith(gh.root) and outputs["pr-url"].endswith(f"/{pr.number}")
    # The gates judged the file training wrote, and the body names it by digest.
    report = json.loads(
        (act.work / "artifacts-training/mlops-gates-report/report.json").read_text()
    )
    candidate = report["context"]["models"]["candidate"]
    assert candidate["source"] == "file" and candidate["path"].endswith("models/candidate.skops")
    assert pr.body is not None and candidate["digest"].removeprefix("sha256:") in pr.body
    assert workflow.read_text() == generated, "the workflow is init's output, untouched"


def test_train_promote_promotes_nothing_when_a_gate_fails(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    repo = tmp_path / "rejected"
    _user_repo(repo, FAILING_GATES, "train-promote")
    (repo / "train.py").write_text("print('trained')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "training script")
    secrets, env = _github(gh)
    run = act.run(repo, TRAIN_WORKFLOW, "schedule", secrets=secrets, env=env)

    assert run.returncode != 0
    assert run.jobs() == {"train": "failure"}, run.log()  # promote is skipped, not run
    assert len(run.annotations("error", "train")) == 3
    # No requirements.txt here: the job says that training ran with bare Python.
    warnings = [w["message"] for w in run.annotations("warning", "train")]
    assert any(w.startswith("no requirements.txt") for w in warnings), warnings
    assert gh.requests == [], "a rejected candidate never talks to GitHub"


def test_actions_self_test_workflow(act: Act) -> None:
    """.github/workflows/actions-selftest.yml, as GitHub would run it on this repository."""
    run = act.run(act.project, ".github/workflows/actions-selftest.yml", "push")
    expected = {"gates", "promote", "deploy", "monitor"}
    jobs = {f"{action}-{fixture}" for action in expected for fixture in ("pass", "fail")}
    assert run.jobs() == dict.fromkeys(jobs, "success"), run.log()
    assert run.returncode == 0
    # The failing fixtures failed inside the actions (the jobs assert that, too).
    assert len(run.annotations("error", "gates-fail")) == 3
    assert len(run.annotations("error", "promote-fail")) == 3
    assert len(run.annotations("error", "monitor-fail")) == 3
    assert "# pull request: Promote selftest-model 1 to production" in run.log()
    assert any("deployed version 2 (was 1)" in s for s in run.summaries("deploy-pass"))
    assert any("rolled back to version 1" in s for s in run.summaries("deploy-fail"))
    assert "selftest-deploy@production -> 1" in run.log()
