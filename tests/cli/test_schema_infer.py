"""`mlops-gates schema infer`: the YAML reads back with pandera, passes on its own data,
and adds what pandera's infer_schema leaves out (category sets, no coercion)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors as pe
import pandera.pandas as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gates.cli import main
from mlops_gates.schema_infer import infer_schema, schema_yaml


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(10, 1, n),
            "ratio": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            "city": pd.Series(rng.choice(["Oslo", "Lima", None], n), dtype="str"),
            "id": pd.Series([f"u{i}" for i in range(n)], dtype="str"),
            "level": pd.Categorical(rng.choice(["low", "high"], n)),
            "ok": rng.random(n) < 0.5,
            "when": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )


def _round_trip(frame: pd.DataFrame, **kw: float) -> pa.DataFrameSchema:
    text = schema_yaml(
        infer_schema(frame, **kw),  # type: ignore[arg-type]
        source=Path("data.parquet"),
        rows=len(frame),
        slack=float(kw.get("slack", 0.0)),
    )
    return pa.DataFrameSchema.from_yaml(text)


def test_inferred_schema_reads_back_and_passes_on_its_data() -> None:
    df = _frame()
    schema = _round_trip(df)
    schema.validate(df, lazy=True)
    cols = schema.columns
    assert not schema.coerce and not schema.strict and schema.index is None
    assert cols["ratio"].nullable and cols["city"].nullable and not cols["age"].nullable
    age = {c.name: c for c in cols["age"].checks}["in_range"]
    assert (age.statistics["min_value"], age.statistics["max_value"]) == (
        df["age"].min(),
        df["age"].max(),
    )
    assert {c.name: c for c in cols["city"].checks}["isin"].statistics["allowed_values"] == [
        "Lima",
        "Oslo",
    ]
    assert cols["id"].checks == []  # 300 distinct values: too many for a set
    assert "2 distinct values" in (cols["city"].description or "")
    # pandera's own inference has no set for the text column; ours does.
    assert pa.infer_schema(df).columns["city"].checks == []


def test_inferred_schema_catches_what_it_should() -> None:
    df = _frame()
    schema = _round_trip(df, max_categories=5)
    bad = df.copy()
    bad.loc[0, "city"] = "Atlantis"
    bad.loc[1, "age"] = 200
    bad["age"] = bad["age"].astype(float)  # a dtype change is reported, not coerced away
    with pytest.raises(pe.SchemaErrors) as info:
        schema.validate(bad, lazy=True)
    cases = info.value.failure_cases
    assert {"city", "age"} <= set(cases["column"].dropna())
    assert "Atlantis" in set(cases["failure_case"].astype(str))


def test_slack_widens_ranges_outward() -> None:
    df = pd.DataFrame({"n": [0, 10, 100], "x": [-1.0, 0.0, 1.0]})
    schema = _round_trip(df, slack=0.1)
    n = schema.columns["n"].checks[0].statistics
    x = schema.columns["x"].checks[0].statistics
    assert (n["min_value"], n["max_value"]) == (0, 110)  # never below 0: it never was
    assert (x["min_value"], x["max_value"]) == pytest.approx((-1.2, 1.2))


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-(10**9), 10**9)),
            st.one_of(st.none(), st.floats(-1e12, 1e12)),
            st.one_of(st.none(), st.sampled_from(["a", "b", "c d", "é", "", "1"])),
        ),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=60, deadline=None)
def test_any_frame_passes_its_own_schema(rows: list[tuple[object, object, object]]) -> None:
    df = pd.DataFrame(rows, columns=["i", "f", "s"])
    df["s"] = df["s"].astype("str")
    _round_trip(df).validate(df, lazy=True)


def test_schema_infer_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = _frame()
    df.to_csv(tmp_path / "data.csv", index=False)
    assert main(["schema", "infer", str(tmp_path / "data.csv")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# pandera schema inferred by `mlops-gates schema infer`")
    yaml.safe_load(text)
    out = tmp_path / "schema.yaml"
    assert (
        main(["schema", "infer", str(tmp_path / "data.csv"), "-o", str(out), "--slack", "0.05"])
        == 0
    )
    schema = pa.DataFrameSchema.from_yaml(out)
    schema.validate(pd.read_csv(tmp_path / "data.csv"), lazy=True)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_schema_help_and_bad_inputs(tmp_path: Path) -> None:
    _frame().to_parquet(tmp_path / "data.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"nope")
    for args in (["schema", "--help"], ["schema", "infer", "--help"]):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0 and "usage: mlops-gates schema" in proc.stdout, args
    proc = _cli("schema", cwd=tmp_path)
    assert proc.returncode == 2 and "infer" in proc.stderr
    cases = [
        (["missing.csv"], 2, "missing.csv: no such file"),
        (["broken.parquet"], 1, "broken.parquet: cannot read it as PARQUET"),
        (["data.parquet", "--slack", "-0.1"], 2, "--slack: must be 0 or more"),
        (["data.parquet", "--max-categories", "many"], 2, "expected a whole number"),
        (["data.parquet", "--format", "xlsx"], 2, "invalid choice: 'xlsx'"),
    ]
    for args, code, message in cases:
        proc = _cli("schema", "infer", *args, cwd=tmp_path)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stdout == ""


def _write_ints_with_nulls(path: Path, n_values: list[float | None]) -> None:
    """A Parquet file as another tool writes it: `n` an int64 column (or float64 when
    `n_values` holds a fraction) with nulls, `k` a uint8 column with nulls, `x` a float."""
    import pyarrow as pa_arrow
    import pyarrow.parquet as pq

    whole = all(v is None or float(v).is_integer() for v in n_values)
    n = [None if v is None else (int(v) if whole else v) for v in n_values]
    k = [None if i % 7 == 0 else i % 200 for i in range(len(n_values))]
    table = pa_arrow.table(
        {
            "n": pa_arrow.array(n, type=pa_arrow.int64() if whole else pa_arrow.float64()),
            "k": pa_arrow.array(k, type=pa_arrow.uint8()),
            "x": pa_arrow.array([i / 3 for i in range(len(n_values))], type=pa_arrow.float64()),
        }
    )
    pq.write_table(table, path)


def test_parquet_int_column_with_nulls_is_inferred_as_a_nullable_integer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas reads an int64 column with nulls as float64; the schema follows the file's
    type, so a fraction in that column later fails it instead of passing as a float."""
    values: list[float | None] = [None if i % 5 == 0 else i - 40 for i in range(120)]
    data = tmp_path / "data.parquet"
    _write_ints_with_nulls(data, values)
    assert pd.read_parquet(data)["n"].dtype == np.float64  # what pandas alone would say
    out = tmp_path / "schema.yaml"
    assert main(["schema", "infer", str(data), "-o", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())["columns"]
    assert (doc["n"]["dtype"], doc["n"]["nullable"]) == ("Int64", True)
    assert (doc["k"]["dtype"], doc["k"]["nullable"]) == ("UInt8", True)
    assert (doc["x"]["dtype"], doc["x"].get("nullable", False)) == ("float64", False)
    assert "observed -39 to 79" in doc["n"]["description"]

    # pandera reads it back (its YAML layout differs between versions: read it as pandera
    # does) and validates the file, its integer columns read as integers.
    schema = pa.DataFrameSchema.from_yaml(out)
    rng = {c.name: c for c in schema.columns["n"].checks}["in_range"].statistics
    assert (rng["min_value"], rng["max_value"]) == (-39, 79)
    assert all(isinstance(rng[k], int) for k in ("min_value", "max_value"))  # not -39.0
    frame = pd.read_parquet(data, dtype_backend="numpy_nullable")
    schema.validate(frame.astype({"x": "float64"}), lazy=True)
    frame = pd.read_parquet(data)
    schema.validate(frame.astype({"n": "Int64", "k": "UInt8"}), lazy=True)

    # The schema gate, which reads the file with pandas, passes it, and fails a fraction.
    cfg = {
        "version": 1,
        "data": {"path": "data.parquet"},
        "task": {"type": "regression", "label": "x"},
        "candidate": {"predictions": "x"},
        "gates": [{"id": "s", "kind": "schema", "schema": "schema.yaml"}],
    }
    (tmp_path / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    monkeypatch.setenv("MLOPS_GATES_TRACKING", "off")
    check = ["check", "--config", str(tmp_path / "mlops-gates.yaml")]
    capsys.readouterr()
    assert main([*check, "--report-dir", str(tmp_path / "r1")]) == 0, capsys.readouterr()
    values[3] = 2.5
    _write_ints_with_nulls(data, values)
    assert main([*check, "--report-dir", str(tmp_path / "r2")]) == 1
    (gate,) = json.loads((tmp_path / "r2" / "report.json").read_text())["gates"]
    assert "n: dtype('Int64'): whole numbers (or missing) (1)" in gate["message"], gate
