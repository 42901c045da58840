"""A simulated year of daily monitoring: how often each way of checking cries wolf, and how
fast the anytime-valid one finds a real drop. The numbers in
docs/explanation/monitoring-over-time.md come from this script.

    python bench/anytime.py                 # 2,000 healthy years + detection, ~2-3 minutes
    python bench/anytime.py --years 500     # quicker, wider error bars

Setting: 20 slices, 200 labelled rows per slice per day, a gate "accuracy >= 0.90" checked
once a day for 365 days. A healthy model sits exactly at the bound (the hardest healthy case:
any better and every method alarms less). Checks compared:

- fixed daily: a one-sided exact binomial test at 5% of each slice's day (what a scheduled
  monitor with a fixed-level gate does);
- fixed daily, Bonferroni: the same at 5% / 20 per slice (multiplicity across slices handled,
  across days not);
- fixed cumulative: the same test on all data so far, repeated daily ("peeking");
- anytime: the beta-binomial e-process of each slice on all data so far, e-BH across the 20
  slices at alpha = 5% every day (mlops_gates.stats.sequential).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats

from mlops_gates.stats.sequential import e_bh, proportion_evalue

DAYS, SLICES, ROWS, BOUND, ALPHA = 365, 20, 200, 0.90, 0.05


def _anytime_first_alarm(correct: np.ndarray) -> np.ndarray:
    """First day any slice is flagged by e-BH over the e-processes (0 = never)."""
    totals = np.cumsum(correct, axis=1)
    n = ROWS * np.arange(1, DAYS + 1)[None, :, None]
    e = proportion_evalue(totals, n, BOUND, alternative="below")
    # e-BH rejects something on a day iff some k has e_(k) >= K / (alpha k)
    ranked = -np.sort(-e, axis=2)
    any_day = np.any(ranked * ALPHA * np.arange(1, SLICES + 1) >= SLICES, axis=2)
    first = np.where(any_day.any(axis=1), any_day.argmax(axis=1) + 1, 0)
    for r in np.flatnonzero(first)[:20]:  # the shortcut is e-BH: spot-check it
        assert e_bh(e[r, first[r] - 1], alpha=ALPHA).any()
    return first


def _rate(hits: np.ndarray) -> str:
    p = float(np.mean(hits))
    se = math.sqrt(max(p * (1 - p), 1e-12) / hits.size)
    return f"{p:.3f} ± {1.96 * se:.3f}"


def healthy(years: int, rng: np.random.Generator) -> None:
    print(f"\n## Healthy model, {years} simulated years (accuracy = bound = {BOUND})\n")
    print("| check | P(at least one false alarm in the year) | false alarms per year |")
    print("|---|---|---|")
    chunk = 250
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("daily", "bonf", "cumul", "any")}
    counts: dict[str, list[np.ndarray]] = {k: [] for k in ("daily", "bonf", "cumul")}
    for start in range(0, years, chunk):
        k = min(chunk, years - start)
        correct = rng.binomial(ROWS, BOUND, size=(k, DAYS, SLICES))
        daily_p = stats.binom.cdf(correct, ROWS, BOUND)
        totals = np.cumsum(correct, axis=1)
        cumul_p = stats.binom.cdf(totals, ROWS * np.arange(1, DAYS + 1)[None, :, None], BOUND)
        for name, alarms in (
            ("daily", daily_p <= ALPHA),
            ("bonf", daily_p <= ALPHA / SLICES),
            ("cumul", cumul_p <= ALPHA),
        ):
            rows[name].append(alarms.any(axis=(1, 2)))
            counts[name].append(alarms.sum(axis=(1, 2)))
        rows["any"].append(_anytime_first_alarm(correct) > 0)
    labels = {
        "daily": "fixed daily, 5% per slice",
        "bonf": "fixed daily, Bonferroni 5%/20",
        "cumul": "fixed cumulative (peeking), 5% per slice",
        "any": "anytime: e-processes + e-BH, alpha 5%",
    }
    for name, label in labels.items():
        ever = np.concatenate(rows[name])
        per_year = f"{np.concatenate(counts[name]).mean():.1f}" if name in counts else "—"
        print(f"| {label} | {_rate(ever)} | {per_year} |")


def detection(years: int, rng: np.random.Generator) -> None:
    print(f"\n## A drop in one slice from day 1 ({years} simulated years each)\n")
    print("| accuracy drop | detected within the year | median day | 95th percentile day |")
    print("|---|---|---|---|")
    for drop in (0.02, 0.03, 0.05, 0.10):
        accuracy = np.full(SLICES, BOUND)
        accuracy[0] = BOUND - drop
        day = _anytime_first_alarm(rng.binomial(ROWS, accuracy, size=(years, DAYS, SLICES)))
        found = day[day > 0]
        print(
            f"| {BOUND:.2f} → {BOUND - drop:.2f} | {found.size / years:.3f} | "
            f"{np.median(found):.0f} | {np.quantile(found, 0.95):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=2000, help="healthy years to simulate")
    parser.add_argument("--drop-years", type=int, default=400, help="years per drop size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(
        f"{SLICES} slices x {ROWS} rows/day x {DAYS} days, gate accuracy >= {BOUND}, "
        f"alpha {ALPHA}, seed {args.seed}"
    )
    healthy(args.years, rng)
    detection(args.drop_years, rng)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
