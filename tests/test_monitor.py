"""`mlops-gates monitor`: the window is cut right, labels that have not arrived are handled
honestly, drift in one feature trips that feature only, and bad input is a clear message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import base_config, validate_report
from sklearn.metrics import accuracy_score

from mlops_gates.cli import main

NOW = "2026-11-23T06:00:00Z"


def production(n: int, seed: int, *, days: float, shift: float = 0.0) -> pd.DataFrame:
    """n logged predictions spread over the `days` before NOW; `x` shifted by `shift`."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.5 + rng.normal(0.25, 0.2, n), 0, 1)
    ago = pd.to_timedelta(rng.uniform(0, days * 86400, n), unit="s")
    return pd.DataFrame(
        {
            "ts": pd.Timestamp(NOW) - ago,
            "y": y.astype(float),
            "pred": (score >= 0.5).astype(int),
            "score": score,
            "x": rng.normal(shift, 1, n),
            "z": rng.normal(0, 1, n),
        }
    )


def project(tmp_path: Path, current: pd.DataFrame) -> Path:
    production(3000, 1, days=30).drop(columns=["ts"]).to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=[
            {
                "id": "drift",
                "kind": "drift",
                "reference": "ref.parquet",
                "features": ["x", "z"],
                "predictions": True,
            },
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7},
            {"id": "auc-vs", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.1},
        ],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(path: Path, *extra: str, out: Path | None = None) -> tuple[int, dict[str, Any]]:
    """`mlops-gates monitor` on a 7-day window ending at NOW; its exit code and report."""
    out = out or path.parent / "monitor-report"
    code = main(
        [
            "monitor",
            "--config",
            str(path),
            "--time-column",
            "ts",
            "--window",
            "7d",
            "--now",
            NOW,
            "--report-dir",
            str(out),
            *extra,
        ]
    )
    doc = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    if doc:
        validate_report(doc)
    return code, doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["id"]: g for g in doc["gates"]}


def test_a_healthy_window_passes_on_its_rows_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = production(500, 2, days=60, shift=3.0)  # drifted, but older than the window
    old = old[old.ts < pd.Timestamp(NOW) - pd.Timedelta(days=8)]
    recent = production(1500, 3, days=7)
    code, doc = run(project(tmp_path, pd.concat([old, recent])))
    assert code == 0, capsys.readouterr()
    mon = doc["context"]["monitor"]
    assert mon["rows"] == mon["labeled_rows"] == len(recent)
    assert mon["retrain"] is False and mon["reasons"] == [] and mon["outcome"] == "healthy"
    assert mon["window_start"] == "2026-11-16T06:00:00Z" and mon["window_end"] == NOW
    gates = by_id(doc)
    # The baseline comparison is not a monitoring gate; the rest ran on the window.
    assert not any(g.startswith("auc-vs") for g in gates)
    assert gates["acc"]["observed"] == pytest.approx(accuracy_score(recent.y, recent.pred))
    assert gates["acc"]["support"] == len(recent)
    assert "monitor: healthy: 1500 rows (1500 labelled)" in capsys.readouterr().out


def test_drift_in_one_feature_trips_that_feature_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, doc = run(project(tmp_path, production(1500, 4, days=7, shift=1.0)))
    assert code == 1
    gates = by_id(doc)
    assert gates["drift[feature=x]"]["status"] == "fail"
    assert gates["drift[feature=z]"]["status"] == "pass"
    mon = doc["context"]["monitor"]
    assert (mon["outcome"], mon["retrain"]) == ("retrain", True)
    assert [r.split(":")[0] for r in mon["reasons"]] == ["drift[feature=x]"]
    text = outputs.read_text()
    assert "status=fail\n" in text and "retrain=true\n" in text


def test_labels_that_have_not_arrived(tmp_path: Path) -> None:
    frame = production(1200, 5, days=7)
    late = frame.ts > pd.Timestamp(NOW) - pd.Timedelta(days=2)
    frame.loc[late, "y"] = np.nan
    code, doc = run(project(tmp_path, frame))
    assert code == 0
    mon = doc["context"]["monitor"]
    assert (mon["rows"], mon["labeled_rows"]) == (1200, int((~late).sum()))
    gates = by_id(doc)
    labeled = frame[~late]
    assert gates["acc"]["support"] == len(labeled)
    assert gates["acc"]["observed"] == pytest.approx(accuracy_score(labeled.y, labeled.pred))
    assert gates["drift[feature=x]"]["support"] == 1200  # features: every row
    assert gates["drift[predictions]"]["status"] == "skip"
    assert gates["drift[predictions]"]["reason"] == "no_labels"

    frame["y"] = np.nan  # nothing labelled yet: metric gates wait, drift still runs
    code, doc = run(project(tmp_path, frame))
    assert code == 0
    gates = by_id(doc)
    assert gates["acc"]["status"] == "skip" and "0 of 1200 rows" in gates["acc"]["message"]
    assert gates["drift[feature=x]"]["status"] == "pass"


def test_an_empty_window_is_an_error_not_a_pass(tmp_path: Path) -> None:
    frame = production(100, 6, days=30)
    frame = frame[frame.ts < pd.Timestamp(NOW) - pd.Timedelta(days=10)]
    code, doc = run(project(tmp_path, frame))
    assert code == 1
    assert doc["status"] == "error"
    assert "no rows in the window" in doc["errors"][0]
    # Nothing to judge needs a person, but retraining on no data fixes nothing.
    mon = doc["context"]["monitor"]
    assert (mon["outcome"], mon["retrain"]) == ("no_data", False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "7d"], "--window and --time-column go together"),
        (["--time-column", "ts", "--window", "7 days"], "7 days"),
        (["--time-column", "ts", "--window", "7d", "--now", "yesterday"], "--now 'yesterday'"),
        (["--gate", "nope"], "no gate with id 'nope'"),
        (["--time-column", "when", "--window", "7d"], "column 'when' (--time-column) not found"),
    ],
    ids=["window-alone", "bad-duration", "bad-now", "unknown-gate", "missing-column"],
)
def test_bad_input_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = project(tmp_path, production(50, 7, days=7))
    code = main(["monitor", "--config", str(path), "--report-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert message in err and "Traceback" not in err


def test_monitor_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["monitor", "--help"])
    assert info.value.code == 0
    assert "retraining warranted" in capsys.readouterr().out


def test_monitoring_is_logged_but_leaves_the_promotion_verdict_alone(
    tmp_path: Path, mlflow_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed model comes from the registry; a failing monitoring run is logged to
    MLflow but must not overwrite the version's gate status, which deploy relies on."""
    import uuid

    from mlflow import MlflowClient
    from mlflow_server import model_frame, register_models

    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    registered = register_models(mlflow_server.url, f"mon-{uuid.uuid4().hex[:8]}", model_frame())
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    version = registered.versions["candidate"]
    client.set_model_version_tag(registered.name, version, "mlops_gates.status", "pass")
    # Monitoring judges what is deployed: the version the `production` alias serves.
    client.set_registered_model_alias(registered.name, "production", version)

    model_frame(2000, seed=1).to_parquet(tmp_path / "ref.parquet", index=False)
    prod = model_frame(800, seed=2)
    prod["x1"] += 2.0  # the world moved
    prod["ts"] = pd.Timestamp(NOW) - pd.to_timedelta(np.arange(800), unit="min")
    prod.to_parquet(tmp_path / "prod.parquet", index=False)
    config = {
        "version": 1,
        "data": {"path": "prod.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{registered.name}@challenger"},
        "tracking": {"uri": mlflow_server.url},
        "gates": [
            {"id": "drift", "kind": "drift", "reference": "ref.parquet", "features": ["x1", "x2"]},
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},  # loads the model
        ],
    }
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, doc = run(path)
    assert code == 1
    assert by_id(doc)["drift[feature=x1]"]["status"] == "fail"
    assert doc["context"]["models"]["candidate"]["version"] == version
    run_id = doc["context"]["mlflow"]["run_id"]
    assert client.get_run(run_id).data.tags["mlops_gates.status"] == "fail"
    tags = client.get_model_version(registered.name, version).tags
    assert tags["mlops_gates.status"] == "pass"


def test_a_skew_gate_is_judged_whatever_labels_have_arrived(tmp_path: Path) -> None:
    """Skew compares its own training and serving tables: it needs no label, so monitor
    judges it like the table gates (it used to wait for labels, as a metric does)."""
    path = project(tmp_path, production(600, 8, days=7).assign(y=np.nan))
    ids = pd.DataFrame({"id": np.arange(200), "x": np.linspace(0, 1, 200)})
    ids.to_parquet(tmp_path / "train.parquet", index=False)
    ids.assign(x=ids.x.where(ids.id % 50 != 0, -1.0)).to_parquet(tmp_path / "serve.parquet")
    config = yaml.safe_load(path.read_text())
    config["gates"].append(
        {"id": "skew", "kind": "skew", "training": "train.parquet", "serving": "serve.parquet",
         "key": "id", "max": 0.01}
    )  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, doc = run(path, "--gate", "skew", "--gate", "acc")
    gates = by_id(doc)
    assert gates["acc"]["status"] == "skip"  # no label yet
    skew = gates["skew[feature=x]"]
    assert skew["status"] == "fail" and skew["reason"] != "no_labels"
    assert skew["observed"] == pytest.approx(4 / 200)  # ids 0, 50, 100, 150 disagree
    assert code == 1


def test_the_window_reaches_the_gates_in_memory_and_is_kept_beside_the_report(
    tmp_path: Path,
) -> None:
    """The report names the kept file holding exactly the rows judged, and its digest is
    the sha256 of that file's bytes."""
    import hashlib

    frame = production(800, 9, days=7)
    late = frame.ts > pd.Timestamp(NOW) - pd.Timedelta(days=1)
    frame.loc[late, "y"] = np.nan
    code, doc = run(project(tmp_path, frame))
    assert code == 0
    folder = (tmp_path / "monitor-report" / "monitor").resolve()
    window, labeled = folder / "window.parquet", folder / "labeled.parquet"
    assert doc["fingerprint"]["data"] == "sha256:" + hashlib.sha256(window.read_bytes()).hexdigest()
    kept = pd.read_parquet(window)
    assert len(kept) == doc["context"]["monitor"]["rows"] == 800
    assert len(pd.read_parquet(labeled)) == int((~late).sum())
    # The label gates ran last, on the labelled rows: the report's data is their file.
    assert doc["context"]["data"] == {"path": str(labeled), "rows": int((~late).sum())}


# -- anytime-valid monitoring across runs (#24 items 1 and 2) -------------------------------


def anytime_project(tmp_path: Path, rows: pd.DataFrame) -> Path:
    rows.to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        monitor={"guarantee": "anytime", "state": "monitoring/state.json"},
        gates=[
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.8},
            {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.6},
        ],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def day(n: int, seed: int, end: str, *, wrong: float = 0.0) -> pd.DataFrame:
    """n rows over the day before `end`; a share `wrong` of them with a flipped prediction."""
    rows = production(n, seed, days=1)
    rows["ts"] = rows.ts + (pd.Timestamp(end) - pd.Timestamp(NOW))
    flip = np.random.default_rng(seed).random(n) < wrong
    rows["pred"] = np.where(flip, 1 - rows.pred, rows.pred)
    return rows


def run_on(path: Path, now: str, *extra: str) -> tuple[int, dict[str, Any]]:
    out = path.parent / "monitor-report"
    window = ["--time-column", "ts", "--window", "7d", "--now", now]
    code = main(["monitor", "--config", str(path), *window, "--report-dir", str(out), *extra])
    doc = json.loads((out / "report.json").read_text())
    validate_report(doc)
    return code, doc


DAY2 = "2026-11-24T06:00:00Z"
DAY3 = "2026-11-25T06:00:00Z"


def test_anytime_runs_extend_the_sequence_and_count_each_row_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = day(400, 11, NOW)
    path = anytime_project(tmp_path, first)
    code, doc = run_on(path, NOW, "--model-version", "adult/3")
    assert code == 0, capsys.readouterr()
    assert "no monitor state yet" in capsys.readouterr().err
    acc = by_id(doc)["acc"]
    assert acc["support"] == 400
    assert acc["observed"] == pytest.approx(accuracy_score(first.y, first.pred))
    assert acc["details"]["guarantee"] == "anytime" and acc["details"]["e_value"] < 20
    lo, hi = acc["ci"]
    assert lo < acc["observed"] < hi
    mon = doc["context"]["monitor"]
    assert mon["guarantee"] == "anytime" and mon["sequence"]["runs"] == 1
    assert mon["guarantees"]["acc"].startswith("anytime-valid")
    assert mon["guarantees"]["auc"].startswith("fixed-level")  # a score metric stays fixed

    # The next day the window (7 days) holds both days: only the new rows join the sequence.
    second = day(300, 12, DAY2)
    pd.concat([first, second]).to_parquet(tmp_path / "prod.parquet", index=False)
    code, doc = run_on(path, DAY2, "--model-version", "adult/3")
    assert code == 0
    acc = by_id(doc)["acc"]
    both = pd.concat([first, second])
    assert acc["support"] == 700
    assert acc["observed"] == pytest.approx(accuracy_score(both.y, both.pred))
    assert acc["details"]["window"].endswith("on 300")
    seq = doc["context"]["monitor"]["sequence"]
    assert seq["runs"] == 2 and seq["since"] == NOW and seq["restarted"] is None
    assert pd.Timestamp(seq["through"]) == second.ts.max()
    state = json.loads((tmp_path / "monitoring" / "state.json").read_text())
    assert state["streams"]["acc"]["n"] == 700 and state["model"] == "adult/3"

    # A new deployed version starts over, and says so.
    third = day(200, 13, DAY3)
    pd.concat([first, second, third]).to_parquet(tmp_path / "prod.parquet", index=False)
    code, doc = run_on(path, DAY3, "--model-version", "adult/4")
    assert "deployed model changed from adult/3 to adult/4" in capsys.readouterr().err
    assert by_id(doc)["acc"]["support"] == 200
    assert doc["context"]["monitor"]["sequence"]["runs"] == 1


def test_logged_predictions_take_their_version_from_the_deploy_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prediction columns do not say which version served them; the deploy manifest does, so
    the sequence is that version's and starts over when a deploy changes the manifest."""
    from mlops_gates.promote.manifest import build_manifest, dump_manifest

    path = anytime_project(tmp_path, day(400, 41, NOW))
    manifest = tmp_path / "deploy.yaml"
    for version, now in (("3", NOW), ("3", DAY2), ("4", DAY3)):
        doc = build_manifest(
            json.loads((Path(__file__).parent / "fixtures" / "adult-report.json").read_text()),
            model="adult",
            version=version,
            uri=f"models:/adult/{version}",
            promoted_at="2026-11-20T00:00:00Z",
        )
        manifest.write_text(dump_manifest(doc))
        code, _ = run_on(path, now, "--manifest", str(manifest))
        assert code == 0, capsys.readouterr()
        state = json.loads((tmp_path / "monitoring" / "state.json").read_text())
        assert state["model"] == f"adult/{version}"
    assert state["runs"] == 1  # version 4 started over ...
    assert "deployed model changed from adult/3 to adult/4" in capsys.readouterr().err


def test_a_corrupt_state_starts_over_with_a_clear_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = day(400, 21, NOW)
    path = anytime_project(tmp_path, rows)
    state = tmp_path / "monitoring" / "state.json"
    state.parent.mkdir()
    for text in ("{not json", '{"mlops_gates_monitor_state": 1, "streams": {"acc": {"n": -3}}}'):
        state.write_text(text)
        code, doc = run_on(path, NOW)
        assert code == 0
        err = capsys.readouterr().err
        assert f"{state}: unreadable monitor state" in err and "starts over" in err
        assert doc["context"]["monitor"]["sequence"]["restarted"].startswith(str(state))
        assert by_id(doc)["acc"]["support"] == 400
        assert json.loads(state.read_text())["runs"] == 1  # rewritten whole


def test_a_real_drop_alarms_once_the_evidence_is_in(tmp_path: Path) -> None:
    """Accuracy well below the 0.8 bound: the first small day is not yet evidence enough,
    the running counts become so within days; each row counted once."""
    days = [
        day(60, 30 + i, str(pd.Timestamp(NOW) + pd.Timedelta(days=i)), wrong=0.25) for i in range(6)
    ]
    path = anytime_project(tmp_path, days[0])
    codes = []
    for i in range(6):
        pd.concat(days[: i + 1]).to_parquet(tmp_path / "prod.parquet", index=False)
        code, doc = run_on(
            path, str(pd.Timestamp(NOW) + pd.Timedelta(days=i)).replace("+00:00", "Z")
        )
        codes.append(code)
    assert codes[0] == 0 and codes[-1] == 1
    acc = by_id(doc)["acc"]
    assert acc["status"] == "fail" and acc["reason"] == "below_min"
    assert acc["support"] == 360 and acc["details"]["e_value"] >= 20
    assert "anytime-valid evidence" in acc["message"]
    assert doc["context"]["monitor"]["retrain"] is True
