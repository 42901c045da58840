"""docs/github-actions.md stays true: its commands run, every action input and output and
every `init` option is documented, and nothing documented is missing from the actions."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_gates import cli

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "github-actions.md"


def _section(title: str) -> str:
    text = PAGE.read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 1)
    nxt = text.find("\n### ", start + len(title))
    stops = [i for i in (end, nxt) if i != -1]
    return text[start : min(stops) if stops else len(text)]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), re.S)


def test_setup_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    commands = [
        line.split("#")[0].strip()
        for line in _blocks("bash")[0].splitlines()
        if line.startswith("mlops-gates ")
    ]
    assert len(commands) == 3
    for command in commands:
        assert cli.main(shlex.split(command)[1:]) == 0, command
    assert sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir()) == [
        "mlops-deploy.yml",
        "mlops-gates-pr.yml",
        "mlops-monitor.yml",
        "mlops-train-promote.yml",
    ]
    # The page's next commands: the check command is the one the action runs.
    check = _blocks("bash")[1].strip()
    action = (ROOT / "actions" / "gates" / "action.yml").read_text()
    assert (
        check.replace("mlops-gates.yaml", '"$CONFIG"').replace(
            "mlops-gates-report", '"$REPORT_DIR"'
        )
        in action
    )


def test_yaml_snippets_parse() -> None:
    for block in _blocks("yaml"):
        assert isinstance(yaml.safe_load(block), dict)


@pytest.mark.parametrize("action", ["gates", "promote", "deploy", "monitor"])
def test_every_input_and_output_is_documented(action: str) -> None:
    spec = yaml.safe_load((ROOT / "actions" / action / "action.yml").read_text())
    section = _section(f"### `mlops-gates/mlops-gates/actions/{action}`")
    documented = set(re.findall(r"`([a-z]+(?:-[a-z]+)*)`", section))
    for name in [*spec["inputs"], *spec["outputs"]]:
        assert name in documented, f"{action}: {name} is not in docs/github-actions.md"
    rows = set(re.findall(r"^\| `([a-z-]+)`", section, re.M))
    assert rows <= set(spec["inputs"]) | set(spec["outputs"]), "documented but not there"


def test_every_init_option_is_documented() -> None:
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    options = {o for a in sub["init"]._actions for o in a.option_strings if o.startswith("--")}
    text = PAGE.read_text()
    for option in options - {"--help"}:
        assert option in text, f"mlops-gates init {option} is not in docs/github-actions.md"
