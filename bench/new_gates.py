"""Added cost of the calibration and churn gates on the benchmark's workload.

    python bench/new_gates.py --rows 1M 10M [--repeats 3] [--engine memory|duckdb]

On bench/generate.py's data, `run_gates` runs bench/contenders.py's full config (six metric
gates, a fairness gate and a ROC AUC baseline gate on 194 slices) with and without four
more gates on the same slices: ECE (10 uniform bins), the ECE candidate-vs-baseline
comparison, flip shares, and a TOST on accuracy. Runs alternate (base, new, base, new, ...)
in one process after a warm-up, so both see the same file cache; the median of each is
printed with the difference: what the new gates add, reading and reducing included (they
share the reduction, and calibration adds the baseline's score table). Timings on a shared
2-core machine: read the spread, not one number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from contenders import gates_config  # noqa: E402
from generate import ensure  # noqa: E402

SLICES: list[Any] = ["region", "segment", "channel", ["region", "segment"]]
NEW_GATES: list[dict[str, Any]] = [
    {"id": "ece", "kind": "calibration", "max": 0.05, "slices": SLICES},
    {"id": "ece-vs-baseline", "kind": "calibration", "compare": "baseline", "max": 0.0},
    {"id": "flips", "kind": "churn", "max": 0.2, "slices": SLICES},
    {"id": "tost-accuracy", "kind": "churn", "metric": "accuracy", "within": 0.1},
]


def _rows(text: str) -> int:
    scale = {"k": 1_000, "M": 1_000_000}
    return int(float(text[:-1]) * scale[text[-1]]) if text[-1] in scale else int(text)


def _once(config: dict[str, Any]) -> tuple[float, float, int]:
    from mlops_gates.config import load_config
    from mlops_gates.gates.runner import run_gates

    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        path = Path(tmp) / "mlops-gates.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        t0, c0 = time.perf_counter(), time.process_time()
        report = run_gates(load_config(path))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    if report.errors or any(g.status == "error" for g in report.gates):
        bad = [g.message for g in report.gates if g.status == "error"][:3]
        raise RuntimeError(f"the run reported errors: {report.errors or bad}")
    return seconds, cpu, len(report.gates)


def measure(rows: int, repeats: int, engine: str) -> dict[str, Any]:
    data = ensure(rows, quiet=True)
    base = gates_config(data, engine=engine)
    new = {**base, "gates": [*base["gates"], *NEW_GATES]}
    _once(base)  # warm-up: imports, file cache
    times: dict[str, list[float]] = {"base": [], "new": []}
    cpu: dict[str, list[float]] = {"base": [], "new": []}
    verdicts = {}
    for _ in range(repeats):
        for name, config in (("base", base), ("new", new)):
            seconds, used, count = _once(config)
            times[name].append(seconds)
            cpu[name].append(used)
            verdicts[name] = count
    b, n = statistics.median(times["base"]), statistics.median(times["new"])
    # CPU seconds (every thread of this process) move less with the machine's load.
    cb, cn = statistics.median(cpu["base"]), statistics.median(cpu["new"])
    return {
        "rows": rows,
        "engine": engine,
        "base_s": b,
        "with_new_gates_s": n,
        "added_s": n - b,
        "base_runs": times["base"],
        "new_runs": times["new"],
        "base_cpu_s": cb,
        "new_cpu_s": cn,
        "added_cpu_s": cn - cb,
        "added_verdicts": verdicts["new"] - verdicts["base"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["1M"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="memory", choices=["memory", "duckdb", "spark"])
    args = parser.parse_args(argv)
    print(
        "| rows | engine | base s (runs) | + calibration & churn s (runs) | added s "
        "| CPU s base → new (added) | added verdicts |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for text in args.rows:
        r = measure(_rows(text), args.repeats, args.engine)
        runs = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
        print(
            f"| {r['rows']:,} | {r['engine']} | {r['base_s']:.2f} ({runs(r['base_runs'])}) "
            f"| {r['with_new_gates_s']:.2f} ({runs(r['new_runs'])}) | {r['added_s']:+.2f} "
            f"| {r['base_cpu_s']:.2f} → {r['new_cpu_s']:.2f} ({r['added_cpu_s']:+.2f}) "
            f"| {r['added_verdicts']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
