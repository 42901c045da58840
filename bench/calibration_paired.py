"""Coverage, false-"better" rate and power of the paired calibration comparison.

Seeded simulations with known true probabilities: every data set draws its rows' features,
its two models' scores and its labels afresh from one population; the truth is the
population's squared ℓ2 calibration-error difference (0 by symmetry where the two models
are the same function of exchangeable features, else from 4M rows), and the interval is
`stats.calibration_paired.l2_difference` on the reduced tables. Many data sets
are one reduction (each data set is a slice), so the whole experiment is vectorised.

    python bench/calibration_paired.py                      # ~1-3 minutes on 2 cores
    python bench/calibration_paired.py --datasets 500       # quicker, noisier

Prints the markdown table quoted in docs/explanation/new-gates-statistics.md. The short
version runs in tests/stats/test_calibration_paired.py.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.calibration import (
    calibration_bins,
    ece_difference,
    expected_calibration_error,
)
from mlops_gates.stats.calibration_paired import joint_calibration_bins, l2_difference
from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores

Array = NDArray[np.float64]


def _sigmoid(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _logit(p: Array) -> Array:
    return np.asarray(np.log(p / (1.0 - p)))


# Truth: logit p = -1 + x1 + x2 (x1, x2 standard normal); prevalence about 0.3. The
# "full" score knows p; a "partial" one knows one feature only and is calibrated on it,
# E[p | x1] or E[p | x2] (by symmetry equally good, so the population difference is 0).
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _partial(x: Array) -> Array:
    """E[sigmoid(-1 + x + Z)] over a standard normal Z (Gauss-Hermite)."""
    return np.asarray(_sigmoid(-1.0 + x[..., None] + _NODES) @ _WEIGHTS)


Scores = dict[str, Array]


def _shift(p: Array, by: float) -> Array:
    return _sigmoid(_logit(p) + by)


def _sharpen(p: Array, by: float) -> Array:
    return _sigmoid(by * _logit(p))


# name: (candidate score, baseline score) from the scores "full", "x1", "x2"
SCENARIOS = {
    "both calibrated, one sharper": (lambda f: f["full"], lambda f: f["x1"]),
    "both calibrated, equally sharp": (lambda f: f["x2"], lambda f: f["x1"]),
    "same miscalibration (+0.3 logit)": (
        lambda f: _shift(f["x2"], 0.3),
        lambda f: _shift(f["x1"], 0.3),
    ),
    "candidate over-confident": (lambda f: _sharpen(f["x2"], 1.4), lambda f: f["x1"]),
    "baseline over-confident": (lambda f: f["x2"], lambda f: _sharpen(f["x1"], 1.4)),
    "baseline slightly over-confident": (
        lambda f: f["x2"],
        lambda f: _sharpen(f["x1"], 1.12),
    ),
}


def draw(
    scenario: str, n: int, datasets: int, rng: np.random.Generator
) -> tuple[Array, Array, Array, NDArray[np.int64], NDArray[np.int64]]:
    """(p, candidate score, baseline score, labels, data set of each row)."""
    x1 = rng.standard_normal((datasets, n))
    x2 = rng.standard_normal((datasets, n))
    p = _sigmoid(-1.0 + x1 + x2)
    scores = {"full": p, "x1": _partial(x1), "x2": _partial(x2)}
    cand_f, base_f = SCENARIOS[scenario]
    # Rounded to 1e-4 so the score tables stay small; the truth uses the same values.
    s_c = np.round(cand_f(scores), 4)
    s_b = np.round(base_f(scores), 4)
    y = (rng.random((datasets, n)) < p).astype(np.int64)
    group = np.repeat(np.arange(datasets), n)
    return p.ravel(), s_c.ravel(), s_b.ravel(), y.ravel(), group


def run(
    scenario: str,
    n: int,
    datasets: int,
    strategy: str,
    n_bins: int,
    level: float,
    rng: np.random.Generator,
) -> dict[str, float]:
    """One cell of the table: coverage, false-"better" and "better" rates."""
    _, s_c, s_b, y, group = draw(scenario, n, datasets, rng)
    tables = []
    for s in (s_c, s_b):
        tables.append(reduce_scores(group, datasets, y, s))
    cb = calibration_bins(tables[0], n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
    bb = calibration_bins(tables[1], n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
    idx = [np.searchsorted(t.thresholds, s) for t, s in zip(tables, (s_c, s_b), strict=True)]
    joint = reduce_joint_scores(group, datasets, y, idx[0], idx[1])
    jb = joint_calibration_bins(joint, tables[0], tables[1], cb, bb)
    _, iv, _ = l2_difference(cb, bb, jb, level=level)
    truth = _population(scenario, strategy)
    _, ece_iv = ece_difference(cb, bb, level=level)
    ece_gap = expected_calibration_error(cb) - expected_calibration_error(bb)
    return {
        "truth": float(np.mean(truth)),
        "coverage": float(np.mean((iv.lo <= truth) & (truth <= iv.hi))),
        "below_truth": float(np.mean(iv.hi < truth)),
        "better": float(np.mean(iv.hi < 0)),
        "worse": float(np.mean(iv.lo > 0)),
        "ece_better": float(np.mean(ece_iv.hi < 0)),
        "ece_gap": float(np.mean(ece_gap)),
    }


_SYMMETRIC = {"both calibrated, equally sharp", "same miscalibration (+0.3 logit)"}
_POPULATION: dict[tuple[str, str], float] = {}


def _population(scenario: str, strategy: str) -> float:
    """CE²(candidate) − CE²(baseline) in the population, 10 bins (quantile edges: the
    population's deciles)."""
    if scenario in _SYMMETRIC:
        return 0.0
    if (scenario, strategy) not in _POPULATION:
        p, s_c, s_b, _, _ = draw(scenario, 4_000_000, 1, np.random.default_rng(99))
        ce = []
        for s in (s_c, s_b):
            q = np.linspace(0.0, 1.0, 11)
            edges = q if strategy == "uniform" else np.quantile(s, q)
            b = np.searchsorted(edges[1:-1], s)
            gap = np.bincount(b, weights=s - p, minlength=10)
            rows = np.maximum(np.bincount(b, minlength=10), 1)
            ce.append(float((gap**2 / rows).sum() / s.size))
        _POPULATION[scenario, strategy] = ce[0] - ce[1]
    return _POPULATION[scenario, strategy]


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--level", type=float, default=0.95)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 16000])
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(
        "| scenario | n | bins | population D | coverage | D above interval | "
        '"better" (hi < 0) | "worse" (lo > 0) | unpaired ECE "better" |'
    )
    print("|---|---|---|---|---|---|---|---|---|")
    start = time.process_time()
    for scenario in args.scenarios:
        for n in args.sizes:
            for strategy in ("uniform", "quantile"):
                # Data sets in chunks: 16k rows x 2,000 data sets is 32M rows.
                chunk = max(1, min(args.datasets, 2_000_000 // n))
                parts = []
                done = 0
                while done < args.datasets:
                    k = min(chunk, args.datasets - done)
                    parts.append((k, run(scenario, n, k, strategy, 10, args.level, rng)))
                    done += k
                res = {
                    key: sum(k * r[key] for k, r in parts) / args.datasets for key in parts[0][1]
                }
                print(
                    f"| {scenario} | {n:,} | 10 {strategy} | {res['truth']:.2e} | "
                    f"{res['coverage']:.3f} | {res['below_truth']:.3f} | {res['better']:.3f} | "
                    f"{res['worse']:.3f} | {res['ece_better']:.3f} |",
                    flush=True,
                )
    print(
        f"\n{args.datasets} data sets per row, seed {args.seed}; "
        f"{time.process_time() - start:.0f} s CPU"
    )


if __name__ == "__main__":
    main()
