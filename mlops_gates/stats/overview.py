"""The whole data at a glance, from the reduced tables: confusion matrices and the points of
ROC, precision-recall and reliability curves, small enough to ship in report.json.

Plots are drawn from the report, never from rows (report/plots.py); this module puts into
the report the few small tables those pictures need. Every number is a sum over the reduced
counts, so it costs the same at 10M rows as at 10k.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlops_gates._values import is_missing
from mlops_gates.stats.reduce import ClassificationStats, RegressionStats, ScoreStats

__all__ = [
    "CURVE_POINTS",
    "RELIABILITY_BINS",
    "SLICE_CURVES",
    "curve_points",
    "overview",
    "slice_curves",
    "worst_key",
]

CURVE_POINTS = 101  # points kept of a ROC / PR curve: enough to draw, small in JSON
RELIABILITY_BINS = 10  # equal-width score bins on [0, 1], as sklearn's calibration_curve
SLICE_CURVES = 3  # the worst slices that get their own ROC / PR curves
_DIGITS = 6
_STATUS_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}


def overview(
    stats: ClassificationStats | RegressionStats,
    scores: Mapping[str, ScoreStats | None],
    classes: Sequence[Any],
    *,
    verdicts: Sequence[Mapping[str, Any]] = (),
    group_keys: Mapping[str, np.ndarray] | None = None,
    whole: Mapping[str, ScoreStats | None] | None = None,
) -> dict[str, Any] | None:
    """Confusion matrices (overall, candidate and baseline) and, for binary scores, curve
    points per model; None for regression (no picture of that kind yet).

    With the metric verdicts (report dicts) and the score tables' group keys (column ->
    each group's value), the worst slices the score tables can form also get ROC and
    precision-recall points (:func:`slice_curves`). ``whole``: each model's table summed
    over the groups, when at hand (the same curves from a table of a few thousand entries)."""
    if not isinstance(stats, ClassificationStats):
        return None
    counts = stats.counts.sum(axis=0)  # (K, K, B): the groups added up
    out: dict[str, Any] = {
        "confusion": {
            "labels": [str(c) for c in classes],
            "candidate": counts.sum(axis=2).tolist(),
            "baseline": counts.sum(axis=1).tolist() if stats.has_baseline else None,
        }
    }
    curves = {
        model: curve_points(table if whole is None else whole.get(model) or table)
        for model, table in scores.items()
        if table is not None
    }
    if curves:
        out["curves"] = curves
        if verdicts and group_keys:
            out["slice_curves"] = slice_curves(scores, verdicts, group_keys)
    return out


def slice_curves(
    scores: Mapping[str, ScoreStats | None],
    verdicts: Sequence[Mapping[str, Any]],
    group_keys: Mapping[str, np.ndarray],
    *,
    limit: int = SLICE_CURVES,
) -> list[dict[str, Any]]:
    """ROC and precision-recall points of the `limit` worst slices, per model.

    Worst as the reports list them: by status (error, fail, warn, skip, pass), then closest
    to the bound. Only slices over columns the score tables were reduced by qualify (each
    is then a union of their groups, so the points are exact); each slice appears once."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    out: list[dict[str, Any]] = []
    for v in sorted(verdicts, key=_worst_key):
        slc = v.get("slice") or {}
        key = tuple(sorted((str(k), repr(x)) for k, x in slc.items()))
        if not slc or key in seen or any(c not in group_keys for c in slc):
            continue
        seen.add(key)
        member = np.ones(len(next(iter(group_keys.values()))), dtype=bool)
        for column, value in slc.items():
            member &= _equals(group_keys[column], value)
        models = {
            model: _roc_pr(curve_points(table, groups=member))
            for model, table in scores.items()
            if table is not None
        }
        out.append({"slice": dict(slc), "curves": models})
        if len(out) == limit:
            break
    return out


def _worst_key(v: Mapping[str, Any]) -> tuple[int, float]:
    bound = v.get("bound") or {}
    return worst_key(v.get("status"), v.get("observed"), bound.get("min"), bound.get("max"))


def worst_key(
    status: Any, observed: float | None, low: float | None, high: float | None
) -> tuple[int, float]:
    """Where a verdict ranks among the worst (smaller first): by status (error, fail,
    warn, skip, pass), then by how close it lies to its bound (undefined first)."""
    if observed is None:
        return _STATUS_ORDER.get(str(status), 5), -math.inf
    sides = ([observed - low] if low is not None else []) + (
        [high - observed] if high is not None else []
    )
    return _STATUS_ORDER.get(str(status), 5), min(sides) if sides else math.inf


def _equals(column: np.ndarray, value: Any) -> np.ndarray:
    # A missing slice value (None) matches the groups whose key is missing: None, NaN or
    # pandas' NA (engines hand nullable columns over), whose comparisons raise on bool().
    if value is not None and not is_missing(value):
        # numpy compares the objects one by one, as the loop below does (None and NaN
        # equal nothing); a key that answers NA raises, and the loop takes over.
        with contextlib.suppress(TypeError, ValueError):
            same = np.asarray(column == value)
            if same.dtype == bool and same.shape == column.shape:
                return same
    out = np.zeros(len(column), dtype=bool)
    for i, x in enumerate(column):
        try:
            missing = x is None or bool(x != x)
            out[i] = value is None if missing else value is not None and bool(x == value)
        except TypeError:  # NA
            out[i] = value is None
    return out


def _roc_pr(points: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in points.items() if k != "reliability"}


def curve_points(
    table: ScoreStats, *, points: int = CURVE_POINTS, groups: np.ndarray | None = None
) -> dict[str, Any]:
    """ROC and precision-recall points (thinned to about `points`, every one a point of the
    exact curve) and the reliability table of one model's scores over all groups, or over
    the groups where the boolean mask `groups` is true."""
    # Per threshold, the entries of the chosen groups summed straight from the table, no
    # table marginalized first (the same integer sums).
    score, p, n = table.score, table.pos, table.neg
    if groups is not None:
        at = _entries_of(table, np.flatnonzero(np.asarray(groups, dtype=bool)))
        score, p, n = score[at], p[at], n[at]
    size = len(table.thresholds)
    pos = np.rint(np.bincount(score, weights=p, minlength=size)).astype(np.int64)
    neg = np.rint(np.bincount(score, weights=n, minlength=size)).astype(np.int64)
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    # Highest threshold first: predicting positive at score >= t adds that score's rows.
    tp = np.cumsum(pos[::-1])
    fp = np.cumsum(neg[::-1])
    keep = np.unique(np.linspace(0, len(tp) - 1, min(points, len(tp))).round().astype(int))
    tp, fp = tp[keep], fp[keep]
    out: dict[str, Any] = {"positives": n_pos, "negatives": n_neg}
    if n_pos and n_neg:
        out["roc"] = {
            "fpr": _round(np.concatenate([[0.0], fp / n_neg])),
            "tpr": _round(np.concatenate([[0.0], tp / n_pos])),
        }
    if n_pos:
        # Binned scores leave empty bins at the top: no row predicted positive there yet,
        # so precision is undefined (NaN, written as null), not a warning on stderr.
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / (tp + fp)
        out["pr"] = {"recall": _round(tp / n_pos), "precision": _round(precision)}
    values = table.thresholds
    if len(values) and values[0] >= 0.0 and values[-1] <= 1.0:
        out["reliability"] = _reliability(values, pos, neg)
    return out


def _entries_of(table: ScoreStats, chosen: np.ndarray) -> np.ndarray:
    """The entries of groups ``chosen`` (ascending), in table order. Entries are sorted by
    group, so each group's are one run, found by binary search: a slice of a 1M-row
    table reads its few thousand entries, not a mask over all 630k (7 ms a run for the
    three worst slices' curves, 1 ms this way)."""
    bounds = table.group_bounds  # (one binary search per table, shared)
    first = bounds[chosen]
    length = bounds[chosen + 1] - first
    # Run by run: each entry's index is its run's start plus its place in the run.
    shift = np.repeat(first - (np.cumsum(length) - length), length)
    return np.asarray(shift + np.arange(int(length.sum())), dtype=np.int64)


def _reliability(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> dict[str, Any]:
    # The bin rule of sklearn.calibration.calibration_curve(strategy="uniform"), so the
    # diagram matches what people compute themselves: a score on an inner edge joins the
    # lower bin, 0.0 the first and 1.0 the last.
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    which = np.searchsorted(edges[1:-1], values, side="left")
    rows = np.bincount(which, weights=pos + neg, minlength=RELIABILITY_BINS)
    hits = np.bincount(which, weights=pos, minlength=RELIABILITY_BINS)
    total = np.bincount(which, weights=values * (pos + neg), minlength=RELIABILITY_BINS)
    used = rows > 0
    return {
        "mean_score": _round(total[used] / rows[used]),
        "observed_rate": _round(hits[used] / rows[used]),
        "rows": [int(r) for r in rows[used]],
    }


def _round(values: np.ndarray) -> list[float]:
    return [round(v, _DIGITS) for v in np.asarray(values, dtype=np.float64).tolist()]
