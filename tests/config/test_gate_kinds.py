"""The one list of gate kinds: a kind registered from outside the package joins the loader,
the error messages and the JSON Schema; ids are set once at load; the data path is
resolved once at load."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest
import yaml
from helpers import base_config
from pydantic import Field

from mlops_gates.config import (
    Config,
    ConfigError,
    DataConfig,
    GateBase,
    MetricGate,
    Sliced,
    config_from_dict,
    gate_id,
    gate_kinds,
    gate_model,
    json_schema,
    load_config,
    register_gate_kind,
    unregister_gate_kind,
)

BUILT_IN = (
    "schema",
    "metric",
    "fairness",
    "baseline",
    "drift",
    "staleness",
    "skew",
    "behaviour",
    "calibration",
    "churn",
    "slice_discovery",
)


class RowCountGate(GateBase, Sliced):
    """The data have at least `min` rows (a kind defined only in this test)."""

    kind: Literal["row_count"]
    min: int = Field(ge=0, description="Fewest rows the data may have.")


@pytest.fixture
def row_count() -> Iterator[type[RowCountGate]]:
    register_gate_kind(RowCountGate)
    try:
        yield RowCountGate
    finally:
        unregister_gate_kind("row_count")


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_built_in_kinds_are_listed_once_in_order() -> None:
    assert gate_kinds() == BUILT_IN
    assert all(gate_model(k) is not None for k in BUILT_IN)
    assert gate_model("nope") is None
    schema = json_schema()
    items = schema["properties"]["gates"]["items"]
    assert set(items["discriminator"]["mapping"]) == set(BUILT_IN)
    refs = [item["$ref"].rsplit("/", 1)[-1] for item in items["oneOf"]]
    assert refs == [gate_model(k).__name__ for k in BUILT_IN]  # type: ignore[union-attr]


def test_a_registered_kind_loads_from_yaml(tmp_path: Path, row_count: type) -> None:
    path = _write(
        tmp_path,
        base_config(
            gates=[
                {"kind": "row_count", "min": 10, "slices": ["sex"], "severity": "warn"},
                {"kind": "metric", "metric": "f1", "min": 0.5},
            ]
        ),
    )
    cfg = load_config(path)
    gate = cfg.gates[0]
    assert isinstance(gate, row_count)
    assert (gate.kind, gate.id, gate.min, gate.slices, gate.severity) == (
        "row_count",
        "row_count",
        10,
        ["sex"],
        "warn",
    )
    assert gate.min_support == 30  # the mixin's default
    assert isinstance(cfg.gates[1], MetricGate)
    assert gate_kinds() == (*BUILT_IN, "row_count")


def test_a_registered_kind_is_in_the_json_schema(row_count: type) -> None:
    schema = json_schema()
    items = schema["properties"]["gates"]["items"]
    assert items["discriminator"]["mapping"]["row_count"] == "#/$defs/RowCountGate"
    assert {"$ref": "#/$defs/RowCountGate"} in items["oneOf"]
    definition = schema["$defs"]["RowCountGate"]
    assert definition["properties"]["kind"]["const"] == "row_count"
    assert definition["properties"]["min"]["minimum"] == 0
    assert "min" in definition["required"]
    assert definition["additionalProperties"] is False


def test_a_registered_kind_gets_the_usual_messages(tmp_path: Path, row_count: type) -> None:
    def error(gate: dict) -> str:
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, base_config(gates=[gate])))
        return str(info.value)

    assert "gates.0.min: Input should be greater than or equal to 0 (got -1)" in error(
        {"kind": "row_count", "min": -1}
    )
    typo = error({"kind": "row_count", "min": 1, "mn_support": 3})
    assert "gates.0.mn_support: unknown key (did you mean 'min_support'?)" in typo
    assert "valid keys here: overall, slices, min_support, on_insufficient, id, severity" in typo
    unknown = error({"kind": "row_cont", "min": 1})
    assert "gates.0.kind: unknown gate kind; valid: schema, metric" in unknown
    assert unknown.split("(got")[0].rstrip().endswith(f"{', '.join(BUILT_IN)}, row_count")


def test_unregistering_restores_the_schema() -> None:
    before = json.dumps(json_schema())
    register_gate_kind(RowCountGate)
    try:
        assert "RowCountGate" in json_schema()["$defs"]
    finally:
        unregister_gate_kind("row_count")
    assert json.dumps(json_schema()) == before
    with pytest.raises(ConfigError, match="unknown gate kind"):
        config_from_dict(base_config(gates=[{"kind": "row_count", "min": 1}]))
    with pytest.raises(ConfigError, match="unknown gate kind"):
        config_from_dict(base_config(gates=[{"kind": "row_count", "min": 1}]))


def test_registering_checks_the_class() -> None:
    class NoLiteral(GateBase):
        kind: str

    class TwoKinds(GateBase):
        kind: Literal["a", "b"]

    class Clash(GateBase):
        kind: Literal["metric"]

    with pytest.raises(TypeError, match="not a subclass of GateBase"):
        register_gate_kind(DataConfig)  # type: ignore[type-var]
    with pytest.raises(TypeError, match=r"kind: Literal\['<name>'\]"):
        register_gate_kind(NoLiteral)
    with pytest.raises(TypeError, match=r"kind: Literal\['<name>'\]"):
        register_gate_kind(TwoKinds)
    with pytest.raises(TypeError, match="'metric' is already registered by MetricGate"):
        register_gate_kind(Clash)
    assert register_gate_kind(MetricGate) is MetricGate  # the same class again: no change
    with pytest.raises(ValueError, match="built-in"):
        unregister_gate_kind("metric")
    assert gate_kinds() == BUILT_IN


DEFAULT_IDS = [
    ({"kind": "metric", "metric": "f1", "min": 0}, "metric-f1"),
    ({"kind": "baseline", "metric": "recall", "max_drop": 0.1}, "baseline-recall"),
    (
        {"kind": "fairness", "metric": "demographic_parity_ratio", "sensitive": "sex", "min": 1},
        "fairness-demographic_parity_ratio-sex",
    ),
    ({"kind": "drift", "reference": "ref.json", "statistic": "ks"}, "drift-ks"),
    ({"kind": "schema", "schema": "s.yaml"}, "schema"),
    ({"kind": "staleness", "data": {"column": "t", "max_age": "1d"}}, "staleness"),
    ({"kind": "skew", "training": "a.csv", "serving": "b.csv", "key": "k"}, "skew"),
    (
        {"kind": "behaviour", "rows": "data", "cases": [{"name": "c", "row": {}, "label": 1}]},
        "behaviour",
    ),
    ({"id": "mine", "kind": "metric", "metric": "f1", "min": 0}, "mine"),
]


@pytest.mark.parametrize(("gate", "expected"), DEFAULT_IDS, ids=[e for _, e in DEFAULT_IDS])
def test_gate_ids_are_set_at_load(gate: dict, expected: str) -> None:
    candidate = {"model": "m.skops"} if gate["kind"] == "behaviour" else None
    overrides = {"candidate": candidate} if candidate else {}
    cfg = config_from_dict(base_config(gates=[gate], **overrides))
    loaded = cfg.gates[0]
    assert loaded.id == expected
    assert gate_id(loaded) == expected
    # Stored, not recomputed: copies carry it, and it is in the private state.
    assert loaded.model_copy().id == expected
    assert loaded.__pydantic_private__ == {"_id": expected}


def test_the_data_path_is_resolved_once_at_load(tmp_path: Path) -> None:
    sub = tmp_path / "project"
    sub.mkdir()
    cfg = load_config(_write(sub, base_config(data={"path": "data/eval.csv"})))
    assert cfg.data_path == sub.resolve() / "data" / "eval.csv"
    assert cfg.data.path == Path("data/eval.csv")  # what the user wrote stays as written
    # Absolute paths stay; without a file, relative paths stay relative.
    cfg = config_from_dict(base_config(data={"path": str(tmp_path / "x.parquet")}))
    assert cfg.data_path == tmp_path / "x.parquet"
    assert config_from_dict(base_config()).data_path == Path("eval.csv")
    # A config derived with other data (monitor's window) reads the new data, not a stale copy.
    window = cfg.model_copy(update={"data": DataConfig(path=tmp_path / "window.parquet")})
    assert window.data_path == tmp_path / "window.parquet"


def test_model_validate_without_a_file_still_sets_ids_and_paths() -> None:
    cfg = Config.model_validate(base_config(data={"path": "~/eval.csv"}))
    assert cfg.source is None
    assert cfg.data_path == Path("~/eval.csv").expanduser()
    assert cfg.gates[0].id == "acc"


def test_config_and_catalog_import_no_numpy() -> None:
    code = (
        "import sys, mlops_gates.catalog, mlops_gates.config\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_kind_with_no_evaluator_is_an_error_never_a_pass(
    make_project: Callable[..., Path], row_count: type
) -> None:
    from mlops_gates.gates.runner import run_gates

    gates = [{"kind": "row_count", "min": 1}, {"kind": "metric", "metric": "f1", "min": 0}]
    report = run_gates(load_config(make_project(base_config(gates=gates))))
    verdicts = {g.id: g for g in report.gates}
    assert verdicts["row_count"].status == "error"
    assert verdicts["row_count"].kind == "row_count"
    assert verdicts["metric-f1"].status == "pass"
    assert report.status == "error"  # a blocking gate that could not be judged
