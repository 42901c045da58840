"""Paired DeLong for candidate − baseline ROC AUC, checked against R pROC's published test
values on its aSAH data and against the textbook formula computed on raw rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats as sps  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score

from mlops_gates.stats.metrics import score_metric
from mlops_gates.stats.normal import paired_roc_auc_difference_se, score_metric_se
from mlops_gates.stats.reduce import (
    JointScores,
    ScoreStats,
    marginalize,
    marginalize_joint,
    reduce_joint_scores,
    reduce_scores,
)

FloatArray = NDArray[np.float64]

# pROC's DeLong placement values for aSAH (113 patients: 41 "Poor" outcomes, the cases, then
# 72 "Good", the controls, each in data order), from xrobin/pROC
# tests/testthat/helper-deLongPlacementsCpp-expected.R, stored as whole numbers:
# 144·X (2 × controls below a case + controls tied with it) and 82·Y (2 × cases above a
# control + cases tied). The raw aSAH table is not at hand here; scores with exactly these
# placements are rebuilt below, which is all DeLong's statistic depends on.
ASAH = {
    "wfns": (
        [
            117,
            94,
            128,
            140,
            140,
            140,
            140,
            94,
            140,
            94,
            37,
            94,
            140,
            128,
            128,
            94,
            140,
            140,
            140,
            94,
            140,
            94,
            140,
            94,
            128,
            140,
            128,
            128,
            37,
            128,
            128,
            94,
            94,
            140,
            140,
            94,
            94,
            140,
            140,
            140,
            140,
        ],
        [
            80,
            80,
            80,
            80,
            18,
            80,
            66,
            66,
            80,
            66,
            66,
            80,
            80,
            80,
            66,
            80,
            66,
            80,
            80,
            53,
            44,
            80,
            44,
            80,
            18,
            18,
            80,
            80,
            66,
            44,
            80,
            80,
            66,
            66,
            80,
            66,
            80,
            66,
            66,
            80,
            80,
            80,
            80,
            66,
            80,
            66,
            80,
            80,
            53,
            66,
            44,
            66,
            80,
            44,
            80,
            80,
            18,
            44,
            66,
            66,
            80,
            80,
            80,
            53,
            80,
            66,
            66,
            44,
            44,
            80,
            80,
            80,
        ],
    ),
    "s100b": (
        [
            81,
            63,
            103,
            78,
            130,
            144,
            140,
            26,
            123,
            50,
            26,
            128,
            126,
            139,
            144,
            118,
            144,
            144,
            144,
            26,
            144,
            120,
            0,
            50,
            116,
            144,
            118,
            144,
            38,
            118,
            81,
            63,
            74,
            116,
            144,
            88,
            144,
            121,
            144,
            144,
            130,
        ],
        [
            58,
            55,
            66,
            80,
            28,
            52,
            66,
            66,
            80,
            73,
            80,
            70,
            63,
            77,
            52,
            77,
            63,
            58,
            52,
            80,
            53,
            55,
            36,
            70,
            24,
            28,
            53,
            77,
            32,
            28,
            63,
            73,
            70,
            73,
            80,
            58,
            66,
            55,
            54,
            80,
            80,
            70,
            80,
            70,
            73,
            53,
            70,
            73,
            37,
            63,
            42,
            77,
            66,
            39,
            77,
            80,
            48,
            34,
            66,
            54,
            73,
            55,
            66,
            77,
            80,
            52,
            54,
            28,
            52,
            54,
            24,
            27,
        ],
    ),
    "ndka": (
        [
            116,
            90,
            98,
            110,
            6,
            40,
            74,
            134,
            140,
            134,
            134,
            58,
            104,
            124,
            24,
            36,
            102,
            2,
            144,
            124,
            62,
            74,
            80,
            102,
            128,
            93,
            124,
            36,
            142,
            109,
            6,
            49,
            124,
            6,
            48,
            134,
            76,
            104,
            138,
            74,
            110,
        ],
        [
            82,
            68,
            72,
            58,
            74,
            33,
            74,
            26,
            42,
            26,
            28,
            6,
            66,
            74,
            48,
            74,
            74,
            2,
            46,
            62,
            62,
            26,
            80,
            72,
            74,
            63,
            44,
            72,
            34,
            8,
            72,
            74,
            48,
            66,
            72,
            44,
            16,
            18,
            60,
            50,
            4,
            74,
            28,
            62,
            58,
            58,
            34,
            80,
            28,
            48,
            66,
            58,
            26,
            58,
            50,
            72,
            62,
            58,
            16,
            68,
            48,
            45,
            8,
            52,
            48,
            66,
            16,
            60,
            38,
            18,
            74,
            42,
        ],
    ),
}
# roc.test(r.a, r.b) (paired DeLong) and roc.test(..., paired = FALSE), from xrobin/pROC
# tests/testthat/test-roc.test.R: Z, two-sided p, 95% interval of the AUC difference.
PAIRED = {
    ("wfns", "s100b"): (2.20898359144091, 0.0271757822291882, 0.0104061769564846,
                        0.174214419249478),
    ("wfns", "ndka"): (2.79777591868904, 0.00514557970691098, 0.0634011709339876,
                       0.3600405634833566),
    ("ndka", "s100b"): (-1.39077002573558, 0.164295175223054, -0.2876917446341914,
                        0.0488706064228094),
}  # fmt: skip
UNPAIRED = {
    ("wfns", "s100b"): 1.43490640926908,
    ("wfns", "ndka"): 3.10125096778969,
    ("ndka", "s100b"): -1.55995743389685,
}


def _rebuild(x2: list[int], y2: list[int]) -> FloatArray:
    """Scores for 41 cases then 72 controls whose placements are ``x2 / 144`` (cases) and
    ``y2 / 82`` (controls): a case scores its own placement; a control sits on the case
    value, or between two, that leaves the right number of cases above it."""
    cases = np.asarray(x2, dtype=np.float64)
    values = np.unique(cases)
    spots = np.r_[values[0] - 1, values, (values[:-1] + values[1:]) / 2, values[-1] + 1]
    above = {int(2 * (cases > v).sum() + (cases == v).sum()): float(v) for v in spots}
    controls = np.array([above[y] for y in y2])
    # The rebuilt scores give back pROC's placements of the cases too.
    mid = 2 * (controls[None, :] < cases[:, None]).sum(1) + (controls == cases[:, None]).sum(1)
    assert mid.tolist() == x2
    return np.r_[cases, controls]


def _tables(
    y: NDArray[np.int64], a: FloatArray, b: FloatArray, groups: NDArray[np.int64] | None = None
) -> tuple[ScoreStats, ScoreStats, JointScores]:
    g = np.zeros(y.shape[0], dtype=np.int64) if groups is None else groups
    n_groups = int(g.max()) + 1
    ta, tb = reduce_scores(g, n_groups, y, a), reduce_scores(g, n_groups, y, b)
    joint = reduce_joint_scores(
        g, n_groups, y, np.searchsorted(ta.thresholds, a), np.searchsorted(tb.thresholds, b)
    )
    return ta, tb, joint


Y_ASAH = np.r_[np.ones(41, dtype=np.int64), np.zeros(72, dtype=np.int64)]


@pytest.mark.parametrize(("first", "second"), list(PAIRED))
def test_paired_delong_equals_proc_on_asah(first: str, second: str) -> None:
    a, b = _rebuild(*ASAH[first]), _rebuild(*ASAH[second])
    ta, tb, joint = _tables(Y_ASAH, a, b)
    diff = score_metric("roc_auc", ta) - score_metric("roc_auc", tb)
    se = paired_roc_auc_difference_se(ta, tb, joint)
    z = float(diff[0] / se[0])
    want_z, want_p, want_lo, want_hi = PAIRED[first, second]
    assert z == pytest.approx(want_z, abs=1e-9)
    assert 2 * sps.norm.sf(abs(z)) == pytest.approx(want_p, abs=1e-9)
    half = sps.norm.ppf(0.975) * se[0]
    assert (diff[0] - half, diff[0] + half) == pytest.approx((want_lo, want_hi), abs=1e-9)
    # The unpaired statistic the baseline gate used before: pROC's paired = FALSE test.
    unpaired = diff / np.hypot(score_metric_se("roc_auc", ta), score_metric_se("roc_auc", tb))
    assert float(unpaired[0]) == pytest.approx(UNPAIRED[first, second], abs=1e-9)
    assert roc_auc_score(Y_ASAH, a) == pytest.approx(score_metric("roc_auc", ta)[0], abs=1e-12)


def test_a_model_compared_with_itself_has_zero_spread() -> None:
    a = _rebuild(*ASAH["s100b"])
    ta, tb, joint = _tables(Y_ASAH, a, a.copy())
    assert paired_roc_auc_difference_se(ta, tb, joint).tolist() == [0.0]


def _textbook_var(y: NDArray[np.int64], a: FloatArray, b: FloatArray) -> float:
    """DeLong et al. (1988) on raw rows: the kernel ψ over every (case, control) pair, the
    placements V10 / V01 as its row / column means, their 2 × 2 covariances S10 / S01."""
    pos, neg = y == 1, y == 0

    def kernel(s: FloatArray) -> FloatArray:
        d = s[pos][:, None] - s[neg][None, :]
        return np.asarray((d > 0) + 0.5 * (d == 0), dtype=np.float64)

    psi = [kernel(a), kernel(b)]
    v10 = np.stack([k.mean(axis=1) for k in psi])
    v01 = np.stack([k.mean(axis=0) for k in psi])
    s10, s01 = np.cov(v10), np.cov(v01)
    contrast = np.array([1.0, -1.0])
    return float(contrast @ s10 @ contrast / pos.sum() + contrast @ s01 @ contrast / neg.sum())


@pytest.mark.parametrize("seed", range(6))
def test_paired_delong_equals_the_textbook_formula_per_slice(seed: int) -> None:
    """Random correlated models with ties (rounded scores), three slices, and the slices
    marginalized to overall; every slice's standard error equals the raw-row formula."""
    rng = np.random.default_rng(seed)
    n = 300
    y = rng.integers(0, 2, n)
    groups = rng.integers(0, 3, n)
    common = rng.normal(size=n)
    a = np.round(y * 0.8 + common + rng.normal(scale=0.7, size=n), 1 + seed % 2)
    b = np.round(y * 0.5 + common * rng.choice([1, -1]) + rng.normal(size=n), 1)
    ta, tb, joint = _tables(y, a, b, groups)
    se = paired_roc_auc_difference_se(ta, tb, joint)
    for g in range(3):
        m = groups == g
        assert se[g] == pytest.approx(math.sqrt(_textbook_var(y[m], a[m], b[m])), rel=1e-10)
    whole = np.zeros(3, dtype=np.int64)
    overall = paired_roc_auc_difference_se(
        marginalize(ta, whole, 1), marginalize(tb, whole, 1), marginalize_joint(joint, whole, 1)
    )
    assert overall[0] == pytest.approx(math.sqrt(_textbook_var(y, a, b)), rel=1e-10)


def test_binned_scores_are_paired_on_their_bins() -> None:
    """With bin codes as the score indices the paired standard error is the textbook one
    for the binned scores (each row at its bin's value)."""
    rng = np.random.default_rng(9)
    n = 500
    y = rng.integers(0, 2, n)
    a = np.clip(y * 0.3 + rng.uniform(size=n) * 0.7, 0, 1)
    b = np.clip(a + rng.normal(scale=0.1, size=n), 0, 1)
    edges = np.linspace(0, 1, 17)
    ca, cb = (np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 15) for s in (a, b))
    g = np.zeros(n, dtype=np.int64)
    thr = edges[:-1]
    ta = reduce_scores(g, 1, y, ca, thresholds=thr)
    tb = reduce_scores(g, 1, y, cb, thresholds=thr)
    joint = reduce_joint_scores(g, 1, y, ca, cb)
    se = paired_roc_auc_difference_se(ta, tb, joint)
    assert se[0] == pytest.approx(math.sqrt(_textbook_var(y, thr[ca], thr[cb])), rel=1e-10)


def test_groups_without_both_classes_are_undefined() -> None:
    y = np.array([1, 1, 0, 0, 1, 1])
    g = np.array([0, 0, 0, 0, 1, 1])
    s = np.array([0.9, 0.2, 0.3, 0.1, 0.5, 0.6])
    ta, tb, joint = _tables(y, s, s[::-1].copy(), g)
    se = paired_roc_auc_difference_se(ta, tb, joint)
    assert np.isnan(se[1]) and np.isfinite(se[0])


def test_the_joint_table_of_huge_score_indices_is_the_same_table() -> None:
    """Indices so large that (class, group, candidate, baseline) no longer packs into
    int64 are paired first; the table lists the same cells as for small indices."""
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    g = rng.integers(0, 4, n)
    ci, bi = rng.integers(0, 6, n), rng.integers(0, 5, n)
    big = 1 << 30

    def cells(joint: JointScores) -> list[tuple[int, ...]]:
        rows = []
        for positive in (False, True):
            grp, c, b, count = joint.of_class(positive)
            rows += [(int(positive), *map(int, t)) for t in zip(grp, c, b, count, strict=True)]
        return sorted(rows)

    small = cells(reduce_joint_scores(g, 4, y, ci, bi))
    huge = cells(reduce_joint_scores(g, 4, y, ci * big, bi * big))
    assert [(k, grp, c * big, b * big, m) for k, grp, c, b, m in small] == huge
    weighted = cells(reduce_joint_scores(g, 4, y, ci, bi, weights=np.ones(n, dtype=np.int64)))
    assert weighted == small
    assert sum(m for *_, m in small) == n
