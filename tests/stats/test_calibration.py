"""Calibration: seeded simulations with known truth, on reduced tables (never rows), that
fail if an interval undercovers or a judge fails too often at the nominal level.

Each cell draws ``D`` data sets and checks, for n in {30, 100, 1000}:

- coverage of the 95% interval >= 0.95 − 3·sqrt(0.95·0.05/D);
- `judge: interval` with the bound at the true value passes at most α/2 + tolerance
  (the interval's end must clear the truth);
- `judge: significance` with the bound at the true value fails at most α + tolerance.

Proportions draw their true value per data set from a range (Wilson's coverage oscillates
with p at small n; averaged over p it is nominal, the standard way to judge it). The longer
version, with the old methods for comparison, is bench/calibration.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from mlops_gates.stats.intervals import SMOOTHING, bootstrap_confusion, percentile_interval
from mlops_gates.stats.metrics import confusion_metric, score_metric
from mlops_gates.stats.normal import paired_roc_auc_difference_se
from mlops_gates.stats.proportions import (
    GapInference,
    Method,
    proportion_interval,
    proportion_pvalue,
)
from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores

FloatArray = NDArray[np.float64]
LEVEL, ALPHA = 0.95, 0.05
SIZES = [30, 100, 1000]


def _tol(rate: float, draws: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / draws)


def _check(
    covered: NDArray[np.bool_],
    false_pass: NDArray[np.bool_],
    false_fail: NDArray[np.bool_],
    slack: float = 0.0,
) -> None:
    d = covered.shape[0]
    assert covered.mean() >= LEVEL - _tol(LEVEL, d), f"coverage {covered.mean():.3f}"
    assert false_pass.mean() <= ALPHA / 2 + _tol(ALPHA / 2, d), f"pass {false_pass.mean():.3f}"
    limit = ALPHA + _tol(ALPHA, d) + slack
    assert false_fail.mean() <= limit, f"fail {false_fail.mean():.3f}"


# statistics.interval -> (interval, test behind judge: significance). `auto` tests with the
# exact binomial tail, whose level is guaranteed; the score test (wilson) and the Jeffreys
# tail are approximate one-sided tests, allowed 0.015 over α (measured up to 0.06 at
# n = 30 near 0, bench/calibration.py).
SETTINGS: dict[str, tuple[Method, Method, float]] = {
    "auto": ("wilson", "clopper_pearson", 0.0),
    "wilson": ("wilson", "wilson", 0.015),
    "jeffreys": ("jeffreys", "jeffreys", 0.015),
    "clopper_pearson": ("clopper_pearson", "clopper_pearson", 0.0),
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize(("low", "high"), [(0.6, 0.97), (0.02, 0.3)], ids=["high", "low"])
def test_proportion_intervals_and_judges(setting: str, n: int, low: float, high: float) -> None:
    """Accuracy-like (high) and FPR-like (low) proportions: a metric gate `min` (high) or
    `max` (low) at the true value."""
    method, test, slack = SETTINGS[setting]
    rng = np.random.default_rng([n, int(low * 100)])
    d = 4000
    p = rng.uniform(low, high, d)
    x = rng.binomial(n, p)
    lo, hi = proportion_interval(method, x, n, level=LEVEL)
    covered = (lo <= p) & (p <= hi)
    if low > 0.5:  # min: at the truth, interval passes when lo >= p; significance: p < α
        false_pass = lo >= p
        pv = proportion_pvalue(test, x, n, bound=p, alternative="below")
    else:
        false_pass = hi <= p
        pv = proportion_pvalue(test, x, n, bound=p, alternative="above")
    _check(covered, false_pass, pv < ALPHA, slack)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("metric", ["f1", "balanced_accuracy"])
def test_smoothed_bootstrap_of_derived_metrics(metric: str, n: int) -> None:
    """F1 and balanced accuracy of a good model (few errors: the case the plain bootstrap
    collapses on), percentile interval of the smoothed bootstrap, bound at the truth."""
    rng = np.random.default_rng([n, len(metric)])
    d, reps = 300, 400
    cells = np.array([0.55, 0.04, 0.05, 0.36])  # TN FP FN TP
    truth = float(confusion_metric(metric, cells.reshape(1, 2, 2))[0])
    data = rng.multinomial(n, cells, size=d).reshape(d, 2, 2)
    draws = bootstrap_confusion(data, replicates=reps, rng=rng, smoothing=SMOOTHING)
    samples = confusion_metric(metric, draws)
    lo, hi, _ = percentile_interval(samples, level=LEVEL)
    ok = ~np.isnan(lo)
    # One-sided p that the value is below the bound (the bootstrap p of a `min` gate).
    pv = (1 + (samples <= truth).sum(axis=0)) / (1 + (~np.isnan(samples)).sum(axis=0))
    _check(((lo <= truth) & (truth <= hi))[ok], (lo >= truth)[ok], (pv < ALPHA)[ok])


def _groups(rng: np.random.Generator, rates: list[float], n: int, d: int) -> FloatArray:
    return np.asarray(rng.binomial(n, rates, size=(d, len(rates))), dtype=np.float64)


GAPS = {
    "two groups .3 .4": [0.3, 0.4],
    "four groups .3 .3 .3 .4": [0.3, 0.3, 0.3, 0.4],
    "six identical groups .3": [0.3] * 6,
}


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("rates", list(GAPS.values()), ids=list(GAPS))
def test_demographic_parity_gap(rates: list[float], n: int) -> None:
    """Selection rates per group, n rows per group; bound `max` at the true gap (for six
    identical groups, whose gap is 0, the bound is 0.05 as in the issue)."""
    rng = np.random.default_rng([n, len(rates)])
    d = 1000
    x = _groups(rng, rates, n, d)
    gap = max(rates) - min(rates)
    bound = gap if gap > 0 else 0.05
    gi = GapInference([(x, np.full(x.shape, n))], measure="difference")
    lo, hi = gi.interval(LEVEL)
    pv = gi.pvalue(bound, "above")
    _check((lo <= gap) & (gap <= hi), hi <= gap if gap > 0 else hi < 0, pv < ALPHA)
    if gap == 0:  # the case: six identical groups never fail on significance
        assert (pv < ALPHA).mean() <= ALPHA + _tol(ALPHA, d)


@pytest.mark.parametrize("n", SIZES)
def test_equalized_odds_gap_over_both_rates(n: int) -> None:
    """Four groups with TPR .7 .7 .7 .8 and FPR .1 everywhere (gap: max of the two gaps,
    0.1); half the rows of each group positive."""
    rng = np.random.default_rng(n)
    d = 1000
    half = n // 2
    tp = _groups(rng, [0.7, 0.7, 0.7, 0.8], half, d)
    fp = _groups(rng, [0.1] * 4, n - half, d)
    gi = GapInference(
        [(tp, np.full(tp.shape, half)), (fp, np.full(fp.shape, n - half))], measure="difference"
    )
    lo, hi = gi.interval(LEVEL)
    pv = gi.pvalue(0.1, "above")
    _check((lo <= 0.1) & (hi >= 0.1), hi <= 0.1, pv < ALPHA)


@pytest.mark.parametrize("n", SIZES)
def test_disparate_impact_ratio(n: int) -> None:
    """Ratio of selection rates .32 / .4 = 0.8, bound `min` 0.8 (the four-fifths rule)."""
    rng = np.random.default_rng(n + 7)
    d = 1000
    x = _groups(rng, [0.4, 0.32, 0.4], n, d)
    gi = GapInference([(x, np.full(x.shape, n))], measure="ratio")
    lo, hi = gi.interval(LEVEL)
    pv = gi.pvalue(0.8, "below")
    _check((lo <= 0.8) & (hi >= 0.8), lo >= 0.8, pv < ALPHA)


def _auc_data(rng: np.random.Generator, n: int, rho: float) -> tuple[FloatArray, ...]:
    y = rng.integers(0, 2, n)
    common = rng.normal(size=n)
    noise_a, noise_b = rng.normal(size=n), rng.normal(size=n)
    a = y * 1.0 + math.sqrt(abs(rho)) * common + math.sqrt(1 - abs(rho)) * noise_a
    sign = 1.0 if rho >= 0 else -1.0
    b = y * 1.0 + sign * math.sqrt(abs(rho)) * common + math.sqrt(1 - abs(rho)) * noise_b
    return y, np.round(a, 2), np.round(b, 2)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("rho", [0.7, -0.5])
def test_paired_delong_difference(n: int, rho: float) -> None:
    """Two models of equal true AUC (same signal, noise correlated by rho): the true
    difference is 0; a baseline gate `max_drop: 0` at the truth."""
    rng = np.random.default_rng([n, int(rho * 10) + 10])
    d = 300 if n < 1000 else 150
    z = 1.959963984540054
    covered, false_pass, false_fail = [], [], []
    g0 = np.zeros(n, dtype=np.int64)
    for _ in range(d):
        y, a, b = _auc_data(rng, n, rho)
        ta, tb = reduce_scores(g0, 1, y, a), reduce_scores(g0, 1, y, b)
        joint = reduce_joint_scores(
            g0, 1, y, np.searchsorted(ta.thresholds, a), np.searchsorted(tb.thresholds, b)
        )
        diff = float(score_metric("roc_auc", ta)[0] - score_metric("roc_auc", tb)[0])
        se = float(paired_roc_auc_difference_se(ta, tb, joint)[0])
        covered.append(abs(diff) <= z * se)
        false_pass.append(diff - z * se >= 0)
        false_fail.append(diff / se < -1.6448536269514722)
    _check(np.array(covered), np.array(false_pass), np.array(false_fail))


def test_the_checks_can_fail() -> None:
    """The plain percentile bootstrap of an accuracy at n = 30 (the old default) fails the
    proportion check: the suite detects what the issue reported."""
    rng = np.random.default_rng(30)
    d, n = 2000, 30
    p = rng.uniform(0.85, 0.99, d)
    x = rng.binomial(n, p)
    cm = np.zeros((d, 2, 2), dtype=np.int64)
    cm[:, 1, 1], cm[:, 1, 0] = x, n - x
    lo, hi, _ = percentile_interval(
        confusion_metric("accuracy", bootstrap_confusion(cm, replicates=400, rng=rng))
    )
    check: Callable[[], None] = lambda: _check((lo <= p) & (p <= hi), lo >= p, lo > p)  # noqa: E731
    with pytest.raises(AssertionError, match="coverage"):
        check()
