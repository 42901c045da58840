"""The `behaviour` gate: seeded hypothesis search over schema-generated or data rows;
a model that ignores a column passes invariance on it, one that uses it fails with a
shrunk counterexample in the report; directional and case checks pass and fail as
declared; unusable schemas and config mistakes are clear messages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import skops.io as sio
import yaml
from helpers import validate_report
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_gates.cli import main
from mlops_gates.config import (
    BehaviourGate,
    DirectionalCheck,
    InvarianceCheck,
    MinimumCase,
    config_from_dict,
    load_config,
)
from mlops_gates.errors import ConfigError
from mlops_gates.gates.result import GateResult
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown

ROOT = Path(__file__).parents[2]
REGIONS = ["east", "north", "south", "west"]


def _data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, n)
    income = rng.gamma(2.0, 25_000, n).round(0)
    region = rng.choice(REGIONS, n)
    logit = (income - 50_000) / 15_000 + np.where(region == "south", 6.0, 0.0) - (age - 50) / 40
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "applicant_id": [f"A{i:05d}" for i in range(n)],
            "age": age.astype("int64"),
            "income": income,
            "region": pd.Series(region, dtype="str"),
            "approved": y,
        }
    )


def _classifier(frame: pd.DataFrame, *, uses_region: bool = True) -> Pipeline:
    """Logistic regression on age, income (and region); applicant_id is an input column
    that the model drops, as a real pipeline ignores an id it was handed."""
    parts: list[tuple[str, Any, list[str]]] = [("num", "passthrough", ["age", "income"])]
    if uses_region:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]))
    model = Pipeline(
        [
            ("features", ColumnTransformer(parts, remainder="drop")),
            ("model", LogisticRegression(C=10.0, max_iter=5000)),
        ]
    )
    x = frame[["applicant_id", "age", "income", "region"]].copy()
    x["income"] = x["income"] / 1.0
    return model.fit(x, frame["approved"])


def _schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "applicant_id": pa.Column(str, pa.Check.str_matches(r"^A[0-9]{5}$")),
            "age": pa.Column("int64", pa.Check.in_range(18, 90)),
            "income": pa.Column(float, pa.Check.in_range(0, 200_000)),
            "region": pa.Column(str, pa.Check.isin(REGIONS)),
            "approved": pa.Column("int64", pa.Check.isin([0, 1])),
        }
    )


def _project(root: Path, gates: list[dict[str, Any]], *, model: Any = None, **cfg: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame = _data()
    frame.to_parquet(root / "applications.parquet", index=False)
    sio.dump(model if model is not None else _classifier(frame), root / "model.skops")
    (root / "schema.yaml").write_text(_schema().to_yaml())
    config = {
        "version": 1,
        "data": {"path": "applications.parquet"},
        "task": {"type": "binary", "label": "approved", "positive_label": 1},
        "candidate": {"model": "model.skops"},
        "gates": gates,
        **cfg,
    }
    path = root / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run(path: Path) -> dict[str, GateResult]:
    report = run_gates(load_config(path))
    doc = report.to_dict()
    validate_report(doc)
    render_markdown(doc)
    return {g.id: g for g in report.gates}


def _gate(**kw: Any) -> dict[str, Any]:
    return {"id": "b", "kind": "behaviour", "schema": "schema.yaml", "max_examples": 60, **kw}


# --- invariance ----------------------------------------------------------------------


@pytest.mark.parametrize("rows", ["schema", "data"])
def test_ignored_column_passes_used_column_fails_with_a_counterexample(
    tmp_path: Path, rows: str
) -> None:
    gate = _gate(rows=rows, invariance=[{"column": "applicant_id"}, {"column": "region"}])
    got = _run(_project(tmp_path, [gate]))
    ignored, used = got["b[invariance=applicant_id]"], got["b[invariance=region]"]
    assert ignored.status == "pass" and ignored.observed == 0.0
    assert ignored.details["used_by_model"] is True  # among the inputs, but dropped
    assert ignored.support == ignored.details["examples"] > 0
    assert ignored.details["counterexample"] is None

    assert used.status == "fail" and used.observed is not None and used.observed > 0
    assert used.details["violations"] == round(used.observed * used.support)
    cx = used.details["counterexample"]
    # Generated rows are shrunk; a data row stays the real row it is.
    assert cx["shrunk"] is (rows == "schema") and cx["column"] == "region"
    assert cx["before"]["label"] != cx["after"]["label"]
    assert set(cx["row"]) == {"applicant_id", "age", "income", "region"}
    assert cx["from"] != cx["to"] and {cx["from"], cx["to"]} <= set(REGIONS)
    assert f"{'shrunk ' if rows == 'schema' else ''}counterexample: region" in used.message
    # The counterexample is real: the model flips on exactly that row.
    model = sio.load(tmp_path / "model.skops")
    before = pd.DataFrame([cx["row"]]).astype({"income": float})
    after = before.assign(region=cx["to"])
    assert model.predict(before)[0] == cx["before"]["label"]
    assert model.predict(after)[0] == cx["after"]["label"]
    if rows == "data":
        # Rows drawn from the data are rows of the data, sampled uniformly: the rate
        # estimates the share of the data's rows whose prediction flips.
        data = pd.read_parquet(tmp_path / "applications.parquet")
        assert cx["row"]["applicant_id"] in set(data["applicant_id"])
        assert used.support == 60 and used.ci is not None


def test_model_that_ignores_the_column_passes(tmp_path: Path) -> None:
    frame = _data()
    gate = _gate(invariance=[{"column": "region"}])
    got = _run(_project(tmp_path, [gate], model=_classifier(frame, uses_region=False)))
    assert got["b[invariance=region]"].status == "pass"


def test_flip_rate_bound_and_explicit_values(tmp_path: Path) -> None:
    gates = [
        _gate(id="loose", invariance=[{"column": "region", "max_flip_rate": 0.9}]),
        # Explicit replacement values, on rows drawn from the data.
        _gate(id="swap", rows="data", invariance=[{"column": "region", "values": ["east"]}]),
    ]
    got = _run(_project(tmp_path, gates))
    loose = got["loose[invariance=region]"]
    assert loose.status == "pass" and loose.observed is not None and 0 < loose.observed <= 0.9
    assert loose.details["counterexample"]["shrunk"] is False  # passing: not shrunk
    swap = got["swap[invariance=region]"]
    assert swap.details["examples"] > 0 and swap.details["rows_from"] == "data"


def test_score_change_counts_as_a_flip(tmp_path: Path) -> None:
    gate = _gate(invariance=[{"column": "age", "max_score_change": 0.5}])
    strict = _gate(id="strict", invariance=[{"column": "age", "max_score_change": 0.0}])
    got = _run(_project(tmp_path, [gate, strict]))
    assert got["b[invariance=age]"].details["max_score_change"] == 0.5
    assert got["strict[invariance=age]"].status == "fail"


def test_same_seed_same_result_other_seed_other_examples(tmp_path: Path) -> None:
    gates = [
        _gate(
            id="a",
            invariance=[{"column": "region"}],
            directional=[{"column": "income", "direction": "decreasing", "delta": 10_000}],
        ),
        _gate(id="b", seed=7, invariance=[{"column": "region"}]),
    ]
    path = _project(tmp_path, gates)
    first, second = _run(path), _run(path)
    for key in first:
        assert first[key].observed == second[key].observed, key
        assert first[key].details == second[key].details, key
        assert first[key].message == second[key].message, key
    assert first["a[invariance=region]"].details["seed"] == 0  # statistics.seed
    assert first["b[invariance=region]"].details["seed"] == 7
    assert first["a[invariance=region]"].details != first["b[invariance=region]"].details


# --- directional ---------------------------------------------------------------------


def test_directional_pass_and_fail(tmp_path: Path) -> None:
    gate = _gate(
        directional=[
            {"column": "income", "direction": "increasing", "delta": 5000},
            {"column": "age", "direction": "increasing", "delta": 5},
        ]
    )
    got = _run(_project(tmp_path, [gate]))
    income, age = got["b[directional=income]"], got["b[directional=age]"]
    assert income.status == "pass" and income.observed == 0.0
    # Older applicants score lower in this model: raising age moves the score down.
    assert age.status == "fail" and age.observed == 1.0
    cx = age.details["counterexample"]
    assert cx["to"] == cx["from"] + 5 and cx["after"]["score"] < cx["before"]["score"]
    # Every raised value stays inside the schema's range for the column.
    assert cx["to"] <= 90


def test_directional_tolerance(tmp_path: Path) -> None:
    gate = _gate(directional=[{"column": "age", "direction": "increasing", "tolerance": 1.0}])
    got = _run(_project(tmp_path, [gate]))
    assert got["b[directional=age]"].status == "pass"


def test_directional_needs_a_numeric_column(tmp_path: Path) -> None:
    gate = _gate(directional=[{"column": "region", "direction": "increasing"}])
    got = _run(_project(tmp_path, [gate]))
    v = got["b[directional=region]"]
    assert v.status == "error" and "column 'region' is" in v.message and "not numeric" in v.message


@pytest.mark.parametrize("rows", ["schema", "data"])
def test_no_usable_examples_is_an_error(tmp_path: Path, rows: str) -> None:
    # No age can be raised by 100 and stay within the schema's 18..90.
    gate = _gate(
        rows=rows, directional=[{"column": "age", "direction": "increasing", "delta": 100}]
    )
    v = _run(_project(tmp_path, [gate]))["b[directional=age]"]
    assert v.status == "error" and "no usable example rows" in v.message


def test_regression_model(tmp_path: Path) -> None:
    frame = _data()
    model = LinearRegression().fit(frame[["age", "income"]], frame["income"] / 1000 - frame["age"])
    gates = [
        _gate(invariance=[{"column": "applicant_id"}, {"column": "age"}]),
        _gate(id="d", directional=[{"column": "age", "direction": "decreasing"}]),
    ]
    path = _project(tmp_path, gates, model=model)
    cfg = yaml.safe_load(path.read_text())
    cfg["task"] = {"type": "regression", "label": "income"}
    path.write_text(yaml.safe_dump(cfg))
    got = _run(path)
    # applicant_id is not an input of this model at all: trivially invariant, and said so.
    assert got["b[invariance=applicant_id]"].status == "pass"
    assert "not among the model's features" in got["b[invariance=applicant_id]"].message
    assert got["b[invariance=age]"].status == "fail"  # any change of the value counts
    assert got["d[directional=age]"].status == "pass"


# --- cases ---------------------------------------------------------------------------


def test_cases(tmp_path: Path) -> None:
    rich = {"applicant_id": "A00001", "age": 30, "income": 190_000.0, "region": "north"}
    poor = {**rich, "income": 1_000.0}
    gate = _gate(
        cases=[
            {"name": "rich", "row": rich, "label": 1, "min_score": 0.9},
            {"name": "poor-wrongly-expected", "row": poor, "label": 1},
            {"name": "typo", "row": {**rich, "incme": 5}, "label": 1},
            {"name": "short", "row": {"age": 30}, "label": 0},
        ]
    )
    got = _run(_project(tmp_path, [gate]))
    assert got["b[case=rich]"].status == "pass" and got["b[case=rich]"].observed > 0.9
    bad = got["b[case=poor-wrongly-expected]"]
    assert bad.status == "fail" and "label 0, expected 1" in bad.message
    assert bad.details["predicted"]["label"] == 0
    typo = got["b[case=typo]"]
    assert typo.status == "error" and "unknown column 'incme'" in typo.message
    assert "did you mean 'income'?" in typo.message
    short = got["b[case=short]"]
    assert short.status == "error" and "'applicant_id', 'income', 'region'" in short.message


# --- schemas that cannot generate rows, and other bad input ---------------------------


def test_custom_check_without_strategy_names_column_and_check(tmp_path: Path) -> None:
    path = _project(tmp_path, [_gate(schema="rules:SCHEMA", invariance=[{"column": "region"}])])
    (tmp_path / "rules.py").write_text(
        "import pandera.pandas as pa\n"
        "from tests_schema import base\n"
        "SCHEMA = base()\n"
        "SCHEMA.columns['income'] = pa.Column(float, pa.Check(lambda s: s % 1 == 0, "
        "name='whole_dollars'))\n"
    )
    (tmp_path / "tests_schema.py").write_text(
        "import pandera.pandas as pa\n"
        "def base():\n"
        f"    return pa.DataFrameSchema.from_yaml({str(tmp_path / 'schema.yaml')!r})\n"
    )
    got = _run(path)
    v = got["b[invariance=region]"]
    assert v.status == "error"
    assert "column 'income' has check 'whole_dollars'" in v.message
    assert "rows: data" in v.message
    # The documented way out: draw rows from the data instead.
    cfg = yaml.safe_load(path.read_text())
    cfg["gates"][0]["rows"] = "data"
    path.write_text(yaml.safe_dump(cfg))
    assert _run(path)["b[invariance=region]"].status == "fail"


@pytest.mark.parametrize("rows", ["schema", "data"])
def test_unknown_column_is_a_clear_error(tmp_path: Path, rows: str) -> None:
    got = _run(_project(tmp_path, [_gate(rows=rows, invariance=[{"column": "regoin"}])]))
    v = got["b[invariance=regoin]"]
    assert v.status == "error" and "'regoin'" in v.message and "did you mean 'region'?" in v.message


def test_predictions_that_cannot_be_made(tmp_path: Path) -> None:
    path = _project(tmp_path, [_gate(invariance=[{"column": "region"}])])
    (tmp_path / "model.skops").write_bytes(b"not a model")
    (v,) = _run(path).values()
    assert v.status == "error" and "cannot load the model" in v.message


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (
            {"directional": [{"column": "age", "direction": "up"}]},
            "gates.0.directional.0.direction: Input should be 'increasing' or 'decreasing'",
        ),
        ({"invariance": [{"colum": "age"}]}, "did you mean 'column'?"),
        ({"rows": "schema", "schema": None, "invariance": [{"column": "a"}]}, "rows: data"),
        ({"invariance": []}, "give at least one of `invariance`, `directional`, `cases`"),
        ({"cases": [{"name": "x", "row": {}}]}, "give an expectation"),
        ({"cases": [{"name": "x", "row": {}, "label": 1}] * 2}, "repeated: x"),
        ({"directional": [{"column": "age", "direction": "increasing", "delta": 0}]}, "delta"),
        ({"max_examples": 0, "invariance": [{"column": "a"}]}, "max_examples"),
    ],
)
def test_config_errors(gate: dict[str, Any], expected: str) -> None:
    spec = {"kind": "behaviour", "schema": "s.yaml", **gate}
    cfg = {
        "version": 1,
        "data": {"path": "d.csv"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": "m.joblib"},
        "gates": [spec],
    }
    with pytest.raises(ConfigError) as info:
        config_from_dict(cfg)
    assert expected in str(info.value)


def test_config_errors_across_sections() -> None:
    base = {"version": 1, "data": {"path": "d.csv"}, "gates": []}
    gate = {"kind": "behaviour", "rows": "data", "invariance": [{"column": "a"}]}
    with pytest.raises(ConfigError, match=r"candidate\.model: gate 'behaviour'"):
        config_from_dict(
            {
                **base,
                "task": {"type": "binary", "label": "y"},
                "candidate": {"predictions": "p"},
                "gates": [gate],
            }
        )
    multi = {**base, "task": {"type": "multiclass", "label": "y"}, "candidate": {"model": "m"}}
    with pytest.raises(ConfigError, match="directional checks move a score"):
        config_from_dict(
            {
                **multi,
                "gates": [{**gate, "directional": [{"column": "a", "direction": "increasing"}]}],
            }
        )


def test_report_and_cli(tmp_path: Path) -> None:
    gates = [
        _gate(id="ok", invariance=[{"column": "applicant_id"}]),
        _gate(id="warned", severity="warn", invariance=[{"column": "region"}]),
    ]
    path = _project(tmp_path, gates)
    assert main(["check", "--config", str(path), "--report-dir", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    validate_report(doc)
    warned = next(g for g in doc["gates"] if g["id"] == "warned[invariance=region]")
    assert warned["status"] == "warn" and warned["details"]["counterexample"]["shrunk"]
    assert warned["details"]["counterexample"]["shrink_complete"] in (True, False)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "**Behaviour counterexamples**" in md and "warned\\[invariance=region\\]" in md


def test_every_behaviour_key_is_documented() -> None:
    doc = (ROOT / "docs" / "behaviour.md").read_text()
    for model in (BehaviourGate, InvarianceCheck, DirectionalCheck, MinimumCase):
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in doc, f"{model.__name__}.{key} is not in docs/behaviour.md"


def _doc_configs() -> list[str]:
    text = (ROOT / "docs" / "behaviour.md").read_text()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "version: 1" in b]


@pytest.mark.parametrize("block", _doc_configs())
def test_docs_snippets_run(tmp_path: Path, block: str) -> None:
    """Each config in docs/behaviour.md runs as written, on the data, model and schema
    the page describes, and gives the outcomes its comments promise."""
    path = _project(tmp_path, [])
    path.write_text(block)
    got = _run(path)
    for g in got.values():
        promised = re.search(rf"id: {re.escape(g.gate)}\s+# (\w+)", block)
        assert g.status != "error", g.message
        if promised:
            assert g.status == promised.group(1), g.message


class CountingClassifier(LogisticRegression):
    """A logistic regression that records the rows of each predict call (a class attribute:
    the gates load their own copy of the model from its file)."""

    calls: list[int] = []  # noqa: RUF012 - shared on purpose, see above

    def predict(self, X: Any) -> Any:
        CountingClassifier.calls.append(len(X))
        return super().predict(X)


def test_each_property_scores_all_its_examples_in_one_model_call(tmp_path: Path) -> None:
    frame = _data()
    model = CountingClassifier(max_iter=5000).fit(frame[["age", "income"]], frame["approved"])
    gates = [_gate(rows="data", max_examples=40, invariance=[{"column": "region"}])]
    path = _project(tmp_path, gates)
    sio.dump(model, tmp_path / "model.skops")
    cfg = yaml.safe_load(path.read_text())
    cfg["candidate"]["trusted_types"] = [f"{__name__}.CountingClassifier"]
    path.write_text(yaml.safe_dump(cfg))
    CountingClassifier.calls.clear()

    (v,) = _run(path).values()

    assert v.status == "pass" and v.support == 40
    # The evaluation rows, then the 40 examples before and after the change, together.
    assert CountingClassifier.calls == [len(frame), 80]


def test_the_candidate_is_loaded_once_for_predictions_and_behaviour(tmp_path: Path) -> None:
    # A registry alias resolved twice could name two versions in one run; counting loads
    # through a loader of our own shows the behaviour gate calls the model that predicted.
    from mlops_gates.sources import models

    loads: list[str] = []

    def counting(ref: str, base_dir: Path, trust: models.ModelTrust) -> models.LoadedModel:
        loads.append(ref)
        return models.load_model(ref.removeprefix("counting:"), base_dir, trust)

    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
        _gate(rows="data", max_examples=20, invariance=[{"column": "applicant_id"}]),
    ]
    path = _project(tmp_path, gates, candidate={"model": "counting:model.skops"})
    models.register_loader("counting", counting)
    try:
        got = _run(path)
    finally:
        models._LOADERS.pop("counting")
    assert loads == ["counting:model.skops"]
    assert got["acc"].status == "pass" and got["b[invariance=applicant_id]"].status == "pass"
