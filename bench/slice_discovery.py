"""Cost and error rates of the `slice_discovery` gate (issue 23 item 4).

    python bench/slice_discovery.py timing --rows 1M 10M --order 2 3   # seconds per size
    python bench/slice_discovery.py errors --datasets 1000            # FDR and power

`timing` builds seeded synthetic rows with 10 features (4 numeric, cut into 10 bins at the
rows' own edges as the gate does without a reference; 6 categorical with 2 to 30 values),
plants one weak slice, and times the gate's own work after the rows are read: binning and
codes (`feature_codes`), the split, the lattice search (`stats.slices.search`) and the
confirmation. `errors` repeats the seeded simulations of
tests/gates/test_slice_discovery.py at a larger scale: the share of clean data sets with a
confirmed slice (the confirmed false-discovery rate, α = 0.05, tolerance 0) and the share of
data sets with a planted weak slice in which it is confirmed.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.config.slice_discovery import SliceDiscoveryGate
from mlops_gates.gates.slice_discovery import feature_codes
from mlops_gates.stats.inference import holm
from mlops_gates.stats.slices import confirm, search

NUMERIC = ["n0", "n1", "n2", "n3"]
CATEGORICAL = {"c0": 2, "c1": 3, "c2": 5, "c3": 8, "c4": 12, "c5": 30}


def _rows(text: str) -> int:
    return int(float(text.upper().replace("M", "e6").replace("K", "e3")))


def frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Ten features and a per-row "wrong" flag: 10 % everywhere, +20 % where c2 == v3 and
    n0 is in its top decile."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {c: rng.normal(0, 1, n) for c in NUMERIC}
    for c, k in CATEGORICAL.items():
        cols[c] = pd.Categorical.from_codes(rng.integers(0, k, n), [f"v{i}" for i in range(k)])
    df = pd.DataFrame(cols)
    weak = (df["c2"] == "v3").to_numpy() & (df["n0"].to_numpy() > 1.2816)
    wrong = rng.random(n) < np.where(weak, 0.3, 0.1)
    return df, wrong


def timing(sizes: list[int], orders: list[int]) -> None:
    print("| rows | order | codes s | search s | confirm s | total s | slices scored | found |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in sizes:
        df, wrong = frame(n)
        for order in orders:
            gate = SliceDiscoveryGate(
                kind="slice_discovery",
                features=[*NUMERIC, *CATEGORICAL],
                max_order=order,
                min_support=max(200, n // 2000),
            )
            run: Any = SimpleNamespace(config=None, data_path="<bench>")
            t0 = time.perf_counter()
            codes, cards, labels = feature_codes(gate, df, run)
            t1 = time.perf_counter()
            half = np.random.default_rng(1).random(n) < 0.5
            found, scored = search(
                [c[half] for c in codes],
                cards,
                wrong[half],
                max_order=order,
                min_support=gate.min_support,
                top_k=gate.top_k,
            )
            t2 = time.perf_counter()
            checked = confirm([c[~half] for c in codes], wrong[~half], found, tolerance=0.02)
            t3 = time.perf_counter()
            p = holm(np.array([k.p_value for k in checked]))
            top = ""
            if found:
                c = found[0]
                top = ", ".join(
                    f"{gate.features[j]}={labels[j][v]}"
                    for j, v in zip(c.features, c.values, strict=True)
                )
                top += f" (p_holm {p[0]:.1e})"
            print(
                f"| {n:,} | {order} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t3 - t2:.2f} | "
                f"{t3 - t0:.2f} | {scored:,} | {top} |"
            )


def errors(datasets: int, n: int) -> None:
    alpha = 0.05
    for planted in (False, True):
        hits = 0
        for seed in range(datasets):
            rng = np.random.default_rng(seed)
            codes = [rng.integers(0, k, n) for k in (2, 3, 4, 5, 10)]
            rate = np.where((codes[1] == 2) & (codes[3] == 0), 0.3, 0.15) if planted else 0.15
            bad = rng.random(n) < rate
            half = rng.random(n) < 0.5
            found, _ = search(
                [c[half] for c in codes], [2, 3, 4, 5, 10], bad[half],
                max_order=2, min_support=50, top_k=10,
            )  # fmt: skip
            if not found:
                continue
            checked = confirm([c[~half] for c in codes], bad[~half], found, tolerance=0.0)
            confirmed = holm(np.array([k.p_value for k in checked])) < alpha
            if planted:
                hits += any(
                    ok and c.features == (1, 3) and c.values == (2, 0)
                    for ok, c in zip(confirmed, found, strict=True)
                )
            else:
                hits += bool(confirmed.any())
        what = "planted slice confirmed" if planted else "clean data, any slice confirmed"
        print(f"{what}: {hits}/{datasets} = {hits / datasets:.3f} (n={n}, α={alpha})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--rows", nargs="+", default=["1M"])
    t.add_argument("--order", nargs="+", type=int, default=[2])
    e = sub.add_parser("errors")
    e.add_argument("--datasets", type=int, default=1000)
    e.add_argument("--n", type=int, default=4000)
    args = parser.parse_args()
    if args.command == "timing":
        timing([_rows(r) for r in args.rows], args.order)
    else:
        errors(args.datasets, args.n)


if __name__ == "__main__":
    main()
