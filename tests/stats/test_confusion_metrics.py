from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from sklearn import metrics as skm

from mlops_gates.stats.metrics import (
    METRICS,
    confusion_metric,
    metric_values,
    metrics_for_task,
)
from mlops_gates.stats.reduce import marginalize, reduce_classification

from ._support import (
    NAN,
    Rows,
    assert_close,
    classification_rows,
    no_warnings,
    sk_confusion,
    sk_confusion_all,
)

BINARY = [m for m in metrics_for_task("binary") if METRICS[m].family == "confusion"]
MULTICLASS = [m for m in metrics_for_task("multiclass") if METRICS[m].family == "confusion"]


def _values(y: list[int], p: list[int], k: int = 2) -> dict[str, float]:
    stats = reduce_classification(np.zeros(len(y), np.int64), 1, y, p, n_classes=k)
    names = BINARY if k == 2 else MULTICLASS
    with no_warnings():
        return {name: float(metric_values(name, stats)[0]) for name in names}


# Hand-computed values; the property tests below check the same against sklearn at large.
BINARY_CASES = [
    ("empty", [], [], dict.fromkeys(BINARY, NAN)),
    (
        "only-negatives-all-right",
        [0, 0, 0],
        [0, 0, 0],
        {"accuracy": 1.0, "balanced_accuracy": 1.0, "precision": NAN, "recall": NAN,
         "tpr": NAN, "specificity": 1.0, "f1": NAN, "fpr": 0.0, "fnr": NAN,
         "selection_rate": 0.0},
    ),
    (
        "never-predicts-positive",
        [1, 1, 0],
        [0, 0, 0],
        {"accuracy": 1 / 3, "balanced_accuracy": 0.5, "precision": NAN, "recall": 0.0,
         "f1": 0.0, "specificity": 1.0, "fpr": 0.0, "fnr": 1.0, "selection_rate": 0.0},
    ),
    (
        "always-predicts-positive",
        [1, 0, 0, 0],
        [1, 1, 1, 1],
        {"accuracy": 0.25, "balanced_accuracy": 0.5, "precision": 0.25, "recall": 1.0,
         "f1": 0.4, "specificity": 0.0, "fpr": 1.0, "fnr": 0.0, "selection_rate": 1.0},
    ),
    (
        "only-positives-all-wrong",
        [1, 1],
        [0, 0],
        {"accuracy": 0.0, "balanced_accuracy": 0.0, "precision": NAN, "recall": 0.0,
         "f1": 0.0, "specificity": NAN, "fpr": NAN, "fnr": 1.0},
    ),
    (
        "mixed",
        [0, 0, 0, 1, 1, 1, 1],
        [0, 1, 1, 1, 1, 1, 0],
        {"accuracy": 4 / 7, "balanced_accuracy": (1 / 3 + 3 / 4) / 2, "precision": 0.6,
         "recall": 0.75, "f1": 2 * 3 / (2 * 3 + 2 + 1), "specificity": 1 / 3,
         "fpr": 2 / 3, "fnr": 0.25, "selection_rate": 5 / 7},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("y", "p", "expected"), [c[1:] for c in BINARY_CASES], ids=[c[0] for c in BINARY_CASES]
)
def test_binary_cases(y: list[int], p: list[int], expected: dict[str, float]) -> None:
    got = _values(y, p)
    for name, value in expected.items():
        assert_close(got[name], value)


MULTICLASS_CASES = [
    (
        # Class 2 is never predicted: its precision is undefined and skipped by the
        # averages (sklearn's zero_division=np.nan); recall and F1 count it as 0.
        "class-never-predicted",
        3,
        [0, 1, 2, 2],
        [0, 1, 1, 1],
        {"precision_macro": 2 / 3, "precision_weighted": 2 / 3, "recall_macro": 2 / 3,
         "recall_weighted": 0.5, "f1_macro": 0.5, "f1_weighted": 0.375, "accuracy": 0.5,
         "balanced_accuracy": 2 / 3},
    ),
    (
        # Class 3 is absent from both y_true and y_pred: skipped by every average.
        "absent-class",
        4,
        [0, 1, 2],
        [0, 1, 1],
        {"precision_macro": (1 + 0.5 + 0) / 2, "recall_macro": 2 / 3,
         "f1_macro": (1 + 2 / 3 + 0) / 3, "balanced_accuracy": 2 / 3},
    ),
    (
        # Defined precisions all have zero support weight: sklearn's _nanaverage falls back
        # to their unweighted mean.
        "weighted-fallback",
        2,
        [0, 0],
        [1, 1],
        {"precision_weighted": 0.0, "precision_macro": 0.0, "recall_weighted": 0.0,
         "f1_weighted": 0.0, "balanced_accuracy": 0.0},
    ),
    ("empty", 3, [], [], dict.fromkeys(MULTICLASS, NAN)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("k", "y", "p", "expected"),
    [c[1:] for c in MULTICLASS_CASES],
    ids=[c[0] for c in MULTICLASS_CASES],
)
def test_multiclass_cases(k: int, y: list[int], p: list[int], expected: dict[str, float]) -> None:
    got = _values(y, p, k)
    for name, value in expected.items():
        assert_close(got[name], value)
        if y:  # and the oracle agrees
            assert_close(got[name], sk_confusion(name, np.array(y), np.array(p), k))


def test_weighted_fallback_is_sklearn_behaviour() -> None:
    got = skm.precision_score([0, 0], [1, 1], labels=[0, 1], average="weighted",
                              zero_division=np.nan)  # fmt: skip
    assert got == 0.0


def _check_against_sklearn(rows: Rows, names: list[str]) -> None:
    stats = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline,
        n_classes=rows.n_classes,
    )  # fmt: skip
    for to_slice, n_slices, masks in rows.slices():
        table = marginalize(stats, to_slice, n_slices)
        oracle = [
            sk_confusion_all(names, rows.y_true[m], rows.candidate[m], rows.n_classes)
            for m in masks
        ]
        for name in names:
            with no_warnings():
                got = metric_values(name, table)
            assert got.shape == (n_slices,)
            assert_close(got, [expected[name] for expected in oracle])


@given(rows=classification_rows(binary=True))
@settings(max_examples=100, deadline=None)
def test_binary_metrics_match_sklearn(rows: Rows) -> None:
    _check_against_sklearn(rows, [m for m in BINARY if m not in MULTICLASS])


@given(rows=classification_rows())
@settings(max_examples=100, deadline=None)
def test_multiclass_metrics_match_sklearn(rows: Rows) -> None:
    _check_against_sklearn(rows, MULTICLASS)


@given(rows=classification_rows())
@settings(max_examples=60, deadline=None)
def test_baseline_metrics_are_the_baseline_predictions_metrics(rows: Rows) -> None:
    both = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline,
        n_classes=rows.n_classes,
    )  # fmt: skip
    alone = reduce_classification(
        rows.groups, rows.n_groups, rows.y_true, rows.baseline, n_classes=rows.n_classes
    )
    names = BINARY if rows.n_classes == 2 else MULTICLASS
    for name in names:
        assert_close(metric_values(name, both, model="baseline"), metric_values(name, alone))


def test_batched_confusion_matrices() -> None:
    # Bootstrap replicates add leading axes; each matrix is still computed on its own.
    rng = np.random.default_rng(3)
    cm = rng.integers(0, 5, size=(6, 3, 4, 4))
    cm[0, 0] = 0  # an empty matrix in the batch
    for name in MULTICLASS:
        with no_warnings():
            batched = confusion_metric(name, cm)
        assert batched.shape == (6, 3)
        one_by_one = [[confusion_metric(name, cm[r, s][None])[0] for s in range(3)]
                      for r in range(6)]  # fmt: skip
        assert_close(batched, one_by_one)
        assert np.isnan(batched[0, 0])
    assert_close(confusion_metric("accuracy", cm.astype(float)), confusion_metric("accuracy", cm))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint16, np.float64])
@pytest.mark.parametrize("k", [2, 3])
def test_integer_and_float_counts_give_sklearns_values(dtype: type, k: int) -> None:
    # Integer tables are computed without a float copy: the same floats as float tables,
    # and sklearn's (and fairlearn's) on the rows each table counts.
    rng = np.random.default_rng(k)
    cm = rng.integers(0, 40, size=(5, k, k))
    cm[1, 1:] = 0  # a class never seen: undefined averages, zero divisions
    names = BINARY if k == 2 else MULTICLASS
    for name in names:
        with no_warnings():
            got = confusion_metric(name, cm.astype(dtype))
        assert np.array_equal(got, confusion_metric(name, cm.astype(np.float64)), equal_nan=True)
        for s in range(cm.shape[0]):
            cells = [(t, q) for t in range(k) for q in range(k)]
            counts = [int(cm[s, t, q]) for t, q in cells]
            y = np.repeat([t for t, _ in cells], counts)
            p = np.repeat([q for _, q in cells], counts)
            assert_close(got[s], sk_confusion(name, y, p, k))


@pytest.mark.parametrize(
    ("name", "cm", "message"),
    [
        ("precision", np.zeros((1, 3, 3)), r"binary tasks \(K=2\), got K=3"),
        ("accuracy", np.zeros((1, 2, 3)), r"shape \(\.\.\., K, K\)"),
        ("roc_auc", np.zeros((1, 2, 2)), "not computed from a confusion matrix"),
        ("precison", np.zeros((1, 2, 2)), "unknown metric 'precison'; choose one of"),
    ],
    ids=["binary-metric-on-multiclass", "not-square", "wrong-family", "typo"],
)
def test_confusion_metric_rejects(name: str, cm: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        confusion_metric(name, cm)
