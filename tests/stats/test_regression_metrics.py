from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from sklearn import metrics as skm

from mlops_gates.stats.metrics import METRICS, metric_values, regression_metric
from mlops_gates.stats.reduce import marginalize, reduce_classification, reduce_regression

from ._support import (
    NAN,
    RegressionRows,
    assert_close,
    no_warnings,
    regression_rows,
    sk_regression,
)

REGRESSION = [m for m, spec in METRICS.items() if spec.family == "regression"]


def _values(y: list[float], p: list[float]) -> dict[str, float]:
    stats = reduce_regression(np.zeros(len(y), np.int64), 1, y, p)
    with no_warnings():
        return {name: float(metric_values(name, stats)[0]) for name in REGRESSION}


CASES = [
    ("empty", [], [], dict.fromkeys(REGRESSION, NAN)),
    ("single-row", [3.0], [1.0], {"mae": 2.0, "mse": 4.0, "rmse": 2.0, "r2": NAN,
                                  "mean_error": -2.0}),
    ("perfect", [1.0, 2.0, 4.0], [1.0, 2.0, 4.0], {"mae": 0.0, "r2": 1.0, "mean_error": 0.0}),
    ("constant-target", [2.0, 2.0, 2.0], [1.0, 2.0, 3.0],
     {"mae": 2 / 3, "mse": 2 / 3, "rmse": (2 / 3) ** 0.5, "r2": NAN, "mean_error": 0.0}),
    ("constant-target-perfect", [5.0, 5.0], [5.0, 5.0], {"r2": NAN, "mse": 0.0}),
    # 0.1 is not a binary fraction; the target is still exactly constant.
    ("constant-tenths", [0.1, 0.1, 0.1], [0.2, 0.0, 0.1], {"r2": NAN}),
    ("mean-model", [1.0, 2.0, 3.0], [2.0, 2.0, 2.0],
     {"r2": 0.0, "mae": 2 / 3, "mean_error": 0.0}),
    ("biased", [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], {"mean_error": 1.0, "r2": 1 - 3 / 2}),
]  # fmt: skip


@pytest.mark.parametrize(("y", "p", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_regression_cases(y: list[float], p: list[float], expected: dict[str, float]) -> None:
    got = _values(y, p)
    for name, value in expected.items():
        assert_close(got[name], value)
        assert_close(got[name], sk_regression(name, np.array(y), np.array(p)))


def test_sklearn_r2_of_a_constant_target() -> None:
    # Why we say NaN: sklearn's default answers 1.0 or 0.0 by convention, and with
    # force_finite=False a float-noise denominator can even yield a huge finite number.
    assert skm.r2_score([2.0, 2.0], [1.0, 3.0]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.r2_score([2.0, 2.0], [2.0, 2.0], force_finite=False))
    assert abs(skm.r2_score([0.1] * 3, [0.2, 0.0, 0.1], force_finite=False)) > 1e20


def test_baseline_column() -> None:
    stats = reduce_regression([0, 0, 1], 2, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert_close(metric_values("mae", stats, model="baseline"), [0.5, 1.0])
    assert_close(regression_metric("mae", stats, model=1), [0.5, 1.0])
    assert_close(metric_values("mae", stats), [0.0, 0.0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: metric_values("mae", s, model="baseline"), "without baseline"),
        (lambda s: regression_metric("mae", s, model=2), "model must be 0"),
        (lambda s: regression_metric("accuracy", s), "not a regression metric"),
        (lambda s: metric_values("accuracy", s), "needs classification statistics"),
        (
            lambda s: metric_values("mae", reduce_classification([0], 1, [0], [0], n_classes=2)),
            "needs regression statistics",
        ),
    ],
    ids=["no-baseline", "bad-model", "wrong-family", "classification-metric", "wrong-stats"],
)
def test_regression_rejects(call: object, message: str) -> None:
    stats = reduce_regression([0], 1, [1.0], [1.0])
    with pytest.raises(ValueError, match=message):
        call(stats)  # type: ignore[operator]


@given(rows=regression_rows())
@settings(max_examples=150, deadline=None)
def test_regression_metrics_match_sklearn(rows: RegressionRows) -> None:
    stats = reduce_regression(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline
    )
    for to_slice, n_slices, masks in rows.slices():
        table = marginalize(stats, to_slice, n_slices)
        for name in REGRESSION:
            with no_warnings():
                got = metric_values(name, table)
                got_base = metric_values(name, table, model="baseline")
            y = rows.y_true
            assert_close(got, [sk_regression(name, y[m], rows.candidate[m]) for m in masks])
            assert_close(got_base, [sk_regression(name, y[m], rows.baseline[m]) for m in masks])
