"""Test helpers: small data frames and configs, report validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPORT_SCHEMA = Path(__file__).parents[1] / "mlops_gates" / "schemas" / "report.schema.json"


def binary_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Labels, two models' predictions and scores, and two slice columns."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score_c = np.clip(y * 0.6 + rng.normal(0.2, 0.25, n), 0, 1).round(2)
    score_b = np.clip(y * 0.3 + rng.normal(0.35, 0.3, n), 0, 1).round(2)
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": (score_c >= 0.5).astype(int),
            "score_c": score_c,
            "pred_b": (score_b >= 0.5).astype(int),
            "score_b": score_b,
            "sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
            "region": rng.choice(["north", "south", "east", "tiny"], n, p=[0.4, 0.3, 0.28, 0.02]),
        }
    )


def base_config(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "version": 1,
        "data": {"path": "eval.csv"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred_c", "scores": "score_c"},
        "baseline": {"predictions": "pred_b", "scores": "score_b"},
        "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    }
    cfg.update(overrides)
    return cfg


def validate_report(doc: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(REPORT_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)


def paired_binned_tables(n_groups: int, rows: int, seed: int) -> tuple[Any, Any, Any]:
    """Two correlated models' binned score tables (256 bins) and their coarse joint grid
    (factor 16), as the engines make them; some groups empty, one with one class only
    (its paired standard error is NaN)."""
    from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores
    from mlops_gates.stats.scorebins import ScoreBins

    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, rows)
    group[group % 7 == 3] = 0  # empty groups
    y = (rng.random(rows) < 0.3).astype(np.int64)
    y[group == 5] = 1  # one class only
    latent = rng.normal(size=rows) + y
    tables, index = [], []
    for noise in (0.5, 0.8):
        s = 1 / (1 + np.exp(-(latent + rng.normal(scale=noise, size=rows))))
        bins = ScoreBins(float(s.min()), float(s.max()), 256)
        index.append(bins.codes(s).astype(np.int64))
        tables.append(reduce_scores(group, n_groups, y, index[-1], thresholds=bins.thresholds()))
    f = 16
    joint = reduce_joint_scores(group, n_groups, y, index[0] // f, index[1] // f, factor=f)
    return tables[0], tables[1], joint
