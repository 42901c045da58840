"""Flip rates and paired TOST from the (true, candidate, baseline) cells.

Oracles: scikit-learn (flips are disagreements between the two label vectors),
statsmodels' ``proportion_confint`` and ``ttost_paired`` on the rows, and a seeded
simulation of the simultaneous coverage and of TOST's error rate.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import binomtest, ttest_rel
from sklearn.metrics import accuracy_score, confusion_matrix
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

from mlops_gates.stats.churn import TOST_METRICS, flip_pvalue, flip_rates, tost_paired
from mlops_gates.stats.reduce import reduce_classification

from ._support import assert_close


def _rows(seed: int, n: int, n_groups: int, flip: float) -> tuple[NDArray[np.int64], ...]:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    y = (rng.random(n) < 0.35).astype(np.int64)
    base = np.where(rng.random(n) < 0.85, y, 1 - y)
    cand = np.where(rng.random(n) < flip, 1 - base, base)
    return g, y, cand, base


def test_flip_rates_equal_sklearn_and_statsmodels() -> None:
    g, y, c, b = _rows(1, 2000, 3, 0.04)
    counts = reduce_classification(g, 3, y, c, b, n_classes=2).counts
    rates = flip_rates(counts, level=0.9, method="wilson")
    for i in range(3):
        m = g == i
        assert_close(rates.share()[i], 1 - accuracy_score(b[m], c[m]))
        cm = confusion_matrix(b[m], c[m], labels=[0, 1])  # [baseline, candidate]
        assert_close(rates.neg_to_pos_share()[i], cm[0, 1] / m.sum())
        assert_close(rates.pos_to_neg_share()[i], cm[1, 0] / m.sum())
        for x, iv in [
            (cm[0, 1] + cm[1, 0], rates.flip_interval),
            (cm[0, 1], rates.neg_to_pos_interval),
            (cm[1, 0], rates.pos_to_neg_interval),
        ]:
            assert_close([iv.lo[i], iv.hi[i]], proportion_confint(x, m.sum(), 0.1, "wilson"))
    # Simultaneous: each slice at level 1 - 0.1/3, and exact intervals on request.
    sim = flip_rates(counts, level=0.9, method="clopper_pearson", simultaneous=True)
    m = g == 2
    x = (c[m] != b[m]).sum()
    assert_close(
        [sim.flip_interval.lo[2], sim.flip_interval.hi[2]],
        proportion_confint(x, m.sum(), 0.1 / 3, "beta"),
    )


def test_simultaneous_flip_intervals_cover_all_slices_together() -> None:
    rng = np.random.default_rng(3)
    true_rate = np.array([0.01, 0.02, 0.05, 0.03, 0.02, 0.04])
    n = np.array([300, 500, 200, 800, 150, 400])
    together, datasets = 0, 1000
    for _ in range(datasets):
        flips = rng.binomial(n, true_rate)
        counts = np.zeros((6, 2, 2, 2), dtype=np.int64)
        counts[:, 0, 0, 0] = n - flips
        counts[:, 0, 1, 0] = flips
        iv = flip_rates(counts, level=0.9, simultaneous=True).flip_interval
        together += bool(np.all((iv.lo <= true_rate) & (true_rate <= iv.hi)))
    assert together / datasets >= 0.9


@pytest.mark.parametrize("name", sorted(TOST_METRICS))
def test_tost_equals_statsmodels_ttost_paired(name: str) -> None:
    g, y, c, b = _rows(2, 1500, 2, 0.06)
    counts = reduce_classification(g, 2, y, c, b, n_classes=2).counts
    res = tost_paired(name, counts, delta=0.03, alpha=0.05)
    classes, label = TOST_METRICS[name]
    for i in range(2):
        m = (g == i) & np.isin(y, classes)
        score_c = (c[m] == (y[m] if label is None else label)).astype(float)
        score_b = (b[m] == (y[m] if label is None else label)).astype(float)
        p, _, _ = ttost_paired(score_c, score_b, -0.03, 0.03)
        assert_close(res.pvalue[i], p)
        ci = ttest_rel(score_c, score_b).confidence_interval(confidence_level=0.9)
        assert_close([res.interval.lo[i], res.interval.hi[i]], [ci.low, ci.high])
        assert_close(res.difference[i], score_c.mean() - score_b.mean())
        assert res.n[i] == m.sum()


def test_tost_refuses_precision_and_shows_agreement_without_discordance() -> None:
    counts = np.zeros((1, 2, 2, 2), dtype=np.int64)
    counts[0, 0, 0, 0], counts[0, 1, 1, 1] = 50, 50
    assert tost_paired("accuracy", counts, delta=0.01).pvalue[0] == 0.0
    with pytest.raises(ValueError, match=r"fixed rows.*'precision'"):
        tost_paired("precision", counts, delta=0.01)
    with pytest.raises(ValueError, match=r"counts\[slice, true, candidate, baseline\]"):
        flip_rates(np.zeros((1, 2, 2, 1)))


def test_tost_error_rate_at_the_margin_is_at_most_alpha() -> None:
    """A true difference exactly at +δ must be declared equivalent at most α of the time,
    and a true difference of 0 usually (power) with enough rows."""
    rng = np.random.default_rng(9)
    delta, n, datasets = 0.02, 2000, 800
    # Discordant cells: up (candidate right only) 0.05, down 0.03 -> difference 0.02.
    false_eq = shown = 0
    for _ in range(datasets):
        for up, down, tally in ((0.05, 0.03, "false"), (0.04, 0.04, "true")):
            k = rng.multinomial(n, [up, down, 1 - up - down])
            counts = np.zeros((1, 2, 2, 2), dtype=np.int64)
            counts[0, 1, 1, 0], counts[0, 1, 0, 1], counts[0, 1, 1, 1] = k
            eq = tost_paired("accuracy", counts, delta=delta).pvalue[0] < 0.05
            if tally == "false":
                false_eq += eq
            else:
                shown += eq
    assert false_eq / datasets <= 0.05 + 0.02  # Monte Carlo slack for 800 datasets
    assert shown / datasets >= 0.5


def test_flip_pvalue_equals_scipy_binomtest_and_holm() -> None:
    g, y, c, b = _rows(5, 3000, 4, 0.02)
    rates = flip_rates(reduce_classification(g, 4, y, c, b, n_classes=2).counts)
    raw = flip_pvalue(rates, bound=0.015)
    expected = [
        binomtest(int((c[g == i] != b[g == i]).sum()), int((g == i).sum()), 0.015, "greater").pvalue
        for i in range(4)
    ]
    assert_close(raw, expected)
    assert_close(
        flip_pvalue(rates, bound=0.015, simultaneous=True),
        multipletests(expected, method="holm")[1],
    )
    up = flip_pvalue(rates, bound=0.01, which="neg_to_pos")
    m = g == 0
    x = int(((b[m] == 0) & (c[m] == 1)).sum())
    assert_close(up[0], binomtest(x, int(m.sum()), 0.01, "greater").pvalue)
