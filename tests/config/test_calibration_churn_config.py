"""The calibration and churn kinds' config: defaults, ids, and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import base_config

from mlops_gates.config import (
    CalibrationGate,
    ChurnGate,
    ConfigError,
    config_from_dict,
    gate_kinds,
    json_schema,
    load_config,
)
from mlops_gates.config.calibration_churn import TOST_METRICS


def _load(tmp_path: Path, gates: list[dict[str, Any]], **cfg: Any) -> Any:
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(base_config(gates=gates, **cfg), sort_keys=False))
    return load_config(path)


def test_the_kinds_are_registered_with_their_schema() -> None:
    assert {"calibration", "churn"} <= set(gate_kinds())
    defs = json_schema()["$defs"]
    cal = defs["CalibrationGate"]["properties"]
    assert cal["statistic"]["enum"] == ["ece", "squared_l2", "citl", "slope", "intercept"]
    assert cal["strategy"]["enum"] == ["uniform", "quantile"]
    assert cal["bins"]["default"] == 10 and cal["min_support"]["default"] == 100
    churn = defs["ChurnGate"]["properties"]
    assert churn["direction"]["enum"] == ["any", "neg_to_pos", "pos_to_neg"]
    assert churn["max"]["anyOf"][0]["maximum"] == 1


def test_tost_metrics_agree_with_the_statistics() -> None:
    from mlops_gates.stats.churn import TOST_METRICS as STATS

    assert set(TOST_METRICS) == set(STATS)


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"kind": "calibration", "max": 0.05}, "calibration-ece"),
        ({"kind": "calibration", "statistic": "slope", "min": 0.8}, "calibration-slope"),
        (
            {"kind": "calibration", "compare": "baseline", "max": 0.0},
            "calibration-ece-vs-baseline",
        ),
        (
            {"kind": "calibration", "statistic": "squared_l2", "compare": "baseline", "max": 0},
            "calibration-squared_l2-vs-baseline",
        ),
        ({"kind": "churn", "max": 0.02}, "churn"),
        ({"kind": "churn", "max": 0.02, "direction": "pos_to_neg"}, "churn-pos_to_neg"),
        ({"kind": "churn", "metric": "accuracy", "within": 0.01}, "churn-accuracy"),
    ],
)
def test_default_ids(tmp_path: Path, gate: dict[str, Any], expected: str) -> None:
    config = _load(tmp_path, [gate])
    assert config.gates[0].id == expected
    assert isinstance(config.gates[0], CalibrationGate | ChurnGate)


@pytest.mark.parametrize(
    ("gate", "cfg", "field", "says"),
    [
        ({"kind": "calibration"}, {}, "gates.0", "give a bound"),
        (
            {"kind": "calibration", "statistic": "citl", "bins": 20, "max": 0.1},
            {},
            "gates.0.bins",
            "statistic: ece or squared_l2 only",
        ),
        (
            {"kind": "calibration", "statistic": "squared_l2", "max": 0.0},
            {},
            "gates.0.statistic",
            "add `compare: baseline`",
        ),
        (
            {"kind": "calibration", "statistic": "slope", "compare": "baseline", "min": 0},
            {},
            "gates.0.compare",
            "no candidate-vs-baseline form",
        ),
        ({"kind": "calibration", "max": 0.1, "bins": 0}, {}, "gates.0.bins", "greater than"),
        (
            {"kind": "calibration", "max": 0.1, "strategy": "kmeans"},
            {},
            "gates.0.strategy",
            "uniform",
        ),
        (
            {"kind": "calibration", "max": 0.1},
            {"task": {"type": "multiclass", "label": "y"}},
            "gates.0.kind",
            "binary task",
        ),
        (
            {"kind": "calibration", "max": 0.1},
            {"candidate": {"predictions": "pred_c"}},
            "candidate.scores",
            "add `scores: <column>`",
        ),
        (
            {"kind": "calibration", "compare": "baseline", "max": 0.0},
            {"baseline": {"predictions": "pred_b"}},
            "baseline.scores",
            "add `scores: <column>`",
        ),
        ({"kind": "churn"}, {}, "gates.0", "give `max`"),
        ({"kind": "churn", "max": 1.5}, {}, "gates.0.max", "less than or equal to 1"),
        ({"kind": "churn", "metric": "accuracy"}, {}, "gates.0.within", "both `metric`"),
        (
            {"kind": "churn", "metric": "precision", "within": 0.01},
            {},
            "gates.0.metric",
            "rows both models share",
        ),
        (
            {"kind": "churn", "metric": "accuracy", "within": 0.01, "max": 0.02},
            {},
            "gates.0.max",
            "does not apply to an equivalence test",
        ),
        (
            {"kind": "churn", "metric": "accuracy", "within": 0.01, "judge": "interval"},
            {},
            "gates.0.judge",
            "does not apply to an equivalence test",
        ),
        (
            {"kind": "churn", "max": 0.02},
            {"task": {"type": "regression", "label": "y"}},
            "gates.0.kind",
            "regression task",
        ),
        (
            {"kind": "churn", "max": 0.02, "direction": "neg_to_pos"},
            {"task": {"type": "multiclass", "label": "y"}},
            "gates.0.direction",
            "needs a binary task",
        ),
        ({"kind": "churn", "max": 0.02, "directoin": "any"}, {}, "gates.0.directoin", "unknown"),
    ],
)
def test_mistakes_get_one_message_naming_the_key(
    tmp_path: Path, gate: dict[str, Any], cfg: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, [gate], **cfg)
    text = str(info.value)
    assert "mlops-gates.yaml" in text
    assert f"{field}:" in text, text
    assert says in text, text
    assert "Traceback" not in text


def test_config_snippet_with_both_kinds_validates() -> None:
    config = config_from_dict(
        base_config(
            gates=[
                {"kind": "calibration", "max": 0.05, "slices": ["sex"], "judge": "interval"},
                {"kind": "calibration", "compare": "baseline", "max": 0.0},
                {"kind": "churn", "max": 0.02, "slices": ["sex", "region"]},
                {"kind": "churn", "metric": "recall", "within": 0.02},
            ]
        )
    )
    assert [g.kind for g in config.gates] == ["calibration", "calibration", "churn", "churn"]
