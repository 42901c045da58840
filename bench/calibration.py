"""Calibration of every interval method, before (the old defaults) and after (issue 19).

Seeded simulations with known truth, on reduced tables: for each metric family and n, the
coverage of the 95 % interval, the rate at which `judge: interval` passes a bound set at the
true value (should be at most 0.025) and the rate at which `judge: significance` fails it
(should be at most 0.05).

    python bench/calibration.py               # ~2-4 minutes on 2 cores
    python bench/calibration.py --datasets 400 --replicates 500   # quicker, noisier

The short version of these checks runs in the test suite (tests/stats/test_calibration.py);
this one prints the markdown table quoted in docs/explanation/intervals.md.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.fairness import parity_batch
from mlops_gates.stats.inference import bootstrap_pvalue
from mlops_gates.stats.intervals import SMOOTHING, bootstrap_confusion, percentile_interval
from mlops_gates.stats.metrics import confusion_metric, score_metric
from mlops_gates.stats.normal import paired_roc_auc_difference_se, score_metric_se
from mlops_gates.stats.proportions import GapInference, proportion_interval, proportion_pvalue
from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores

Array = NDArray[np.float64]
Row = tuple[str, str, int, float, float, float]
Z, Z1 = 1.959963984540054, 1.6448536269514722
# A good binary model: prevalence 0.4, TPR 0.9, FPR 0.05 (cells TN FP FN TP).
CELLS = np.array([0.57, 0.03, 0.04, 0.36])
TRUTH = {"accuracy": 0.93, "recall": 0.9, "fpr": 0.05, "f1": 0.36 / (0.36 + 0.035)}


def proportions(n: int, d: int, reps: int, rng: np.random.Generator) -> list[Row]:
    data = rng.multinomial(n, CELLS, size=d).reshape(d, 2, 2)
    draws = bootstrap_confusion(data, replicates=reps, rng=rng)
    smooth = bootstrap_confusion(data, replicates=reps, rng=rng, smoothing=SMOOTHING)
    rows: list[Row] = []
    for name in ("accuracy", "recall", "fpr", "f1"):
        truth = TRUTH[name]
        lower_is_better = name == "fpr"
        methods: dict[str, tuple[Array, Array, Array]] = {}
        for label, reps_ in (("bootstrap (before)", draws), ("smoothed bootstrap", smooth)):
            s = confusion_metric(name, reps_)
            lo, hi, _ = percentile_interval(s)
            p = bootstrap_pvalue(s, margin=truth, greater_is_better=lower_is_better)
            methods[label] = (lo, hi, p)
        if name != "f1":
            from mlops_gates.stats.intervals import proportion_counts

            x, t = proportion_counts(name, data)
            alt = "above" if lower_is_better else "below"
            for label, method, test in (
                ("wilson (after: auto)", "wilson", "clopper_pearson"),
                ("wilson + score test", "wilson", "wilson"),
                ("jeffreys", "jeffreys", "jeffreys"),
                ("clopper_pearson", "clopper_pearson", "clopper_pearson"),
            ):
                lo, hi = proportion_interval(method, x, t)  # type: ignore[arg-type]
                p = proportion_pvalue(test, x, t, bound=truth, alternative=alt)  # type: ignore[arg-type]
                methods[label] = (lo, hi, p)
        for label, (lo, hi, p) in methods.items():
            ok = ~np.isnan(lo)
            fp = (hi[ok] <= truth) if lower_is_better else (lo[ok] >= truth)
            rows.append(_row(name, label, n, lo[ok], hi[ok], truth, fp, p[ok]))
    return rows


def gaps(n: int, d: int, reps: int, rng: np.random.Generator) -> list[Row]:
    rows: list[Row] = []
    cases = {
        "DP .3 .4": [0.3, 0.4],
        "DP .3 .3 .3 .4": [0.3, 0.3, 0.3, 0.4],
        "DP six x .3": [0.3] * 6,
    }
    for name, rates in cases.items():
        g = len(rates)
        gap = max(rates) - min(rates)
        bound = gap if gap > 0 else 0.05
        sel = rng.binomial(n, rates, size=(d, g))
        # Per-group 2 x 2 tables with the selections in the predicted-positive column.
        cm = np.zeros((d, g, 2, 2), dtype=np.int64)
        cm[..., 0, 1], cm[..., 0, 0] = sel, n - sel
        old = np.empty((reps, d))
        for i in range(d):  # the old gate: stratified percentile bootstrap of max - min
            r = bootstrap_confusion(cm[i], replicates=reps, rng=rng)
            old[:, i] = parity_batch("demographic_parity", r, measure="difference")
        lo, hi, _ = percentile_interval(old)
        p = bootstrap_pvalue(old, margin=bound, greater_is_better=True)
        rows.append(_row(name, "bootstrap of max - min (before)", n, lo, hi, gap, hi <= bound, p))
        gi = GapInference([(sel, np.full(sel.shape, n))], measure="difference")
        lo, hi = gi.interval(0.95)
        p = gi.pvalue(bound, "above")
        rows.append(_row(name, "simultaneous Newcombe (after)", n, lo, hi, gap, hi <= bound, p))
    # Equalized odds: TPR .7 .7 .7 .8 and FPR .1, half the rows positive.
    half = n // 2
    tp = rng.binomial(half, [0.7, 0.7, 0.7, 0.8], size=(d, 4))
    fp = rng.binomial(n - half, [0.1] * 4, size=(d, 4))
    gi = GapInference(
        [(tp, np.full(tp.shape, half)), (fp, np.full(fp.shape, n - half))], measure="difference"
    )
    lo, hi = gi.interval(0.95)
    p = gi.pvalue(0.1, "above")
    rows.append(_row("EO TPR .7 .7 .7 .8", "simultaneous Newcombe (after)", n, lo, hi, 0.1,
                     hi <= 0.1, p))  # fmt: skip
    return rows


def auc(n: int, d: int, rng: np.random.Generator) -> list[Row]:
    rows: list[Row] = []
    g0 = np.zeros(n, dtype=np.int64)
    for rho in (0.7, -0.5):
        est, paired, unpaired = np.empty(d), np.empty(d), np.empty(d)
        for i in range(d):
            y = rng.integers(0, 2, n)
            common = rng.normal(size=n)
            sign = 1.0 if rho > 0 else -1.0
            a = y + math.sqrt(abs(rho)) * common + math.sqrt(1 - abs(rho)) * rng.normal(size=n)
            b = y + sign * math.sqrt(abs(rho)) * common
            b = b + math.sqrt(1 - abs(rho)) * rng.normal(size=n)
            a, b = np.round(a, 2), np.round(b, 2)
            ta, tb = reduce_scores(g0, 1, y, a), reduce_scores(g0, 1, y, b)
            joint = reduce_joint_scores(
                g0, 1, y, np.searchsorted(ta.thresholds, a), np.searchsorted(tb.thresholds, b)
            )
            est[i] = score_metric("roc_auc", ta)[0] - score_metric("roc_auc", tb)[0]
            paired[i] = paired_roc_auc_difference_se(ta, tb, joint)[0]
            unpaired[i] = math.hypot(
                score_metric_se("roc_auc", ta)[0], score_metric_se("roc_auc", tb)[0]
            )
        for label, se in (
            ("unpaired DeLong (before)", unpaired),
            ("paired DeLong (after)", paired),
        ):
            lo, hi = est - Z * se, est + Z * se
            p = 0.5 * np.vectorize(math.erfc)(-est / se / math.sqrt(2))  # H1: difference < 0
            rows.append(_row(f"AUC difference, rho {rho:+}", label, n, lo, hi, 0.0, lo >= 0, p))
    return rows


def _row(
    what: str,
    method: str,
    n: int,
    lo: Array,
    hi: Array,
    truth: float,
    false_pass: NDArray[np.bool_],
    p: Array,
) -> Row:
    covered = float(np.mean((lo <= truth) & (truth <= hi)))
    return what, method, n, covered, float(np.mean(false_pass)), float(np.mean(p < 0.05))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    d, reps = args.datasets, args.replicates
    start = time.perf_counter()
    rows: list[Row] = []
    steps: list[Callable[[], list[Row]]] = []
    for n in (30, 100, 1000):
        steps.append(lambda n=n: proportions(n, d, reps, rng))  # type: ignore[misc]
    for n in (30, 100, 1000):
        steps.append(lambda n=n: gaps(n, min(d, 400), min(reps, 500), rng))  # type: ignore[misc]
    for n in (100, 500):
        steps.append(lambda n=n: auc(n, min(d, 500), rng))  # type: ignore[misc]
    for step in steps:
        rows += step()
    tol = 3 * math.sqrt(0.95 * 0.05 / d)
    print(f"{d} data sets per cell (gaps: {min(d, 400)}), {reps} bootstrap replicates, "
          f"seed {args.seed}; coverage tolerance ±{tol:.3f}; "
          f"{time.perf_counter() - start:.0f} s\n")  # fmt: skip
    print("| what | method | n | coverage | interval false-pass | significance false-fail |")
    print("|---|---|---:|---:|---:|---:|")
    for what, method, n, cov, fp, ff in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        print(f"| {what} | {method} | {n} | {cov:.3f} | {fp:.3f} | {ff:.3f} |")


if __name__ == "__main__":
    main()
