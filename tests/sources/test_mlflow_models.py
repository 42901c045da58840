"""Candidate and baseline from the MLflow model registry, against a real `mlflow server`.

Models are real scikit-learn estimators logged with `mlflow.sklearn.log_model` and
registered with aliases; the oracle is the same estimator fitted again here (lbfgs on the
same rows is deterministic) and scored with scikit-learn.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sklearn.metrics as skm
from conftest import Project
from helpers import validate_report
from mlflow_server import MlflowServer, Registered, free_port, model_frame, register_models
from sklearn.linear_model import LogisticRegression

from mlops_gates.config import load_config
from mlops_gates.gates.result import Report
from mlops_gates.gates.runner import run_gates

FRAME = model_frame()


@pytest.fixture(scope="module")
def registered(mlflow_server: MlflowServer) -> Registered:
    return register_models(mlflow_server.url, f"models-{uuid.uuid4().hex[:8]}", FRAME)


def _config(url: str, candidate: str, baseline: str | None, gates: list[dict[str, Any]]) -> dict:
    cfg: dict[str, Any] = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": candidate},
        "tracking": {"uri": url, "enabled": False},
        "gates": gates,
    }
    if baseline is not None:
        cfg["baseline"] = {"model": baseline}
    return cfg


def _run(make_project: Project, cfg: dict[str, Any]) -> Report:
    path = make_project(cfg, FRAME, data_name="eval.parquet")
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    return report


AUC = {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}
AUC_VS = {"id": "auc-vs", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0}


def _expected_auc(features: list[str]) -> float:
    model = LogisticRegression().fit(FRAME[features], FRAME["y"])
    return float(skm.roc_auc_score(FRAME["y"], model.predict_proba(FRAME[features])[:, 1]))


def test_models_by_alias_give_scores_and_provenance(
    make_project: Project, mlflow_server: MlflowServer, registered: Registered
) -> None:
    name = registered.name
    cfg = _config(
        mlflow_server.url, f"models:/{name}@challenger", f"models:/{name}@champion", [AUC, AUC_VS]
    )
    report = _run(make_project, cfg)
    by_id = {g.id: g for g in report.gates}
    assert report.status == "pass", [g.message for g in report.gates] + report.errors
    # Scores come from predict_proba: the sklearn flavour, not pyfunc.
    cand_auc, base_auc = _expected_auc(["x1", "x2"]), _expected_auc(["x1"])
    assert by_id["auc"].observed == pytest.approx(cand_auc, rel=1e-12)
    assert by_id["auc-vs"].observed == pytest.approx(cand_auc - base_auc, rel=1e-9)
    models = report.context["models"]
    for role, alias in (("candidate", "challenger"), ("baseline", "champion")):
        info = models[role]
        assert info["version"] == registered.versions[role]
        assert (info["name"], info["alias"], info["uri"]) == (
            name,
            alias,
            f"models:/{name}@{alias}",
        )
        assert info["resolved_uri"] == f"models:/{name}/{registered.versions[role]}"
        assert info["run_id"] == registered.run_ids[role]
        assert info["experiment_id"] == registered.experiment_id
        assert info["flavor"] == "sklearn"
        assert info["digest"].startswith("sha256:")
        assert info["trained_at"] and info["registered_at"]
    assert report.fingerprint["models"]["candidate"] == models["candidate"]["digest"]


def test_version_and_runs_uris_load_the_same_model(
    make_project: Project, mlflow_server: MlflowServer, registered: Registered
) -> None:
    version = registered.versions["candidate"]
    run_id = registered.run_ids["candidate"]
    digests = set()
    for ref in (f"models:/{registered.name}/{version}", f"runs:/{run_id}/model"):
        report = _run(make_project, _config(mlflow_server.url, ref, None, [AUC]))
        assert report.gates[0].observed == pytest.approx(_expected_auc(["x1", "x2"]))
        info = report.context["models"]["candidate"]
        assert info["run_id"] == run_id
        digests.add(info["digest"])
    assert len(digests) == 1  # the same files, whichever way they are addressed


@pytest.mark.parametrize(("outcome", "status"), [("pass", "pass"), ("fail", "fail")])
def test_a_missing_baseline_alias_is_no_baseline(
    make_project: Project,
    mlflow_server: MlflowServer,
    registered: Registered,
    outcome: str,
    status: str,
) -> None:
    gate = {**AUC_VS, "if_no_baseline": outcome}
    cfg = _config(
        mlflow_server.url,
        f"models:/{registered.name}@challenger",
        f"models:/{registered.name}@production",  # the first model: no production yet
        [gate],
    )
    report = _run(make_project, cfg)
    (result,) = report.gates
    assert (result.status, result.reason) == (status, "no_baseline")
    assert f"registry alias 'production' of model '{registered.name}' does not exist yet" in (
        result.message
    )
    assert "if_no_baseline: " + outcome in result.message
    assert not report.errors
    assert report.context["models"]["baseline"]["missing"]


def test_a_missing_model_is_no_baseline_too_but_a_missing_candidate_is_an_error(
    make_project: Project, mlflow_server: MlflowServer, registered: Registered
) -> None:
    cfg = _config(
        mlflow_server.url,
        f"models:/{registered.name}@challenger",
        "models:/never-registered@champion",
        [{**AUC_VS, "if_no_baseline": "warn"}],
    )
    assert _run(make_project, cfg).gates[0].status == "warn"
    cfg = _config(mlflow_server.url, f"models:/{registered.name}@nope", None, [AUC])
    report = _run(make_project, cfg)
    assert report.status == "error"
    assert f"registry alias 'nope' of model '{registered.name}' does not exist" in report.errors[0]
    cfg = _config(mlflow_server.url, f"models:/{registered.name}/99", None, [AUC])
    assert "version 99" in _run(make_project, cfg).errors[0]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("models:/income/Production", "registry stages are deprecated"),
        ("models:/income", "say which version"),
        ("runs:/abc", "write runs:/<run id>/<artifact path>"),
    ],
)
def test_references_that_cannot_work_say_how_to_write_them(
    make_project: Project, ref: str, message: str
) -> None:
    cfg = _config(f"http://127.0.0.1:{free_port()}", ref, None, [AUC])
    report = _run(make_project, cfg)
    assert message in report.errors[0]


def test_an_unreachable_registry_fails_fast_with_a_clear_message(make_project: Project) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg = _config(url, "models:/income@champion", None, [AUC])
    cfg["tracking"].update({"retries": 0, "timeout": 2})
    t0 = time.perf_counter()
    report = _run(make_project, cfg)
    assert time.perf_counter() - t0 < 20
    assert f"cannot reach MLflow at {url}" in report.errors[0]
    assert report.gates[0].status == "error"


def test_pyfunc_models_give_labels(
    make_project: Project, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    class Threshold(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return (model_input["x1"] > 0).astype(int)

    url = mlflow_server.url
    name = f"pyfunc-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(url, url)
    run = client.create_run(client.create_experiment(name))
    mlflow.set_tracking_uri(url)
    try:
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Threshold(),
                signature=infer_signature(FRAME[["x1"]], FRAME["y"]),
                pip_requirements=["pandas"],
            )
    finally:
        mlflow.set_tracking_uri(None)
    client.create_registered_model(name)
    mv = client.create_model_version(
        name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    acc = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}
    cfg = _config(url, f"models:/{name}@champion", None, [acc, AUC])
    # A python_model is cloudpickled: it loads only when the config allows pickle.
    refused = _run(make_project, cfg)
    assert refused.status == "error" and "`candidate.allow_pickle: true`" in refused.errors[0]
    assert f"models:/{name}@champion" in refused.errors[0]
    cfg["candidate"]["allow_pickle"] = True
    report = _run(make_project, cfg)
    (warning,) = report.warnings
    assert f"models:/{name}@champion" in warning and "pickle" in warning
    by_id = {g.id: g for g in report.gates}
    expected = skm.accuracy_score(FRAME["y"], (FRAME["x1"] > 0).astype(int))
    assert by_id["acc"].observed == pytest.approx(expected)
    assert report.context["models"]["candidate"]["flavor"] == "python_function"
    assert by_id["auc"].status == "error" and "needs scores" in by_id["auc"].message


def test_staleness_of_a_registered_model(
    make_project: Project, mlflow_server: MlflowServer, registered: Registered
) -> None:
    from mlflow import MlflowClient

    # The training run "ended" 40 days ago: MLflow takes the end time we give it.
    forty_days_ago = int((time.time() - 40 * 86_400) * 1000)
    MlflowClient(mlflow_server.url).set_terminated(
        registered.run_ids["baseline"], end_time=forty_days_ago
    )
    gates = [
        {"id": "trained", "kind": "staleness", "model": {"max_age": "30d"}},
        {
            "id": "registered",
            "kind": "staleness",
            "model": {"max_age": "1d", "source": "registration"},
        },
    ]
    cfg = _config(mlflow_server.url, f"models:/{registered.name}@champion", None, gates)
    trained, reg = _run(make_project, cfg).gates
    assert (trained.id, trained.status) == ("trained[age=model]", "fail")
    assert trained.observed == pytest.approx(40, abs=0.01)
    assert "finished training 40d" in trained.message and "older than the maximum age 30d" in (
        trained.message
    )
    assert reg.status == "pass" and reg.observed is not None and reg.observed < 1


def _log_sklearn(url: str, name: str, model: Any, **kwargs: Any) -> str:
    """Log and register `model` with the sklearn flavour; its models:/ URI by alias."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(url, url)
    run = client.create_run(client.create_experiment(name))
    mlflow.set_tracking_uri(url)
    try:
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.sklearn.log_model(
                model, name="model", pip_requirements=["scikit-learn"], **kwargs
            )
    finally:
        mlflow.set_tracking_uri(None)
    client.create_registered_model(name)
    mv = client.create_model_version(
        name, info.model_uri, run_id=run.info.run_id, model_id=info.model_id
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    return f"models:/{name}@champion"


def test_a_pickled_sklearn_flavour_needs_allow_pickle(
    make_project: Project, mlflow_server: MlflowServer
) -> None:
    url = mlflow_server.url
    model = LogisticRegression().fit(FRAME[["x1", "x2"]], FRAME["y"])
    uri = _log_sklearn(
        url, f"pickled-{uuid.uuid4().hex[:8]}", model, serialization_format="cloudpickle"
    )
    cfg = _config(url, uri, None, [AUC])
    refused = _run(make_project, cfg)
    assert refused.status == "error"
    assert "saved with cloudpickle" in refused.errors[0]
    assert "`candidate.allow_pickle: true`" in refused.errors[0]

    cfg["candidate"]["allow_pickle"] = True
    report = _run(make_project, cfg)
    assert report.status == "pass", report.errors
    assert report.gates[0].observed == pytest.approx(_expected_auc(["x1", "x2"]), rel=1e-12)
    (warning,) = report.warnings
    assert uri in warning


def test_skops_trust_recorded_in_the_mlmodel_is_not_ours(
    make_project: Project, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Whoever logs a model writes its MLmodel's `skops_trusted_types`; the gates trust
    only skops' defaults and the config, so a function that writes files is refused."""
    import numpy as np
    from sklearn.datasets import dump_svmlight_file
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    url = mlflow_server.url
    target = tmp_path / "written-by-the-model.txt"
    X = FRAME[["x1", "x2"]]
    dump = FunctionTransformer(
        dump_svmlight_file, kw_args={"y": np.zeros(len(FRAME)), "f": str(target)}
    ).fit(X)
    model = Pipeline([("dump", dump), ("clf", LogisticRegression().fit(X, FRAME["y"]))])
    import skops.io as sio

    sio.dump(model, tmp_path / "m.skops")
    flagged = sio.get_untrusted_types(file=tmp_path / "m.skops")
    uri = _log_sklearn(url, f"hostile-{uuid.uuid4().hex[:8]}", model, skops_trusted_types=flagged)

    report = _run(make_project, _config(url, uri, None, [AUC]))

    assert report.status == "error"
    (error,) = report.errors
    assert uri in error and "dump_svmlight_file" in error
    assert "`candidate.trusted_types:`" in error
    assert not target.exists()
