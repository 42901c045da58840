"""Metrics as vectorised functions of sufficient statistics.

Every function works on all slices at once (the leading axis of a marginalized table) and
returns float64. Undefined values are NaN, never a silent 0: an empty slice, a zero
denominator, a rank metric on a slice with one class only, R² of a constant target.

With that convention the numbers equal scikit-learn 1.9's, called with
``zero_division=np.nan`` and, for macro/weighted averages, ``labels=range(K)``. Where
sklearn answers differently we say so:

- ``average_precision`` without positives: sklearn returns 0.0 (with a warning); NaN here.
- ``r2`` of a constant target: sklearn returns 1.0/0.0 by default, NaN/-inf with
  ``force_finite=False``, or float noise when the mean is inexact (``[0.1] * 3``); NaN here.
- ``log_loss`` of a single-class slice: sklearn raises unless told ``labels=[0, 1]``; the
  classes are known here, so we return what it returns with ``labels=[0, 1]``.
- ``roc_auc`` with one class: NaN, as sklearn (which also warns).

Binary tasks: class index 1 is the positive class, 0 the negative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops_gates.catalog import METRICS, Family, MetricSpec, Task, metrics_for_task
from mlops_gates.stats.reduce import ClassificationStats, RegressionStats, ScoreStats

__all__ = [
    "METRICS",
    "UNDEFINED_WHEN",
    "Family",
    "MetricSpec",
    "Task",
    "below",
    "class_totals",
    "confusion_metric",
    "metric_values",
    "metrics_for_task",
    "regression_metric",
    "score_metric",
]


FloatArray = NDArray[np.float64]

# The names, families, tasks and directions live in the catalog (numpy-free, shared with
# the config); this module implements each of them and re-exports the catalog's names.

# When each metric is undefined (NaN, reported as `observed: null`), as the functions below
# compute it. Kept as data beside the registry so the metrics reference page is generated
# from it; a docs test checks that every metric has an entry.
_EMPTY = "an empty slice"
UNDEFINED_WHEN: dict[str, str] = {
    "accuracy": _EMPTY,
    "balanced_accuracy": _EMPTY + "; classes absent from y_true are left out of the mean",
    "precision": _EMPTY + "; no predicted positives (TP + FP = 0)",
    "recall": _EMPTY + "; no true positives in the slice (a one-class slice of negatives)",
    "tpr": _EMPTY + "; no true positives in the slice (a one-class slice of negatives)",
    "specificity": _EMPTY + "; no true negatives in the slice (a one-class slice of positives)",
    "f1": _EMPTY + "; TP = FP = FN = 0 (only true negatives, all predicted negative)",
    "fpr": _EMPTY + "; no true negatives in the slice (a one-class slice of positives)",
    "fnr": _EMPTY + "; no true positives in the slice (a one-class slice of negatives)",
    "selection_rate": _EMPTY,
    "precision_macro": _EMPTY + "; a class never predicted is left out of the mean",
    "recall_macro": _EMPTY + "; a class absent from y_true is left out of the mean",
    "f1_macro": _EMPTY + "; a class absent from both y_true and predictions is left out "
    "(a class missing from only one of them scores 0)",
    "precision_weighted": _EMPTY + "; undefined classes are left out of the average",
    "recall_weighted": _EMPTY + "; undefined classes are left out of the average",
    "f1_weighted": _EMPTY + "; undefined classes are left out of the average",
    "roc_auc": _EMPTY + "; a one-class slice (no positives or no negatives)",
    "average_precision": _EMPTY + "; no positives (scikit-learn returns 0 with a warning)",
    "log_loss": _EMPTY + "; defined on one-class slices; scores outside [0, 1] are an error",
    "brier": _EMPTY + "; scores outside [0, 1] are an error",
    "mae": _EMPTY,
    "mse": _EMPTY,
    "rmse": _EMPTY,
    "r2": _EMPTY + "; a constant target (Σ(y_true − mean)² = 0), so every one-row slice",
    "mean_error": _EMPTY,
}


def metric_values(
    name: str,
    stats: ClassificationStats | RegressionStats,
    *,
    model: Literal["candidate", "baseline"] = "candidate",
) -> FloatArray:
    """Metric ``name`` of ``model`` for every group of ``stats``: shape ``(G,)``."""
    spec = _spec(name)
    if spec.family == "regression":
        if not isinstance(stats, RegressionStats):
            raise ValueError(f"metric {name!r} needs regression statistics")
        return regression_metric(name, stats, model=0 if model == "candidate" else 1)
    if not isinstance(stats, ClassificationStats):
        raise ValueError(f"metric {name!r} needs classification statistics")
    if spec.family == "confusion":
        cm = stats.candidate_confusion() if model == "candidate" else stats.baseline_confusion()
        return confusion_metric(name, cm)
    scores = stats.candidate_scores if model == "candidate" else stats.baseline_scores
    if scores is None:
        raise ValueError(f"metric {name!r} needs {model} scores, and none were reduced")
    return score_metric(name, scores)


# --- confusion family ------------------------------------------------------------------


def confusion_metric(name: str, cm: NDArray[np.generic]) -> FloatArray:
    """Metric ``name`` of confusion matrices ``cm[..., true, pred]``, shape ``cm.shape[:-2]``.

    Any leading batch shape works (slices, bootstrap replicates, ...); counts may be ints
    or floats.
    """
    spec = _spec(name)
    if spec.family != "confusion":
        raise ValueError(f"metric {name!r} is not computed from a confusion matrix")
    m = np.asarray(cm)
    # Integer counts stay integers: every sum of them is exact either way, and each
    # division converts, so the metrics are the same floats without a float copy of the
    # whole table first (a thousand replicates of 160 slices: 1.4 ms, not 3.6, for F1).
    m = m.astype(np.int64 if np.issubdtype(m.dtype, np.integer) else np.float64, copy=False)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise ValueError(f"confusion matrices must have shape (..., K, K), got {m.shape}")
    if spec.tasks == {"binary"} and m.shape[-1] != 2:
        raise ValueError(f"metric {name!r} is for binary tasks (K=2), got K={m.shape[-1]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return _CONFUSION[name](m)


def _binary_cells(m: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(TN, FP, FN, TP) with class 1 positive."""
    return m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]


def _per_class(m: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(correct, true support, predicted count) per class, each ``(..., K)``."""
    return np.diagonal(m, axis1=-2, axis2=-1), m.sum(axis=-1), m.sum(axis=-2)


def _accuracy(m: FloatArray) -> FloatArray:
    return _div(np.trace(m, axis1=-2, axis2=-1), m.sum(axis=(-2, -1)))


def _balanced_accuracy(m: FloatArray) -> FloatArray:
    # sklearn drops classes absent from y_true (their recall is 0/0) before averaging.
    correct, true, _ = _per_class(m)
    return _nanmean(_div(correct, true))


def _precision_each(m: FloatArray) -> FloatArray:
    correct, _, pred = _per_class(m)
    return _div(correct, pred)


def _recall_each(m: FloatArray) -> FloatArray:
    correct, true, _ = _per_class(m)
    return _div(correct, true)


def _f1_each(m: FloatArray) -> FloatArray:
    # sklearn's form 2·TP / (support + predicted): 0 (not NaN) when only precision or
    # only recall is undefined, NaN only when the class is absent from both.
    correct, true, pred = _per_class(m)
    return _div(2.0 * correct, true + pred)


def _macro(each: Callable[[FloatArray], FloatArray]) -> Callable[[FloatArray], FloatArray]:
    return lambda m: _nanmean(each(m))


def _weighted(each: Callable[[FloatArray], FloatArray]) -> Callable[[FloatArray], FloatArray]:
    return lambda m: _nanaverage(each(m), m.sum(axis=-1))


def _binary(
    f: Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray],
) -> Callable[[FloatArray], FloatArray]:
    return lambda m: f(*_binary_cells(m))


_CONFUSION: dict[str, Callable[[FloatArray], FloatArray]] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "precision": _binary(lambda tn, fp, fn, tp: _div(tp, tp + fp)),
    "recall": _binary(lambda tn, fp, fn, tp: _div(tp, tp + fn)),
    "tpr": _binary(lambda tn, fp, fn, tp: _div(tp, tp + fn)),
    "specificity": _binary(lambda tn, fp, fn, tp: _div(tn, tn + fp)),
    "f1": _binary(lambda tn, fp, fn, tp: _div(2.0 * tp, 2.0 * tp + fp + fn)),
    "fpr": _binary(lambda tn, fp, fn, tp: _div(fp, fp + tn)),
    "fnr": _binary(lambda tn, fp, fn, tp: _div(fn, fn + tp)),
    "selection_rate": _binary(lambda tn, fp, fn, tp: _div(tp + fp, tn + fp + fn + tp)),
    "precision_macro": _macro(_precision_each),
    "recall_macro": _macro(_recall_each),
    "f1_macro": _macro(_f1_each),
    "precision_weighted": _weighted(_precision_each),
    "recall_weighted": _weighted(_recall_each),
    "f1_weighted": _weighted(_f1_each),
}


# --- score family ----------------------------------------------------------------------


def score_metric(name: str, scores: ScoreStats) -> FloatArray:
    """Metric ``name`` of binary scores per group: shape ``(scores.n_groups,)``.

    Exact, ties included: the table keeps every distinct (group, score) pair.
    """
    spec = _spec(name)
    if spec.family != "score":
        raise ValueError(f"metric {name!r} is not computed from scores")

    def compute() -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return _SCORE[name](scores)

    return scores.memo(f"metric:{name}", compute)


def class_totals(scores: ScoreStats) -> tuple[FloatArray, FloatArray]:
    """Positives and negatives per group, as floats; once per table (ROC AUC, average
    precision and DeLong's variance all read them)."""
    n1 = scores.memo("class:n1", lambda: _group_totals(scores, scores.pos))
    n0 = scores.memo("class:n0", lambda: _group_totals(scores, scores.neg))
    return n1, n0


def _group_totals(scores: ScoreStats, counts: NDArray[np.integer[Any]]) -> FloatArray:
    """``counts`` summed per group, as floats: in integers (exact, the same numbers as
    ``n_positive()``), each group's run of entries at once (`_run_sums`)."""
    return np.asarray(_run_sums(scores, counts, np.int64), dtype=np.float64)


def _run_sums(scores: ScoreStats, values: NDArray[Any], dtype: type) -> NDArray[Any]:
    """``values`` (one per entry) summed over each group's run of entries, in ``dtype``;
    0 for an empty group. ``np.add.reduceat`` at the non-empty groups' starts (each run
    then ends where the next non-empty group begins): 0.1 ms on a 335k-entry table, where
    a running total costs 0.8 (np.cumsum does not vectorise) and bincount 1.0."""
    ends = scores.group_bounds
    starts = ends[:-1]
    filled = ends[1:] > starts
    out: NDArray[Any] = np.zeros(scores.n_groups, dtype=dtype)
    if filled.any():
        out[filled] = np.add.reduceat(values, starts[filled], dtype=dtype)
    return out


def below(scores: ScoreStats, which: Literal["pos", "neg"]) -> FloatArray:
    """Per entry: the group's positives (or negatives) at strictly lower scores; computed
    once per table (ROC AUC, average precision and DeLong's variance all read it)."""
    counts = scores.pos if which == "pos" else scores.neg
    return scores.memo(f"below:{which}", lambda: _below(scores, counts))


def _below(scores: ScoreStats, counts: NDArray[np.integer[Any]]) -> FloatArray:
    """Per entry: ``counts`` summed over the same group's strictly lower scores.

    Entries are sorted by (group, score), so this is a cumulative sum restarted per group:
    summed in integers, exact (the same floats as summing them in floats), and each
    group's start found by a binary search rather than a pass over the entries.
    """
    if counts.shape[0] == 0:
        return np.zeros(0, dtype=np.float64)
    before = np.cumsum(counts, dtype=np.int64)
    before -= counts
    ends = scores.group_bounds
    # An empty group's start may be past the end; it is repeated 0 times.
    base = before[np.minimum(ends[:-1], before.shape[0] - 1)]
    # Each group's base over its run of entries (a repeat, half the cost of base[group]).
    before -= np.repeat(base, np.diff(ends))
    return np.asarray(before, dtype=np.float64)


def _group_sum(scores: ScoreStats, values: NDArray[Any]) -> FloatArray:
    return np.asarray(
        np.bincount(scores.group, weights=values, minlength=scores.n_groups), dtype=np.float64
    )


def _roc_auc(s: ScoreStats) -> FloatArray:
    # Mann-Whitney form: every positive beats the negatives below it and ties half of the
    # negatives at its score; equals sklearn's trapezoidal area (midranks for ties).
    p, n = class_totals(s)
    wins = s.pos * (below(s, "neg") + 0.5 * s.neg)
    # Each term is a multiple of ½ and so is every partial sum: exact in any order (below
    # 2^52, i.e. under ~10^8 rows a slice), so the runs are summed by reduceat, not
    # bincount: the same floats at an eighth of the cost.
    # NaN with one class only (sklearn warns and returns NaN too).
    return _div(_run_sums(s, wins, np.float64), p * n)


def _average_precision(s: ScoreStats) -> FloatArray:
    # sklearn's step sum Σ (R_t - R_{t+1}) P_t: recall only moves at thresholds holding
    # positives, by pos/P, and P_t counts every row scored >= t.
    p, n = class_totals(s)
    tp_at = p[s.group] - below(s, "pos")
    fp_at = n[s.group] - below(s, "neg")
    precision = np.where(s.pos > 0, tp_at / np.maximum(tp_at + fp_at, 1.0), 0.0)
    # No positives: sklearn returns 0 with a warning (recall "set to one"); we say NaN.
    return _div(_group_sum(s, s.pos * precision), p)


def _log_loss(s: ScoreStats) -> FloatArray:
    prob = _probabilities(s, "log_loss")
    # Exactly sklearn 1.9 for float64: both columns (1-p, p) clipped to [eps, 1-eps].
    eps = np.finfo(np.float64).eps
    loss_pos = -np.log(np.clip(prob, eps, 1 - eps))
    loss_neg = -np.log(np.clip(1 - prob, eps, 1 - eps))
    total = s.pos * loss_pos[s.score] + s.neg * loss_neg[s.score]
    return _div(_group_sum(s, total), s.support().astype(np.float64))


def _brier(s: ScoreStats) -> FloatArray:
    prob = _probabilities(s, "brier")
    total = s.pos * (1 - prob[s.score]) ** 2 + s.neg * prob[s.score] ** 2
    return _div(_group_sum(s, total), s.support().astype(np.float64))


def _probabilities(s: ScoreStats, name: str) -> FloatArray:
    t = s.thresholds
    if t.shape[0] and (t[0] < 0 or t[-1] > 1):
        raise ValueError(
            f"{name} needs probabilities in [0, 1]; scores range over [{t[0]:g}, {t[-1]:g}]"
        )
    return t


_SCORE: dict[str, Callable[[ScoreStats], FloatArray]] = {
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
    "log_loss": _log_loss,
    "brier": _brier,
}


# --- regression family -----------------------------------------------------------------


def regression_metric(name: str, stats: RegressionStats, *, model: int = 0) -> FloatArray:
    """Metric ``name`` per group: shape ``(G,)``; ``model`` 0 is the candidate, 1 the baseline."""
    spec = _spec(name)
    if spec.family != "regression":
        raise ValueError(f"metric {name!r} is not a regression metric")
    if model not in (0, 1):
        raise ValueError(f"model must be 0 (candidate) or 1 (baseline), got {model}")
    if model == 1 and not stats.has_baseline:
        raise ValueError("these statistics were reduced without baseline predictions")
    n = stats.n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "mae":
            return _div(stats.sum_abs_err[:, model], n)
        if name == "mse":
            return _div(stats.sum_sq_err[:, model], n)
        if name == "rmse":
            return np.sqrt(_div(stats.sum_sq_err[:, model], n))
        if name == "mean_error":
            return _div(stats.sum_err[:, model], n)
        # r2. A constant target (sum of squares exactly 0, which reduce guarantees) is NaN;
        # sklearn says 1.0 / 0.0 by default and NaN / -inf with force_finite=False.
        return 1.0 - _div(stats.sum_sq_err[:, model], stats.m2_true)


# --- helpers ---------------------------------------------------------------------------


def _spec(name: str) -> MetricSpec:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(
            f"unknown metric {name!r}; choose one of {', '.join(sorted(METRICS))}"
        ) from None


def _div(num: NDArray[np.float64], den: NDArray[np.float64]) -> FloatArray:
    """``num / den`` with NaN wherever ``den == 0`` (undefined, not 0 and not inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(num, den)
    return np.asarray(np.where(den == 0, np.nan, out), dtype=np.float64)


def _nanmean(a: FloatArray) -> FloatArray:
    """Mean over the last axis ignoring NaN; NaN if all are NaN (and no warning)."""
    ok = ~np.isnan(a)
    return _div(np.where(ok, a, 0.0).sum(axis=-1), ok.sum(axis=-1).astype(np.float64))


def _nanaverage(a: FloatArray, weights: FloatArray) -> FloatArray:
    """sklearn's ``_nanaverage`` over the last axis: drop NaN entries, weight the rest; if
    the remaining weights are all 0, fall back to the unweighted mean of the rest."""
    ok = ~np.isnan(a)
    w = np.where(ok, weights, 0.0)
    weighted = _div((np.where(ok, a, 0.0) * w).sum(axis=-1), w.sum(axis=-1))
    return np.asarray(np.where(w.sum(axis=-1) > 0, weighted, _nanmean(a)), dtype=np.float64)
