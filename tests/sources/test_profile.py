"""Reference profiles: built from a frame, written as schema-valid JSON, read back intact;
`mlops-gates profile` answers bad input with one message and exit 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from mlops_gates.cli import main
from mlops_gates.errors import DataError
from mlops_gates.sources.profile import (
    build_profile,
    count_like,
    profile_from_dict,
    profile_json,
    profile_to_dict,
    read_profile,
)

SCHEMA = Path(__file__).parents[2] / "mlops_gates" / "schemas" / "profile.schema.json"


def _frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10, 2, n),
            "k": rng.integers(0, 4, n),
            "gain": np.where(rng.random(n) < 0.9, 0, rng.integers(100, 9000, n)),
            "color": pd.Series(rng.choice(["red", "green", "blue", None], n), dtype="str"),
            "flag": rng.random(n) < 0.3,
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "empty": np.full(n, np.nan),
        }
    )


def _validate(doc: dict) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def test_profile_holds_histograms_categories_and_summaries() -> None:
    df = _frame()
    profile = build_profile(df, bins=10, top_k=2)
    doc = profile_to_dict(profile)
    _validate(doc)
    assert list(doc["skipped"]) == ["when"] and "datetime64" in doc["skipped"]["when"]
    x = doc["features"]["x"]
    assert x["type"] == "numeric" and x["rows"] == 500 and x["missing"] == 0
    assert len(x["histogram"]["edges"]) == 11 and sum(x["histogram"]["counts"]) == 500
    assert (
        x["histogram"]["edges"][0] == df["x"].min() and x["histogram"]["edges"][-1] == df["x"].max()
    )
    assert x["summary"]["mean"] == pytest.approx(df["x"].mean())
    assert x["summary"]["std"] == pytest.approx(df["x"].std())
    assert x["summary"]["quantiles"]["0.5"] == pytest.approx(df["x"].median())
    # Four values: one bin each. Zero-inflated: the zeros keep their own bin.
    assert (
        doc["features"]["k"]["histogram"]["counts"] == df["k"].value_counts().sort_index().tolist()
    )
    gain = doc["features"]["gain"]["histogram"]
    assert gain["counts"][0] == int((df["gain"] == 0).sum())
    color = doc["features"]["color"]
    assert color["type"] == "categorical" and color["missing"] == int(df["color"].isna().sum())
    top = df["color"].value_counts()
    assert color["categories"]["values"] == top.index[:2].tolist()
    assert color["categories"]["other"] == {"count": int(top.iloc[2:].sum()), "distinct": 1}
    assert doc["features"]["flag"]["categories"]["values"] == ["False", "True"]
    assert doc["features"]["empty"]["histogram"]["edges"] == []


def test_categories_are_counted_by_their_text() -> None:
    """As `astype(str)` then counting would: 1 and "1" are one category, missing values are
    missing, and a categorical dtype's unused categories do not appear."""
    mixed = pd.Series([1, "1", "a", None, np.nan, "a", True], dtype=object, name="m")
    cat = pd.Series(pd.Categorical(["x", "y", None], categories=["x", "y", "unused"]), name="c")
    for series in (mixed, cat):
        present = series.dropna().astype(str)
        want = present.value_counts().sort_index()
        profile = build_profile(series.to_frame(), top_k=10).features[str(series.name)]
        table = profile.categorical
        assert table is not None
        got = dict(zip(table.categories, table.counts.tolist(), strict=True))
        assert got == dict(zip(want.index, want.tolist(), strict=True))
        assert table.missing == len(series) - len(present)
        reference = build_profile(pd.DataFrame({series.name: ["a", "x"]})).features[
            str(series.name)
        ]
        current = count_like(reference, series).categorical
        assert current is not None and current.new == {
            k: v for k, v in got.items() if k not in ("a", "x")
        }


def test_json_round_trip_keeps_every_count() -> None:
    df = _frame()
    profile = build_profile(df, bins=7)
    again = profile_from_dict(json.loads(profile_json(profile)))
    assert profile_to_dict(again) == profile_to_dict(profile)
    # Current data counted into the read-back bins match the original ones exactly.
    for name, feature in again.features.items():
        a, b = count_like(feature, df[name]), count_like(profile.features[name], df[name])
        ta, tb = a.numeric or a.categorical, b.numeric or b.categorical
        assert ta is not None and tb is not None
        assert np.array_equal(ta.counts, tb.counts), name


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": "something"}, "not an mlops-gates profile"),
        ({"format": "mlops-gates-profile", "version": 9}, "format version 9"),
        (
            {"format": "mlops-gates-profile", "version": 1, "rows": 1, "features": {}},
            "invalid profile at (top level): 'settings' is a required property",
        ),
    ],
    ids=["not-a-profile", "future-version", "missing-key"],
)
def test_bad_profile_documents(tmp_path: Path, doc: dict, message: str) -> None:
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"ref\.json") as info:
        read_profile(path)
    assert message in str(info.value)


def test_inconsistent_histogram_is_refused(tmp_path: Path) -> None:
    doc = profile_to_dict(build_profile(_frame(), bins=5))
    doc["features"]["x"]["histogram"]["counts"].pop()
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"features\.x: 6 edges need 5 counts"):
        read_profile(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_profile(path)


# --- the command ------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_profile_command_writes_valid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = _frame()
    df.to_parquet(tmp_path / "train.parquet")
    assert main(["profile", str(tmp_path / "train.parquet"), "--columns", "x,color", "k"]) == 0
    doc = json.loads(capsys.readouterr().out)
    _validate(doc)
    assert list(doc["features"]) == ["x", "color", "k"]
    out = tmp_path / "sub" / "ref.json"
    assert main(["profile", str(tmp_path / "train.parquet"), "--bins", "20", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    ref = read_profile(out)
    assert ref.bins == 20 and len(ref.features["x"].numeric.edges) == 21  # type: ignore[union-attr]


def test_profile_help_and_bad_inputs(tmp_path: Path) -> None:
    _frame().to_parquet(tmp_path / "train.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    proc = _cli("profile", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "usage: mlops-gates profile" in proc.stdout
    cases = [
        (["missing.parquet"], 2, "missing.parquet: no such file"),
        (["broken.parquet"], 1, "broken.parquet: cannot read it as PARQUET"),
        (["train.parquet", "--columns", "nope"], 2, "no column 'nope'"),
        (["train.parquet", "--bins", "1"], 2, "--bins: must be from 2 to 1000, got 1"),
        (["train.parquet", "--bins", "ten"], 2, "--bins: expected a whole number"),
        (["notes.txt"], 2, "cannot tell the format"),
        (["train.parquet", "--config", "nope.yaml"], 2, "config file not found"),
    ]
    (tmp_path / "notes.txt").write_text("x")
    for args, code, message in cases:
        proc = _cli("profile", *args, cwd=tmp_path)
        assert proc.returncode == code, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""
