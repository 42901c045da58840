"""DeLong and loss standard errors against direct computations on the rows."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from mlops_gates.stats import normal
from mlops_gates.stats.normal import normal_interval, normal_pvalue, score_metric_se
from mlops_gates.stats.reduce import reduce_classification


def _scores(y: np.ndarray, s: np.ndarray, groups: np.ndarray, n_groups: int):  # type: ignore[no-untyped-def]
    stats = reduce_classification(groups, n_groups, y, y, n_classes=2, candidate_scores=s)
    assert stats.candidate_scores is not None
    return stats.candidate_scores


def _delong_direct(y: np.ndarray, s: np.ndarray) -> float:
    """The textbook O(n1·n0) placement computation."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(np.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 2)), min_size=0, max_size=60
    )
)
def test_delong_se_equals_direct_placements(rows: list[tuple[int, int, int]]) -> None:
    """Ties forced by drawing scores from 7 values; three groups, some tiny or one-class."""
    y = np.array([r[0] for r in rows], dtype=np.int64)
    s = np.array([r[1] / 6 for r in rows], dtype=np.float64)
    g = np.array([r[2] for r in rows], dtype=np.int64)
    se = score_metric_se("roc_auc", _scores(y, s, g, 3))
    for k in range(3):
        yk, sk = y[g == k], s[g == k]
        if (yk == 1).sum() < 2 or (yk == 0).sum() < 2:
            assert np.isnan(se[k])
        else:
            assert se[k] == pytest.approx(_delong_direct(yk, sk), rel=1e-9, abs=1e-12)


def test_placements_per_entry_equal_the_textbook_ones_across_empty_groups() -> None:
    """Each entry's centred placement values (what the paired variance looks up) equal the
    row means of the kernel minus the AUC, with an empty group between two occupied ones
    and one group of a single class (its values are not finite)."""
    rng = np.random.default_rng(4)
    n = 300
    y = rng.integers(0, 2, n)
    s = np.round(rng.normal(size=n) + y, 1)
    g = rng.choice([0, 2, 3], n)  # group 1 empty
    y[g == 3] = 1  # group 3: positives only
    table = _scores(y, s, g, 4)
    v10, v01 = normal._placements(table)
    score = table.thresholds[table.score]
    for k in (0, 2):
        pos, neg = s[(g == k) & (y == 1)], s[(g == k) & (y == 0)]
        auc = roc_auc_score(y[g == k], s[g == k])
        at = table.group == k
        want10 = [((neg < v) + 0.5 * (neg == v)).mean() - auc for v in score[at]]
        want01 = [((pos > v) + 0.5 * (pos == v)).mean() - auc for v in score[at]]
        np.testing.assert_allclose(v10[at], want10, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v01[at], want01, rtol=0, atol=1e-12)
    assert not np.isfinite(v10[table.group == 3]).any()


@pytest.mark.parametrize("name", ["brier", "log_loss"])
def test_loss_se_is_the_standard_error_of_row_losses(name: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500), 2)
    g = rng.integers(0, 2, 500)
    se = score_metric_se(name, _scores(y, s, g, 2))
    eps = np.finfo(np.float64).eps
    for k in range(2):
        yk, sk = y[g == k], np.clip(s[g == k], eps, 1 - eps)
        if name == "brier":
            loss = (s[g == k] - yk) ** 2
        else:
            loss = -(yk * np.log(sk) + (1 - yk) * np.log(1 - sk))
        assert se[k] == pytest.approx(loss.std(ddof=1) / np.sqrt(len(loss)), rel=1e-9)


def test_delong_interval_covers_at_the_nominal_rate() -> None:
    """Binormal scores (positives shifted by 1 sd): AUC = Phi(1 / sqrt(2)).
    400 data sets of 300 rows; the 95% interval's coverage must fall in [0.92, 0.98]."""
    rng = np.random.default_rng(7)
    shift = 1.0
    true_auc = NormalDist().cdf(shift / np.sqrt(2))
    hits = 0
    for _ in range(400):
        y = rng.integers(0, 2, 300)
        s = rng.normal(0, 1, 300) + shift * y
        stats = _scores(y, s, np.zeros(300, dtype=np.int64), 1)
        est = roc_auc_score(y, s)
        lo, hi = normal_interval("roc_auc", [est], score_metric_se("roc_auc", stats))
        hits += bool(lo[0] <= true_auc <= hi[0])
    assert 0.92 <= hits / 400 <= 0.98


def test_normal_pvalue_sides_and_certainty() -> None:
    p = normal_pvalue([0.5, 0.5, 0.9, 0.4], [0.1, 0.1, 0.0, 0.0], bound=0.7, alternative="below")
    assert p[0] == pytest.approx(0.0227501, rel=1e-5)
    assert p[2] == 1.0 and p[3] == 0.0
    above = normal_pvalue([0.9], [0.1], bound=0.7, alternative="above")
    assert above[0] == pytest.approx(0.0227501, rel=1e-5)
    assert np.isnan(normal_pvalue([np.nan], [0.1], bound=0.7, alternative="below")[0])


def test_normal_pvalue_equals_scipy_into_the_tails() -> None:
    est = np.linspace(-3.0, 3.0, 601)  # z from -33 to 27: p down to 1e-238
    z = (est - 0.3) / 0.1
    below = normal_pvalue(est, np.full_like(est, 0.1), bound=0.3, alternative="below")
    above = normal_pvalue(est, np.full_like(est, 0.1), bound=0.3, alternative="above")
    np.testing.assert_allclose(below, scipy.stats.norm.cdf(z), rtol=1e-12, atol=0)
    np.testing.assert_allclose(above, scipy.stats.norm.sf(z), rtol=1e-12, atol=0)
