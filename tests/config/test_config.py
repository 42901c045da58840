"""Config validation: every mistake gets one message with file, field, value and choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import base_config

from mlops_gates.catalog import METRICS
from mlops_gates.config import (
    METRICS_BY_TASK,
    config_from_dict,
    json_schema,
    load_config,
)
from mlops_gates.errors import ConfigError

SCHEMA_FILE = Path(__file__).parents[2] / "mlops_gates" / "schemas" / "config.schema.json"


def _error(tmp_path: Path, cfg: dict | str) -> str:
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, message
    assert "Traceback" not in message
    return message


def _gate(**kw: object) -> dict:
    return base_config(gates=[kw])


CASES = [
    ("unknown-top-key", base_config(gatez=[]), ["gatez: unknown key", "did you mean 'gates'"]),
    (
        "typo-gate-key",
        _gate(kind="metric", metric="accuracy", mn=0.8),
        ["gates.0.mn: unknown key", "did you mean 'min'", "valid keys here:"],
    ),
    (
        "typo-metric",
        _gate(kind="metric", metric="acuracy", min=0.8),
        ["gates.0.metric: unknown metric", "did you mean 'accuracy'", "got 'acuracy'"],
    ),
    (
        "unknown-kind",
        _gate(kind="fairnes", metric="accuracy"),
        ["gates.0.kind: unknown gate kind", "schema, metric, fairness, baseline", "'fairnes'"],
    ),
    ("no-kind", _gate(metric="accuracy", min=1), ["gates.0", "needs `kind:`"]),
    ("no-bound", _gate(kind="metric", metric="accuracy"), ["gates.0", "give a bound"]),
    (
        "wrong-type",
        _gate(kind="metric", metric="accuracy", min="high"),
        ["gates.0.min", "valid number", "got 'high'"],
    ),
    (
        "bad-severity",
        _gate(kind="metric", metric="accuracy", min=0.5, severity="fatal"),
        ["gates.0.severity", "'block' or 'warn'", "got 'fatal'"],
    ),
    ("version", base_config(version=2), ["version: Input should be 1", "got 2"]),
    (
        "metric-for-task",
        base_config(
            task={"type": "regression", "label": "y"},
            candidate={"predictions": "p"},
            baseline=None,
        ),
        ["gates.0.metric", "does not apply to a regression task", "mae"],
    ),
    (
        "duplicate-id",
        base_config(gates=[{"id": "a", "kind": "metric", "metric": "f1", "min": 0}] * 2),
        ["gates.1.id", "duplicate gate id 'a'"],
    ),
    (
        "scores-needed",
        base_config(
            candidate={"predictions": "pred_c"},
            gates=[{"kind": "metric", "metric": "roc_auc", "min": 0.5}],
        ),
        ["candidate.scores", "needs scores"],
    ),
    (
        "model-and-predictions",
        base_config(candidate={"predictions": "p", "model": "m.skops"}),
        ["candidate", "exactly one of `model` or `predictions`"],
    ),
    (
        "fairness-measure-missing",
        _gate(kind="fairness", metric="recall", sensitive="sex", max=0.1),
        ["gates.0", "measure: difference"],
    ),
]


@pytest.mark.parametrize(("cfg", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_errors_name_the_field(tmp_path: Path, cfg: dict, expected: list[str]) -> None:
    message = _error(tmp_path, cfg)
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found.*mlops-gates init"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "version: 1\ngates: [\n  - x: :\n")
    assert "not valid YAML" in message
    assert "line" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "expected a mapping" in _error(tmp_path, "- just\n- a list\n")


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "project"
    sub.mkdir()
    path = sub / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(base_config()))
    cfg = load_config(path)
    assert cfg.resolve(cfg.data.path) == sub.resolve() / "eval.csv"
    assert cfg.resolve("/abs/x.csv") == Path("/abs/x.csv")


def test_default_ids_and_defaults() -> None:
    cfg = config_from_dict(
        base_config(
            gates=[
                {"kind": "metric", "metric": "f1", "min": 0.1},
                {
                    "kind": "fairness",
                    "metric": "demographic_parity_ratio",
                    "sensitive": "sex",
                    "min": 0.8,
                },
            ]
        )
    )
    from mlops_gates.config import gate_id

    assert [gate_id(g) for g in cfg.gates] == [
        "metric-f1",
        "fairness-demographic_parity_ratio-sex",
    ]
    assert cfg.gates[0].severity == "block"
    assert cfg.gates[0].min_support == 30  # type: ignore[union-attr]
    assert cfg.gates[1].resolved_measure == "ratio"  # type: ignore[union-attr]


def test_shipped_json_schema_is_current() -> None:
    """The committed schema equals what the models generate (regenerate with
    `mlops-gates config-schema > mlops_gates/schemas/config.schema.json`)."""
    assert json.loads(SCHEMA_FILE.read_text()) == json.loads(json.dumps(json_schema()))


def test_json_schema_accepts_the_example_config() -> None:
    import jsonschema

    example = Path(__file__).parents[2] / "examples" / "adult" / "mlops-gates.yaml"
    jsonschema.validate(yaml.safe_load(example.read_text()), json_schema())


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_metric_gates_accept_exactly_the_catalog_metrics_of_their_task(task: str) -> None:
    """`metric:` is checked against the one metric catalog (the stats implement every name
    of it: tests/stats/test_registry.py)."""
    candidate = {"predictions": "p", "scores": "s"} if task == "binary" else {"predictions": "p"}
    for name, spec in METRICS.items():
        cfg = base_config(
            task={"type": task, "label": "y"},
            candidate=candidate,
            baseline=None,
            gates=[{"kind": "metric", "metric": name, "min": 0}],
        )
        if task in spec.tasks:
            assert config_from_dict(cfg).gates[0].id == f"metric-{name}"
        else:
            with pytest.raises(ConfigError, match=f"does not apply to a {task} task"):
                config_from_dict(cfg)
    assert METRICS_BY_TASK[task] == tuple(n for n, s in METRICS.items() if task in s.tasks)
