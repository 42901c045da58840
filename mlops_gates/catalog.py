"""The metric catalog: every metric name, its family, tasks and direction, listed once.

Ground floor and numpy-free, so the config can validate `metric:` (and the docs can list
the names) without importing the statistics. `stats/metrics.py` implements each name of
this catalog; a test there checks that none is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALL_METRICS",
    "FAIRNESS_METRICS",
    "METRICS",
    "METRICS_BY_TASK",
    "SCORE_METRICS",
    "Family",
    "MetricSpec",
    "Task",
    "metrics_for_task",
]

Task = Literal["binary", "multiclass", "regression"]
Family = Literal["confusion", "score", "regression"]


@dataclass(frozen=True)
class MetricSpec:
    """What the catalogue knows about one metric: the table it is computed from (family),
    the tasks it applies to, its direction and a one-line formula for the docs."""

    name: str
    family: Family
    tasks: frozenset[str]
    greater_is_better: bool | None  # None: no natural direction (selection_rate, mean_error)
    description: str  # one line with the formula, for docs


_BINARY = frozenset({"binary"})
_CLASSIFICATION = frozenset({"binary", "multiclass"})
_REGRESSION = frozenset({"regression"})

# fmt: off
_SPECS: list[tuple[str, Family, frozenset[str], bool | None, str]] = [
    # name, family, tasks, greater_is_better, description
    ("accuracy", "confusion", _CLASSIFICATION, True, "share of rows predicted correctly"),
    ("balanced_accuracy", "confusion", _CLASSIFICATION, True,
     "mean recall over the classes present in y_true"),
    ("precision", "confusion", _BINARY, True, "TP / (TP + FP)"),
    ("recall", "confusion", _BINARY, True, "TP / (TP + FN)"),
    ("tpr", "confusion", _BINARY, True, "true positive rate, TP / (TP + FN) (= recall)"),
    ("specificity", "confusion", _BINARY, True, "TN / (TN + FP)"),
    ("f1", "confusion", _BINARY, True, "2·TP / (2·TP + FP + FN)"),
    ("fpr", "confusion", _BINARY, False, "false positive rate, FP / (FP + TN)"),
    ("fnr", "confusion", _BINARY, False, "false negative rate, FN / (FN + TP)"),
    ("selection_rate", "confusion", _BINARY, None,
     "share of rows predicted positive, (TP + FP) / n"),
    ("precision_macro", "confusion", _CLASSIFICATION, True,
     "unweighted mean of per-class precision, undefined classes skipped"),
    ("recall_macro", "confusion", _CLASSIFICATION, True,
     "unweighted mean of per-class recall, undefined classes skipped"),
    ("f1_macro", "confusion", _CLASSIFICATION, True,
     "unweighted mean of per-class F1, undefined classes skipped"),
    ("precision_weighted", "confusion", _CLASSIFICATION, True,
     "per-class precision averaged with weights = class support in y_true"),
    ("recall_weighted", "confusion", _CLASSIFICATION, True,
     "per-class recall averaged with weights = class support in y_true"),
    ("f1_weighted", "confusion", _CLASSIFICATION, True,
     "per-class F1 averaged with weights = class support in y_true"),
    ("roc_auc", "score", _BINARY, True,
     "P(score_pos > score_neg) + ½·P(tie): area under the ROC curve"),
    ("average_precision", "score", _BINARY, True,
     "Σ_t (R_t − R_{t+1})·P_t over distinct score thresholds t (step-wise, no interpolation)"),
    ("log_loss", "score", _BINARY, False,
     "−mean(y·log p + (1−y)·log(1−p)), p clipped to [eps, 1−eps]"),
    ("brier", "score", _BINARY, False, "mean((p − y)²)"),
    ("mae", "regression", _REGRESSION, False, "mean(|y_pred − y_true|)"),
    ("mse", "regression", _REGRESSION, False, "mean((y_pred − y_true)²)"),
    ("rmse", "regression", _REGRESSION, False, "sqrt(mean((y_pred − y_true)²))"),
    ("r2", "regression", _REGRESSION, True,
     "1 − Σ(y_pred − y_true)² / Σ(y_true − mean(y_true))²"),
    ("mean_error", "regression", _REGRESSION, None, "mean(y_pred − y_true) (bias)"),
]
# fmt: on

METRICS: dict[str, MetricSpec] = {
    name: MetricSpec(name, family, tasks, gib, desc) for name, family, tasks, gib, desc in _SPECS
}


def metrics_for_task(task: Task) -> list[str]:
    """Names of the metrics valid for ``task``, in catalog order."""
    return [name for name, spec in METRICS.items() if task in spec.tasks]


ALL_METRICS: tuple[str, ...] = tuple(METRICS)
METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    task: tuple(metrics_for_task(task)) for task in ("binary", "multiclass", "regression")
}
# Metrics computed from scores, not labels: they need a `scores` column (or a model).
SCORE_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.family == "score")

# Named group-fairness criteria for `fairness` gates (binary tasks); any metric above can be
# compared across groups too, with `measure: difference | ratio`. stats/fairness.py
# implements each `<criterion>_<measure>`.
FAIRNESS_METRICS: tuple[str, ...] = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)
