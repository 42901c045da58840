"""CPU seconds and peak memory of one `run_gates` on the benchmark workload, in this process.

    python bench/cpu.py --rows 1000000 [--set full|parity|metrics] [--repeat 5] [--phases]

Where `run.py` times whole fresh processes (wall clock, what a user waits for), this reads
`time.process_time()` around `run_gates` alone, with the imports done first: on a shared,
loaded machine CPU seconds compare two commits far better than wall time. The data is
`bench/generate.py`'s file for that many rows (generated when missing).

Peak RSS is the process's `ru_maxrss`, interpreter and imports included; "before" is the
RSS once the imports are done, before the first run. *Raw* is issue 25's yardstick: what
the columns the gates read weigh at their narrowest (`RAW_BYTES`, 23 bytes a row for the
full set, 14 for `--set parity`, 13 for `--set metrics`; `--metrics-only` is
`--set metrics`). Both ratios are printed: peak / raw and
(peak − before) / raw.

`--phases` also samples the RSS and pyarrow's pool every millisecond on a second thread
and prints the peak of each phase of the batched read (backends/stream.py: the batches,
the merge of their cells, the score tables, the paired grid) and of the verdict stage
after it (the gates, then the report's context: bounds on the paired grid).
Instrumentation only: the functions are wrapped, not changed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent

# Bytes a row of each column the gates read weighs at its narrowest (issue 25's yardstick):
# slice columns as dictionary codes (at most 20 values: one byte), labels and predictions
# as int8, scores as read (float64).
RAW_BYTES = {"region": 1, "segment": 1, "channel": 1, "group": 1, "y": 1, "pred_c": 1}
RAW_BYTES |= {"pred_b": 1, "score_c": 8, "score_b": 8}
METRICS_ONLY = ("region", "segment", "channel", "y", "pred_c", "score_c")
# The columns each of contenders.GATE_SETS reads.
READS = {"full": tuple(RAW_BYTES), "parity": (*METRICS_ONLY, "group"), "metrics": METRICS_ONLY}
sys.path.insert(0, str(HERE))

import contenders  # noqa: E402
import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", choices=tuple(READS), default="full", help="the gate set")
    parser.add_argument("--metrics-only", action="store_true", help="--set metrics")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--phases", action="store_true", help="peak RSS per phase")
    args = parser.parse_args(argv)
    data = generate.ensure(args.rows, args.seed)

    import pandas  # noqa: F401  (imports are not what is measured)
    import sklearn  # noqa: F401

    from mlops_gates.config import load_config
    from mlops_gates.gates.runner import run_gates

    gate_set = "metrics" if args.metrics_only else args.set
    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        path = Path(tmp) / "mlops-gates.yaml"
        config = contenders.gates_config(data.resolve(), **contenders.GATE_SETS[gate_set])
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        loaded = load_config(path)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu = []
        with _phases() if args.phases else _nothing() as peaks:
            for _ in range(args.repeat):
                t0 = time.process_time()
                report = run_gates(loaded)
                cpu.append(time.process_time() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw = args.rows * sum(RAW_BYTES[c] for c in READS[gate_set]) / 2**20
    print(
        f"{args.rows:,} rows, {len(report.gates)} verdicts: CPU {statistics.median(cpu):.2f} s "
        f"(median of {len(cpu)}: {', '.join(f'{c:.2f}' for c in cpu)}); peak RSS {peak:.0f} MB "
        f"({before:.0f} MB before the first run); raw columns {raw:.0f} MB: peak less before "
        f"= {(peak - before) / raw:.2f}x, peak = {peak / raw:.2f}x"
    )
    for phase, (rss, pool) in peaks.items():
        grew = rss - before
        print(f"  {phase:<28} peak RSS {rss:6.0f} MB (+{grew:4.0f}), pyarrow pool {pool:4.0f} MB")
    return 0


@contextmanager
def _nothing() -> Iterator[dict[str, tuple[float, float]]]:
    yield {}


@contextmanager
def _phases() -> Iterator[dict[str, tuple[float, float]]]:
    """Peak (RSS, pyarrow pool) in MB per phase of the run, sampled every millisecond."""
    import pyarrow as pa

    from mlops_gates.backends import stream
    from mlops_gates.gates import runner

    page = os.sysconf("SC_PAGE_SIZE") / 2**20
    phase = ["before the read"]
    peaks: dict[str, tuple[float, float]] = {}
    done = threading.Event()

    def sample() -> None:
        with open("/proc/self/statm", "rb") as statm:
            while not done.is_set():
                statm.seek(0)
                rss = int(statm.read().split()[1]) * page
                pool = pa.total_allocated_bytes() / 2**20
                old = peaks.get(phase[0], (0.0, 0.0))
                peaks[phase[0]] = (max(old[0], rss), max(old[1], pool))
                time.sleep(0.001)

    def wrap(owner: Any, name: str, label: str, after: str | None = None) -> Callable[[], None]:
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            outer, phase[0] = phase[0], label
            try:
                return original(*args, **kwargs)
            finally:
                phase[0] = after or outer

        setattr(owner, name, wrapped)
        return lambda: setattr(owner, name, original)

    undo = [
        wrap(stream, "stream_reduce", "read: between batches", after="verdicts"),
        wrap(stream, "_score_range", "read: score ranges"),
        wrap(stream._Batches, "add", "read: a batch's cells"),
        wrap(stream._Batches, "finish", "read: merging the cells"),
        wrap(stream, "reduce_cells", "read: count tables"),
        wrap(stream, "score_table", "read: score tables"),
        wrap(stream, "joint_grid", "read: paired grid"),
        wrap(runner, "_report_context", "verdicts: report context"),
    ]
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()
        for u in undo:
            u()


if __name__ == "__main__":
    raise SystemExit(main())
