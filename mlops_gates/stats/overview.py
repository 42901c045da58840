"""The whole data at a glance, from the reduced tables: confusion matrices and the points of
ROC, precision-recall and reliability curves, small enough to ship in report.json.

Plots are drawn from the report, never from rows (report/plots.py); this module puts into
the report the few small tables those pictures need. Every number is a sum over the reduced
counts, so it costs the same at 10M rows as at 10k.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlops_gates.stats.reduce import ClassificationStats, RegressionStats, ScoreStats, marginalize

__all__ = ["CURVE_POINTS", "RELIABILITY_BINS", "curve_points", "overview"]

CURVE_POINTS = 101  # points kept of a ROC / PR curve: enough to draw, small in JSON
RELIABILITY_BINS = 10  # equal-width score bins on [0, 1], as sklearn's calibration_curve
_DIGITS = 6


def overview(
    stats: ClassificationStats | RegressionStats,
    scores: Mapping[str, ScoreStats | None],
    classes: Sequence[Any],
) -> dict[str, Any] | None:
    """Confusion matrices (overall, candidate and baseline) and, for binary scores, curve
    points per model; None for regression (no picture of that kind yet)."""
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
    curves = {model: curve_points(table) for model, table in scores.items() if table is not None}
    if curves:
        out["curves"] = curves
    return out


def curve_points(table: ScoreStats, *, points: int = CURVE_POINTS) -> dict[str, Any]:
    """ROC and precision-recall points (thinned to about `points`, every one a point of the
    exact curve) and the reliability table of one model's scores over all groups."""
    whole = marginalize(table, np.zeros(table.n_groups, dtype=np.int64), 1)
    pos = np.zeros(len(whole.thresholds), dtype=np.int64)
    neg = np.zeros(len(whole.thresholds), dtype=np.int64)
    np.add.at(pos, whole.score, whole.pos)
    np.add.at(neg, whole.score, whole.neg)
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
        out["pr"] = {"recall": _round(tp / n_pos), "precision": _round(tp / (tp + fp))}
    values = whole.thresholds
    if len(values) and values[0] >= 0.0 and values[-1] <= 1.0:
        out["reliability"] = _reliability(values, pos, neg)
    return out


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
    return [round(float(v), _DIGITS) for v in values]
