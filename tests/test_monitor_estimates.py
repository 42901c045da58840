"""`mlops-gates monitor` estimates the performance of rows awaiting their label from the
model's scores (CBPE, issue #24 item 4): on the Adult example with the last two days'
labels withheld, the estimates land within their intervals of the true values (computed
with scikit-learn from the withheld labels); a fully labelled window, a regression task or
a candidate without scores gives no estimate, and nothing misleading.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import base_config
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from test_monitor import NOW, production, run

EXAMPLE = Path(__file__).parents[1] / "examples" / "adult"
POSITIVE = ">50K"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adult") / "adult"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", "models", "__pycache__"))
    proc = subprocess.run(
        [sys.executable, str(root / "train.py")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return root


def _adult_window(example: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """adult.test logged as a week of traffic by the deployed candidate model, the last two
    days' labels not arrived; the config's accuracy and ROC AUC gates plus an F1 gate. Also
    the withheld rows with their labels and the candidate's scores, for the truth."""
    scored = pd.read_parquet(example / "data" / "eval_with_predictions.parquet")
    rng = np.random.default_rng(24)
    scored["ts"] = pd.Timestamp(NOW) - pd.to_timedelta(rng.uniform(0, 7 * 86400, len(scored)), "s")
    late = scored.ts > pd.Timestamp(NOW) - pd.Timedelta(days=2)
    withheld = scored[late].reset_index(drop=True)
    prod = scored.drop(columns=[c for c in scored.columns if c.startswith(("pred_", "score_"))])
    prod.loc[late, "income"] = None
    prod.to_parquet(tmp_path / "recent.parquet", index=False)

    config = yaml.safe_load((example / "mlops-gates.yaml").read_text())
    keep = {"accuracy", "accuracy-by-slice", "roc-auc"}
    config["gates"] = [g for g in config["gates"] if g["id"] in keep] + [
        {"id": "f1", "kind": "metric", "metric": "f1", "min": 0.5, "slices": ["sex"]}
    ]
    config["candidate"]["model"] = str(example / "models" / "candidate.skops")
    config["data"]["path"] = str(tmp_path / "recent.parquet")
    del config["baseline"]
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, withheld


def _truth(rows: pd.DataFrame, metric: str) -> float:
    y = (rows["income"] == POSITIVE).to_numpy()
    score = rows["score_candidate"].to_numpy()
    if metric == "roc_auc":
        return float(roc_auc_score(y, score))
    predicted = score >= 0.5
    if metric == "f1":
        return float(f1_score(y, predicted))
    return float(accuracy_score(y, predicted))


def _rows_of(withheld: pd.DataFrame, slice_: dict[str, Any] | None) -> pd.DataFrame:
    keep = np.ones(len(withheld), dtype=bool)
    for col, value in (slice_ or {}).items():
        keep &= (withheld[col].isna() if value is None else withheld[col] == value).to_numpy()
    return withheld[keep]


def test_estimates_on_adult_land_within_their_intervals_of_the_withheld_truth(
    example: Path, tmp_path: Path
) -> None:
    path, withheld = _adult_window(example, tmp_path)
    code, doc = run(path, out=tmp_path / "out")
    mon = doc["context"]["monitor"]
    assert mon["unlabeled_rows"] == len(withheld) > 1000
    estimates = mon["estimates"]
    assert mon["estimates_note"] is None
    # One per slice each supported gate judges, each flagged as an estimate.
    assert {(e["gate"], e["metric"]) for e in estimates} == {
        ("accuracy", "accuracy"),
        ("accuracy-by-slice", "accuracy"),
        ("roc-auc", "roc_auc"),
        ("f1", "f1"),
    }
    assert all(e["method"] == "cbpe" and e["assumes"] == "calibrated scores" for e in estimates)
    covered = []
    for e in estimates:
        rows = _rows_of(withheld, e["slice"])
        assert e["rows"] == len(rows), e
        truth = _truth(rows, e["metric"])
        lo, hi = e["ci"]
        covered.append(lo <= truth <= hi)
        if e["slice"] is None:  # the whole unlabelled set: thousands of rows
            assert lo <= truth <= hi, (e, truth)
            assert hi - lo < 0.05, e
    # 95% intervals over ~45 slices: a few may miss by chance (and by imperfect
    # calibration in small slices), most must not.
    assert np.mean(covered) >= 0.85, list(zip(estimates, covered, strict=True))
    # Estimates never decide: the verdicts are the labelled rows' own.
    assert code == 0 and mon["retrain"] is False
    assert all(g["support"] <= mon["labeled_rows"] for g in doc["gates"] if g.get("support"))
    report_md = (tmp_path / "out" / "report.md").read_text()
    assert "### Estimated without labels" in report_md
    assert "assume calibrated scores" in report_md
    assert report_md.count("on ") >= len(estimates)

    # The labels arrive: the same window, every row labelled, has no estimate left.
    prod = pd.read_parquet(tmp_path / "recent.parquet")
    full = pd.read_parquet(example / "data" / "eval.parquet")["income"]
    prod["income"] = full.to_numpy()
    prod.to_parquet(tmp_path / "recent.parquet", index=False)
    code, doc = run(path, out=tmp_path / "labelled")
    mon = doc["context"]["monitor"]
    assert mon["unlabeled_rows"] == 0
    assert mon["estimates"] == [] and mon["estimates_note"] is None
    assert "Estimated without labels" not in (tmp_path / "labelled" / "report.md").read_text()
    acc = next(g for g in doc["gates"] if g["id"] == "accuracy")
    assert acc["support"] == len(prod)


def _synthetic(tmp_path: Path, **overrides: Any) -> Path:
    frame = production(1500, 7, days=7)
    frame.loc[frame.ts > pd.Timestamp(NOW) - pd.Timedelta(days=2), "y"] = None
    frame.to_parquet(tmp_path / "prod.parquet", index=False)
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    )
    config.update(overrides)
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_logged_scores_give_an_estimate_of_the_unlabelled_rows(tmp_path: Path) -> None:
    _, doc = run(_synthetic(tmp_path), out=tmp_path / "out")
    mon = doc["context"]["monitor"]
    (est,) = mon["estimates"]
    assert est["gate"] == "acc" and est["slice"] is None
    assert est["rows"] == mon["unlabeled_rows"] > 0


def test_without_scores_there_is_no_estimate_and_the_note_says_why(tmp_path: Path) -> None:
    path = _synthetic(tmp_path, candidate={"predictions": "pred"})
    code, doc = run(path, out=tmp_path / "out")
    mon = doc["context"]["monitor"]
    assert mon["estimates"] == []
    assert "candidate.scores" in mon["estimates_note"]
    assert code == 0  # the missing estimate is not a finding about the model
    md = (tmp_path / "out" / "report.md").read_text()
    assert "≈" not in md and "candidate.scores" in md


def test_a_regression_task_has_no_estimate_and_the_note_says_why(tmp_path: Path) -> None:
    path = _synthetic(
        tmp_path,
        task={"type": "regression", "label": "y"},
        candidate={"predictions": "score"},
        gates=[{"id": "mae", "kind": "metric", "metric": "mae", "max": 1.0}],
    )
    _, doc = run(path, out=tmp_path / "out")
    mon = doc["context"]["monitor"]
    # MAE is not a metric CBPE estimates: nothing to say at all.
    assert mon["estimates"] == [] and mon["estimates_note"] is None


# -- the estimates describe the model the gates judged (#24: one load per run) ----------------
class MovesWhenItPredicts:
    """A classifier of one feature `x` whose first prediction replaces its own file with
    `then`: what an alias moved mid-run looks like to a second load."""

    def __init__(self, slope: float, file: Path, then: MovesWhenItPredicts | None) -> None:
        self.slope, self.file, self.then = slope, file, then
        self.classes_ = np.array([0.0, 1.0])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        import pickle

        if self.then is not None:
            self.file.write_bytes(pickle.dumps(self.then))
            self.then = None
        p = 1.0 / (1.0 + np.exp(-self.slope * frame["x"].to_numpy()))
        return np.column_stack([1.0 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(frame)[:, 1] >= 0.5).astype(int)]


def test_estimates_use_the_model_the_gates_loaded_not_a_second_load(tmp_path: Path) -> None:
    import pickle

    rows = production(2000, 41, days=7).drop(columns=["pred", "score"])
    rows["y"] = (rows.x + np.random.default_rng(41).normal(0, 0.7, len(rows)) > 0).astype(float)
    late = rows.ts > pd.Timestamp(NOW) - pd.Timedelta(days=2)
    unlabelled = rows[late].reset_index(drop=True)
    rows.loc[late, "y"] = np.nan
    rows.to_parquet(tmp_path / "prod.parquet", index=False)
    file = tmp_path / "model.pkl"
    later = MovesWhenItPredicts(0.3, file, None)
    file.write_bytes(pickle.dumps(MovesWhenItPredicts(3.0, file, later)))
    config = base_config(
        data={"path": "prod.parquet"},
        candidate={"model": "model.pkl", "allow_pickle": True, "features": ["x"]},
        baseline=None,
        task={"type": "binary", "label": "y", "positive_label": 1.0},
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, doc = run(path, out=tmp_path / "out")
    assert code == 0, doc["gates"]
    [whole] = [e for e in doc["context"]["monitor"]["estimates"] if e["slice"] is None]
    # CBPE's expected accuracy is the mean confidence max(p, 1 - p) of the scores it used.
    x = unlabelled["x"].to_numpy()
    judged, moved = (1.0 / (1.0 + np.exp(-k * x)) for k in (3.0, 0.3))
    assert whole["value"] == pytest.approx(np.maximum(judged, 1 - judged).mean(), rel=1e-9)
    assert abs(whole["value"] - np.maximum(moved, 1 - moved).mean()) > 0.1
