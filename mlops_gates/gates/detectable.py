"""The minimum detectable effect (MDE) behind every metric and baseline verdict.

A verdict short of evidence is only useful with a size: the smallest true change the
gate's own test would catch with 80 % power from the rows at hand, and how many rows one
point (0.01) would need. The formula follows the evidence the verdict was judged on
(`stats/power.py`; docs/explanation/new-gates-statistics.md):

- a proportion with analytic counts (accuracy, recall, FPR, ...): the arcsine (Cohen's
  ``h``) formula around the observed value, in the metric's own denominator;
- a paired accuracy difference (McNemar): Connor's formula from the share of discordant
  rows;
- anything with a standard error (ROC AUC by DeLong, log loss, Brier, MAE) or bootstrap
  replicates (F1, average precision, paired differences): ``(z_a + z_b)·se``, the
  replicates' spread standing in for ``se``.

The one-sided level is the judgement's: ``1 − confidence`` for ``judge: significance``,
``(1 − confidence) / 2`` for ``interval`` and ``estimate`` (what the reported interval can
tell apart).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np

from mlops_gates.gates.evidence import Evidence
from mlops_gates.stats import power as pw

__all__ = ["ONE_POINT", "POWER", "detectable", "one_sided_alpha"]

POWER = 0.8
ONE_POINT = 0.01  # the change "rows needed" is stated for, on metrics read in points
# Metrics whose values lie in [0, 1], so that a change reads in points (0.01).
_UNSCALED = frozenset({"log_loss", "mae", "mse", "rmse", "r2", "mean_error"})


def one_sided_alpha(mode: str, confidence: float) -> float:
    """The one-sided level of a judgement: its test's for `significance`, half the
    interval's miss rate otherwise."""
    alpha = 1.0 - confidence if mode == "significance" else (1.0 - confidence) / 2.0
    return round(alpha, 12)  # 0.025, not 0.025000000000000022, in report.json


def detectable(
    ev: Evidence,
    metric: str,
    *,
    counted: np.ndarray,
    unit: str,
    alpha: float,
    greater_is_better: bool | None,
    discordant: np.ndarray | None = None,
) -> list[dict[str, Any] | None]:
    """One entry per slice of ``ev`` (None where no interval or test backs the number):
    the MDE, its direction, the level, the formula, and the rows one point would need.

    ``counted``: the evidence behind each slice's number, in ``unit`` (positives for
    recall); ``discordant``: the share of rows on which the two models disagree in
    correctness, for a paired accuracy difference."""
    direction: Literal["drop", "rise"] = "rise" if greater_is_better is False else "drop"
    per = None if metric in _UNSCALED else ONE_POINT
    n = np.asarray(counted, dtype=np.float64)
    effect: np.ndarray
    need: np.ndarray
    if discordant is not None:
        formula = "mcnemar (connor)"
        effect = pw.mde_paired(discordant, n, alpha=alpha, power=POWER)
        need = pw.rows_paired(discordant, ONE_POINT, alpha=alpha, power=POWER)
    elif ev.counts is not None:
        formula = "arcsine"
        k, trials = ev.counts
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.asarray(k, dtype=np.float64) / np.asarray(trials, dtype=np.float64)
        # A share, or NaN (0 of 0): never infinite, so np.where does what nan_to_num did
        # at a tenth of its cost (35 calls a run).
        undefined = np.isnan(p)
        p = np.where(undefined, 0.5, p)
        effect = _directed(p, undefined, np.asarray(trials), alpha, greater_is_better)
        need = pw.rows_proportion(p, ONE_POINT, alpha=alpha, power=POWER, direction=direction)
        need = np.where(undefined, np.nan, need)
    elif ev.se is not None or ev.replicates is not None:
        formula = "normal se" if ev.se is not None else "bootstrap se"
        se = ev.se if ev.se is not None else _spread(ev.replicates)
        effect = pw.mde_se(se, alpha=alpha, power=POWER)
        need = pw.rows_se(se, n, ONE_POINT, alpha=alpha, power=POWER)
    else:
        return [None] * len(ev.estimate)
    # Whole arrays to Python numbers at once (tolist), not element by element: a run's
    # thousand verdicts each get one of these.
    said = "change" if greater_is_better is None else direction
    effects = np.asarray(effect, dtype=np.float64).tolist()
    rows = np.asarray(need, dtype=np.float64).tolist() if per is not None else None
    return [
        {
            "effect": None if math.isnan(e) else e,
            "direction": said,
            "power": POWER,
            "alpha": alpha,
            "formula": formula,
            "per": per,
            "rows_for_per": None if math.isnan(r) else int(r),
            "unit": unit,
        }
        for e, r in zip(effects, rows or [math.nan] * len(effects), strict=True)
    ]


def _directed(
    p: np.ndarray,
    undefined: np.ndarray,
    n: np.ndarray,
    alpha: float,
    greater_is_better: bool | None,
) -> np.ndarray:
    """A proportion's MDE the way it is judged: a drop for rates that should be high, a
    rise for error rates, the larger of the two for a rate with no direction; NaN where
    the proportion is ``undefined``."""
    if greater_is_better is None:
        drop = pw.mde_proportion(p, n, alpha=alpha, power=POWER, direction="drop")
        rise = pw.mde_proportion(p, n, alpha=alpha, power=POWER, direction="rise")
        out = np.fmax(drop, rise)
    else:
        way: Literal["drop", "rise"] = "drop" if greater_is_better else "rise"
        out = pw.mde_proportion(p, n, alpha=alpha, power=POWER, direction=way)
    return np.where(undefined, np.nan, out)


def _spread(replicates: np.ndarray | None) -> np.ndarray:
    """Bootstrap standard error per slice: the replicates' standard deviation."""
    assert replicates is not None
    # A slice whose replicates are all NaN (an undefined metric) has no spread.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanstd(replicates, axis=0, ddof=1), dtype=np.float64)
