"""The gates run in MLflow (a real `mlflow server` on loopback) carries the plots, the verdicts
as a table and a description."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import Project
from mlflow_server import MlflowServer

from mlops_gates.cli import main
from mlops_gates.report.plots import plots_for

from .conftest import HOSTILE, picture_config, picture_frame, reference_frame

pytest.importorskip("matplotlib")


@pytest.fixture
def tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("tracking_on")
def test_run_has_plots_table_and_description(
    make_project: Project, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    cfg = picture_config()
    cfg["tracking"] = {"uri": mlflow_server.url, "experiment": "pictures"}
    path = make_project(cfg, picture_frame())
    reference_frame().to_csv(path.parent / "ref.csv", index=False)  # for the drift gate
    out = tmp_path / "report"
    main(["check", "--config", str(path), "--report-dir", str(out)])
    doc = json.loads((out / "report.json").read_text())
    run_id = doc["context"]["mlflow"]["run_id"]
    client = MlflowClient(mlflow_server.url, mlflow_server.url)

    names = [p.name for p in plots_for(doc)]
    listed = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert listed == {f"plots/{n}.{ext}" for n in names for ext in ("svg", "png")}
    assert "report.html" in {a.path for a in client.list_artifacts(run_id)}
    local = Path(client.download_artifacts(run_id, "plots/gate-acc.svg", str(tmp_path / "dl")))
    assert local.read_bytes() == (out / "mlflow" / "plots" / "gate-acc.svg").read_bytes()

    # The verdict table, read back the way `load_table` finds it (the run's
    # mlflow.loggedArtifacts tag, then the file); it searches through the global URI.
    import mlflow

    mlflow.set_tracking_uri(mlflow_server.url)
    try:
        table = client.load_table(
            doc["context"]["mlflow"]["experiment_id"], "verdicts.json", run_ids=[run_id]
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert list(table["id"]) == [g["id"] for g in doc["gates"]]
    assert list(table["status"]) == [g["status"] for g in doc["gates"]]
    observed = [g["observed"] for g in doc["gates"]]
    # MLflow writes the table with pandas' to_json: 10 decimal places (a PSI of 0.0024
    # keeps 8 significant digits), hence the absolute tolerance too.
    assert table["observed"].tolist() == pytest.approx(observed, rel=1e-9, abs=1e-10, nan_ok=True)
    by_id = table.set_index("id")
    acc = next(g for g in doc["gates"] if g["id"].startswith("acc[sex="))
    assert by_id.loc[acc["id"], "ci_low"] == pytest.approx(acc["ci"][0], rel=1e-9)
    assert by_id.loc[acc["id"], "bound_min"] == pytest.approx(acc["bound"]["min"], rel=1e-9)
    assert HOSTILE in " ".join(table["slice"].astype(str))  # data, kept as data
    logged = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert {"path": "verdicts.json", "type": "table"} in logged

    # The description: outcome, what needs a look, where the pictures are.
    note = client.get_run(run_id).data.tags["mlflow.note.content"]
    s = doc["summary"]
    assert note.startswith(f"**mlops-gates: {doc['status'].upper()}**: {s['pass']} pass, ")
    problems = [g for g in doc["gates"] if g["status"] in ("fail", "warn", "error")]
    assert problems
    for g in problems[:5]:
        assert g["message"][:60] in note
    assert "report.html" in note and "plots/" in note


def test_verdict_table_keeps_every_verdict(tmp_path: Path) -> None:
    from mlops_gates.tracking import verdict_table

    doc = {
        "gates": [
            {"id": "a", "gate": "a", "kind": "metric", "status": "pass", "observed": 1.0},
            {"id": "b[x=1]", "gate": "b", "kind": "drift", "status": "error", "slice": {"x": 1}},
        ]
    }
    table = pd.DataFrame(verdict_table(doc))
    assert table["id"].tolist() == ["a", "b[x=1]"]
    assert table["slice"].tolist() == ["overall", "x=1"]
    assert table["observed"].isna().tolist() == [False, True]
