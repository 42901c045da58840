"""CPU seconds and peak memory of one `run_gates` on the benchmark workload, in this process.

    python bench/cpu.py --rows 1000000 [--metrics-only] [--repeat 5]

Where `run.py` times whole fresh processes (wall clock, what a user waits for), this reads
`time.process_time()` around `run_gates` alone, with the imports done first: on a shared,
loaded machine CPU seconds compare two commits far better than wall time. The data is
`bench/generate.py`'s file for that many rows (generated when missing).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# Bytes a row of each column the gates read weighs at its narrowest (issue 25's yardstick):
# slice columns as dictionary codes (at most 20 values: one byte), labels and predictions
# as int8, scores as read (float64).
RAW_BYTES = {"region": 1, "segment": 1, "channel": 1, "group": 1, "y": 1, "pred_c": 1}
RAW_BYTES |= {"pred_b": 1, "score_c": 8, "score_b": 8}
METRICS_ONLY = ("region", "segment", "channel", "y", "pred_c", "score_c")
sys.path.insert(0, str(HERE))

import contenders  # noqa: E402
import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metrics-only", action="store_true", help="no fairness, no baseline")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    data = generate.ensure(args.rows, args.seed)

    import pandas  # noqa: F401  (imports are not what is measured)
    import sklearn  # noqa: F401

    from mlops_gates.config import load_config
    from mlops_gates.gates.runner import run_gates

    full = not args.metrics_only
    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        path = Path(tmp) / "mlops-gates.yaml"
        config = contenders.gates_config(data.resolve(), fairness=full, baseline=full)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        loaded = load_config(path)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu = []
        for _ in range(args.repeat):
            t0 = time.process_time()
            report = run_gates(loaded)
            cpu.append(time.process_time() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    read = METRICS_ONLY if args.metrics_only else tuple(RAW_BYTES)
    raw = args.rows * sum(RAW_BYTES[c] for c in read) / 2**20
    print(
        f"{args.rows:,} rows, {len(report.gates)} verdicts: CPU {statistics.median(cpu):.2f} s "
        f"(median of {len(cpu)}: {', '.join(f'{c:.2f}' for c in cpu)}); peak RSS {peak:.0f} MB "
        f"({before:.0f} MB before the first run); raw columns {raw:.0f} MB: peak less before "
        f"= {(peak - before) / raw:.2f}x, peak = {peak / raw:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
