"""Analytic proportion intervals, their dual tests, and simultaneous gap intervals,
against statsmodels and scipy (nobody here wrote them)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps  # type: ignore[import-untyped]
from statsmodels.stats import proportion as smp  # type: ignore[import-untyped]

from mlops_gates.stats.proportions import (
    METHODS,
    GapInference,
    Method,
    newcombe_interval,
    proportion_interval,
    proportion_pvalue,
)

from ._support import assert_close

_SM = {"wilson": "wilson", "jeffreys": "jeffreys", "clopper_pearson": "beta"}
CASES = [(x, n) for n in (1, 2, 7, 30, 113, 1000) for x in sorted({0, 1, n // 3, n - 1, n})]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_proportion_intervals_equal_statsmodels(method: Method, level: float) -> None:
    x = np.array([c[0] for c in CASES])
    n = np.array([c[1] for c in CASES])
    lo, hi = proportion_interval(method, x, n, level=level)
    want_lo, want_hi = smp.proportion_confint(x, n, alpha=1 - level, method=_SM[method])
    if method == "jeffreys":
        # The usual modification (Brown, Cai and DasGupta): ends fixed at 0 and 1 when
        # nothing (or everything) succeeded; statsmodels keeps the raw Beta quantiles.
        want_lo = np.where(x == 0, 0.0, want_lo)
        want_hi = np.where(x == n, 1.0, want_hi)
    assert_close(lo, want_lo)
    assert_close(hi, want_hi)


def test_thirty_of_thirty_has_the_wilson_interval_and_never_zero_width() -> None:
    lo, hi = proportion_interval("wilson", 30, 30)
    assert round(float(lo), 3) == 0.886 and float(hi) == 1.0
    for method in METHODS:
        lo, hi = proportion_interval(method, [0, 30], [30, 30])
        assert (hi - lo > 0.05).all(), method
    assert np.isnan(proportion_interval("wilson", 0, 0).lo)


@pytest.mark.parametrize("bound", [0.05, 0.5, 0.9, 0.95])
def test_wilson_pvalue_is_the_score_test(bound: float) -> None:
    x = np.array([c[0] for c in CASES])
    n = np.array([c[1] for c in CASES])
    for alternative, sm in (("below", "smaller"), ("above", "larger")):
        got = proportion_pvalue("wilson", x, n, bound=bound, alternative=alternative)
        want = [
            smp.proportions_ztest(k, m, value=bound, alternative=sm, prop_var=bound)[1]
            for k, m in zip(x, n, strict=True)
        ]
        assert_close(got, want)


def test_clopper_pearson_pvalue_is_the_exact_binomial_test() -> None:
    for (x, n), bound in itertools.product(CASES, (0.1, 0.5, 0.93)):
        below = proportion_pvalue("clopper_pearson", x, n, bound=bound, alternative="below")
        above = proportion_pvalue("clopper_pearson", x, n, bound=bound, alternative="above")
        assert_close(below, sps.binomtest(x, n, bound, alternative="less").pvalue)
        assert_close(above, sps.binomtest(x, n, bound, alternative="greater").pvalue)


@pytest.mark.parametrize("method", METHODS)
def test_pvalues_are_dual_to_the_intervals(method: Method) -> None:
    """p < a exactly when the two-sided 1 − 2a interval lies beyond the bound."""
    for (x, n), bound, a in itertools.product(CASES, (0.1, 0.5, 0.93), (0.01, 0.025, 0.1)):
        lo, hi = proportion_interval(method, x, n, level=1 - 2 * a)
        below = proportion_pvalue(method, x, n, bound=bound, alternative="below")
        above = proportion_pvalue(method, x, n, bound=bound, alternative="above")
        # Exactly at the boundary (p == a, the end == bound) either answer is right.
        if abs(below - a) > 1e-12 and abs(hi - bound) > 1e-12:
            assert (below < a) == (hi < bound), (x, n, bound, a)
        if abs(above - a) > 1e-12 and abs(lo - bound) > 1e-12:
            assert (above < a) == (lo > bound), (x, n, bound, a)


def test_pvalues_at_the_ends_of_the_range() -> None:
    for method in METHODS:
        p = proportion_pvalue(method, [0, 29, 30], 30, bound=1.0, alternative="below")
        assert list(p) == [0.0, 0.0, 1.0], method
        p = proportion_pvalue(method, [0, 29, 30], 30, bound=0.0, alternative="below")
        assert list(p) == [1.0, 1.0, 1.0], method


def test_newcombe_equals_statsmodels() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n1, n2 = rng.integers(1, 400, size=2)
        x1, x2 = rng.integers(0, n1 + 1), rng.integers(0, n2 + 1)
        want = smp.confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
        got = newcombe_interval(x1, n1, x2, n2)
        assert_close([got.lo, got.hi], want)


def test_two_groups_gap_interval_is_the_newcombe_interval_of_their_difference() -> None:
    x, n = np.array([[56, 48]]), np.array([[70, 80]])
    gi = GapInference([(x, n)], measure="difference")
    lo, hi = gi.interval(0.95)
    d_lo, d_hi = smp.confint_proportions_2indep(56, 70, 48, 80, method="newcomb", compare="diff")
    assert_close(gi.estimate(), [56 / 70 - 48 / 80])
    assert_close([lo[0], hi[0]], [max(d_lo, 0.0), max(abs(d_lo), abs(d_hi))])


def test_gap_interval_is_bonferroni_over_pairs_and_pvalue_is_dual() -> None:
    rng = np.random.default_rng(11)
    n = rng.integers(20, 300, size=(40, 4))
    x = rng.binomial(n, [0.2, 0.3, 0.3, 0.45])
    gi = GapInference([(x, n)], measure="difference")
    lo, hi = gi.interval(0.9)
    # By hand: six pairs, each Newcombe at 1 − 0.1/6, max over the pairs.
    for s in range(5):
        ends = [
            newcombe_interval(x[s, i], n[s, i], x[s, j], n[s, j], level=1 - 0.1 / 6)
            for i, j in itertools.combinations(range(4), 2)
        ]
        most = max(max(abs(e.lo), abs(e.hi)) for e in ends)
        least = max(max(e.lo, -e.hi, 0.0) for e in ends)
        assert_close([lo[s], hi[s]], [least, most])
    for bound, a in itertools.product((0.0, 0.05, 0.15, 0.3), (0.01, 0.05, 0.1)):
        lo, hi = gi.interval(1 - a)
        p_above = gi.pvalue(bound, "above")
        p_below = gi.pvalue(bound, "below")
        # Bisection precision: skip cases within a hair of the boundary.
        clear = np.abs(p_above - a) > 1e-9
        assert ((p_above < a) == (lo > bound))[clear].all()
        clear = np.abs(p_below - a) > 1e-9
        assert ((p_below < a) == (hi < bound))[clear].all()


@pytest.mark.parametrize("bound", [0.05, 0.6])
def test_gap_pvalue_when_every_stratum_is_decided_by_its_ends(bound: float) -> None:
    # Huge groups with a 0.3 gap: at bound 0.05 even the 1e-16-tail Newcombe interval
    # (statsmodels) lies above it, so p is the floor (two statements × 1e-16); at 0.6
    # the observed gap is below the bound, so no evidence: p = 1. The bisection is
    # skipped in both (every stratum settled); the numbers must not change.
    x, n = np.array([[300_000, 600_000], [30, 60]]), np.array([[1_000_000] * 2, [100] * 2])
    gi = GapInference([(x[:1], n[:1])], measure="difference")
    d_lo, _ = smp.confint_proportions_2indep(
        600_000, 1_000_000, 300_000, 1_000_000, method="newcomb", compare="diff", alpha=2e-16
    )
    if bound < d_lo:
        assert gi.pvalue(bound, "above").tolist() == [2 * 1e-16]
    else:
        assert gi.pvalue(bound, "above").tolist() == [1.0]
    # A second stratum that needs the bisection: the decided one keeps its value, and the
    # other's p is dual to its interval (statsmodels' Newcombe at 1 − p, Bonferroni × 2).
    both = GapInference([(x, n)], measure="difference")
    p = both.pvalue(bound, "above")
    assert p[0] == gi.pvalue(bound, "above")[0]
    if bound == 0.05:
        assert 1e-6 < p[1] < 1.0
        # A little wider than at p, the interval reaches the bound; a little narrower, not.
        for a, reaches in ((p[1] * 0.999, True), (p[1] * 1.001, False)):
            lo, _ = smp.confint_proportions_2indep(
                60, 100, 30, 100, method="newcomb", compare="diff", alpha=a
            )
            assert (lo <= bound) == reaches


def test_ratio_interval_from_simultaneous_group_intervals() -> None:
    x, n = np.array([[60, 80, 70]]), np.array([[200, 200, 150]])
    gi = GapInference([(x, n)], measure="ratio")
    lo, hi = gi.interval(0.95)
    g_lo, g_hi = smp.proportion_confint(x[0], n[0], alpha=0.05 / 3, method="wilson")
    assert_close(gi.estimate(), [0.3 / (70 / 150)])
    assert_close([lo[0], hi[0]], [g_lo.min() / g_hi.max(), min(1.0, g_hi.min() / g_lo.max())])


def test_fewer_than_two_defined_groups_is_undefined_not_zero() -> None:
    # TPR defined in one group only (no positives elsewhere); FPR in both.
    tpr = (np.array([[8, 0]]), np.array([[10, 0]]))
    fpr = (np.array([[3, 4]]), np.array([[40, 50]]))
    for parts in ([tpr], [tpr, fpr]):
        for measure in ("difference", "ratio"):
            gi = GapInference(parts, measure=measure)  # type: ignore[arg-type]
            assert np.isnan(gi.estimate()).all()
            assert np.isnan(gi.interval(0.95).lo).all()
            assert np.isnan(gi.pvalue(0.1, "above")).all()
    both = GapInference([fpr, fpr], measure="difference")
    assert not np.isnan(both.estimate()).any()
