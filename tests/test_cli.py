"""`mlops-gates` command line: exit codes 0 / 1 / 2 and messages without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import Project
from helpers import base_config, validate_report

from mlops_gates import __version__
from mlops_gates.cli import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_and_help(tmp_path: Path) -> None:
    proc = _cli("--version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"mlops-gates {__version__}")
    for args in (["--help"], ["check", "--help"], ["config-schema", "--help"]):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0 and "usage: mlops-gates" in proc.stdout, args
    assert main([]) == 2


def test_check_passes_with_exit_0(
    make_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_project(base_config())
    monkeypatch.chdir(path.parent)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 1 passed" in out
    doc = json.loads((path.parent / "mlops-gates-report" / "report.json").read_text())
    validate_report(doc)


def test_check_fails_with_exit_1_and_still_writes(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99}]
    path = make_project(base_config(gates=gates))
    out_dir = tmp_path / "reports"
    assert main(["check", "--config", str(path), "--report-dir", str(out_dir), "-q"]) == 1
    assert "FAIL    acc" in capsys.readouterr().out
    assert json.loads((out_dir / "report.json").read_text())["status"] == "fail"
    assert "❌ fail" in (out_dir / "report.md").read_text()


def test_check_config_error_exits_2(make_project: Project) -> None:
    path = make_project(base_config(gates=[{"kind": "metric", "metric": "accuracy"}]))
    proc = _cli("check", "--config", str(path), cwd=path.parent)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"mlops-gates: error: {path}: gates.0: give a bound")
    assert "Traceback" not in proc.stderr


def test_check_data_error_exits_1_with_message(make_project: Project) -> None:
    path = make_project(base_config(data={"path": "missing.csv"}))
    proc = _cli("check", "--config", str(path), cwd=path.parent)
    assert proc.returncode == 1
    assert "missing.csv: data file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (path.parent / "mlops-gates-report" / "report.json").is_file()


def test_unwritable_report_dir(make_project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_project(base_config())
    blocker = path.parent / "file"
    blocker.write_text("")
    assert main(["check", "--config", str(path), "--report-dir", str(blocker / "sub")]) == 1
    assert "cannot write the report" in capsys.readouterr().err


def test_config_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "mlops-gates.yaml"


def test_closed_pipe_is_quiet_and_the_report_is_written(make_project: Project) -> None:
    """`mlops-gates check | head -1`: no traceback, and report.json is on disk."""
    path = make_project(base_config())
    proc = subprocess.run(
        f"{sys.executable} -m mlops_gates.cli check --config {path} | head -1",
        shell=True,
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert (path.parent / "mlops-gates-report" / "report.json").is_file()


def test_a_narrow_terminal_clips_slices_not_the_numbers() -> None:
    from mlops_gates.report.text import format_table

    gate = {
        "status": "pass",
        "gate": "accuracy",
        "slice": {"native_country": "United-States-of-America-and-its-territories", "race": "x"},
        "observed": 0.8765,
        "ci": [0.85, 0.9],
        "bound": {"min": 0.8, "max": None},
        "support": 16281,
    }
    summary = {"pass": 1, "fail": 0, "warn": 0, "error": 0, "skip": 0}
    doc = {"status": "pass", "gates": [gate], "summary": summary}
    header, _, row, _ = format_table(doc, width=80)
    assert len(row) <= 80 and row.endswith("16281")
    assert header.endswith("support")
    assert "…" in row  # the slice gave way
    (wide,) = format_table(doc, width=200)[2:3]
    assert "native_country=United-States-of-America" in wide
    assert len(row) < len(wide) and wide.endswith("16281")


def test_stderr_holds_no_pyspark_warning(tmp_path: Path) -> None:
    """With PySpark installed (the [spark] extra), pandera's import of pyspark.pandas
    makes PySpark warn about pandas 3 several times per command; the CLI keeps that
    noise about a backend it never uses off the user's terminal."""
    pytest.importorskip("pyspark")
    data = tmp_path / "rows.parquet"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]}).to_parquet(data)
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_gates", "schema", "infer", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "columns:" in proc.stdout
    assert "PySpark does not yet fully support" not in proc.stderr
