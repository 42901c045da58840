from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats as sps  # type: ignore[import-untyped]

from mlops_gates.stats.inference import (
    EXACT_BELOW,
    adjust,
    benjamini_hochberg,
    bootstrap_pvalue,
    discordant_counts,
    holm,
    mcnemar,
    mcnemar_batch,
)
from mlops_gates.stats.intervals import bootstrap_paired_difference
from mlops_gates.stats.reduce import marginalize, reduce_classification

from ._support import NAN, Rows, assert_close, classification_rows, no_warnings

FloatArray = NDArray[np.float64]

# --- McNemar ---------------------------------------------------------------------------


@given(b=st.integers(0, 60), c=st.integers(0, 60))
@settings(max_examples=300, deadline=None)
def test_mcnemar_exact_equals_binomial_test(b: int, c: int) -> None:
    if b + c == 0:
        assert mcnemar(b, c, exact=True) == 1.0
        return
    assert_close(mcnemar(b, c, exact=True), sps.binomtest(b, b + c, 0.5).pvalue)


@given(b=st.integers(0, 4000), c=st.integers(0, 4000))
@example(b=2, c=1089)  # a subnormal p-value where scipy's tail underflows to 0
@settings(max_examples=100, deadline=None)
def test_mcnemar_exact_for_many_discordant_rows(b: int, c: int) -> None:
    # Above 1000 discordant rows the tail is summed in floating point: agreement to 1e-8.
    expected = sps.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    got = mcnemar(b, c, exact=True)
    if expected == 0.0:
        # scipy's tail underflows to 0 (e.g. b=10, c=1065) where the true p-value is still
        # a double: check against exact rational arithmetic instead. Below 1e-300 the
        # value is subnormal (b=2, c=1089: 4.4e-323), with too few bits for a relative
        # tolerance, so it is compared absolutely there, as in the branch below.
        n, k = b + c, min(b, c)
        exact = min(Fraction(1), 2 * Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n))
        np.testing.assert_allclose(got, float(exact), rtol=1e-8, atol=1e-300)
        return
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-300)


def _chi_square_p(b: int, c: int) -> float:
    stat = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    return float(sps.chi2.sf(stat, df=1))


@given(b=st.integers(0, 500), c=st.integers(0, 500))
@settings(max_examples=200, deadline=None)
def test_mcnemar_asymptotic_equals_chi_square(b: int, c: int) -> None:
    if b + c == 0:
        assert mcnemar(b, c, exact=False) == 1.0
        return
    assert_close(mcnemar(b, c, exact=False), _chi_square_p(b, c))
    # Default: exact below EXACT_BELOW discordant rows, chi-square from there on.
    assert mcnemar(b, c) == mcnemar(b, c, exact=b + c < EXACT_BELOW)


MCNEMAR_CASES = [
    ("no-discordant-rows", 0, 0, None, 1.0),
    ("balanced-exact", 7, 7, True, 1.0),
    ("balanced-chi-square", 40, 40, False, 1.0),
    ("one-sided-small", 0, 5, None, 2 / 2**5),
    ("textbook-exact", 2, 10, True, 2 * (1 + 12 + 66) / 2**12),
]


@pytest.mark.parametrize(
    ("b", "c", "exact", "expected"),
    [c[1:] for c in MCNEMAR_CASES],
    ids=[c[0] for c in MCNEMAR_CASES],
)
def test_mcnemar_cases(b: int, c: int, exact: bool | None, expected: float) -> None:
    assert_close(mcnemar(b, c, exact=exact), expected)


@pytest.mark.parametrize(
    "bad", [(-1, 3), (2.5, 3), (True, 3)], ids=["negative", "fraction", "bool"]
)
def test_mcnemar_rejects_non_counts(bad: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="counts"):
        mcnemar(*bad)


def test_mcnemar_batch_is_elementwise() -> None:
    b, c = np.array([[0, 3], [30, 12]]), np.array([[0, 9], [10, 40]])
    got = mcnemar_batch(b, c)
    assert got.shape == (2, 2)
    assert_close(got, [[mcnemar(int(x), int(y)) for x, y in zip(r, s, strict=True)]
                       for r, s in zip(b, c, strict=True)])  # fmt: skip


@given(rows=classification_rows())
@settings(max_examples=100, deadline=None)
def test_discordant_counts_match_rows(rows: Rows) -> None:
    stats = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline,
        n_classes=rows.n_classes,
    )  # fmt: skip
    cand_right = rows.candidate == rows.y_true
    base_right = rows.baseline == rows.y_true
    for to_slice, n_slices, masks in rows.slices():
        b, c = discordant_counts(marginalize(stats, to_slice, n_slices).counts)
        assert b.tolist() == [int((cand_right & ~base_right & m).sum()) for m in masks]
        assert c.tolist() == [int((~cand_right & base_right & m).sum()) for m in masks]


def test_discordant_counts_need_a_baseline() -> None:
    with pytest.raises(ValueError, match="baseline"):
        discordant_counts(np.zeros((1, 2, 2, 1), dtype=np.int64))


# --- multiplicity ----------------------------------------------------------------------


def _textbook_holm(p: list[float]) -> list[float]:
    """Holm step-down, written as the textbook loop over the sorted defined p-values."""
    defined = [(v, i) for i, v in enumerate(p) if not math.isnan(v)]
    defined.sort(key=lambda t: t[0])
    m = len(defined)
    out = [NAN] * len(p)
    running = 0.0
    for j, (v, i) in enumerate(defined):
        running = max(running, min(1.0, (m - j) * v))
        out[i] = running
    return out


def _textbook_bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg step-up: from the largest p-value down, running minimum."""
    defined = [(v, i) for i, v in enumerate(p) if not math.isnan(v)]
    defined.sort(key=lambda t: t[0])
    m = len(defined)
    out = [NAN] * len(p)
    running = 1.0
    for j in range(m - 1, -1, -1):
        v, i = defined[j]
        running = min(running, m * v / (j + 1))
        out[i] = running
    return out


PVALUES = st.lists(
    st.sampled_from([NAN, 0.0, 0.001, 0.01, 0.02, 0.04, 0.05, 0.2, 0.5, 1.0]) | st.floats(0.0, 1.0),
    max_size=30,
)


@given(p=PVALUES)
@settings(max_examples=300, deadline=None)
def test_adjustments_equal_textbook_loops(p: list[float]) -> None:
    with no_warnings():
        got_holm, got_bh = holm(p), benjamini_hochberg(p)
    assert_close(got_holm, _textbook_holm(p))
    assert_close(got_bh, _textbook_bh(p))
    assert_close(adjust(p, "holm"), got_holm)
    assert_close(adjust(p, "bh"), got_bh)
    assert_close(adjust(p, "none"), p)
    defined = [v for v in p if not math.isnan(v)]
    if defined:
        assert_close(got_bh[~np.isnan(got_bh)], sps.false_discovery_control(defined, method="bh"))
        # Adjusted values keep the order of the raw ones and never fall below them (up to
        # the rounding of m·p/j); Holm is never below BH.
        a = np.array(p)
        ok = ~np.isnan(a)
        for adjusted in (got_holm, got_bh):
            order = np.argsort(a[ok], kind="stable")
            assert (np.diff(adjusted[ok][order]) >= 0).all()
            assert (adjusted[ok] >= a[ok] - 1e-15).all()
            assert (adjusted[ok] <= 1).all()
        assert (got_holm[ok] >= got_bh[ok] - 1e-15).all()


def test_adjustment_cases() -> None:
    p = [0.01, 0.04, NAN, 0.03, 0.005]
    assert_close(holm(p), [0.03, 0.06, NAN, 0.06, 0.02])
    assert_close(benjamini_hochberg(p), [0.02, 0.04, NAN, 0.04, 0.02])
    # Shape is kept, NaN not counted: m = 2 below.
    assert_close(holm(np.array([[0.01, NAN], [NAN, 0.2]])), [[0.02, NAN], [NAN, 0.2]])
    assert holm([]).shape == (0,)
    original = np.array([0.01, 0.02])
    adjust(original, "none")[0] = 1.0
    assert original[0] == 0.01  # a new array, never a view of the input


def test_adjustment_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])
    with pytest.raises(ValueError, match="method"):
        adjust([0.2], "bonferroni")  # type: ignore[arg-type]


# --- bootstrap p-value -----------------------------------------------------------------

PVALUE_CASES = [
    # (differences, margin, greater_is_better, expected)
    ("all-above", [0.1, 0.2, 0.3], 0.0, True, 1 / 4),
    ("margin-counts-as-wrong-side", [0.0, 0.2, 0.3], 0.0, True, 2 / 4),
    ("non-inferiority", [-0.02, -0.005, 0.01, 0.03], -0.01, True, 2 / 5),
    ("lower-is-better", [-0.02, -0.005, 0.01, 0.03], 0.0, False, 3 / 5),
    ("nan-dropped", [NAN, 0.1, -0.1, NAN], 0.0, True, 2 / 3),
    ("all-undefined", [NAN, NAN], 0.0, True, NAN),
]


@pytest.mark.parametrize(
    ("d", "margin", "greater", "expected"),
    [c[1:] for c in PVALUE_CASES],
    ids=[c[0] for c in PVALUE_CASES],
)
def test_bootstrap_pvalue_cases(
    d: list[float], margin: float, greater: bool, expected: float
) -> None:
    with no_warnings():
        got = bootstrap_pvalue(d, margin=margin, greater_is_better=greater)
    assert_close(got, expected)


def test_bootstrap_pvalue_per_slice_and_errors() -> None:
    d = np.array([[0.1, -0.1], [0.2, -0.2], [-0.1, NAN]])
    assert_close(bootstrap_pvalue(d), [2 / 4, 3 / 3])
    with pytest.raises(ValueError, match="R >= 1"):
        bootstrap_pvalue(np.empty((0, 2)))
    with pytest.raises(ValueError, match="margin"):
        bootstrap_pvalue([0.1], margin=math.nan)


def test_bootstrap_pvalue_level_under_the_null() -> None:
    """Candidate and baseline equally accurate (0.8) on 400 simulated datasets of 300
    rows: the superiority test (margin 0) from 500 paired replicates rejects at 5% in
    2-9% of the datasets (simulation standard error 0.011); with a true gain of 0.1
    (power about 0.93 by the normal approximation) it rejects in at least 80%."""
    rng = np.random.default_rng(77)

    def datasets(gain: float) -> NDArray[np.int64]:
        # Cells over (true, candidate, baseline) for binary labels, the true class a
        # fair coin; (candidate right, baseline right) with the given probabilities.
        right = {(1, 1): 0.7, (1, 0): 0.1 + gain, (0, 1): 0.1, (0, 0): 0.1 - gain}
        probs = np.zeros((2, 2, 2))
        for y in (0, 1):
            for (cr, br), q in right.items():
                probs[y, y if cr else 1 - y, y if br else 1 - y] += q / 2
        return rng.multinomial(300, probs.ravel(), size=400).reshape(400, 2, 2, 2)

    for gain, lo, hi in ((0.0, 0.02, 0.09), (0.1, 0.8, 1.0)):
        diffs = bootstrap_paired_difference("accuracy", datasets(gain), replicates=500, rng=rng)
        rejected = np.mean(bootstrap_pvalue(diffs) <= 0.05)
        assert lo <= rejected <= hi, gain
