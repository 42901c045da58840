from __future__ import annotations

import numpy as np
import pytest

from mlops_gates import catalog
from mlops_gates.stats import fairness
from mlops_gates.stats.metrics import METRICS, UNDEFINED_WHEN, metric_values, metrics_for_task
from mlops_gates.stats.reduce import reduce_classification, reduce_regression

BINARY_STATS = reduce_classification(
    [0, 0, 1], 2, [0, 1, 1], [1, 1, 0], [0, 1, 1], n_classes=2,
    candidate_scores=[0.2, 0.7, 0.4], baseline_scores=[0.1, 0.9, 0.6],
)  # fmt: skip
MULTICLASS_STATS = reduce_classification([0, 1, 1], 2, [0, 2, 1], [0, 1, 1], [2, 2, 1], n_classes=3)
REGRESSION_STATS = reduce_regression([0, 1, 1], 2, [1.0, 2.0, 4.0], [1.5, 2.0, 3.0], [0.0] * 3)
STATS = {"binary": BINARY_STATS, "multiclass": MULTICLASS_STATS, "regression": REGRESSION_STATS}


def test_the_metric_names_are_the_catalog() -> None:
    # One list: the stats implement the catalog's names, they keep none of their own.
    assert METRICS is catalog.METRICS
    assert list(UNDEFINED_WHEN) == list(catalog.METRICS)


@pytest.mark.parametrize("name", sorted(catalog.METRICS))
def test_every_catalog_metric_is_implemented_for_its_tasks(name: str) -> None:
    spec = catalog.METRICS[name]
    assert spec.name == name
    assert spec.description and "\n" not in spec.description
    assert spec.tasks and spec.tasks <= {"binary", "multiclass", "regression"}
    for task in spec.tasks:
        for model in ("candidate", "baseline"):
            values = metric_values(name, STATS[task], model=model)  # type: ignore[arg-type]
            assert values.shape == (2,) and values.dtype == np.float64


def test_metrics_for_task() -> None:
    binary, multiclass = metrics_for_task("binary"), metrics_for_task("multiclass")
    assert set(multiclass) < set(binary)
    assert {"roc_auc", "precision", "selection_rate", "tpr"} <= set(binary) - set(multiclass)
    assert {"f1_macro", "precision_weighted", "balanced_accuracy"} <= set(multiclass)
    assert metrics_for_task("regression") == ["mae", "mse", "rmse", "r2", "mean_error"]


def test_directions() -> None:
    undirected = {name for name, spec in METRICS.items() if spec.greater_is_better is None}
    assert undirected == {"selection_rate", "mean_error"}
    lower = {name for name, spec in METRICS.items() if spec.greater_is_better is False}
    assert lower == {"fpr", "fnr", "log_loss", "brier", "mae", "mse", "rmse"}


def test_unknown_metric_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'auc'; choose one of .*roc_auc"):
        metric_values("auc", BINARY_STATS)


@pytest.mark.parametrize("name", catalog.FAIRNESS_METRICS)
def test_every_catalog_fairness_metric_is_implemented(name: str) -> None:
    criterion, _, measure = name.rpartition("_")
    assert measure in {"difference", "ratio"}
    cm = np.array([[[40, 10], [5, 45]], [[30, 20], [15, 35]]])  # two groups, [true, pred]
    value = getattr(fairness, criterion)(cm, measure=measure)
    assert isinstance(value, float) and np.isfinite(value), (name, value)
