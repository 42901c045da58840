"""Fairness gates with `control:` strata: time and memory as the number of strata grows.

Before issue 19, once a slicing's cached bootstrap draws passed 64 MiB they were redrawn
whole for every stratum: 330 strata x 6 groups took 7.1 s and 360 did not finish in 8
minutes. Now gaps of proportions need no draws (simultaneous score intervals, all strata
at once), and the bootstrap that remains (gaps of F1, ...) draws only each stratum's groups.

    python bench/strata.py                       # 100, 330, 1000 strata; ~1 minute
    python bench/strata.py --strata 1000 --metric f1

Prints wall time of `run_gates` and the peak RSS of the process per run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mlops_gates.config import load_config
from mlops_gates.gates.runner import run_gates


def frame(strata: int, groups: int, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = strata * groups * rows
    y = rng.integers(0, 2, n)
    return pd.DataFrame(
        {
            "y": y,
            "pred": np.where(rng.random(n) < 0.85, y, 1 - y),
            "stratum": np.repeat(np.arange(strata), groups * rows),
            "group": np.tile(np.repeat(np.arange(groups), rows), strata),
        }
    )


def run(strata: int, metric: str, groups: int, rows: int, replicates: int) -> tuple[float, int]:
    df = frame(strata, groups, rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        df.to_parquet(root / "eval.parquet", index=False)
        cfg = {
            "version": 1,
            "data": {"path": "eval.parquet"},
            "task": {"type": "binary", "label": "y"},
            "candidate": {"predictions": "pred"},
            "statistics": {"replicates": replicates},
            "gates": [
                {
                    "id": "gap",
                    "kind": "fairness",
                    "metric": metric,
                    "sensitive": "group",
                    "control": ["stratum"],
                    "max": 0.2,
                    "min_support": 10,
                    **({} if metric.endswith("_difference") else {"measure": "difference"}),
                }
            ],
        }
        (root / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        config = load_config(root / "mlops-gates.yaml")
        start = time.perf_counter()
        report = run_gates(config)
        seconds = time.perf_counter() - start
    verdicts = [g for g in report.gates if g.gate == "gap"]
    assert len(verdicts) == strata, len(verdicts)
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strata", type=int, nargs="*", default=[100, 330, 1000])
    ap.add_argument(
        "--metric",
        nargs="*",
        default=["demographic_parity_difference", "equalized_odds_difference", "f1"],
    )
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--rows", type=int, default=50, help="rows per group and stratum")
    ap.add_argument("--replicates", type=int, default=1000)
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {args.groups} groups x {args.rows} rows per stratum")
    print("| strata | metric | seconds | peak RSS MB |\n|---:|---|---:|---:|")
    for metric in args.metric:
        for strata in args.strata:
            seconds, rss = run(strata, metric, args.groups, args.rows, args.replicates)
            print(f"| {strata} | {metric} | {seconds:.1f} | {rss} |", flush=True)


if __name__ == "__main__":
    main()
