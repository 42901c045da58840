from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats as sps  # type: ignore[import-untyped]
from sklearn import metrics as skm

from mlops_gates.stats.fairness import Criterion, Measure, between_groups_batch, parity_batch
from mlops_gates.stats.intervals import (
    _ROWS_PER_CELL,
    PROPORTIONS,
    bootstrap_between_groups,
    bootstrap_confusion,
    bootstrap_confusion_metric,
    bootstrap_paired,
    bootstrap_paired_difference,
    bootstrap_parity,
    bootstrap_score_difference,
    bootstrap_score_metric,
    clopper_pearson_interval,
    percentile_interval,
    proportion_counts,
    regression_interval,
    wilson_interval,
)
from mlops_gates.stats.metrics import confusion_metric, score_metric
from mlops_gates.stats.reduce import ScoreStats, reduce_classification, reduce_regression

from ._support import NAN, assert_close, no_warnings

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
LEVELS = [0.8, 0.9, 0.95, 0.99]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- count tables: invariants ----------------------------------------------------------


def test_bootstrap_confusion_keeps_each_slice_size_and_empty_slices() -> None:
    cm = np.array([[[50, 10], [5, 35]], [[0, 0], [0, 0]], [[0, 3], [0, 0]]])
    reps = bootstrap_confusion(cm, replicates=200, rng=_rng())
    assert reps.shape == (200, 3, 2, 2)
    assert reps.dtype == np.int64
    assert (reps.sum(axis=(2, 3)) == [100, 0, 3]).all()
    assert (reps[:, 1] == 0).all()
    # A cell that is empty can never be drawn; a slice with one occupied cell is fixed.
    assert (reps[:, 2] == cm[2]).all()
    assert (reps[:, 0][:, cm[0] == 0] == 0).all()


def test_bootstrap_paired_keeps_rows_together() -> None:
    counts = _rng(1).integers(0, 20, size=(4, 3, 3, 3))
    counts[2] = 0
    reps = bootstrap_paired(counts, replicates=100, rng=_rng())
    assert reps.shape == (100, 4, 3, 3, 3)
    assert (reps.sum(axis=(2, 3, 4)) == counts.sum(axis=(1, 2, 3))).all()
    # Candidate and baseline confusion of one replicate describe the same resampled rows.
    assert (reps.sum(axis=(3, 4)) == reps.sum(axis=(3, 4))).all()
    assert (reps.sum(axis=-1).sum(axis=-1) == reps.sum(axis=-2).sum(axis=-1)).all()


BAD_TABLES: list[tuple[str, Callable[[], Any], str]] = [
    ("wrong-ndim", lambda: bootstrap_confusion(np.zeros((2, 2), int), **_KW), "3 dimensions"),
    ("float", lambda: bootstrap_confusion(np.zeros((1, 2, 2)), **_KW), "integer counts"),
    ("negative", lambda: bootstrap_confusion(-np.ones((1, 2, 2), int), **_KW), "non-negative"),
    ("no-baseline", lambda: bootstrap_paired(np.ones((1, 2, 2, 1), int), **_KW), "baseline"),
    ("zero-replicates",
     lambda: bootstrap_confusion(np.ones((1, 2, 2), int), replicates=0, rng=_rng()),
     "positive integer"),
    ("not-confusion",
     lambda: bootstrap_confusion_metric("roc_auc", np.ones((1, 2, 2), int), **_KW),
     "not a confusion-matrix metric"),
]  # fmt: skip
_KW: dict[str, Any] = {"replicates": 3, "rng": np.random.default_rng(0)}


@pytest.mark.parametrize(
    ("call", "message"), [c[1:] for c in BAD_TABLES], ids=[c[0] for c in BAD_TABLES]
)
def test_bad_tables_are_rejected(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_same_seed_same_replicates_and_intervals() -> None:
    cm = _rng(2).integers(0, 40, size=(5, 2, 2))
    counts = _rng(3).integers(0, 10, size=(5, 2, 2, 2))
    scores = _score_table(_rng(4), n=300, distinct=None, n_groups=3)
    runs: list[list[FloatArray]] = []
    for _ in range(2):
        rng = _rng(42)
        f1 = percentile_interval(bootstrap_confusion_metric("f1", cm, replicates=50, rng=rng))
        runs.append([
            bootstrap_confusion(cm, replicates=50, rng=rng).astype(float),
            bootstrap_paired_difference("accuracy", counts, replicates=50, rng=rng),
            bootstrap_parity("equalized_odds", cm, measure="difference", replicates=50, rng=rng),
            bootstrap_score_metric("roc_auc", scores, replicates=50, rng=rng),
            f1.lo,
            f1.hi,
        ])  # fmt: skip
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    other = bootstrap_confusion_metric("f1", cm, replicates=50, rng=_rng(43))
    assert not np.array_equal(percentile_interval(other).lo, runs[0][4])


# --- equal in distribution to resampling rows ------------------------------------------


def _binary_rows(rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray, IntArray]:
    """(y, candidate, baseline): baseline agrees with the candidate on most rows."""
    y = rng.integers(0, 2, n)
    cand = np.where(rng.random(n) < 0.8, y, 1 - y)
    base = np.where(rng.random(n) < 0.85, cand, 1 - cand)
    return y, cand, base


def _row_confusion(y: IntArray, p: IntArray, idx: IntArray) -> IntArray:
    """Confusion matrices ``(R, 2, 2)`` of the rows ``idx`` ``(R, n)``, by counting."""
    key = 2 * y[idx] + p[idx]
    return np.stack([(key == k).sum(axis=1) for k in range(4)], axis=1).reshape(-1, 2, 2)


def _row_indices(rng: np.random.Generator, n: int, replicates: int) -> IntArray:
    return rng.integers(0, n, size=(replicates, n))


def test_cell_bootstrap_matches_row_bootstrap() -> None:
    """Multinomial cell resampling and row resampling (4000 replicates each) give the same
    percentile bounds within 0.01 absolute, for two slices of 400 and 250 rows.

    The Monte Carlo standard error of a 2.5% / 97.5% bound is about 0.001-0.002 here, so
    0.01 leaves room for the discreteness of the metrics; a two-sample KS test on the
    whole replicate distributions must not reject either.
    """
    rng = _rng(7)
    replicates = 4000
    sizes = [400, 250]
    rows = [_binary_rows(rng, n) for n in sizes]
    cm = np.concatenate([
        reduce_classification(np.zeros(n, np.int64), 1, y, cand, n_classes=2).candidate_confusion()
        for n, (y, cand, _) in zip(sizes, rows, strict=True)
    ])  # fmt: skip
    ours = {
        name: bootstrap_confusion_metric(name, cm, replicates=replicates, rng=_rng(8))
        for name in ("accuracy", "precision", "f1", "recall")
    }
    for s, (n, (y, cand, _)) in enumerate(zip(sizes, rows, strict=True)):
        theirs = _row_confusion(y, cand, _row_indices(_rng(9 + s), n, replicates))
        for name, values in ours.items():
            expected = confusion_metric(name, theirs)
            got_lo, got_hi, _ = percentile_interval(values[:, s])
            want = np.quantile(expected, [0.025, 0.975])
            assert abs(got_lo - want[0]) < 0.01, (name, s)
            assert abs(got_hi - want[1]) < 0.01, (name, s)
            assert sps.ks_2samp(values[:, s], expected).pvalue > 1e-3, (name, s)


def test_paired_bootstrap_matches_paired_row_bootstrap() -> None:
    """Paired cell resampling vs resampling rows with both predictions (4000 replicates):
    bounds of the accuracy difference agree within 0.01; the unpaired spread is wider."""
    rng = _rng(11)
    n, replicates = 500, 4000
    y, cand, base = _binary_rows(rng, n)
    stats = reduce_classification(np.zeros(n, np.int64), 1, y, cand, base, n_classes=2)
    ours = bootstrap_paired_difference(
        "accuracy", stats.counts, replicates=replicates, rng=_rng(12)
    )[:, 0]
    idx = _row_indices(_rng(13), n, replicates)
    theirs = (cand[idx] == y[idx]).mean(axis=1) - (base[idx] == y[idx]).mean(axis=1)
    lo, hi, undefined = percentile_interval(ours)
    want = np.quantile(theirs, [0.025, 0.975])
    assert undefined == 0
    assert abs(lo - want[0]) < 0.01
    assert abs(hi - want[1]) < 0.01
    # Resampling the two confusion matrices independently ignores the pairing.
    unpaired = bootstrap_confusion_metric(
        "accuracy",
        np.concatenate([stats.candidate_confusion(), stats.baseline_confusion()]),
        replicates=replicates,
        rng=_rng(14),
    )
    assert np.std(unpaired[:, 0] - unpaired[:, 1]) > 1.5 * np.std(ours)


def _score_table(
    rng: np.random.Generator, *, n: int, distinct: int | None, n_groups: int = 1
) -> ScoreStats:
    y = rng.integers(0, 2, n)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.2 * y)))
    if distinct is not None:
        s = np.round(s * distinct) / distinct
    groups = rng.integers(0, n_groups, n)
    stats = reduce_classification(groups, n_groups, y, y, n_classes=2, candidate_scores=s)
    assert stats.candidate_scores is not None
    return stats.candidate_scores


def _rows_of(scores: ScoreStats) -> tuple[IntArray, FloatArray]:
    """(y, score) rows of a one-group table (row order is irrelevant)."""
    times = np.stack([scores.pos, scores.neg], axis=1).ravel()  # rows per (entry, class)
    y = np.repeat(np.tile([1, 0], scores.pos.shape[0]), times)
    s = np.repeat(np.repeat(scores.thresholds[scores.score], 2), times)
    return y.astype(np.int64), s


def _weighted_auc(y: IntArray, s: FloatArray, weights: FloatArray) -> FloatArray:
    """ROC AUC of rows weighted by ``weights`` ``(R, n)``: Σ w_i w_j [s_i > s_j] (+½ ties)
    over positive i and negative j, divided by (Σ w_pos)(Σ w_neg)."""
    pos, neg = y == 1, y == 0
    beats = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
    wp, wn = weights[:, pos], weights[:, neg]
    return np.asarray(
        np.einsum("rp,pq,rq->r", wp, beats, wn) / (wp.sum(1) * wn.sum(1)), dtype=np.float64
    )


# How a group's cells are redrawn depends on rows per cell; each way is checked.
DRAWS = [
    ("continuous-one-row-per-cell", None, lambda rows, cells: rows == cells),
    ("rounded-rows", 100, lambda rows, cells: cells < rows <= _ROWS_PER_CELL * cells),
    ("few-scores-multinomial", 8, lambda rows, cells: rows > _ROWS_PER_CELL * cells),
]


@pytest.mark.parametrize(("distinct", "path"), [d[1:] for d in DRAWS], ids=[d[0] for d in DRAWS])
def test_score_bootstrap_matches_row_bootstrap(
    distinct: int | None, path: Callable[[int, int], bool]
) -> None:
    """Score-table resampling vs resampling 300 rows (2000 replicates each): percentile
    bounds of ROC AUC and Brier score agree within 0.01 absolute (Monte Carlo error of
    a bound is about 0.002), and a KS test does not reject."""
    table = _score_table(_rng(21), n=300, distinct=distinct)
    cells = int(np.count_nonzero(table.pos) + np.count_nonzero(table.neg))
    assert path(300, cells)
    y, s = _rows_of(table)
    assert_close(skm.roc_auc_score(y, s), _weighted_auc(y, s, np.ones((1, y.shape[0])))[0])
    replicates = 2000
    idx = _row_indices(_rng(22), y.shape[0], replicates)
    weights = np.zeros((replicates, y.shape[0]))
    np.add.at(weights, (np.arange(replicates)[:, None], idx), 1.0)
    expected = {
        "roc_auc": _weighted_auc(y, s, weights),
        "brier": ((s[idx] - y[idx]) ** 2).mean(axis=1),
    }
    for name, theirs in expected.items():
        with no_warnings():
            ours = bootstrap_score_metric(name, table, replicates=replicates, rng=_rng(23))
        assert ours.shape == (replicates, 1)
        lo, hi, _ = percentile_interval(ours[:, 0])
        want = np.quantile(theirs, [0.025, 0.975])
        assert abs(lo - want[0]) < 0.01, name
        assert abs(hi - want[1]) < 0.01, name
        assert sps.ks_2samp(ours[:, 0], theirs).pvalue > 1e-3, name


def test_score_bootstrap_groups_and_edge_cases() -> None:
    # group 0: normal; 1: empty; 2: one cell (every replicate equals the data); 3: one
    # class only (AUC undefined in every replicate).
    table = ScoreStats(
        thresholds=np.array([0.1, 0.4, 0.8]),
        group=np.array([0, 0, 0, 2, 3, 3]),
        score=np.array([0, 1, 2, 1, 0, 2]),
        pos=np.array([1, 2, 3, 4, 0, 0]),
        neg=np.array([3, 1, 1, 0, 2, 5]),
        n_groups=4,
    )
    with no_warnings():
        auc = bootstrap_score_metric("roc_auc", table, replicates=300, rng=_rng())
        brier = bootstrap_score_metric("brier", table, replicates=300, rng=_rng())
    assert np.isnan(auc[:, [1, 2, 3]]).all()
    defined = auc[~np.isnan(auc[:, 0]), 0]  # 4 positives: a replicate may draw none
    assert 250 < defined.shape[0] < 300
    assert ((defined >= 0) & (defined <= 1)).all()
    assert_close(brier[:, 2], np.full(300, 0.36))
    assert np.isnan(brier[:, 1]).all()
    _, _, undefined = percentile_interval(auc)
    assert undefined.tolist() == [np.isnan(auc[:, 0]).sum(), 300, 300, 300]
    with pytest.raises(ValueError, match="not computed from scores"):
        bootstrap_score_metric("accuracy", table, replicates=3, rng=_rng())


def test_score_difference_is_unpaired_difference() -> None:
    cand = _score_table(_rng(31), n=200, distinct=None, n_groups=2)
    base = _score_table(_rng(32), n=150, distinct=10, n_groups=2)
    diff = bootstrap_score_difference("brier", cand, base, replicates=100, rng=_rng(5))
    rng = _rng(5)
    c = bootstrap_score_metric("brier", cand, replicates=100, rng=rng)
    b = bootstrap_score_metric("brier", base, replicates=100, rng=rng)
    np.testing.assert_array_equal(diff, c - b)
    with pytest.raises(ValueError, match="groups"):
        bootstrap_score_difference("brier", cand, _score_table(_rng(), n=9, distinct=None),
                                   replicates=3, rng=_rng())  # fmt: skip


# --- fairness --------------------------------------------------------------------------


def test_fairness_bootstrap_is_stratified_by_group() -> None:
    cm = np.array([[[40, 10], [8, 42]], [[30, 5], [12, 13]], [[0, 0], [0, 0]]])
    rng = _rng(3)
    reps = bootstrap_confusion(cm, replicates=500, rng=rng)
    assert (reps.sum(axis=(2, 3)) == cm.sum(axis=(1, 2))).all()  # group sizes fixed
    criteria: list[Criterion] = ["demographic_parity", "equalized_odds", "equal_opportunity"]
    measures: list[Measure] = ["difference", "ratio"]
    for criterion in criteria:
        for measure in measures:
            got = bootstrap_parity(criterion, cm, measure=measure, replicates=500, rng=_rng(3))
            want = parity_batch(criterion, reps, measure=measure)
            np.testing.assert_array_equal(got, want)
            assert got.shape == (500,)
    gap = bootstrap_between_groups("f1", cm, measure="difference", replicates=500, rng=_rng(3))
    np.testing.assert_array_equal(
        gap, between_groups_batch(confusion_metric("f1", reps), measure="difference")
    )
    point = parity_batch("demographic_parity", cm, measure="difference")
    lo, hi, _ = percentile_interval(
        bootstrap_parity("demographic_parity", cm, measure="difference", replicates=2000, rng=rng)
    )
    assert lo < point < hi


# --- percentile interval ---------------------------------------------------------------


@given(
    data=st.lists(
        st.lists(st.sampled_from([NAN, -1.0, 0.0, 0.25, 0.5, 3.0]) | st.floats(-5, 5),
                 min_size=3, max_size=3),
        min_size=1, max_size=40,
    ),
    level=st.sampled_from(LEVELS),
)  # fmt: skip
@settings(max_examples=150, deadline=None)
def test_percentile_interval_matches_nanquantile(data: list[list[float]], level: float) -> None:
    a = np.array(data)
    with no_warnings():
        lo, hi, undefined = percentile_interval(a, level=level)
    defined = ~np.isnan(a)
    assert undefined.tolist() == (a.shape[0] - defined.sum(axis=0)).tolist()
    for j in range(a.shape[1]):
        col = a[defined[:, j], j]
        want = np.quantile(col, [(1 - level) / 2, (1 + level) / 2]) if col.size else [NAN] * 2
        assert_close([lo[j], hi[j]], want)


def test_percentile_interval_edge_cases() -> None:
    lo, hi, undefined = percentile_interval(np.array([[NAN, 1.0], [NAN, 2.0]]))
    assert_close(lo, [NAN, 1.025])
    assert_close(hi, [NAN, 1.975])
    assert undefined.tolist() == [2, 0]
    assert percentile_interval([0.5]).lo == 0.5
    with pytest.raises(ValueError, match="level"):
        percentile_interval([0.5], level=95)
    with pytest.raises(ValueError, match="R >= 1"):
        percentile_interval(np.empty((0, 3)))


# --- proportions -----------------------------------------------------------------------


@given(
    cm=st.lists(st.integers(0, 6), min_size=12, max_size=12).map(
        lambda v: np.array(v, dtype=np.int64).reshape(3, 2, 2)
    )
)
@settings(max_examples=100, deadline=None)
def test_proportion_counts_reproduce_the_metric(cm: IntArray) -> None:
    for name in sorted(PROPORTIONS):
        successes, trials = proportion_counts(name, cm)
        assert successes.dtype == trials.dtype == np.int64
        assert ((successes >= 0) & (successes <= trials)).all()
        with no_warnings():
            ratio = np.where(trials > 0, successes / np.maximum(trials, 1), NAN)
            assert_close(ratio, confusion_metric(name, cm))


def test_proportion_counts_multiclass_and_errors() -> None:
    cm = np.arange(9).reshape(1, 3, 3)
    successes, trials = proportion_counts("accuracy", cm)
    assert (successes.tolist(), trials.tolist()) == ([0 + 4 + 8], [36])
    with pytest.raises(ValueError, match="not a proportion"):
        proportion_counts("f1", cm)
    with pytest.raises(ValueError, match="binary"):
        proportion_counts("precision", cm)
    with pytest.raises(ValueError, match="integer counts"):
        proportion_counts("accuracy", cm.astype(float))


def _wilson_formula(x: int, n: int, level: float) -> tuple[float, float]:
    z = sps.norm.ppf((1 + level) / 2)
    p = x / n
    centre = (x + z * z / 2) / (n + z * z)
    half = z * math.sqrt(n) / (n + z * z) * math.sqrt(p * (1 - p) + z * z / (4 * n))
    return max(centre - half, 0.0), min(centre + half, 1.0)


@given(n=st.integers(1, 300), share=st.floats(0, 1), level=st.sampled_from(LEVELS))
@settings(max_examples=150, deadline=None)
def test_wilson_and_clopper_pearson_match_closed_forms(n: int, share: float, level: float) -> None:
    x = round(share * n)
    with no_warnings():
        wilson = wilson_interval(x, n, level=level)
        exact = clopper_pearson_interval(x, n, level=level)
    assert_close(wilson, _wilson_formula(x, n, level))
    alpha = 1 - level
    cp_lo = 0.0 if x == 0 else sps.beta.ppf(alpha / 2, x, n - x + 1)
    cp_hi = 1.0 if x == n else sps.beta.ppf(1 - alpha / 2, x + 1, n - x)
    assert_close(exact, (cp_lo, cp_hi))
    # And scipy's own binomial-test intervals (same definitions, written independently).
    ci = sps.binomtest(x, n).proportion_ci(confidence_level=level, method="exact")
    assert_close(exact, (ci.low, ci.high))
    ci = sps.binomtest(x, n).proportion_ci(confidence_level=level, method="wilson")
    assert_close(wilson, (ci.low, ci.high))


def test_proportion_intervals_vectorise_and_handle_empty() -> None:
    x, n = np.array([[0, 3], [5, 0]]), np.array([[10, 3], [7, 0]])
    for interval in (wilson_interval, clopper_pearson_interval):
        with no_warnings():
            lo, hi = interval(x, n)
        assert lo.shape == hi.shape == (2, 2)
        assert np.isnan(lo[1, 1]) and np.isnan(hi[1, 1])
        assert lo[0, 0] == 0.0 and hi[0, 1] == 1.0
        for i, j in [(0, 0), (0, 1), (1, 0)]:
            assert_close([lo[i, j], hi[i, j]], interval(int(x[i, j]), int(n[i, j])))
        with pytest.raises(ValueError, match="0 <= successes <= n"):
            interval(4, 3)
        with pytest.raises(ValueError, match="whole numbers"):
            interval(1.5, 3)


# --- regression ------------------------------------------------------------------------


def test_regression_interval_matches_direct_formula() -> None:
    rng = _rng(17)
    groups = rng.integers(0, 4, 300)
    groups[groups == 3] = 2  # group 3 empty
    groups[0] = 3  # ... but for a single row: NaN
    y = 1e3 + rng.normal(size=300)
    cand = y + rng.normal(0.2, 0.5, size=300)
    base = y + rng.normal(-0.1, 1.0, size=300)
    stats = reduce_regression(groups, 5, y, cand, base)
    z = sps.norm.ppf(0.95)
    for model, pred in enumerate([cand, base]):
        for name, f in (("mean_error", lambda e: e), ("mae", np.abs)):
            with no_warnings():
                lo, hi = regression_interval(name, stats, level=0.9, model=model)
            for g in range(5):
                x = f(pred - y)[groups == g]
                if x.shape[0] < 2:
                    assert np.isnan(lo[g]) and np.isnan(hi[g])
                    continue
                half = z * x.std(ddof=1) / math.sqrt(x.shape[0])
                np.testing.assert_allclose([lo[g], hi[g]], [x.mean() - half, x.mean() + half],
                                           rtol=1e-9, atol=1e-9)  # fmt: skip


@pytest.mark.parametrize("name", ["mse", "rmse", "r2", "accuracy"])
def test_regression_interval_names_what_is_missing(name: str) -> None:
    stats = reduce_regression([0, 0], 1, [1.0, 2.0], [1.5, 2.5])
    with pytest.raises(ValueError, match="e⁴"):
        regression_interval(name, stats)
    with pytest.raises(ValueError, match="baseline"):
        regression_interval("mae", stats, model=1)


# --- coverage --------------------------------------------------------------------------


def test_coverage_of_proportion_intervals() -> None:
    """Over 1000 simulated datasets of 211 rows (cell probabilities TN .5, FP .1, FN .1,
    TP .3: accuracy 0.8, precision 0.75), nominal 95% intervals cover the truth at a
    rate in [0.92, 0.98] (bootstrap percentile with 1000 replicates; Wilson) and at
    least 0.94 (Clopper-Pearson, conservative). The band is about ±4 standard errors of
    the simulation (0.007); the seed is fixed."""
    rng = _rng(2024)
    datasets = rng.multinomial(211, [0.5, 0.1, 0.1, 0.3], size=1000).reshape(1000, 2, 2)
    truth = {"accuracy": 0.8, "precision": 0.75}
    reps = bootstrap_confusion(datasets, replicates=1000, rng=rng)
    for name, value in truth.items():
        lo, hi, _ = percentile_interval(confusion_metric(name, reps))
        assert 0.92 <= np.mean((lo <= value) & (value <= hi)) <= 0.98, name
        x, n = proportion_counts(name, datasets)
        lo, hi = wilson_interval(x, n)
        assert 0.92 <= np.mean((lo <= value) & (value <= hi)) <= 0.98, name
        lo, hi = clopper_pearson_interval(x, n)
        assert np.mean((lo <= value) & (value <= hi)) >= 0.94, name


@pytest.mark.parametrize("n", [15, 60, 211])
def test_exact_coverage_of_analytic_intervals(n: int) -> None:
    """Coverage computed exactly (binomial probabilities of every outcome) on a grid of
    true proportions: Clopper-Pearson never below the nominal 95%; Wilson 0.95 on
    average over the grid (within 0.01) and never below 0.83 (its known dips near 0
    and 1 for small n)."""
    x = np.arange(n + 1)
    grid = np.linspace(0.01, 0.99, 99)
    pmf = sps.binom.pmf(x[None, :], n, grid[:, None])

    def coverage(lo: FloatArray, hi: FloatArray) -> FloatArray:
        covered = (lo[None, :] <= grid[:, None]) & (grid[:, None] <= hi[None, :])
        return np.asarray((pmf * covered).sum(axis=1), dtype=np.float64)

    assert coverage(*clopper_pearson_interval(x, n)).min() >= 0.95 - 1e-12
    wilson = coverage(*wilson_interval(x, n))
    assert abs(wilson.mean() - 0.95) < 0.01
    assert wilson.min() > 0.83


def test_coverage_of_regression_intervals() -> None:
    """500 groups of 150 errors ~ N(0.3, 1): the 95% normal intervals for mean error
    (0.3) and MAE (E|N(0.3, 1)|) cover at a rate in [0.92, 0.975]."""
    rng = _rng(99)
    n_groups, size = 500, 150
    groups = np.repeat(np.arange(n_groups), size)
    errors = rng.normal(0.3, 1.0, size=n_groups * size)
    stats = reduce_regression(groups, n_groups, np.zeros_like(errors), errors)
    mu = 0.3
    mae = math.sqrt(2 / math.pi) * math.exp(-(mu**2) / 2) + mu * (1 - 2 * sps.norm.cdf(-mu))
    for name, value in (("mean_error", mu), ("mae", mae)):
        lo, hi = regression_interval(name, stats)
        assert 0.92 <= np.mean((lo <= value) & (value <= hi)) <= 0.975, name


def test_bootstrap_interval_of_auc_contains_the_point_estimate() -> None:
    table = _score_table(_rng(5), n=400, distinct=None, n_groups=3)
    lo, hi, undefined = percentile_interval(
        bootstrap_score_metric("roc_auc", table, replicates=500, rng=_rng(6))
    )
    point = score_metric("roc_auc", table)
    assert ((lo < point) & (point < hi)).all()
    assert (undefined == 0).all()


def test_bootstrap_of_no_slices_is_empty() -> None:
    """A slicing of empty data has no slices; resampling it must not fail."""
    empty = np.zeros((0, 2, 2), dtype=np.int64)
    draws = bootstrap_confusion(empty, replicates=10, rng=np.random.default_rng(0))
    assert draws.shape == (10, 0, 2, 2)


@pytest.mark.parametrize("dtype", [np.int32, np.int16])
def test_score_bootstrap_of_a_narrow_engine_table_draws_the_same_replicates(dtype: type) -> None:
    # The batched read's int32 / int16 groups: each group's cells are found in their own
    # type, and the replicates are those of the int64 table (checked against resampling
    # rows above), draw for draw, an empty group included.
    wide = _score_table(_rng(31), n=300, distinct=40, n_groups=3)
    wide = ScoreStats(
        thresholds=wide.thresholds,
        group=np.where(wide.group == 2, 3, wide.group),  # group 2 left empty
        score=wide.score,
        pos=wide.pos,
        neg=wide.neg,
        n_groups=4,
    )
    narrow = ScoreStats(
        thresholds=wide.thresholds,
        group=wide.group.astype(dtype),
        score=wide.score,
        pos=wide.pos,
        neg=wide.neg,
        n_groups=4,
    )
    want = bootstrap_score_metric("roc_auc", wide, replicates=200, rng=_rng(5))
    got = bootstrap_score_metric("roc_auc", narrow, replicates=200, rng=_rng(5))
    assert np.isnan(want[:, 2]).all() and not np.isnan(want[:, [0, 1, 3]]).any()
    assert np.array_equal(got, want, equal_nan=True)
