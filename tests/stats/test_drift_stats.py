"""Drift statistics equal scipy (or a direct formula) on generated and awkward data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats as sps  # type: ignore[import-untyped]
from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

from mlops_gates.stats import drift as d

from ._support import assert_close, no_warnings

FloatArray = NDArray[np.float64]

counts_pair = st.integers(1, 12).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 60), min_size=k, max_size=k),
        st.lists(st.integers(0, 60), min_size=k, max_size=k),
    )
)


def _psi_direct(r: list[int], c: list[int]) -> float:
    """The documented formula, written out: +0.5 on both sides of every non-empty bin."""
    kept = [(a + 0.5, b + 0.5) for a, b in zip(r, c, strict=True) if a + b > 0]
    nr, nc = sum(a for a, _ in kept), sum(b for _, b in kept)
    return sum((b / nc - a / nr) * math.log((b / nc) / (a / nr)) for a, b in kept)


# --- the statistics on two count tables --------------------------------------------------


@given(counts_pair)
@settings(max_examples=200, deadline=None)
def test_psi_equals_the_direct_formula(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    with no_warnings():
        got = d.psi(r, c)
    if sum(r) == 0 or sum(c) == 0:
        assert math.isnan(got)
    else:
        assert_close(got, _psi_direct(r, c))
        assert got >= -1e-12


def test_psi_known_value_with_an_empty_bin() -> None:
    # p = (10.5, 10.5, 0.5) / 21.5, q = (5.5, 10.5, 5.5) / 21.5
    p = np.array([10.5, 10.5, 0.5]) / 21.5
    q = np.array([5.5, 10.5, 5.5]) / 21.5
    assert_close(d.psi([10, 10, 0, 0], [5, 10, 5, 0]), np.sum((q - p) * np.log(q / p)))


@given(counts_pair)
@settings(max_examples=200, deadline=None)
def test_js_distance_equals_scipy_base_2(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    assume(sum(r) > 0 and sum(c) > 0)
    with no_warnings():
        got = d.js_distance(r, c)
    assert_close(got, jensenshannon(r, c, base=2))
    assert 0 <= got <= 1


@given(counts_pair)
@settings(max_examples=200, deadline=None)
def test_chi2_equals_chi2_contingency_without_correction(
    pair: tuple[list[int], list[int]],
) -> None:
    r, c = pair
    assume(sum(r) > 0 and sum(c) > 0)
    with no_warnings():
        got = d.chi2_homogeneity(r, c)
    table = np.array([r, c])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        assert (got.statistic, got.dof, got.p_value, got.cramers_v) == (0.0, 0, 1.0, 0.0)
        return
    ref = sps.chi2_contingency(table, correction=False)
    assert got.dof == ref.dof
    assert_close(got.statistic, ref.statistic)
    assert_close(got.p_value, ref.pvalue)
    assert_close(got.cramers_v, sps.contingency.association(table, method="cramer"))


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 40, 250])
def test_chi2_survival_function_equals_scipy(dof: int) -> None:
    for x in [0.0, 1e-3, 0.5, 1, 3, dof, 2 * dof, 50, 200, 800, 1500]:
        expected = sps.chi2.sf(x, dof)
        got = d.chi2_sf(x, dof)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (x, dof)


def test_kolmogorov_survival_function_equals_kstwobign() -> None:
    for z in np.linspace(0.0, 6.0, 241):
        assert d.kolmogorov_sf(float(z)) == pytest.approx(
            sps.kstwobign.sf(z), rel=1e-9, abs=1e-15
        ), z


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's, on tiny samples
@given(counts_pair)
@settings(max_examples=150, deadline=None)
def test_binned_ks_equals_ks_2samp_on_bin_indices(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    assume(sum(r) > 0 and sum(c) > 0)
    got = d.ks_binned(r, c)
    idx = np.arange(len(r))
    ref = sps.ks_2samp(np.repeat(idx, r), np.repeat(idx, c), method="asymp")
    assert_close(got.statistic, ref.statistic)
    en = sum(r) * sum(c) / (sum(r) + sum(c))
    assert_close(got.p_value, sps.kstwobign.sf(math.sqrt(en) * ref.statistic))


def test_ks_p_value_is_close_to_scipy_asymptotic_for_large_samples() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=20_000), rng.normal(0.03, 1, size=15_000)
    edges = d.quantile_edges(x, 1000)
    got = d.ks_binned(d.histogram(x, edges).counts, d.histogram(y, edges).counts)
    ref = sps.ks_2samp(x, y, method="asymp")
    assert got.statistic == pytest.approx(ref.statistic, abs=2e-3)
    assert got.p_value == pytest.approx(ref.pvalue, rel=0.5)


@given(
    st.lists(st.floats(-50, 50), min_size=1, max_size=30),
    st.lists(st.floats(-50, 50), min_size=1, max_size=30),
    st.data(),
)
@settings(max_examples=200, deadline=None)
def test_wasserstein_equals_scipy_with_weights(
    u: list[float], v: list[float], data: st.DataObject
) -> None:
    uw = data.draw(st.lists(st.integers(1, 20), min_size=len(u), max_size=len(u)))
    vw = data.draw(st.lists(st.integers(1, 20), min_size=len(v), max_size=len(v)))
    got = d.wasserstein(u, v, uw, vw)
    assert got == pytest.approx(sps.wasserstein_distance(u, v, uw, vw), rel=1e-9, abs=1e-9)


def test_wasserstein_of_discrete_features_is_exact() -> None:
    # At most `bins` distinct values: one bin per value, bin means are the values.
    rng = np.random.default_rng(0)
    x = rng.integers(1, 9, 3000).astype(float)
    y = rng.integers(2, 9, 2000).astype(float)
    edges = d.quantile_edges(x, 10)
    ref, cur = d.histogram(x, edges), d.histogram(y, edges)
    drift = d.compare_numeric(ref, cur, "wasserstein", scale=1.0)
    assert drift.value == pytest.approx(sps.wasserstein_distance(x, y), rel=1e-12)
    ks = d.compare_numeric(ref, cur, "ks")
    assert ks.value == pytest.approx(sps.ks_2samp(x, y).statistic, abs=1e-12)


def test_binned_numbers_are_close_to_the_raw_ones() -> None:
    """The accuracy docs/drift.md states: normal data, 20 bins."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=30_000)
    for shift, scale in [(0.0, 1.0), (0.1, 1.0), (0.5, 1.5)]:
        y = rng.normal(shift, scale, size=15_000)
        edges = d.quantile_edges(x, 20)
        ref, cur = d.histogram(x, edges), d.histogram(y, edges)
        w = d.compare_numeric(ref, cur, "wasserstein", scale=float(x.std(ddof=1)))
        exact_w = sps.wasserstein_distance(x, y) / x.std(ddof=1)
        assert abs(w.value - exact_w) < 0.01, (shift, scale)
        ks = d.compare_numeric(ref, cur, "ks")
        exact_ks = sps.ks_2samp(x, y).statistic
        assert ks.value <= exact_ks + 1e-12 <= ks.details["ks_upper_bound"] + 2e-12
        assert exact_ks - ks.value < 0.012


# --- binning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "bins", "edges"),
    [
        ([3.0] * 5, 10, [3.0, 3.0]),
        ([1.0, 2.0, 2.0, 5.0], 10, [1.0, 1.5, 3.5, 5.0]),
        ([np.nan, np.nan], 10, []),
        (list(range(100)), 4, [0.0, 24.75, 49.5, 74.25, 99.0]),
        # 0 holds 90 % of the rows: it keeps a bin of its own, [0, 50).
        ([0.0] * 90 + [100.0 + i for i in range(10)], 4, [0.0, 50.0, 109.0]),
    ],
    ids=["constant", "few-values", "all-missing", "quantiles", "zero-inflated"],
)
def test_quantile_edges(values: list[float], bins: int, edges: list[float]) -> None:
    assert_close(d.quantile_edges(values, bins), edges)


def test_histogram_counts_underflow_overflow_and_missing() -> None:
    h = d.histogram([-1, 0, 0.5, 1, 2, 2, 3, np.nan], [0.0, 1.0, 2.0])
    assert h.counts.tolist() == [1, 2, 3, 1]  # below 0; [0, 1); [1, 2] incl. 2; above 2
    assert h.missing == 1 and h.rows == 8
    assert_close(h.sums, [-1, 0.5, 5, 3])


def test_categories_top_k_other_and_new() -> None:
    ref = d.category_counts(["a"] * 5 + ["b"] * 3 + ["c"], missing=2, top_k=2)
    assert ref.categories == ("a", "b") and ref.counts.tolist() == [5, 3]
    assert (ref.other, ref.other_distinct, ref.missing) == (1, 1, 2)
    cur = d.count_into(ref, ["a", "c", "z", "z"], missing=0)
    # The reference lumped its rare values: unlisted values go to `other`.
    assert cur.categories == ("a", "b") and cur.other == 3 and cur.new == {"z": 2, "c": 1}
    full = d.category_counts(["a", "b"], top_k=5)
    cur = d.count_into(full, ["a", "z", "z", "y"])
    assert cur.categories == ("a", "b", "z", "y") and cur.counts.tolist() == [1, 0, 2, 1]
    drift = d.compare_categorical(full, cur, "psi")
    assert drift.details["new_categories"] == {"z": 2, "y": 1}
    assert drift.details["vanished_categories"] == ["b"]


# --- awkward data: never a crash, never a silent wrong number ----------------------------

STATS: list[d.Statistic] = ["psi", "js", "chi2", "wasserstein", "ks"]
maybe_missing = st.one_of(st.just(np.nan), st.floats(-1e6, 1e6))


@given(
    st.lists(maybe_missing, min_size=0, max_size=40),
    st.lists(maybe_missing, min_size=0, max_size=40),
    st.integers(2, 12),
)
@settings(max_examples=200, deadline=None)
def test_numeric_drift_on_any_data(x: list[float], y: list[float], bins: int) -> None:
    edges = d.quantile_edges(x, bins)
    ref, cur = d.histogram(x, edges), d.histogram(y, edges)
    assert ref.rows == len(x) and cur.rows == len(y)
    assert ref.counts[0] == ref.counts[-1] == 0  # a reference never leaves its own range
    xs = np.asarray(x, dtype=float)
    scale = float(np.nanstd(xs, ddof=1)) if np.count_nonzero(~np.isnan(xs)) > 1 else None
    for statistic in STATS:
        with no_warnings():
            drift = d.compare_numeric(ref, cur, statistic, scale=scale)
        if drift.support == 0:
            assert math.isnan(drift.value)
            continue
        assert drift.value >= -1e-12
        if statistic in ("js", "ks", "chi2"):
            assert drift.value <= 1 + 1e-12
        assert math.isnan(drift.p_value) or 0 <= drift.p_value <= 1


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([5.0] * 50, [5.0] * 30),  # constant, unchanged
        ([5.0] * 50, [6.0] * 30),  # constant, moved
        ([np.nan] * 50, [1.0] * 30),  # all missing in the reference
        ([1.0] * 50, [np.nan] * 30),  # all missing now
    ],
    ids=["constant", "constant-moved", "reference-all-missing", "current-all-missing"],
)
def test_awkward_numeric_columns(x: list[float], y: list[float]) -> None:
    edges = d.quantile_edges(x, 10)
    ref, cur = d.histogram(x, edges), d.histogram(y, edges)
    same = x[0] == y[0]
    with no_warnings():
        psi = d.compare_numeric(ref, cur, "psi")
        w = d.compare_numeric(ref, cur, "wasserstein", scale=0.0)
    assert (psi.value < 1e-9) if same else (psi.value > 1)
    if ref.present and cur.present:
        # std 0: the distance stays in the column's units, not divided by zero.
        assert w.value == pytest.approx(abs(y[0] - x[0])) and w.details["scale"] is None
    else:
        assert w.support == 0 and math.isnan(w.value)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [(["a"] * 10, ["a"] * 7), (["a"] * 10, ["b"] * 7), ([], ["b"] * 3)],
    ids=["single-category", "new-categories-only", "reference-all-missing"],
)
def test_awkward_categorical_columns(ref: list[str], cur: list[str]) -> None:
    table = d.category_counts(ref, missing=0 if ref else 5)
    counted = d.count_into(table, cur)
    for statistic in ("psi", "js", "chi2"):
        with no_warnings():
            drift = d.compare_categorical(table, counted, statistic)  # type: ignore[arg-type]
        if ref and set(ref) == set(cur):
            assert drift.value == pytest.approx(0.0, abs=1e-12)
        else:
            assert drift.value > 0.5
    assert d.compare_categorical(table, counted, "psi").details["new_categories"] == (
        {} if set(cur) <= set(ref) else {"b": len(cur)}
    )
    with pytest.raises(ValueError, match="numeric"):
        d.compare_categorical(table, counted, "ks")


@given(
    st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=40),
    st.lists(st.sampled_from(["x", "y", "v", "u"]), min_size=1, max_size=40),
    st.integers(1, 4),
)
@settings(max_examples=200, deadline=None)
def test_categorical_drift_on_any_data(ref: list[str], cur: list[str], top_k: int) -> None:
    table = d.category_counts(ref, top_k=top_k)
    counted = d.count_into(table, cur)
    assert counted.rows == len(cur)
    for statistic in ("psi", "js", "chi2"):
        with no_warnings():
            drift = d.compare_categorical(table, counted, statistic)  # type: ignore[arg-type]
        assert drift.value >= -1e-12 and 0 <= drift.p_value <= 1
