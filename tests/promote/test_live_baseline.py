"""The baseline is what is live (issue #20, item 2), against a real `mlflow server`: a first
model compared with `models:/<name>@production` is told what to do, and once a version is
deployed the report carries what the registry says about it, so the promotion body says
which version it replaces, since when, and by which pull request."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import validate_report
from mlflow_server import model_frame, register_models

from mlops_gates.config import load_config
from mlops_gates.deploy.registry import version_tag
from mlops_gates.gates.runner import run_gates
from mlops_gates.promote.plan import PromoteOptions, make_plan

AUC_VS = {
    "id": "auc-vs-production",
    "kind": "baseline",
    "metric": "roc_auc",
    "max_drop": 0.5,
    "if_no_baseline": "fail",
}


def _check(tmp_path: Path, url: str, name: str, gate: dict[str, Any]) -> dict[str, Any]:
    model_frame(500, seed=3).to_parquet(tmp_path / "eval.parquet", index=False)
    config = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{name}@challenger"},
        "baseline": {"model": f"models:/{name}@production"},
        "tracking": {"uri": url, "enabled": False},
        "gates": [gate],
    }
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    doc = run_gates(load_config(path)).to_dict()
    validate_report(doc)
    return doc


def test_the_live_baseline_from_first_model_to_replacement(
    tmp_path: Path, mlflow_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    name = f"live-{uuid.uuid4().hex[:8]}"
    registered = register_models(mlflow_server.url, name, model_frame())
    live = registered.versions["baseline"]

    # First model: nothing deployed. The verdict says why and what to do.
    doc = _check(tmp_path, mlflow_server.url, name, AUC_VS)
    [verdict] = doc["gates"]
    assert (verdict["status"], verdict["reason"]) == ("fail", "no_baseline")
    assert (
        f"registry alias 'production' of model '{name}' does not exist yet" in (verdict["message"])
    )
    assert "set `if_no_baseline: pass` on gate 'auc-vs-production'" in verdict["message"]

    # Deployed (the tags `mlops-gates deploy` writes, by their own names).
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    client.set_registered_model_alias(name, "production", live)
    client.set_model_version_tag(
        name, live, version_tag("production", "deployed_at"), "2026-12-01T08:30:00Z"
    )
    client.set_model_version_tag(name, live, version_tag("production", "pr"), "12")
    doc = _check(tmp_path, mlflow_server.url, name, {**AUC_VS, "if_no_baseline": "pass"})
    base = doc["context"]["models"]["baseline"]
    assert base["version"] == live and "production" in base["aliases"]
    assert base["deployed"] == {"production": {"at": "2026-12-01T08:30:00Z", "pr": "12"}}

    plan = make_plan(doc, PromoteOptions(model=name), now="2026-12-06T10:00:00Z")
    manifest = make_plan(
        doc, PromoteOptions(model=name, version=live), now="2026-11-30T00:00:00Z"
    ).manifest
    body = plan.body("main", None, live=manifest, live_read=True)
    head = body[: body.index("### Needs a reviewer")]
    assert (
        f"- **Replaces:** `{name}` version `{live}`, live since 2026-12-01 (deployed in #12)."
        in head
    )
    assert f"(`models:/{name}@production`): the live version." in head
    assert "[!WARNING]" not in head
