from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from sklearn import metrics as skm

from mlops_gates.stats.metrics import METRICS, metric_values, score_metric
from mlops_gates.stats.reduce import marginalize, reduce_classification

from ._support import NAN, Rows, assert_close, classification_rows, no_warnings, sk_score

SCORE = [m for m, spec in METRICS.items() if spec.family == "score"]
EPS = float(np.finfo(np.float64).eps)


def _values(y: list[int], s: list[float]) -> dict[str, float]:
    stats = reduce_classification(
        np.zeros(len(y), np.int64), 1, y, np.zeros(len(y), np.int64), n_classes=2,
        candidate_scores=s,
    )  # fmt: skip
    with no_warnings():
        return {name: float(metric_values(name, stats)[0]) for name in SCORE}


CASES = [
    ("empty", [], [], dict.fromkeys(SCORE, NAN)),
    (
        # A positive tied with a negative counts half (midrank); AP steps once per distinct
        # threshold: 0.5·1 (at 0.8) + 0.5·2/3 (at 0.5).
        "ties",
        [0, 1, 0, 1],
        [0.5, 0.5, 0.2, 0.8],
        {"roc_auc": 3.5 / 4, "average_precision": 0.5 + 0.5 * 2 / 3,
         "brier": (0.25 + 0.25 + 0.04 + 0.04) / 4,
         "log_loss": -(2 * math.log(0.5) + math.log(0.8) + math.log(0.8)) / 4},
    ),
    (
        "all-tied",
        [0, 1, 0, 1, 1],
        [0.3, 0.3, 0.3, 0.3, 0.3],
        {"roc_auc": 0.5, "average_precision": 0.6},
    ),
    (
        # No positives: ROC AUC and AP undefined (sklearn: NaN and 0.0, both with a
        # warning); log loss and Brier score are still well defined.
        "only-negatives",
        [0, 0],
        [0.2, 0.4],
        {"roc_auc": NAN, "average_precision": NAN, "brier": (0.04 + 0.16) / 2,
         "log_loss": -(math.log(0.8) + math.log(0.6)) / 2},
    ),
    (
        "only-positives",
        [1, 1],
        [0.2, 0.4],
        {"roc_auc": NAN, "average_precision": 1.0, "brier": (0.64 + 0.36) / 2,
         "log_loss": -(math.log(0.2) + math.log(0.4)) / 2},
    ),
    (
        # Certain and wrong: sklearn clips both columns to [eps, 1 - eps].
        "clipped",
        [1, 0],
        [0.0, 1.0],
        {"roc_auc": 0.0, "average_precision": 0.5, "brier": 1.0,
         "log_loss": -math.log(EPS)},
    ),
    (
        "perfect",
        [0, 0, 1],
        [0.1, 0.2, 0.9],
        {"roc_auc": 1.0, "average_precision": 1.0},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("y", "s", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_score_cases(y: list[int], s: list[float], expected: dict[str, float]) -> None:
    got = _values(y, s)
    for name, value in expected.items():
        assert_close(got[name], value)
        assert_close(got[name], sk_score(name, np.array(y), np.array(s)))


def test_sklearn_average_precision_without_positives_is_zero() -> None:
    # Documented deviation: sklearn answers 0.0 (with a warning); we say undefined.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert skm.average_precision_score([0, 0], [0.2, 0.4]) == 0.0


def test_rank_metrics_accept_any_real_scores() -> None:
    y, s = [0, 1, 1, 0, 1], [-3.0, 2.5, -3.0, 7.0, 1e9]
    got = _values_rank(y, s)
    assert_close(got["roc_auc"], skm.roc_auc_score(y, s))
    assert_close(got["average_precision"], skm.average_precision_score(y, s))


def _values_rank(y: list[int], s: list[float]) -> dict[str, float]:
    stats = reduce_classification([0] * len(y), 1, y, [0] * len(y), n_classes=2,
                                  candidate_scores=s)  # fmt: skip
    assert stats.candidate_scores is not None
    return {n: float(score_metric(n, stats.candidate_scores)[0]) for n in ("roc_auc",
            "average_precision")}  # fmt: skip


@pytest.mark.parametrize("name", ["log_loss", "brier"])
def test_probability_metrics_reject_non_probabilities(name: str) -> None:
    stats = reduce_classification([0, 0], 1, [0, 1], [0, 0], n_classes=2,
                                  candidate_scores=[-0.5, 2.0])  # fmt: skip
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        metric_values(name, stats)


def test_score_metrics_need_scores() -> None:
    stats = reduce_classification([0], 1, [1], [1], n_classes=2)
    with pytest.raises(ValueError, match="needs candidate scores"):
        metric_values("roc_auc", stats)
    with pytest.raises(ValueError, match="needs baseline scores"):
        metric_values("roc_auc", stats, model="baseline")


@given(rows=classification_rows(binary=True))
@settings(max_examples=100, deadline=None)
def test_score_metrics_match_sklearn(rows: Rows) -> None:
    stats = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline, n_classes=2,
        candidate_scores=rows.scores, baseline_scores=rows.baseline_scores,
    )  # fmt: skip
    # The baseline's table must be exactly the one its scores would give as a candidate.
    swapped = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.baseline, n_classes=2,
        candidate_scores=rows.baseline_scores,
    )  # fmt: skip
    for to_slice, n_slices, masks in rows.slices():
        table = marginalize(stats, to_slice, n_slices)
        for name in SCORE:
            with no_warnings():
                got = metric_values(name, table)
                got_base = metric_values(name, table, model="baseline")
            assert got.shape == (n_slices,)
            assert_close(got, [sk_score(name, rows.y_true[m], rows.scores[m]) for m in masks])
            assert_close(got_base, metric_values(name, marginalize(swapped, to_slice, n_slices)))


def test_rank_metrics_per_group_with_empty_groups_match_sklearn() -> None:
    # Groups 1, 3 and 5 hold no rows: the running totals restart at each group that does
    # (found by binary search), and the empty ones are undefined.
    rng = np.random.default_rng(11)
    groups = rng.choice([0, 2, 4], size=600)
    y = rng.integers(0, 2, 600)
    s = np.round(rng.random(600) + 0.3 * y, 2)
    stats = reduce_classification(
        groups, 6, y, np.zeros(600, np.int64), n_classes=2, candidate_scores=s
    )
    for name, sk in (
        ("roc_auc", skm.roc_auc_score),
        ("average_precision", skm.average_precision_score),
    ):
        got = metric_values(name, stats)
        for g in range(6):
            if g % 2:
                assert math.isnan(got[g])
            else:
                m = groups == g
                assert got[g] == pytest.approx(sk(y[m], s[m]), abs=1e-12), (name, g)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
def test_narrow_engine_tables_with_empty_groups_at_both_ends(dtype: type) -> None:
    # The batched read hands groups and counts over as int32 (scores int16): the group
    # totals and the AUC's runs of entries are summed in int64 / float whatever the type,
    # with empty groups first, in the middle and last. Against sklearn and numpy per group.
    from mlops_gates.stats.metrics import class_totals
    from mlops_gates.stats.reduce import ScoreStats

    rng = np.random.default_rng(5)
    groups = np.sort(rng.choice([1, 2, 4], size=900))
    y = rng.integers(0, 2, 900)
    s = np.round(rng.random(900) + 0.4 * y, 1)
    stats = reduce_classification(
        groups, 6, y, np.zeros(900, np.int64), n_classes=2, candidate_scores=s
    )
    wide = stats.candidate_scores
    assert wide is not None
    narrow = ScoreStats(
        thresholds=wide.thresholds,
        group=wide.group.astype(dtype),
        score=wide.score.astype(dtype),
        pos=wide.pos.astype(dtype),
        neg=wide.neg.astype(dtype),
        n_groups=6,
    )
    n1, n0 = class_totals(narrow)
    assert n1.tolist() == [float(((groups == g) & (y == 1)).sum()) for g in range(6)]
    assert n0.tolist() == [float(((groups == g) & (y == 0)).sum()) for g in range(6)]
    got = score_metric("roc_auc", narrow)
    for g in range(6):
        m = groups == g
        if m.any():
            assert got[g] == pytest.approx(skm.roc_auc_score(y[m], s[m]), abs=1e-12), g
        else:
            assert math.isnan(got[g]), g


@pytest.mark.parametrize(
    ("dtype", "n", "kept"),
    [
        (np.int16, 32768, True),
        (np.int16, 32769, False),
        (np.int32, 5, True),
        (np.float64, 5, False),
    ],
)
def test_group_probes_keep_the_groups_type_only_when_every_probe_fits(
    dtype: type, n: int, kept: bool
) -> None:
    from mlops_gates.stats.reduce import probe_type

    group = np.sort(np.random.default_rng(1).integers(0, min(n, 30000), 500)).astype(dtype)
    kind = probe_type(group, n)
    assert (kind == np.dtype(dtype)) == kept
    probes = np.arange(n, dtype=kind)
    # Every probe is the number it stands for, and the search finds what numpy's int64
    # search finds.
    assert np.array_equal(probes.astype(np.int64), np.arange(n))
    assert np.array_equal(np.searchsorted(group, probes), np.searchsorted(group, np.arange(n)))
