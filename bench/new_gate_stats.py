"""Cost and calibration of the statistics under the new gates (issue 23).

    python bench/new_gate_stats.py timing --rows 1M 10M      # added cost on reduced tables
    python bench/new_gate_stats.py coverage --datasets 1000  # ECE intervals, more n and methods
    python bench/new_gate_stats.py power --datasets 4000     # power at the reported MDE

`timing` builds one table of seeded synthetic rows (200 slices, calibrated scores, a
baseline with 3 % flipped labels), reduces it as the engine does (reported for scale, not
part of the added cost) and times the new statistics on the reduced tables: calibration
bins, ECE with its interval and CITL for every slice, flip rates and TOST from the label
cells, and the MDE of every slice. `coverage` and `power` are the bigger versions of the
seeded simulations in tests/stats/test_calibration_error.py and tests/stats/test_power.py.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.calibration import (
    calibration_bins,
    calibration_in_the_large,
    ece_interval,
    expected_calibration_error,
)
from mlops_gates.stats.churn import flip_rates, tost_paired
from mlops_gates.stats.power import mde_paired, mde_proportion
from mlops_gates.stats.reduce import reduce_classification, reduce_scores
from mlops_gates.stats.scorebins import ScoreBins

Z95 = 1.6448536269514722


def _rows(text: str) -> int:
    return int(float(text.upper().replace("M", "e6").replace("K", "e3")))


def timing(sizes: list[int], slices: int) -> None:
    print("| rows | table | reduce s | calibration s | churn + TOST s | MDE s |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in sizes:
        rng = np.random.default_rng(0)
        g = rng.integers(0, slices, n)
        s = rng.beta(2, 3, n)
        y = (rng.random(n) < s).astype(np.int64)
        pred = (s >= 0.5).astype(np.int64)
        base = np.where(rng.random(n) < 0.03, 1 - pred, pred)
        for label, bins in (("exact", None), ("2,000 bins", ScoreBins(0.0, 1.0, 2000))):
            t0 = time.perf_counter()
            if bins is None:
                table = reduce_scores(g, slices, y, s)
            else:
                table = reduce_scores(g, slices, y, bins.codes(s), thresholds=bins.thresholds())
            counts = reduce_classification(g, slices, y, pred, base, n_classes=2).counts
            t1 = time.perf_counter()
            for strategy in ("uniform", "quantile"):
                cb = calibration_bins(table, n_bins=10, strategy=strategy)  # type: ignore[arg-type]
                expected_calibration_error(cb)
                ece_interval(cb)
            calibration_in_the_large(table)
            t2 = time.perf_counter()
            flip_rates(counts, simultaneous=True)
            tost_paired("accuracy", counts, delta=0.01)
            t3 = time.perf_counter()
            n_s = counts.sum(axis=(1, 2, 3))
            correct = counts[:, 0, 0, :].sum(axis=1) + counts[:, 1, 1, :].sum(axis=1)
            mde_proportion(correct / np.maximum(n_s, 1), n_s)
            disc = counts[:, 0, 0, 1] + counts[:, 0, 1, 0] + counts[:, 1, 1, 0] + counts[:, 1, 0, 1]
            mde_paired(disc / np.maximum(n_s, 1), n_s)
            t4 = time.perf_counter()
            print(
                f"| {n:,} | {label} ({table.group.shape[0]:,} cells) | {t1 - t0:.2f} "
                f"| {t2 - t1:.3f} | {t3 - t2:.4f} | {t4 - t3:.4f} |"
            )


def _truth(p: NDArray[np.float64], s: NDArray[np.float64], edges: NDArray[np.float64]) -> float:
    b = np.digitize(s, edges[1:-1], right=True)
    return float(
        sum((b == k).mean() * abs(s[b == k].mean() - p[b == k].mean()) for k in np.unique(b))
    )


def coverage(datasets: int) -> None:
    print("| n | model | bins | clopper_pearson | wilson | jeffreys | percentile bootstrap |")
    print("|---:|---|---|---:|---:|---:|---:|")
    for n in (200, 1000, 5000):
        for model, power in (("calibrated", 1.0), ("miscalibrated s^1.6", 1.6)):
            for strategy in ("uniform", "quantile"):
                rng = np.random.default_rng(n)
                hits = dict.fromkeys(("clopper_pearson", "wilson", "jeffreys", "boot"), 0)
                for _ in range(datasets):
                    s = rng.beta(2, 3, n)
                    p = s**power
                    y = (rng.random(n) < p).astype(np.int64)
                    table = reduce_scores(np.zeros(n, dtype=np.int64), 1, y, s)
                    cb = calibration_bins(table, n_bins=10, strategy=strategy)  # type: ignore[arg-type]
                    truth = _truth(p, s, cb.edges[0])
                    for method in ("clopper_pearson", "wilson", "jeffreys"):
                        iv = ece_interval(cb, level=0.9, method=method)  # type: ignore[arg-type]
                        hits[method] += bool(iv.lo[0] <= truth + 1e-12 <= iv.hi[0] + 2e-12)
                    # Percentile bootstrap of the rows' (bin, class) cells, bins fixed.
                    rate, tot = cb.positives[0], cb.total[0]
                    cells = np.concatenate([rate, tot - rate]) / n
                    draws = rng.multinomial(n, cells, size=200)
                    pos, neg = draws[:, :10], draws[:, 10:]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        gap = np.abs(cb.mean_score()[0] - pos / (pos + neg))
                    reps = np.nansum(gap * (pos + neg), axis=1) / n
                    lo, hi = np.quantile(reps, [0.05, 0.95])
                    hits["boot"] += bool(lo <= truth <= hi)
                row = " | ".join(f"{hits[k] / datasets:.3f}" for k in hits)
                print(f"| {n} | {model} | {strategy} | {row} |")


def power(datasets: int) -> None:
    rng = np.random.default_rng(1)
    print("| family | setting | MDE | simulated power |")
    print("|---|---|---:|---:|")
    for p0, n in ((0.85, 200), (0.85, 2000), (0.97, 5000), (0.3, 500)):
        mde = float(mde_proportion(p0, n)[()])
        x = rng.binomial(n, p0 - mde, size=datasets)
        z = (x / n - p0) / np.sqrt(p0 * (1 - p0) / n)
        print(f"| proportion vs bound | p={p0}, n={n} | {mde:.4f} | {np.mean(z < -Z95):.3f} |")
    for psi, n in ((0.05, 5000), (0.1, 2000), (0.3, 300)):
        d = float(mde_paired(psi, n)[()])
        k = rng.multinomial(n, [(psi + d) / 2, (psi - d) / 2, 1 - psi], size=datasets)
        b, c = k[:, 0].astype(float), k[:, 1].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(b + c > 0, (b - c) / np.sqrt(b + c), 0.0)
        print(f"| paired (McNemar) | ψ={psi}, n={n} | {d:.4f} | {np.mean(z > Z95):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--rows", nargs="+", default=["1M"])
    t.add_argument("--slices", type=int, default=200)
    c = sub.add_parser("coverage")
    c.add_argument("--datasets", type=int, default=1000)
    w = sub.add_parser("power")
    w.add_argument("--datasets", type=int, default=4000)
    args = parser.parse_args()
    if args.what == "timing":
        timing([_rows(r) for r in args.rows], args.slices)
    elif args.what == "coverage":
        coverage(args.datasets)
    else:
        power(args.datasets)


if __name__ == "__main__":
    main()
