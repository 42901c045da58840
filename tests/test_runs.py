"""`runs.finish`: the one ending of check, monitor and pytest, driven directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Project
from helpers import base_config, validate_report
from mlflow_server import free_port

from mlops_gates.config import Config, load_config
from mlops_gates.gates.runner import run_gates
from mlops_gates.runs import DEFAULT_REPORT_DIR, finish


def _config(make_project: Project, **cfg: object) -> Config:
    return load_config(make_project(base_config(**cfg)))


def test_the_default_report_dir_is_the_documented_one() -> None:
    from mlops_gates.cli.common import DEFAULT_REPORT_DIR as CLI_DEFAULT
    from mlops_gates.pytest_plugin import DEFAULT_REPORT_DIR as PLUGIN_DEFAULT

    assert Path("mlops-gates-report") == DEFAULT_REPORT_DIR
    assert CLI_DEFAULT is DEFAULT_REPORT_DIR and PLUGIN_DEFAULT is DEFAULT_REPORT_DIR


def test_a_passing_run_is_written_then_passes(make_project: Project, tmp_path: Path) -> None:
    config = _config(make_project)
    outcome = finish(run_gates(config), tmp_path / "out", config)
    assert outcome.written and outcome.passed and not outcome.ending_failed
    assert outcome.tracking is not None and outcome.tracking.status == "disabled"  # conftest
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    validate_report(doc)
    assert doc["status"] == outcome.doc["status"] == "pass"
    out = tmp_path / "out"
    files = f"report: {out}/report.json, {out}/report.md"
    # The page is named exactly when it was written.
    page = (out / "report.html").exists()
    assert outcome.written_line == files + (f", {out}/report.html" if page else "")


@pytest.mark.parametrize("html", ["off", "auto"])
def test_the_written_line_names_the_page_only_when_this_run_wrote_it(
    make_project: Project, tmp_path: Path, html: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("an older run's page")
    config = _config(make_project, report={"html": html})
    outcome = finish(run_gates(config), out, config)
    wrote_page = (out / "report.html").exists()
    assert wrote_page or html == "off" or not _has_page()
    assert not (wrote_page and html == "off")  # the older page is gone with the run
    assert outcome.written_line.endswith(f"{out}/report.html") == wrote_page
    assert outcome.written_line.startswith(f"report: {out}/report.json, {out}/report.md")


def _has_page() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def test_a_failing_gate_fails_the_outcome_not_the_ending(
    make_project: Project, tmp_path: Path
) -> None:
    gate = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99}
    config = _config(make_project, gates=[gate])
    outcome = finish(run_gates(config), tmp_path / "out", config)
    assert outcome.written and not outcome.passed
    assert not outcome.ending_failed  # pytest's items carry this verdict already


def test_an_unwritable_report_dir_is_an_outcome_not_an_exception(
    make_project: Project, tmp_path: Path
) -> None:
    config = _config(make_project)
    blocker = tmp_path / "file"
    blocker.write_text("")
    outcome = finish(run_gates(config), blocker / "sub", config)
    assert not outcome.written and not outcome.passed and outcome.ending_failed
    assert outcome.write_error is not None and "cannot write the report" in outcome.write_error
    assert outcome.tracking is None  # nothing on disk: nothing to log


@pytest.mark.parametrize(("on_failure", "blocks"), [("error", True), ("warn", False)])
def test_mlflow_down_blocks_only_when_configured(
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_failure: str,
    blocks: bool,
) -> None:
    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tracking = {"uri": url, "on_failure": on_failure, "retries": 0, "timeout": 2}
    config = _config(make_project, tracking=tracking)
    outcome = finish(run_gates(config), tmp_path / "out", config)
    assert outcome.written
    assert outcome.tracking is not None and outcome.tracking.status == "failed"
    assert outcome.tracking_blocked is blocks and outcome.ending_failed is blocks
    assert outcome.passed is not blocks
    # The report on disk and the outcome's say the same: the tracking verdict is in both.
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert doc == outcome.doc and doc["gates"][-1]["id"] == "mlflow-tracking"
    assert [g.id for g in outcome.report.gates][-1] == "mlflow-tracking"
