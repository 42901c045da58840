"""The config is found one way by every command: --config, else $MLOPS_GATES_CONFIG, else
./mlops-gates.yaml. (The pytest plugin's side is in tests/test_plugin.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project
from helpers import base_config

from mlops_gates.cli import main
from mlops_gates.config import CONFIG_ENV, find_config


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that holds no config."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_find_config_order(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert find_config() == elsewhere / "mlops-gates.yaml"
    second = tmp_path / "b.yaml"
    second.write_text("version: 1\n")
    missing = tmp_path / "a.yaml"
    assert find_config(candidates=[missing, second]) == second  # the first that exists
    assert find_config(candidates=[missing, tmp_path / "c.yaml"]) == missing
    monkeypatch.setenv(CONFIG_ENV, "from-env.yaml")
    assert find_config(candidates=[second]) == Path("from-env.yaml")
    assert find_config("given.yaml") == Path("given.yaml")


def test_check_honours_the_variable(
    make_project: Project,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_project(base_config(), where=tmp_path / "ml")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert main(["check"]) == 0, capsys.readouterr().err
    doc = json.loads((elsewhere / "mlops-gates-report" / "report.json").read_text())
    assert doc["status"] == "pass"


def test_check_option_beats_the_variable(
    make_project: Project,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_project(base_config(), where=tmp_path / "ml")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nowhere.yaml"))
    assert main(["check", "--config", str(path)]) == 0, capsys.readouterr().err


def test_a_missing_variable_target_is_named(
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: config file not found ($MLOPS_GATES_CONFIG)" in err
    assert "Traceback" not in err


def test_monitor_honours_the_variable(
    make_project: Project,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = make_project(base_config(), where=tmp_path / "ml")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert main(["monitor"]) == 0, capsys.readouterr().err
    doc = json.loads((elsewhere / "mlops-gates-monitor" / "report.json").read_text())
    assert doc["context"]["monitor"]["data"] == str(path.parent / "eval.csv")
    assert "monitor: healthy" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["status", "rollback"])
def test_deploy_commands_honour_the_variable(
    command: str,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Their config is optional, but one named by the variable must exist: the run stops
    before any MLflow call, naming the file, instead of silently using another server."""
    missing = tmp_path / "nowhere.yaml"
    monkeypatch.setenv(CONFIG_ENV, str(missing))
    args = {
        "status": ["status", "--model", "m"],
        "rollback": ["rollback", "--model", "m", "--alias", "prod", "--reason", "test"],
    }[command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{missing}: config file not found" in err and "Traceback" not in err
