"""How much wider paired DeLong's standard error gets on a coarse joint grid (issue 25).

On `generate.py`'s data, binned as the engines bin them above 250k rows (4,096 bins per
model), the paired (candidate − baseline) ROC AUC standard error of every slice of the
benchmark's baseline gate (overall, region, segment, channel, region × segment: 194
slices) is computed twice: from the fine joint table (each row's own bins, today's exact
DeLong on binned scores) and from a coarse grid of C × C bins per model and class
(`JointScores.factor = 4096 / C`), whose standard error is the conservative upper bound
of `stats/normal.py`. Printed per C: the widening of the reported standard error over the
fine one (median and max over the slices), the largest widening the bound itself admits
(upper / lower − 1, what the report states), and the joint table's entries.

    python bench/paired_grid.py --rows 1e6 [--grids 32 64 128 256]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import DATA_DIR

from mlops_gates.backends.plan import AUTO_BINS
from mlops_gates.stats.normal import (
    paired_roc_auc_difference_se,
    paired_roc_auc_difference_se_bounds,
)
from mlops_gates.stats.reduce import (
    marginalize,
    marginalize_joint,
    reduce_joint_scores,
    reduce_scores,
)
from mlops_gates.stats.scorebins import ScoreBins

SLICINGS = ((), ("region",), ("segment",), ("channel",), ("region", "segment"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda t: int(float(t)), default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grids", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    path = DATA_DIR / f"synthetic-{args.rows}-seed{args.seed}.parquet"
    if not path.is_file():
        print(f"{path} not found: run python bench/generate.py --rows {args.rows}")
        return 2
    cols = ["region", "segment", "channel", "y", "score_c", "score_b"]
    table = pq.read_table(path, columns=cols)
    codes, sizes = [], []
    for c in ("region", "segment", "channel"):
        d = table.column(c).combine_chunks().dictionary_encode()
        codes.append(np.asarray(d.indices, dtype=np.int64))
        sizes.append(len(d.dictionary))
    group = (codes[0] * sizes[1] + codes[1]) * sizes[2] + codes[2]
    n_groups = sizes[0] * sizes[1] * sizes[2]
    y = np.asarray(table.column("y"), dtype=np.int64)
    index, tables = [], []
    for c in ("score_c", "score_b"):
        s = np.asarray(table.column(c), dtype=np.float64)
        bins = ScoreBins(float(s.min()), float(s.max()), AUTO_BINS)
        index.append(bins.codes(s).astype(np.int64))
        tables.append(reduce_scores(group, n_groups, y, index[-1], thresholds=bins.thresholds()))
    del table
    maps = []
    for slicing in SLICINGS:
        parts = [codes[("region", "segment", "channel").index(c)] for c in slicing]
        radix = [sizes[("region", "segment", "channel").index(c)] for c in slicing]
        g2s = np.zeros(n_groups, dtype=np.int64)
        key = np.zeros_like(group)
        for p, r in zip(parts, radix, strict=True):
            key = key * r + p
        g2s[group] = key
        maps.append((g2s, int(np.prod(radix)) if radix else 1))
    sliced = [(marginalize(tables[0], m, k), marginalize(tables[1], m, k)) for m, k in maps]

    def per_slice(joint: object, fn: object) -> list[np.ndarray]:
        out = []
        for (m, k), (tc, tb) in zip(maps, sliced, strict=True):
            out.append(fn(tc, tb, marginalize_joint(joint, m, k)))  # type: ignore[arg-type,operator]
        return out

    t0 = time.process_time()
    fine_joint = reduce_joint_scores(group, n_groups, y, index[0], index[1])
    fine = np.concatenate(per_slice(fine_joint, paired_roc_auc_difference_se))
    fine_s = time.process_time() - t0
    results = {"rows": int(y.shape[0]), "slices": int(np.isfinite(fine).sum())}
    results["fine"] = {"entries": int(fine_joint.count.shape[0]), "cpu_s": round(fine_s, 2)}
    del fine_joint
    print(f"{y.shape[0]:,} rows, {results['slices']} slices with a paired standard error")
    print(f"fine joint: {results['fine']['entries']:,} entries, {fine_s:.2f} s CPU")
    print("| grid C | factor | entries | SE widening median | max | stated max (upper/lower − 1) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for side in args.grids:
        f = AUTO_BINS // side
        t0 = time.process_time()
        joint = reduce_joint_scores(group, n_groups, y, index[0] // f, index[1] // f, factor=f)
        bounds = per_slice(joint, paired_roc_auc_difference_se_bounds)
        cpu = time.process_time() - t0
        lo = np.concatenate([b[0] for b in bounds])
        hi = np.concatenate([b[1] for b in bounds])
        ok = np.isfinite(fine)
        assert np.all(lo[ok] <= fine[ok] * (1 + 1e-12)) and np.all(fine[ok] <= hi[ok] * (1 + 1e-12))
        widen = hi[ok] / fine[ok] - 1
        stated = hi[ok] / lo[ok] - 1
        row = {
            "factor": f,
            "entries": int(joint.count.shape[0]),
            "widening_median": float(np.median(widen)),
            "widening_max": float(widen.max()),
            "stated_max": float(stated.max()),
            "cpu_s": round(cpu, 2),
        }
        results[str(side)] = row
        print(
            f"| {side} | {f} | {row['entries']:,} | {100 * row['widening_median']:.2f} % | "
            f"{100 * row['widening_max']:.2f} % | {100 * row['stated_max']:.1f} % |"
        )
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
