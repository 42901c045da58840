"""`mlops-gates init`: what it writes, what it refuses, and that its templates are the
starter workflows of workflow-templates/."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from mlops_gates import __version__, cli
from mlops_gates.config import config_from_dict
from mlops_gates.init import (
    ACTION_REPOSITORY,
    WORKFLOWS,
    InitExists,
    detect_default_branch,
    init_repository,
    render_workflow,
)

ROOT = Path(__file__).parents[2]
PACKAGED = ROOT / "mlops_gates" / "templates"


@pytest.mark.parametrize("name", sorted(WORKFLOWS.values()))
def test_packaged_templates_are_the_starter_workflows(name: str) -> None:
    # workflow-templates/ is canonical (GitHub reads it there); the package ships a copy.
    canonical = (ROOT / "workflow-templates" / name).read_bytes()
    assert (PACKAGED / "workflows" / name).read_bytes() == canonical, (
        f"mlops_gates/templates/workflows/{name} differs from workflow-templates/{name}: "
        "cp workflow-templates/*.yml mlops_gates/templates/workflows/"
    )


def test_every_starter_workflow_is_packaged() -> None:
    canonical = {p.name for p in (ROOT / "workflow-templates").glob("*.yml")}
    assert canonical == set(WORKFLOWS.values())
    assert {p.name for p in (PACKAGED / "workflows").glob("*.yml")} == canonical


def test_templates_ship_in_the_wheel() -> None:
    # setuptools globs package-data patterns under the package folder: so does this test.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mlops_gates"]
    shipped = {p for pattern in patterns for p in (ROOT / "mlops_gates").glob(pattern)}
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in PACKAGED.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p not in shipped
    ]
    assert not missing, f"not in [tool.setuptools.package-data] of pyproject.toml: {missing}"


def test_templates_pin_the_actions_to_this_version() -> None:
    for name in WORKFLOWS.values():
        text = (ROOT / "workflow-templates" / name).read_text()
        refs = [line.split("@")[1] for line in text.splitlines() if ACTION_REPOSITORY in line]
        assert refs and set(refs) == {f"v{__version__}"}, f"{name}: {refs}"


def test_starter_config_validates() -> None:
    config_from_dict(yaml.safe_load((PACKAGED / "mlops-gates.yaml").read_text()))


def test_init_writes_config_and_workflows(tmp_path: Path) -> None:
    written = init_repository(
        tmp_path, workflows=["pr", "train-promote"], default_branch="trunk", action_ref="abc123"
    )
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "mlops-gates.yaml",
        ".github/workflows/mlops-gates-pr.yml",
        ".github/workflows/mlops-train-promote.yml",
    ]
    train = yaml.safe_load((tmp_path / ".github/workflows/mlops-train-promote.yml").read_text())
    assert train[True]["push"]["branches"] == ["trunk"]  # PyYAML reads the key `on` as True
    text = "".join(p.read_text() for p in written)
    assert "$default-branch" not in text
    assert f"uses: {ACTION_REPOSITORY}/actions/gates@abc123\n" in text
    assert f"uses: {ACTION_REPOSITORY}/actions/promote@abc123\n" in text


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    mine = tmp_path / ".github" / "workflows" / "mlops-gates-pr.yml"
    mine.write_text("# mine\n")
    with pytest.raises(InitExists, match=r"mlops-gates-pr\.yml: already there.*--force"):
        init_repository(tmp_path)
    assert mine.read_text() == "# mine\n"
    assert not (tmp_path / "mlops-gates.yaml").exists(), "all or nothing"
    init_repository(tmp_path, force=True, default_branch="main")
    assert mine.read_text().startswith("# Model gates on every pull request")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", str(tmp_path), "--default-branch", "main"]) == 0
    out = capsys.readouterr().out
    assert "wrote " in out and "mlops-gates-pr.yml" in out and "train-promote" not in out
    assert cli.main(["init", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["init", str(tmp_path), "--no-config", "--workflow", "train-promote"]) == 0
    assert cli.main(["init", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["init", "--help"])
    assert info.value.code == 0


def test_default_branch_comes_from_git(tmp_path: Path) -> None:
    assert detect_default_branch(tmp_path) == "main"  # not a repository
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    assert detect_default_branch(tmp_path) == "trunk"


def test_render_replaces_only_our_actions() -> None:
    text = (
        "on:\n  push:\n    branches: [$default-branch]\n"
        "      - uses: actions/checkout@0123 # v5\n"
        f"      - uses: {ACTION_REPOSITORY}/actions/gates@v0.0.1\n"
    )
    out = render_workflow(text, default_branch="dev", action_ref="v9")
    assert out == text.replace("$default-branch", "dev").replace("@v0.0.1", "@v9")


def test_init_writes_the_deploy_and_monitor_workflows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["init", str(tmp_path), "--no-config", "--default-branch", "trunk"]
    assert cli.main([*args, "--workflow", "deploy", "--workflow", "monitor"]) == 0
    out = capsys.readouterr().out
    assert "`production` environment" in out and "python fetch_recent.py" in out
    workflows = tmp_path / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["mlops-deploy.yml", "mlops-monitor.yml"]
    deploy = yaml.safe_load((workflows / "mlops-deploy.yml").read_text())
    assert deploy[True]["push"]["branches"] == ["trunk"]
    text = (workflows / "mlops-deploy.yml").read_text()
    assert f"uses: {ACTION_REPOSITORY}/actions/deploy@v{__version__}\n" in text
    text = (workflows / "mlops-monitor.yml").read_text()
    assert text.count(f"uses: {ACTION_REPOSITORY}/actions/monitor@v{__version__}\n") == 2


def test_the_starter_baseline_is_what_deploy_moves() -> None:
    # Issue #20: the baseline is the live version (the alias `mlops-gates deploy` moves),
    # and the first model is the explicit no-baseline case, not an error.
    from mlops_gates.promote.manifest import DEFAULT_ALIAS

    data = yaml.safe_load((PACKAGED / "mlops-gates.yaml").read_text())
    assert data["baseline"]["model"] == f"models:/my-model@{DEFAULT_ALIAS}"
    [gate] = [g for g in data["gates"] if g["kind"] == "baseline"]
    assert gate["if_no_baseline"] == "pass"
    train = (PACKAGED / "workflows" / "mlops-train-promote.yml").read_text()
    assert "my-model" in train, "the config and the workflow name the same model"
