"""An integer column with missing values, read from Parquet, is judged as integers.

A missing value makes pandas read an integer column as float64 (NaN), and pandera's
`dtype: int64` then failed every missing row, even where `allow_missing` (or the schema's
`nullable: true`) lets the column be missing: the label of production rows whose label
has not arrived yet. Whole-number floats are judged as integers now; other floats are the
failure cases, named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from helpers import validate_report

from mlops_gates.config import load_config
from mlops_gates.gates.result import GateResult
from mlops_gates.gates.runner import run_gates
from mlops_gates.schema_infer import infer_schema, schema_yaml


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=n), "y": rng.integers(0, 3, n), "pred": rng.integers(0, 3, n)}
    )


def _gate(tmp_path: Path, labels: list[Any], **gate: Any) -> GateResult:
    """The schema inferred from complete labels, judged on a Parquet file whose `y` holds
    `labels` (None: missing) as written by pyarrow: a float column with nulls."""
    full = _frame()
    text = schema_yaml(infer_schema(full), source=Path("full.parquet"), rows=len(full), slack=0.0)
    (tmp_path / "schema.yaml").write_text(text, encoding="utf-8")
    assert "dtype: int64" in text.split("\n  y:\n", 1)[1].split("\n  pred:", 1)[0]
    table = pa.table(
        {
            "x": full["x"],
            "y": pa.array(labels, type=pa.float64()),
            "pred": full["pred"][: len(labels)],
        }
    )
    pq.write_table(table.slice(0, len(labels)), tmp_path / "eval.parquet")
    assert pd.read_parquet(tmp_path / "eval.parquet")["y"].dtype == np.float64
    cfg = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "multiclass", "label": "y"},
        "candidate": {"predictions": "pred"},
        "gates": [{"id": "s", "kind": "schema", "schema": "schema.yaml", **gate}],
    }
    (tmp_path / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    report = run_gates(load_config(tmp_path / "mlops-gates.yaml"))
    validate_report(report.to_dict())
    (result,) = report.gates
    return result


def _labels(n: int = 400, missing: int = 50) -> list[Any]:
    y = _frame()["y"].tolist()[:n]
    return [None if i < missing else float(v) for i, v in enumerate(y)]


def test_missing_int_labels_pass_with_allow_missing(tmp_path: Path) -> None:
    g = _gate(tmp_path, _labels(), allow_missing=["y"])
    assert g.status == "pass", g.message


def test_without_allow_missing_only_the_missing_rows_fail_as_missing(tmp_path: Path) -> None:
    g = _gate(tmp_path, _labels())
    assert g.status == "fail"
    (failure,) = g.details["failures"]
    assert failure["column"] == "y" and failure["count"] == 50
    assert failure["check"] == "not_nullable"  # said once, not as a wrong dtype too


def test_non_whole_values_are_the_failure_cases_named(tmp_path: Path) -> None:
    labels = _labels()
    labels[100], labels[200] = 0.5, 1.5
    g = _gate(tmp_path, labels, allow_missing=["y"])
    assert g.status == "fail"
    (failure,) = g.details["failures"]
    assert failure["column"] == "y" and failure["count"] == 2
    assert failure["failure_cases"] == [0.5, 1.5] and failure["rows"] == [100, 200]
    assert failure["check"] == "dtype('int64'): whole numbers (or missing)"
    assert "y: dtype('int64'): whole numbers (or missing) (2)" in g.message
