"""The `skew` gate: mismatch rates equal a direct pandas computation on awkward data (NaN,
ties, empty and one-sided joins), duplicate keys are an error that names the key, and the
verdicts carry the keys behind each number."""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import base_config, binary_frame, validate_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_gates.cli import main
from mlops_gates.config import SkewGate, config_from_dict, load_config
from mlops_gates.errors import ConfigError
from mlops_gates.gates.result import GateResult
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown
from mlops_gates.stats.intervals import wilson_interval

ROOT = Path(__file__).parents[2]


def _project(root: Path, train: pd.DataFrame, serve: pd.DataFrame, **gate: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    binary_frame(50).to_csv(root / "eval.csv", index=False)
    train.to_parquet(root / "train.parquet", index=False)
    serve.to_parquet(root / "serve.parquet", index=False)
    spec = {
        "id": "skew",
        "kind": "skew",
        "training": "train.parquet",
        "serving": "serve.parquet",
        "key": "id",
        **gate,
    }
    path = root / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(base_config(gates=[spec]), sort_keys=False))
    return path


def _run(path: Path) -> dict[str, GateResult]:
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    render_markdown(report.to_dict())
    return {g.id: g for g in report.gates}


# --- the numbers equal pandas ----------------------------------------------------------

_num = st.one_of(st.sampled_from([0.0, 1.0, 1.0 + 1e-9, 2.5, -3.0]), st.just(math.nan))
_cat = st.one_of(st.sampled_from(["a", "b", "c"]), st.none())


@st.composite
def _sides(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    def side() -> pd.DataFrame:
        keys = draw(st.lists(st.integers(0, 12), unique=True, max_size=10))
        return pd.DataFrame(
            {
                "id": pd.Series(keys, dtype="int64"),
                "x": pd.Series([draw(_num) for _ in keys], dtype="float64"),
                "c": pd.Series([draw(_cat) for _ in keys], dtype=object),
            }
        )

    return side(), side()


def _expected(train: pd.DataFrame, serve: pd.DataFrame, atol: float, rtol: float) -> dict:
    joined = train.merge(serve, on="id", how="inner", suffixes=("_t", "_s"))
    a, b = joined["x_t"], joined["x_s"]
    x_ok = (a.isna() & b.isna()) | ((b - a).abs() <= atol + rtol * a.abs())
    c_ok = (joined["c_t"].isna() & joined["c_s"].isna()) | (joined["c_t"] == joined["c_s"])
    outer = train.merge(serve, on="id", how="outer", indicator=True)
    return {
        "n": len(joined),
        "x": int((~x_ok).sum()),
        "c": int((~c_ok).sum()),
        "one_side": int((outer["_merge"] != "both").sum()),
        "union": len(outer),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(sides=_sides(), rtol=st.sampled_from([0.0, 1e-6]))
def test_mismatch_rates_equal_pandas(sides: tuple[pd.DataFrame, pd.DataFrame], rtol: float) -> None:
    train, serve = sides
    with tempfile.TemporaryDirectory() as tmp:
        path = _project(Path(tmp), train, serve, atol=0.0, rtol=rtol, max=0.5, max_unmatched=0.5)
        got = _run(path)
    want = _expected(train, serve, 0.0, rtol)
    unmatched = got["skew[keys=unmatched]"]
    assert unmatched.support == want["union"]
    if want["union"]:
        assert unmatched.observed == pytest.approx(want["one_side"] / want["union"])
    for feature in ("x", "c"):
        v = got[f"skew[feature={feature}]"]
        assert v.support == want["n"]
        assert v.details["mismatches"] == want[feature]
        if want["n"] == 0:
            # An empty join is no evidence: on_insufficient (fail by default), never pass.
            assert v.observed is None and v.status == "fail"
            assert v.reason == "insufficient_support"
            continue
        assert v.observed == pytest.approx(want[feature] / want["n"])
        ci = wilson_interval(want[feature], want["n"])
        assert v.ci == pytest.approx((float(ci.lo), float(ci.hi)))
        assert v.status == ("pass" if want[feature] / want["n"] <= 0.5 else "fail")
        assert len(v.details["examples"]) == min(want[feature], 5)


def test_verdicts_name_the_keys_behind_the_number(tmp_path: Path) -> None:
    train = pd.DataFrame(
        {"id": range(10), "x": np.arange(10.0), "c": list("abcdefghij"), "n": range(10)}
    )
    serve = train.copy()
    serve.loc[3, "x"] = 99.0
    serve.loc[5, "x"] = np.nan
    serve.loc[4, "c"] = "z"
    serve["n"] = serve["n"].astype(str)  # the serving pipeline writes numbers as text
    serve = pd.concat([serve.drop(index=0), pd.DataFrame({"id": [100], "x": [1.0]})])
    got = _run(_project(tmp_path, train, serve, max_unmatched=0.1))
    x = got["skew[feature=x]"]
    assert (x.observed, x.support, x.status, x.metric) == (2 / 9, 9, "fail", "mismatch")
    assert x.details["examples"][0] == {"key": {"id": 3}, "training": 3.0, "serving": 99.0}
    assert x.details["missing_one_side"] == 1 and x.details["largest_difference"] == 96.0
    assert "id=3: training 3, serving 99" in x.message
    assert "id=5: training 5, serving <missing>" in x.message
    assert "e.g. id=4: training 'e', serving 'z'" in got["skew[feature=c]"].message
    n = got["skew[feature=n]"]
    assert (
        n.observed == 1.0
        and n.details["type"] == "exact"
        and "different types" in str(n.details["note"])
    )
    keys = got["skew[keys=unmatched]"]
    assert keys.observed == pytest.approx(2 / 11) and keys.status == "fail"
    assert "1 keys only in training, 1 only in serving, 9 on both" in keys.message
    assert x.details["keys"]["training_only"] == 1 and x.details["keys"]["serving_only"] == 1


def test_tolerances(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": [1, 2, 3], "x": [100.0, 200.0, 0.0], "y": [1.0, 2.0, 3.0]})
    serve = pd.DataFrame({"id": [1, 2, 3], "x": [100.5, 200.0, 1e-12], "y": [1.1, 2.0, 3.0]})
    got = _run(
        _project(tmp_path, train, serve, rtol=0.01, atol=0.0, tolerances={"y": {"atol": 0.2}})
    )
    # |100.5 - 100| <= 0.01 * 100; 1e-12 vs 0 is not within rtol of 0 with atol 0.
    assert got["skew[feature=x]"].details["mismatches"] == 1
    assert got["skew[feature=x]"].details["examples"][0]["key"] == {"id": 3}
    assert got["skew[feature=y]"].details["mismatches"] == 0
    assert got["skew[feature=y]"].details["tolerance"] == {"atol": 0.2, "rtol": 0.0}


def test_composite_key_and_missing_keys(tmp_path: Path) -> None:
    train = pd.DataFrame({"user": [1, 1, 2, None], "day": ["mon", "tue", "mon", "mon"]})
    train["x"] = [1.0, 2.0, 3.0, 4.0]
    serve = train.copy()
    serve.loc[1, "x"] = 5.0
    got = _run(_project(tmp_path, train, serve, key=["user", "day"]))
    x = got["skew[feature=x]"]
    assert (x.support, x.details["mismatches"]) == (3, 1)
    assert x.details["examples"][0]["key"] == {"user": 1.0, "day": "tue"}
    assert x.details["keys"]["missing_key_rows"] == {"training": 1, "serving": 1}


@pytest.mark.parametrize(
    ("policy", "status", "support"),
    [("error", "error", None), ("first", "fail", 3), ("drop", "pass", 2)],
)
def test_duplicate_keys(tmp_path: Path, policy: str, status: str, support: int | None) -> None:
    train = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
    serve = pd.DataFrame({"id": [1, 2, 3, 3], "x": [1.0, 2.0, 9.0, 3.0]})
    got = _run(_project(tmp_path, train, serve, on_duplicate_keys=policy))
    if policy == "error":
        (only,) = got.values()
        assert only.status == "error"
        assert "key column 'id' is not unique in the serving features" in only.message
        assert "e.g. id=3 (2 rows)" in only.message and "on_duplicate_keys" in only.message
        return
    x = got["skew[feature=x]"]
    assert (x.status, x.support) == (status, support)
    assert x.details["keys"]["duplicate_keys"] == {"training": 0, "serving": 1}


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"training": "nope.parquet"}, ["nope.parquet", "training features not found"]),
        ({"key": "user"}, ["'user' named in `key` of gate 'skew' not found"]),
        ({"features": ["x", "xx"]}, ["column 'xx' is not in the training features"]),
        ({"exclude": ["xs"]}, ["'xs'", "did you mean 'x'?"]),
    ],
    ids=["missing-file", "missing-key", "unknown-feature", "unknown-exclude"],
)
def test_bad_input_is_an_error_verdict(tmp_path: Path, gate: dict, expected: list[str]) -> None:
    train = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    got = _run(_project(tmp_path, train, train, **gate))
    messages = " ".join(g.message for g in got.values() if g.status == "error")
    for text in expected:
        assert text in messages, messages


def test_key_types_that_cannot_match(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    serve = pd.DataFrame({"id": ["1", "2"], "x": [1.0, 2.0]})
    (only,) = _run(_project(tmp_path, train, serve)).values()
    assert only.status == "error" and "key column 'id' is int64 in train.parquet" in only.message


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"key": []}, "`key` is empty"),
        ({"features": ["x"], "exclude": ["y"]}, "not both"),
        ({"features": ["id"]}, "'id' is the key"),
        ({"max": 1.5}, "gates.0.max"),
        ({"on_duplicate_keys": "keep"}, "'error', 'first' or 'drop'"),
        ({"tolerances": {"x": {"atl": 1}}}, "did you mean 'atol'"),
    ],
)
def test_config_errors(gate: dict, expected: str) -> None:
    spec = {"kind": "skew", "training": "t.parquet", "serving": "s.parquet", "key": "id", **gate}
    with pytest.raises(ConfigError) as info:
        config_from_dict(base_config(gates=[spec]))
    assert expected in str(info.value)


def test_cli_exit_status(tmp_path: Path) -> None:
    train = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]})
    serve = pd.DataFrame({"id": [1, 2], "x": [1.0, 2.5]})
    ok = _project(tmp_path / "ok", train, train)
    bad = _project(tmp_path / "bad", train, serve)
    assert main(["check", "--config", str(ok), "--report-dir", str(tmp_path / "r1")]) == 0
    assert main(["check", "--config", str(bad), "--report-dir", str(tmp_path / "r2")]) == 1
    assert "feature=x | 0.5 |" in (tmp_path / "r2" / "report.md").read_text()


def test_every_skew_key_is_documented() -> None:
    doc = (ROOT / "docs" / "skew.md").read_text()
    for name, field in SkewGate.model_fields.items():
        assert f"`{field.alias or name}`" in doc, f"SkewGate.{name} is not in docs/skew.md"


def _doc_configs() -> list[str]:
    text = (ROOT / "docs" / "skew.md").read_text()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "version: 1" in b]


@pytest.mark.parametrize("block", _doc_configs())
def test_docs_snippets_run(tmp_path: Path, block: str) -> None:
    """Every config in docs/skew.md runs as written on data shaped as the page says."""
    rng = np.random.default_rng(0)
    n = 200
    train = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "day": "2026-11-01",
            "age": rng.integers(18, 90, n),
            "balance": rng.normal(1000, 300, n).round(2),
            "segment": rng.choice(["retail", "business"], n),
            "last_login": "2026-10-31T10:00:00",
        }
    )
    serve = train.copy()
    serve.loc[:4, "balance"] += 0.004  # rounding in the serving pipeline: within atol
    serve.loc[7, "segment"] = "Retail"  # a real skew: one row of 200
    (tmp_path / "features").mkdir()
    train.to_parquet(tmp_path / "features" / "training.parquet", index=False)
    serve.to_parquet(tmp_path / "features" / "serving_log.parquet", index=False)
    cfg = yaml.safe_load(block)
    binary_frame(50).rename(columns={"y": "label"}).to_csv(tmp_path / "eval.csv", index=False)
    cfg["data"] = {"path": "eval.csv"}
    cfg["task"] = {"type": "binary", "label": "label"}
    cfg["candidate"] = {"predictions": "pred_c"}
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(cfg))
    got = _run(path)
    assert all(g.status != "error" for g in got.values()), [g.message for g in got.values()]
    for g in got.values():
        if g.slice == {"feature": "segment"}:
            assert g.observed == pytest.approx(1 / n)
        elif g.slice and "feature" in g.slice:
            assert g.observed == 0.0, g.message
