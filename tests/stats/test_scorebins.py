"""Score bins: every backend's formula, the stated ROC AUC error bound, and cells with
weights reducing to the same tables as rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from mlops_gates.stats.metrics import score_metric
from mlops_gates.stats.reduce import reduce_classification, reduce_scores
from mlops_gates.stats.scorebins import ScoreBins, auc_error_bound


@st.composite
def scored_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = draw(st.integers(0, 300))
    n_groups = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y = rng.integers(0, 2, n)
    kind = draw(st.sampled_from(["continuous", "ties", "constant", "wide"]))
    if kind == "continuous":
        s = rng.random(n) * 0.5 + 0.5 * y * rng.random(n)
    elif kind == "ties":
        s = rng.choice([0.0, 0.2, 0.5, 1.0], n)
    elif kind == "constant":
        s = np.full(n, 0.3)
    else:
        s = rng.normal(0, 1e6, n)
    return groups, y, s, n_groups


@settings(max_examples=150, deadline=None)
@given(scored_rows(), st.sampled_from([1, 2, 16, 64, 4096]))
def test_binned_auc_is_within_the_stated_bound(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, int], n_bins: int
) -> None:
    groups, y, s, n_groups = rows
    lo, hi = (float(s.min()), float(s.max())) if s.size else (0.0, 0.0)
    bins = ScoreBins(lo, hi, n_bins)
    codes = bins.codes(s)
    assert codes.size == 0 or (codes.min() >= 0 and codes.max() < n_bins)
    table = reduce_scores(groups, n_groups, y, codes, thresholds=bins.thresholds())
    binned = score_metric("roc_auc", table)
    bound = auc_error_bound(table)
    for g in range(n_groups):
        yy = y[groups == g]
        if yy.size == 0 or yy.min() == yy.max():
            assert np.isnan(binned[g]) and np.isnan(bound[g])
            continue
        exact = roc_auc_score(yy, s[groups == g])
        assert abs(binned[g] - exact) <= bound[g] + 1e-12
        # The binned value is the exact AUC of the bin codes (bins are ties, nothing else).
        assert binned[g] == pytest.approx(roc_auc_score(yy, codes[groups == g]), abs=1e-12)


@pytest.mark.parametrize("n_bins", [1, 3, 64, 4096])
def test_codes_are_the_floor_formula_written_out(n_bins: int) -> None:
    """codes clips before the cast truncates: the same bins as floor, then clip, for
    scores inside, on the edges of and outside [lo, hi], bin boundaries and signed zeros."""
    rng = np.random.default_rng(n_bins)
    bins = ScoreBins(-0.25, 0.75, n_bins)
    edges = -0.25 + np.arange(n_bins + 1) / bins.scale
    s = np.concatenate(
        [rng.uniform(-0.25, 0.75, 5000), rng.normal(0.25, 3.0, 500), edges,
         np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
         [0.0, -0.0, -0.25, 0.75, -1e300, 1e300, np.inf, -np.inf]]
    )  # fmt: skip
    plain = np.clip(np.floor((s - bins.lo) * bins.scale), 0, n_bins - 1).astype(np.int64)
    assert np.array_equal(bins.codes(s), plain)


def test_bins_are_equal_width_and_keep_the_ends() -> None:
    bins = ScoreBins(0.0, 1.0, 4)
    assert bins.codes([0.0, 0.2499, 0.25, 0.5, 0.99, 1.0]).tolist() == [0, 0, 1, 2, 3, 3]
    np.testing.assert_array_equal(bins.thresholds(), [0.125, 0.375, 0.625, 0.875])
    one = ScoreBins(0.7, 0.7, 8)
    assert one.codes([0.7, 0.7]).tolist() == [0, 0]
    with pytest.raises(ValueError, match="lo <= hi"):
        ScoreBins(1.0, 0.0, 4)


@settings(max_examples=100, deadline=None)
@given(scored_rows())
def test_cells_with_weights_reduce_to_the_tables_of_the_rows(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    """What the SQL backends do: count rows per distinct cell, reduce the cells."""
    groups, y, s, n_groups = rows
    pred = (s > np.median(s) if s.size else s > 0).astype(np.int64)
    keys = np.stack([groups, y, pred, s.view(np.int64)], axis=1) if s.size else np.zeros((0, 4))
    cells, weights = np.unique(keys, axis=0, return_counts=True)
    cells = cells.astype(np.int64)
    cs = cells[:, 3].copy().view(np.float64)
    by_rows = reduce_classification(groups, n_groups, y, pred, n_classes=2, candidate_scores=s)
    by_cells = reduce_classification(
        cells[:, 0], n_groups, cells[:, 1], cells[:, 2], n_classes=2, candidate_scores=cs,
        weights=weights,
    )  # fmt: skip
    np.testing.assert_array_equal(by_rows.counts, by_cells.counts)
    a, b = by_rows.candidate_scores, by_cells.candidate_scores
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.thresholds, b.thresholds)
    for name in ("group", "score", "pos", "neg"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_weights_must_be_counts() -> None:
    with pytest.raises(ValueError, match="integer row counts"):
        reduce_classification([0], 1, [0], [0], n_classes=2, weights=[0.5])
    with pytest.raises(ValueError, match="non-negative"):
        reduce_classification([0], 1, [0], [0], n_classes=2, weights=[-1])
