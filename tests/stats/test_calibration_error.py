"""Expected calibration error and calibration-in-the-large from the score tables.

Oracles: scikit-learn's ``calibration_curve`` for the per-bin curve, an ECE written here
from the rows, statsmodels' ``proportion_confint`` for the CITL interval, and seeded
simulations for the coverage of the intervals. (tests/stats/test_calibration.py is about
the coverage of the other interval methods, not this.)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import binomtest
from sklearn.calibration import calibration_curve
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from mlops_gates.stats.calibration import (
    Strategy,
    calibration_bins,
    calibration_in_the_large,
    citl_pvalue,
    ece_difference,
    ece_difference_pvalue,
    ece_interval,
    ece_pvalue,
    expected_calibration_error,
)
from mlops_gates.stats.calibration_slope import calibration_slope
from mlops_gates.stats.proportions import Method
from mlops_gates.stats.reduce import marginalize, reduce_scores

from ._support import assert_close

# Values on the uniform edges (0.1, 0.5, ...) check that a score on an edge falls below it.
GRID = np.array([0.0, 0.05, 0.1, 0.2, 0.33, 0.5, 0.5001, 0.7, 0.9, 1.0])


def _rows(seed: int, n: int, n_groups: int, *, ties: bool) -> tuple[NDArray[np.int64], ...]:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    s = rng.choice(GRID, n) if ties else rng.beta(2, 3, n)
    y = (rng.random(n) < s**1.3).astype(np.int64)
    return g, y, s


def _ece_from_rows(
    y: NDArray[np.int64], s: NDArray[np.float64], edges: NDArray[np.float64]
) -> float:
    """ECE by the textbook loop: digitize(right=True) puts a value on an edge below it."""
    b = np.digitize(s, edges[1:-1], right=True)
    total = 0.0
    for k in np.unique(b):
        m = b == k
        total += m.sum() / len(y) * abs(s[m].mean() - y[m].mean())
    return total


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("ties", [True, False], ids=["grid", "continuous"])
@pytest.mark.parametrize("n_bins", [4, 10])
def test_curve_and_ece_equal_sklearn_and_rows(strategy: str, ties: bool, n_bins: int) -> None:
    g, y, s = _rows(7, 3000, 3, ties=ties)
    table = reduce_scores(g, 3, y, s)
    for to_slice, n_slices, masks in [
        (np.arange(3), 3, [g == i for i in range(3)]),
        (np.zeros(3, dtype=np.int64), 1, [np.ones_like(g, dtype=bool)]),
    ]:
        bins = calibration_bins(
            marginalize(table, to_slice, n_slices), n_bins=n_bins, strategy=strategy
        )
        ece = expected_calibration_error(bins)
        for i, m in enumerate(masks):
            rate, mean = calibration_curve(y[m], s[m], n_bins=n_bins, strategy=strategy)
            occupied = bins.total[i] > 0
            assert_close(bins.observed_rate()[i][occupied], rate)
            assert_close(bins.mean_score()[i][occupied], mean)
            edges = (
                np.percentile(s[m], np.linspace(0, 1, n_bins + 1) * 100)
                if strategy == "quantile"
                else np.linspace(0, 1, n_bins + 1)
            )
            assert_close(ece[i], _ece_from_rows(y[m], s[m], edges))


def test_citl_and_its_interval_equal_rows_and_statsmodels() -> None:
    g, y, s = _rows(3, 800, 2, ties=False)
    est, iv = calibration_in_the_large(reduce_scores(g, 2, y, s), level=0.9)
    for i in range(2):
        m = g == i
        assert_close(est[i], s[m].mean() - y[m].mean())
        lo, hi = proportion_confint(y[m].sum(), m.sum(), alpha=0.1, method="wilson")
        assert_close([iv.lo[i], iv.hi[i]], [s[m].mean() - hi, s[m].mean() - lo])


def test_empty_slice_is_nan_and_bad_scores_are_refused() -> None:
    table = reduce_scores(np.array([0, 0]), 2, np.array([0, 1]), np.array([0.2, 0.8]))
    bins = calibration_bins(table, n_bins=5, strategy="quantile")
    assert np.isnan(expected_calibration_error(bins)[1])
    assert np.isnan(ece_interval(bins).lo[1])
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*\[-0.5, 2\]"):
        calibration_bins(reduce_scores(np.array([0, 0]), 1, np.array([0, 1]), [-0.5, 2.0]))


def _conditional_truth(
    p: NDArray[np.float64], s: NDArray[np.float64], edges: NDArray[np.float64]
) -> float:
    """The ECE the interval targets: bins' mean score against their mean true probability."""
    b = np.digitize(s, edges[1:-1], right=True)
    return sum((b == k).mean() * abs(s[b == k].mean() - p[b == k].mean()) for k in np.unique(b))


@pytest.mark.parametrize(
    ("power", "strategy", "method", "least"),
    [
        (1.0, "uniform", "clopper_pearson", 0.9),
        (1.0, "quantile", "clopper_pearson", 0.9),
        (1.6, "quantile", "clopper_pearson", 0.9),
        # Why Clopper-Pearson is the default: at Bonferroni tails Wilson undercovers.
        (1.0, "uniform", "wilson", 0.8),
    ],
    ids=["calibrated-uniform", "calibrated-quantile", "miscalibrated", "wilson-undercovers"],
)
def test_ece_interval_covers_in_a_seeded_simulation(
    power: float, strategy: Strategy, method: Method, least: float
) -> None:
    rng = np.random.default_rng(2024)
    hits, false_alarms, checked, datasets, n = 0, 0, 0, 300, 400
    for _ in range(datasets):
        s = rng.beta(2, 3, n)
        p = s**power
        y = (rng.random(n) < p).astype(np.int64)
        bins = calibration_bins(
            reduce_scores(np.zeros(n, dtype=np.int64), 1, y, s), n_bins=10, strategy=strategy
        )
        truth = _conditional_truth(p, s, bins.edges[0])
        iv = ece_interval(bins, level=0.9, method=method)
        hits += bool(iv.lo[0] <= truth + 1e-12 and truth <= iv.hi[0] + 1e-12)
        if method == "clopper_pearson":
            # "ECE above the truth" at 0.05: the 95 % interval's lower end above it.
            false_alarms += ece_interval(bins, level=0.95).lo[0] > truth + 1e-12
            if checked < 40:  # the p-value is dual to the interval (that end leans on
                checked += 1  # both sides of every bin, hence 0.1 for the 90 % one)
                pv = ece_pvalue(bins, bound=truth, alternative="above")[0]
                assert (pv < 0.1) == (iv.lo[0] > truth)
    coverage = hits / datasets
    if method == "clopper_pearson":
        assert coverage >= least
        assert false_alarms / datasets <= 0.05
    else:
        assert least <= coverage < 0.9


def test_ece_interval_reaches_zero_for_a_calibrated_model() -> None:
    """Why the interval is not the bootstrap: for a calibrated model the true ECE is 0
    and every replicate is above 0, so the analytic interval must reach 0 where the
    estimate does not."""
    rng = np.random.default_rng(5)
    s = rng.beta(2, 3, 300)
    y = (rng.random(300) < s).astype(np.int64)
    bins = calibration_bins(reduce_scores(np.zeros(300, dtype=np.int64), 1, y, s))
    assert expected_calibration_error(bins)[0] > 0.02
    assert ece_interval(bins).lo[0] == 0.0


@pytest.mark.parametrize("stretch", [1.4, 1.1, 1.0])
def test_ece_difference_equals_rows_and_covers(stretch: float) -> None:
    """Candidate calibrated, baseline over-confident by ``stretch`` (1.0: the same)."""
    rng = np.random.default_rng(11)
    hits, datasets, n = 0, 150, 1500
    for d in range(datasets):
        s = rng.beta(2, 3, n)
        b = np.clip(s * stretch, 0, 1)
        y = (rng.random(n) < s).astype(np.int64)
        zeros = np.zeros(n, dtype=np.int64)
        cb = calibration_bins(reduce_scores(zeros, 1, y, s))
        bb = calibration_bins(reduce_scores(zeros, 1, y, b))
        est, iv = ece_difference(cb, bb, level=0.9)
        edges = np.linspace(0, 1, 11)
        if d == 0:
            assert_close(est[0], _ece_from_rows(y, s, edges) - _ece_from_rows(y, b, edges))
        truth = _conditional_truth(s, s, edges) - _conditional_truth(s, b, edges)
        hits += bool(iv.lo[0] <= truth + 1e-12 and truth <= iv.hi[0] + 1e-12)
        if d < 8:  # the p-value is dual to the interval, on both sides
            for margin in (0.0, truth, -0.05):
                up = ece_difference_pvalue(cb, bb, margin=margin, alternative="above")[0]
                down = ece_difference_pvalue(cb, bb, margin=margin, alternative="below")[0]
                assert (up < 0.1) == (iv.lo[0] > margin)
                assert (down < 0.1) == (iv.hi[0] < margin)
    assert hits / datasets >= 0.9
    # The interval ignores the pairing, so it is wide: a clearly better calibrated
    # candidate (true difference -0.15) is shown better from 5,000 rows, not 1,500.
    s = rng.beta(2, 3, 5000)
    y = (rng.random(5000) < s).astype(np.int64)
    zeros = np.zeros(5000, dtype=np.int64)
    cb = calibration_bins(reduce_scores(zeros, 1, y, s))
    bb = calibration_bins(reduce_scores(zeros, 1, y, np.clip(s * stretch, 0, 1)))
    shown = ece_difference_pvalue(cb, bb, margin=0.0, alternative="below")[0] < 0.05
    assert shown == (stretch == 1.4)
    with pytest.raises(ValueError, match="same rows"):
        ece_difference(cb, calibration_bins(reduce_scores(zeros[:10], 1, y[:10], s[:10])))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_entries_in_any_order_give_the_same_bins(strategy: Strategy) -> None:
    """The reduction stores entries by (group, score) and the fast path relies on it; a
    table in another order (hand-built, or from a backend) must give the same bins."""
    g, y, s = _rows(4, 2000, 3, ties=True)
    table = reduce_scores(g, 3, y, s)
    perm = np.random.default_rng(0).permutation(table.group.shape[0])
    shuffled = dataclasses.replace(
        table,
        group=table.group[perm],
        score=table.score[perm],
        pos=table.pos[perm],
        neg=table.neg[perm],
    )
    a = calibration_bins(table, n_bins=7, strategy=strategy)
    b = calibration_bins(shuffled, n_bins=7, strategy=strategy)
    assert_close(a.edges, b.edges)
    assert np.array_equal(a.total, b.total) and np.array_equal(a.positives, b.positives)
    assert_close(a.score_sum, b.score_sum)


def test_citl_pvalue_equals_scipy_and_statsmodels_tests() -> None:
    g, y, s = _rows(6, 600, 2, ties=False)
    table = reduce_scores(g, 2, y, s)
    _, iv = calibration_in_the_large(table, level=0.95)
    for bound, alternative in ((0.0, "above"), (0.02, "below"), (-0.05, "above")):
        exact = citl_pvalue(table, bound=bound, alternative=alternative, method="clopper_pearson")
        score = citl_pvalue(table, bound=bound, alternative=alternative)
        for i in range(2):
            m = g == i
            rate_bound = s[m].mean() - bound  # CITL above b <=> rate below s̄ - b
            side = "less" if alternative == "above" else "greater"
            assert_close(
                exact[i], binomtest(int(y[m].sum()), int(m.sum()), rate_bound, side).pvalue
            )
            _, p = proportions_ztest(
                y[m].sum(),
                m.sum(),
                rate_bound,
                alternative="smaller" if side == "less" else "larger",
                prop_var=rate_bound,
            )
            assert_close(score[i], p)
            # Dual to the 95 % interval: significant at 0.025 exactly when it excludes b.
            beyond = iv.lo[i] > bound if alternative == "above" else iv.hi[i] < bound
            assert (score[i] < 0.025) == beyond


def test_calibration_slope_equals_statsmodels_logistic_fit() -> None:
    import statsmodels.api as sm

    g, y, s = _rows(8, 1500, 3, ties=False)
    s = 0.02 + 0.96 * s  # no score at exactly 0 or 1
    a, b, a_iv, b_iv = calibration_slope(reduce_scores(g, 3, y, s), level=0.9)
    for i in range(3):
        m = g == i
        x = sm.add_constant(np.log(s[m] / (1 - s[m])))
        fit = sm.GLM(y[m], x, family=sm.families.Binomial()).fit()
        ci = fit.conf_int(alpha=0.1)  # statsmodels stops IRLS earlier: rtol 1e-5 there
        np.testing.assert_allclose([a[i], b[i]], fit.params, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose([a_iv.lo[i], a_iv.hi[i]], ci[0], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose([b_iv.lo[i], b_iv.hi[i]], ci[1], rtol=1e-5, atol=1e-8)


def test_calibration_slope_is_nan_where_no_fit_exists() -> None:
    z = np.zeros(4, dtype=np.int64)
    at_edge = reduce_scores(z, 1, [0, 1, 0, 1], [0.0, 0.3, 0.6, 0.9])
    one_class = reduce_scores(z, 1, [1, 1, 1, 1], [0.2, 0.3, 0.6, 0.9])
    separated = reduce_scores(z, 1, [0, 0, 1, 1], [0.2, 0.3, 0.6, 0.9])
    for table in (at_edge, one_class, separated):
        a, b, _, _ = calibration_slope(table)
        assert np.isnan(a[0]) and np.isnan(b[0])


def test_calibration_slope_wald_interval_covers_in_a_seeded_simulation() -> None:
    """True recalibration a = 0.3, b = 0.7 (over-confident scores): the 90 % Wald
    intervals cover about nominally at 600 rows."""
    rng = np.random.default_rng(31)
    a_true, b_true, datasets, n = 0.3, 0.7, 300, 600
    hits_a = hits_b = 0
    for _ in range(datasets):
        s = rng.beta(2, 3, n)
        eta = a_true + b_true * np.log(s / (1 - s))
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
        _, _, a_iv, b_iv = calibration_slope(
            reduce_scores(np.zeros(n, dtype=np.int64), 1, y, s), level=0.9
        )
        hits_a += bool(a_iv.lo[0] <= a_true <= a_iv.hi[0])
        hits_b += bool(b_iv.lo[0] <= b_true <= b_iv.hi[0])
    assert 0.86 <= hits_a / datasets <= 0.94
    assert 0.86 <= hits_b / datasets <= 0.94
