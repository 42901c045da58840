"""Workflows, starter workflows and composite actions lint clean, offline, with zero findings:
zizmor (security), actionlint + shellcheck (workflow semantics and shell), check-jsonschema
(GitHub's published schemas, and ours for the .properties.json files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TEMPLATES = sorted((ROOT / "workflow-templates").glob("*.yml"))
ACTIONS = sorted((ROOT / "actions").glob("*/action.yml"))
STANDINS = sorted((ROOT / "tests" / "act_standins").glob("*/action.yml"))
PROPERTIES = sorted((ROOT / "workflow-templates").glob("*.properties.json"))
PROPERTIES_SCHEMA = ROOT / "tests" / "schemas" / "workflow-properties.schema.json"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def _run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    # zizmor goes online when it finds a token, --offline or not: keep tokens away.
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def _rel(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_is_something_to_lint() -> None:
    assert len(WORKFLOWS) >= 2 and len(TEMPLATES) >= 2 and len(ACTIONS) >= 2
    assert len(PROPERTIES) == len(TEMPLATES)


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_finds_nothing(persona: str) -> None:
    # Files, not folders: zizmor collects a folder's .github/workflows only.
    files = _rel(WORKFLOWS + TEMPLATES + ACTIONS)
    proc = _run(
        _tool("zizmor"),
        "--offline",
        "--config",
        ".github/zizmor.yml",
        f"--persona={persona}",
        "--format=plain",
        *files,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_every_disabled_zizmor_rule_says_why() -> None:
    text = (ROOT / ".github" / "zizmor.yml").read_text()
    rules = yaml.safe_load(text)["rules"]
    lines = text.splitlines()
    for rule in rules:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"{rule}:")
        assert lines[at - 1].strip().startswith("#"), f"{rule}: no comment saying why"


def test_actionlint_with_shellcheck_finds_nothing() -> None:
    _tool("shellcheck")  # without it actionlint skips the shell checks silently
    proc = _run(_tool("actionlint"), *_rel(WORKFLOWS + TEMPLATES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_on_the_actions_scripts(tmp_path: Path) -> None:
    """actionlint reads action.yml only to check a workflow's `with:`; the composite steps'
    scripts are shellchecked here, as GitHub runs them (`bash -e -o pipefail`)."""
    shellcheck = _tool("shellcheck")
    scripts = []
    for action in ACTIONS + STANDINS:
        for i, step in enumerate(yaml.safe_load(action.read_text())["runs"]["steps"]):
            assert step.get("shell") == "bash" or "uses" in step, f"{action}: step {i} shell"
            if "run" in step:
                assert "${{" not in step["run"], f"{action}: step {i} interpolates into shell"
                script = tmp_path / f"{action.parent.name}-{i}.sh"
                script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"])
                scripts.append(script)
    proc = _run(shellcheck, "--severity=style", *scripts)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS + TEMPLATES),
        ("vendor.github-actions", ACTIONS + STANDINS),
    ],
    ids=["workflows", "actions"],
)
def test_github_schemas(schema: str, files: list[Path]) -> None:
    proc = _run(_tool("check-jsonschema"), "--builtin-schema", schema, *_rel(files))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_properties_files_match_our_schema() -> None:
    tool = _tool("check-jsonschema")
    meta = _run(tool, "--check-metaschema", PROPERTIES_SCHEMA)
    assert meta.returncode == 0, meta.stdout + meta.stderr
    proc = _run(tool, "--schemafile", PROPERTIES_SCHEMA, *_rel(PROPERTIES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_properties_schema_rejects_what_github_would_not_show(tmp_path: Path) -> None:
    bad = tmp_path / "bad.properties.json"
    bad.write_text('{"name": "x", "description": "", "iconName": "octicon ", "categories": []}')
    proc = _run(_tool("check-jsonschema"), "--schemafile", PROPERTIES_SCHEMA, bad)
    assert proc.returncode == 1
    for field in ("description", "iconName", "categories"):
        assert field in proc.stdout, proc.stdout
