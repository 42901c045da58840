"""Calibration and churn under DuckDB and Spark: the same verdicts as in memory, from the
same reduced tables (exact and binned scores)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from backends.test_engines import run

GATES: list[dict[str, Any]] = [
    {"id": "ece", "kind": "calibration", "max": 0.03, "slices": ["region", ["sex", "region"]],
     "min_support": 50},
    {"id": "ece-q", "kind": "calibration", "max": 0.05, "strategy": "quantile", "bins": 5,
     "slices": ["sex"], "judge": "significance"},
    {"id": "vs", "kind": "calibration", "compare": "baseline", "max": 0.0, "slices": ["sex"]},
    {"id": "vs-l2", "kind": "calibration", "statistic": "squared_l2", "compare": "baseline",
     "max": 0.0, "strategy": "quantile", "slices": ["sex", "region"], "judge": "interval"},
    {"id": "citl", "kind": "calibration", "statistic": "citl", "min": -0.02, "max": 0.02,
     "slices": ["region"]},
    {"id": "slope", "kind": "calibration", "statistic": "slope", "min": 0.8, "max": 1.2},
    {"id": "flips", "kind": "churn", "max": 0.05, "slices": ["sex", "region"],
     "judge": "interval"},
    {"id": "p2n", "kind": "churn", "max": 0.02, "direction": "pos_to_neg"},
    {"id": "tost", "kind": "churn", "metric": "recall", "within": 0.05, "slices": ["sex"]},
]  # fmt: skip


def frame(n: int = 4000, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    y = (rng.random(n) < p).astype(int)
    score_c = np.round(p**1.2, 3)
    score_b = np.clip(p + rng.normal(0, 0.05, n), 0.001, 0.999)
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": (score_c >= 0.45).astype(int),
            "score_c": score_c,
            "pred_b": (score_b >= 0.5).astype(int),
            "score_b": score_b,
            "sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
            "region": rng.choice(["north", "south", "east", "tiny"], n, p=[0.5, 0.3, 0.19, 0.01]),
        }
    )


def project(root: Path, df: pd.DataFrame, engine: str, score_bins: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    df.to_parquet(root / "eval.parquet", index=False)
    cfg = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred_c", "scores": "score_c"},
        "baseline": {"predictions": "pred_b", "scores": "score_b"},
        "backend": {"engine": engine, "score_bins": score_bins},
        "gates": GATES,
    }
    path = root / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _close(u: Any, v: Any, where: str) -> None:
    if u is None or v is None:
        assert u is v, where
        return
    assert math.isclose(u, v, rel_tol=0, abs_tol=1e-9), where


@pytest.mark.parametrize(
    ("engine", "score_bins"),
    [("duckdb", "exact"), ("duckdb", 64), pytest.param("spark", 64, marks=pytest.mark.spark)],
)
@pytest.mark.usefixtures("engine_ready")
def test_engines_give_the_memory_verdicts(tmp_path: Path, engine: str, score_bins: Any) -> None:
    df = frame()
    mem = run(project(tmp_path / "m", df, "memory", score_bins))
    other = run(project(tmp_path / "o", df, engine, score_bins))
    assert not mem.errors and all(g.status != "error" for g in mem.gates), [
        g.message for g in mem.gates if g.status == "error"
    ]
    assert {g.status for g in mem.gates} >= {"pass", "fail"}
    assert [g.id for g in mem.gates] == [g.id for g in other.gates]
    for x, y in zip(mem.gates, other.gates, strict=True):
        where = f"{x.id}: {x.message} | {y.message}"
        assert (x.status, x.reason, x.support) == (y.status, y.reason, y.support), where
        _close(x.observed, y.observed, where)
        assert (x.ci is None) == (y.ci is None), where
        if x.ci is not None and y.ci is not None:
            _close(x.ci[0], y.ci[0], where)
            _close(x.ci[1], y.ci[1], where)
        for key in ("candidate", "baseline", "p_value", "tost_p"):
            _close(x.details.get(key), y.details.get(key), where)
    if score_bins != "exact":
        assert all(g.details.get("scores_binned") for g in other.gates if g.kind == "calibration")
