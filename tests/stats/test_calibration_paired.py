"""The paired candidate-vs-baseline calibration comparison (stats/calibration_paired.py).

Oracles: Kumar, Liang & Ma's own ``uncertainty-calibration`` package for the debiased
squared ℓ2 calibration error, a pandas crosstab of the rows for the joint bins, the
empirical variance of the estimator over simulated labels for its variance formula, and
seeded simulations (true probabilities known) for the interval's coverage and its rate of
false "better" verdicts. bench/calibration_paired.py runs the same simulations larger.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from calibration import utils as kumar
from numpy.typing import NDArray

from mlops_gates.stats.calibration import Strategy, calibration_bins
from mlops_gates.stats.calibration_paired import (
    _variance_at,
    joint_calibration_bins,
    l2_calibration_error,
    l2_difference,
)
from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores

Array = NDArray[np.float64]


def _sigmoid(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _tables(
    s_c: Array, s_b: Array, y: NDArray[np.int64], group: NDArray[np.int64], s_count: int
) -> tuple:  # type: ignore[type-arg]
    tc = reduce_scores(group, s_count, y, s_c)
    tb = reduce_scores(group, s_count, y, s_b)
    idx_c = np.searchsorted(tc.thresholds, s_c)
    idx_b = np.searchsorted(tb.thresholds, s_b)
    return tc, tb, reduce_joint_scores(group, s_count, y, idx_c, idx_b)


def _paired(
    s_c: Array,
    s_b: Array,
    y: NDArray[np.int64],
    group: NDArray[np.int64],
    s_count: int,
    *,
    bins: int = 10,
    strategy: Strategy = "uniform",
) -> tuple:  # type: ignore[type-arg]
    tc, tb, joint = _tables(s_c, s_b, y, group, s_count)
    cb = calibration_bins(tc, n_bins=bins, strategy=strategy)
    bb = calibration_bins(tb, n_bins=bins, strategy=strategy)
    return cb, bb, joint_calibration_bins(joint, tc, tb, cb, bb)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n", [40, 3000])
def test_squared_l2_equals_kumars_package(strategy: Strategy, n: int) -> None:
    rng = np.random.default_rng(n)
    p = rng.beta(2, 3, n)
    s = np.round(np.clip(p + rng.normal(0, 0.08, n), 0, 1), 3)  # ties and scores on edges
    y = (rng.random(n) < p).astype(np.int64)
    group = rng.integers(0, 2, n)
    tc = reduce_scores(group, 2, y, s)
    bins = calibration_bins(tc, n_bins=10, strategy=strategy)
    got = l2_calibration_error(bins)
    for g in range(2):
        rows = group == g
        # Kumar's bins are given by their upper edges; a score on an edge falls below it,
        # as in ours and scikit-learn's.
        want = kumar.unbiased_square_ce(
            kumar.fast_bin(list(zip(s[rows], y[rows], strict=True)), list(bins.edges[g, 1:]))
        )
        assert got[g] == pytest.approx(want, abs=1e-14)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_joint_bins_are_the_rows_crosstab(strategy: Strategy) -> None:
    rng = np.random.default_rng(7)
    n = 2500
    p = rng.beta(2, 5, n)
    s_c = np.round(p, 2)  # scores on the uniform edges
    s_b = np.round(np.clip(p + rng.normal(0, 0.1, n), 0, 1), 4)
    y = (rng.random(n) < p).astype(np.int64)
    group = rng.integers(0, 3, n)
    cb, bb, jb = _paired(s_c, s_b, y, group, 3, bins=8, strategy=strategy)
    for g in range(3):
        rows = group == g
        bc = np.searchsorted(cb.edges[g, 1:-1], s_c[rows])
        bbin = np.searchsorted(bb.edges[g, 1:-1], s_b[rows])
        frame = pd.DataFrame({"c": bc, "b": bbin, "y": y[rows]})
        rows_tab = pd.crosstab(frame.c, frame.b).reindex(
            index=range(8), columns=range(8), fill_value=0
        )
        pos_tab = (
            frame.groupby(["c", "b"])["y"].sum().unstack(fill_value=0)
            .reindex(index=range(8), columns=range(8), fill_value=0)
        )  # fmt: skip
        assert np.array_equal(jb.total[g], rows_tab.to_numpy())
        assert np.array_equal(jb.positives[g], pos_tab.to_numpy())


@pytest.mark.parametrize(
    ("case", "n"),
    [("both calibrated", 60), ("both calibrated", 300), ("one miscalibrated", 300)],
)
def test_variance_formula_equals_the_simulated_variance(case: str, n: int) -> None:
    """Scores fixed, labels drawn from one probability per joint cell: the estimator's
    variance over 6,000 label draws equals the formula's (near-calibrated too, where the
    delta method's variance is about 0)."""
    rng = np.random.default_rng(n)
    s_c = np.round(rng.beta(2, 3, n), 3)
    s_b = np.round(np.clip(s_c + rng.normal(0, 0.15, n), 0.001, 0.999), 3)
    group = np.zeros(n, dtype=np.int64)
    cb, bb, jb = _paired(s_c, s_b, np.zeros(n, dtype=np.int64), group, 1, bins=5)
    bc = np.searchsorted(cb.edges[0, 1:-1], s_c)
    b_b = np.searchsorted(bb.edges[0, 1:-1], s_b)
    # One probability per joint cell: its candidate scores' mean (calibrated), or that
    # pushed towards 0.5 (the candidate over-confident).
    cell = bc * 5 + b_b
    mean_c = np.bincount(cell, weights=s_c, minlength=25) / np.maximum(
        np.bincount(cell, minlength=25), 1
    )
    p_cell = mean_c if case == "both calibrated" else 0.5 + 0.6 * (mean_c - 0.5)
    p_row = p_cell[cell]
    reps = 6_000
    y = (rng.random((reps, n)) < p_row).astype(np.int64)
    g_all = np.repeat(np.arange(reps), n)
    cb_r, bb_r, jb_r = _paired(np.tile(s_c, reps), np.tile(s_b, reps), y.ravel(), g_all, reps,
                               bins=5)  # fmt: skip
    est, _, _ = l2_difference(cb_r, bb_r, jb_r)
    formula = _variance_at(cb, bb, jb.total, p_cell.reshape(1, 5, 5))[0]
    assert est.var(ddof=1) == pytest.approx(formula, rel=0.1)


# --- coverage ------------------------------------------------------------------------


def _partial_exact(x: Array) -> Array:
    """E[sigmoid(-1 + x + Z)] over a standard normal Z, by 40-node Gauss-Hermite."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    return np.asarray(_sigmoid(-1.0 + x[..., None] + nodes) @ (weights / weights.sum()))


# The quadrature at every row cost 80 % of this file's time: it is tabulated once on a
# grid of step 1e-3 and interpolated (error < 1e-8 on [-12, 12], far below the scores'
# rounding to 1e-4; a standard normal feature never leaves the grid).
# Candidate and baseline are still the same function of exchangeable features, and the
# population truth below uses the same function, so what the tests prove is unchanged.
_GRID = np.linspace(-12.0, 12.0, 24_001)
_PARTIAL = _partial_exact(_GRID)


def _partial(x: Array) -> Array:
    """E[sigmoid(-1 + x + Z)] over a standard normal Z: calibrated on x alone."""
    return np.asarray(np.interp(x, _GRID, _PARTIAL))


def _scores(case: str, x1: Array, x2: Array) -> tuple[Array, Array]:
    """(candidate, baseline) scores, rounded to 1e-4 so the tables stay small."""
    one, two = _partial(x1), _partial(x2)  # equally sharp, both calibrated
    if case == "same miscalibration":  # both shifted +0.3 on the logit scale
        one, two = (_sigmoid(np.log(v / (1 - v)) + 0.3) for v in (one, two))
    if case == "baseline over-confident":
        one = _sigmoid(1.4 * np.log(one / (1 - one)))
    return np.round(two, 4), np.round(one, 4)


def _population(case: str, strategy: Strategy) -> float:
    """The population difference CE²(candidate) − CE²(baseline): 0 by symmetry when the
    two models are the same function of exchangeable features, else from 2M rows."""
    if case != "baseline over-confident":
        return 0.0
    x1, x2 = np.random.default_rng(99).standard_normal((2, 2_000_000))
    p = _sigmoid(-1.0 + x1 + x2)
    out = []
    for s in _scores(case, x1, x2):
        q = np.linspace(0, 1, 11)
        edges = q if strategy == "uniform" else np.quantile(s, q)
        b = np.searchsorted(edges[1:-1], s)
        gap = np.bincount(b, weights=s - p, minlength=10)
        out.append(float((gap**2 / np.maximum(np.bincount(b, minlength=10), 1)).sum() / s.size))
    return out[0] - out[1]


def _simulate(case: str, n: int, datasets: int, strategy: Strategy, seed: int) -> dict:  # type: ignore[type-arg]
    """Every data set redraws its rows (features, so scores, and labels) from one
    population; coverage of the population difference and the rate of "better" verdicts."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((2, datasets, n))
    p = _sigmoid(-1.0 + x1 + x2)
    s_c, s_b = (v.ravel() for v in _scores(case, x1, x2))
    y = (rng.random((datasets, n)) < p).astype(np.int64).ravel()
    group = np.repeat(np.arange(datasets), n)
    cb, bb, jb = _paired(s_c, s_b, y, group, datasets, strategy=strategy)
    _, iv, _ = l2_difference(cb, bb, jb, level=0.95)
    truth = _population(case, strategy)
    return {
        "coverage": float(np.mean((iv.lo <= truth) & (truth <= iv.hi))),
        "below_truth": float(np.mean(iv.hi < truth)),
        "better": float(np.mean(iv.hi < 0)),
    }


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("case", ["equal", "same miscalibration"])
@pytest.mark.parametrize(("n", "datasets"), [(200, 1500), (16_000, 100)])
def test_equally_calibrated_models_are_rarely_called_better(
    case: str, strategy: Strategy, n: int, datasets: int
) -> None:
    """Two models equally (mis)calibrated in the population, every data set new rows: the
    interval says "candidate better" (upper end < 0) at most α/2 = 2.5 % of the time.
    Given the scores only (no composition variance), "same miscalibration" at 16k rows
    covered 0 in ~68 % of data sets and said "better" in 10-14 %."""
    res = _simulate(case, n, datasets, strategy, seed=n + len(strategy) + len(case))
    assert res["better"] <= 0.025 + 2 * np.sqrt(0.025 * 0.975 / datasets)
    assert res["below_truth"] <= 0.025 + 2 * np.sqrt(0.025 * 0.975 / datasets)
    assert res["coverage"] >= 0.95 - 2 * np.sqrt(0.05 * 0.95 / datasets)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_a_better_calibrated_candidate_is_shown_better_at_16k_rows(strategy: Strategy) -> None:
    """The baseline over-confident (logit × 1.4): "better" nearly always, and the interval
    still covers the population difference."""
    res = _simulate("baseline over-confident", 16_000, 100, strategy, seed=11)
    assert res["better"] >= 0.95
    assert res["coverage"] >= 0.95 - 2 * np.sqrt(0.05 * 0.95 / 100)


def test_the_tabulated_partial_score_is_the_quadrature() -> None:
    """The interpolated scores the simulations use are the quadrature's to 1e-8."""
    x = np.random.default_rng(5).uniform(-12, 12, 100_000)
    assert np.abs(_partial(x) - _partial_exact(x)).max() < 1e-8
