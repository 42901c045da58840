"""One engine per run: the data is opened once and handed to every gate that reads rows;
rows already in memory can be judged without a file; engines are found by name."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import validate_report

from mlops_gates.backends import FACTORIES, open_backend
from mlops_gates.config import Config, load_config
from mlops_gates.errors import ConfigError
from mlops_gates.gates.runner import run_gates

from .test_drift_engines import _data, _gates
from .test_engines import assert_same, frame, project

SCHEMA = """\
import pandera.pandas as pa

schema = pa.DataFrameSchema(
    {"x": pa.Column(float, pa.Check.in_range(-10, 10), nullable=True)}, strict=False
)
"""


def _every_reader(root: Path, engine: str) -> Path:
    """A config whose gates read the rows every way a run does: the reduction (metric), a
    sample and SQL over every row (schema), counts against a data-file reference (drift),
    the newest timestamp (staleness)."""
    root.mkdir(parents=True, exist_ok=True)
    _data(2000, 1).to_parquet(root / "ref.parquet", index=False)
    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
        {"id": "schema", "kind": "schema", "schema": "every_reader_schema:schema"},
        *_gates("ref.parquet"),
    ]
    path = project(root, _data(3000, 2, shift=0.5), engine, gates=gates, baseline=False)
    (root / "every_reader_schema.py").write_text(SCHEMA)
    return path


def test_a_duckdb_run_opens_one_connection_for_every_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the Backend protocol the reduction, the sample, the schema checks and every
    drift and staleness gate each connected anew: 15 connections for this config."""
    import duckdb

    connections: list[Any] = []
    connect = duckdb.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        con = connect(*args, **kwargs)
        connections.append(con)
        return con

    monkeypatch.setattr(duckdb, "connect", counted)
    report = run_gates(load_config(_every_reader(tmp_path, "duckdb")))
    validate_report(report.to_dict())
    assert report.errors == []
    kinds = {g.kind for g in report.gates if g.status != "error"}
    assert kinds == {"metric", "schema", "drift", "staleness"}, report.gates
    assert len(connections) == 1
    with pytest.raises(duckdb.ConnectionException):  # and it was closed when the run ended
        connections[0].execute("SELECT 1")


def test_rows_given_in_memory_are_judged_like_the_file(tmp_path: Path) -> None:
    """`run_gates(config, table=rows)`: the same verdicts as reading the rows from
    `data.path`, which is not read (here it does not even exist)."""
    df = frame(1500, seed=3)
    path = project(tmp_path / "file", df, "memory")
    from_file = run_gates(load_config(path))

    config = load_config(path)
    config = config.model_copy(
        update={"data": config.data.model_copy(update={"path": tmp_path / "absent.parquet"})}
    )
    in_memory = run_gates(config, table=df)
    validate_report(in_memory.to_dict())
    assert_same(from_file, in_memory)
    assert from_file.fingerprint["data"] is not None
    assert in_memory.fingerprint["data"] is None  # no file was read
    assert in_memory.context["data"] == {"path": str(tmp_path / "absent.parquet"), "rows": 1500}
    assert in_memory.warnings == []
    with pytest.raises(TypeError, match=r"takes a pandas DataFrame, not list"):
        run_gates(config, table=df.to_dict("records"))  # type: ignore[arg-type]


def test_rows_given_under_another_engine_are_judged_in_memory_and_said_so(
    tmp_path: Path,
) -> None:
    df = frame(1500, seed=4)
    memory = run_gates(load_config(project(tmp_path / "m", df, "memory")))
    duck = run_gates(load_config(project(tmp_path / "d", df, "duckdb")), table=df)
    assert_same(memory, duck)
    assert duck.context["reduction"]["engine"] == "memory"
    (warning,) = duck.warnings
    assert "backend.engine: duckdb is configured" in warning
    assert "the memory engine judged them" in warning


def test_every_engine_the_config_accepts_has_a_factory() -> None:
    backend = Config.model_fields["backend"].annotation
    assert backend is not None
    engine = backend.model_fields["engine"].annotation
    assert set(typing.get_args(engine)) == set(FACTORIES)


def test_an_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    config = load_config(project(tmp_path, frame(50), "memory"))
    odd = config.model_copy(
        update={"backend": config.backend.model_copy(update={"engine": "polars"})}
    )
    with pytest.raises(ConfigError, match=r"unknown engine 'polars'; use one of \['memory', "):
        open_backend(odd)


def test_the_memory_backend_reads_the_file_once_and_keeps_it(tmp_path: Path) -> None:
    path = project(tmp_path, frame(200), "memory")
    with open_backend(load_config(path)) as backend:
        first = backend.table()
        (tmp_path / "eval.parquet").unlink()  # gone after the read: nothing reads it again
        assert backend.table() is first
        assert backend.digest() is not None
        sample = backend.sample(50, seed=1)
        assert len(sample) == 50 and sample.index.isin(first.frame.index).all()
        assert isinstance(first.frame, pd.DataFrame)
