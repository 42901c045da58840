"""`mlops-gates init`: a starter mlops-gates.yaml and GitHub workflows, ready to commit.

The workflows are the starter workflows of `workflow-templates/` (shipped as package data
in `mlops_gates/templates/workflows/`; a test keeps the copies identical) with GitHub's
`$default-branch` placeholder filled in and the actions pinned to a ref.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from mlops_gates._version import __version__
from mlops_gates.errors import MlopsGatesError

__all__ = [
    "NEXT_STEPS",
    "InitExists",
    "default_action_ref",
    "detect_default_branch",
    "init_repository",
    "render_workflow",
    "template_text",
]

# Where the actions live; the templates name it and `--action-ref` repins it.
ACTION_REPOSITORY = "mlops-gates/mlops-gates"
WORKFLOWS = {
    "pr": "mlops-gates-pr.yml",
    "train-promote": "mlops-train-promote.yml",
    "deploy": "mlops-deploy.yml",
    "monitor": "mlops-monitor.yml",
}
# What each workflow still needs from its user (printed by `init`; docs/github-actions.md).
NEXT_STEPS = {
    "train-promote": "mlops-train-promote.yml: put your training command in place of "
    "`python train.py` (what it imports goes in requirements.txt) and your model's name in "
    "place of `my-model`; set the repository variable MLFLOW_TRACKING_URI to your MLflow "
    "server (every workflow reads it); to sign each verdict, add an Ed25519 private key "
    "(PEM) as the MLOPS_GATES_SIGNING_KEY secret (docs/attestations.md)",
    "deploy": "mlops-deploy.yml: create the `production` environment (Settings > "
    "Environments) and set `smoke-command`; MLflow comes from the variable "
    "MLFLOW_TRACKING_URI and the MLFLOW_TRACKING_* secrets",
    "monitor": "mlops-monitor.yml: put the command that writes recent.parquet in place of "
    "`python fetch_recent.py`, and create the `model-monitoring` label",
}
CONFIG_NAME = "mlops-gates.yaml"
DEFAULT_BRANCH_PLACEHOLDER = "$default-branch"


class InitExists(MlopsGatesError):
    """A file `init` would write exists already (and --force was not given)."""


def template_text(*parts: str) -> str:
    """A template shipped in the package (mlops_gates/templates/...), as text."""
    return resources.files("mlops_gates").joinpath("templates", *parts).read_text("utf-8")


def default_action_ref() -> str:
    """The actions' tag matching this version: workflows pin what was tested with it."""
    return f"v{__version__}"


def render_workflow(text: str, *, default_branch: str, action_ref: str) -> str:
    """Fill GitHub's `$default-branch` and pin every mlops-gates action to `action_ref`."""
    prefix = f"uses: {ACTION_REPOSITORY}/actions/"
    out = []
    for line in text.replace(DEFAULT_BRANCH_PLACEHOLDER, default_branch).splitlines(True):
        at = line.find(prefix)
        if at >= 0:
            path, _, _ = line[at + len(prefix) :].partition("@")
            line = f"{line[:at]}{prefix}{path}@{action_ref}\n"
        out.append(line)
    return "".join(out)


def detect_default_branch(root: Path) -> str:
    """origin's HEAD, else the checked-out branch, else `main`."""
    for args in (
        ["symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"],
        ["symbolic-ref", "--quiet", "--short", "HEAD"],
    ):
        try:
            proc = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            break  # no git: fall back
        name = proc.stdout.strip()
        if proc.returncode == 0 and name:
            return name.removeprefix("origin/")
    return "main"


def init_repository(
    root: Path | str,
    *,
    workflows: Sequence[str] = ("pr",),
    config: bool = True,
    default_branch: str | None = None,
    action_ref: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the starter files under `root`; returns the paths written.

    Nothing is written when any target exists and `force` is false: a half-initialised
    repository is harder to reason about than a refusal.
    """
    root = Path(root)
    if not root.is_dir():
        raise MlopsGatesError(f"{root}: no such directory; create the repository first")
    unknown = [w for w in workflows if w not in WORKFLOWS]
    if unknown:
        raise MlopsGatesError(
            f"unknown workflow {unknown[0]!r}; valid: {', '.join(sorted(WORKFLOWS))}"
        )
    branch = default_branch or detect_default_branch(root)
    ref = action_ref or default_action_ref()
    files: dict[Path, str] = {}
    if config:
        files[root / CONFIG_NAME] = template_text(CONFIG_NAME)
    for name in dict.fromkeys(workflows):
        text = template_text("workflows", WORKFLOWS[name])
        files[root / ".github" / "workflows" / WORKFLOWS[name]] = render_workflow(
            text, default_branch=branch, action_ref=ref
        )
    existing = [p for p in files if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise InitExists(f"{names}: already there; keep it, or pass --force to overwrite")
    for path, text in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise MlopsGatesError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return list(files)
