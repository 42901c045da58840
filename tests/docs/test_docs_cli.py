"""Every `mlops-gates ...` command line shown in the docs parses with the real parser, so a
renamed or removed option cannot linger in a page."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mlops_gates.cli import build_parser

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _command_lines() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, re.S):
            # Join continued lines, then keep the lines that run mlops-gates.
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("mlops-gates ") and "<" not in line:
                    found.append((f"{page.relative_to(ROOT)}: {line}", line))
    return found


LINES = _command_lines()


def test_the_docs_show_the_deploy_and_monitor_commands() -> None:
    shown = {line.split()[1] for _, line in LINES}
    assert {"check", "deploy", "rollback", "status", "monitor", "promote"} <= shown


@pytest.mark.parametrize(("where", "line"), LINES, ids=[w[:60] for w, _ in LINES])
def test_command_lines_in_the_docs_parse(where: str, line: str) -> None:
    words = shlex.split(line.split(" | ")[0].split(" && ")[0].split(" > ")[0], comments=True)
    parser = build_parser()
    try:
        args = parser.parse_args(words[1:])
    except SystemExit as exc:
        if exc.code != 0:  # --help / --version exit 0
            pytest.fail(f"{where}: does not parse with the current CLI")
        return
    assert hasattr(args, "func") or getattr(args, "version", False), where
