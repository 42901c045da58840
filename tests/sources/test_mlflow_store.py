"""A local SQLite tracking store written by a newer MLflow than the one installed: the user
is told exactly that, and what helps (a newer MLflow, or another store), never MLflow's
`mlflow db upgrade`, which cannot migrate a store forward from a revision it does not know.

The store is real: created by the installed MLflow, then given the alembic revision row a
newer MLflow leaves (an id the installed migrations do not know)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from helpers import base_config, binary_frame

from mlops_gates.cli import main

NEWER_REVISION = "f0e1d2c3b4a5"  # no MLflow migration has this id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store made by the installed MLflow (in a subprocess: MLflow caches stores per URI,
    and this process must meet the file as a stranger would)."""
    db = tmp_path_factory.mktemp("store") / "mlruns.db"
    code = "import sys, mlflow; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{db}"], check=True, capture_output=True)
    return db


def _revision(db: Path, revision: str | None = None) -> str:
    with sqlite3.connect(db) as conn:
        if revision is not None:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        (current,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(current)


def _check(root: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    root.mkdir()
    binary_frame().to_csv(root / "eval.csv", index=False)
    config = base_config(
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
        tracking={"uri": f"sqlite:///{db}"},
    )
    (root / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code = main(["check", "--config", str(root / "mlops-gates.yaml"), "--report-dir", str(root)])
    out = capsys.readouterr()
    return code, json.loads((root / "report.json").read_text()), out.out + out.err


@pytest.mark.usefixtures("tracking_on")
def test_a_store_from_a_newer_mlflow_says_so(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "newer.db"
    db.write_bytes(store.read_bytes())
    _revision(db, NEWER_REVISION)

    code, report, output = _check(tmp_path / "project", db, capsys)

    assert code == 0  # tracking failures warn by default; the gates passed
    [tracking] = [g for g in report["gates"] if g["kind"] == "tracking"]
    message = tracking["message"]
    mlflow_dist = "mlflow" if _installed("mlflow") else "mlflow-skinny"
    installed = version(mlflow_dist)
    assert f"the MLflow store sqlite:///{db} was written by a newer MLflow" in message
    assert f"({mlflow_dist} {installed})" in message
    assert f"pip install -U '{mlflow_dist}>{installed}'" in message
    assert "MLFLOW_TRACKING_URI" in message and repr(NEWER_REVISION) in message
    assert "db upgrade" not in message and "db upgrade" not in output
    assert f"MLflow tracking failed: the MLflow store sqlite:///{db} was written" in output
    assert "(while opening the tracking store)" in output
    assert _revision(db) == NEWER_REVISION, "the store is left as it was"


@pytest.mark.usefixtures("tracking_on")
def test_an_older_store_keeps_mlflows_upgrade_advice(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A revision the installed MLflow knows but has moved past: `mlflow db upgrade` is
    the right fix there, and MLflow's words stay."""
    from alembic.script import ScriptDirectory
    from mlflow.store import db_migrations

    script = ScriptDirectory(str(Path(db_migrations.__file__).parent))
    head = _revision(store)
    older = next(r.revision for r in script.walk_revisions() if r.revision != head)
    db = tmp_path / "older.db"
    db.write_bytes(store.read_bytes())
    _revision(db, older)

    _, report, _ = _check(tmp_path / "project", db, capsys)

    [tracking] = [g for g in report["gates"] if g["kind"] == "tracking"]
    assert "out-of-date database schema" in tracking["message"]
    assert "newer MLflow" not in tracking["message"]


def _installed(dist: str) -> bool:
    try:
        version(dist)
    except Exception:
        return False
    return True


@pytest.fixture
def tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
