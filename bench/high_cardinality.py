"""High-cardinality slices: time and peak memory of `mlops-gates check` when a sliced column
has many distinct values (a user id, say), for metric, fairness and baseline gates.

Each case runs `mlops-gates check` in a fresh process; its peak resident memory is that
child's `ru_maxrss` (from `os.wait4`), its time the wall clock around it. The data: ROWS_PER
value rows for each of N distinct values of `user`, labels and two models' predictions.

    python bench/high_cardinality.py --values 20000 200000 [--max-slices 250000]
        [--gates metric fairness baseline] [--timeout 900]

Prints one line per (values, gate) and the sizes of report.json / report.md and the number
of stdout lines. Needs the package installed (its `mlops-gates` on PATH or next to Python).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROWS_PER_VALUE = 5
GATES = {
    "metric": {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["user"]},
    "fairness": {
        "id": "dp",
        "kind": "fairness",
        "metric": "demographic_parity_difference",
        "sensitive": "user",
        "max": 1.0,
        "min_support": 1,
    },
    "baseline": {
        "id": "champ",
        "kind": "baseline",
        "metric": "accuracy",
        "max_relative_drop": 0.05,
        "slices": ["user"],
    },
}


def write_data(folder: Path, values: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = values * ROWS_PER_VALUE
    y = rng.integers(0, 2, n)
    flip_c, flip_b = rng.random(n) < 0.1, rng.random(n) < 0.2
    frame = pd.DataFrame(
        {
            "user": np.repeat([f"u{i:07d}" for i in range(values)], ROWS_PER_VALUE),
            "y": y,
            "pred_c": np.where(flip_c, 1 - y, y),
            "pred_b": np.where(flip_b, 1 - y, y),
        }
    )
    path = folder / "eval.parquet"
    frame.to_parquet(path, index=False)
    return path


def run_case(folder: Path, gate: str, max_slices: int | None, timeout: float) -> dict[str, object]:
    config = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred_c"},
        "baseline": {"predictions": "pred_b"},
        "tracking": {"enabled": False},
        "gates": [GATES[gate]],
    }
    if max_slices is not None:
        config["statistics"] = {"max_slices": max_slices}
    (folder / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = folder / f"out-{gate}"
    shutil.rmtree(out, ignore_errors=True)
    exe = shutil.which("mlops-gates") or str(Path(sys.executable).with_name("mlops-gates"))
    t0 = time.perf_counter()
    with open(folder / "stdout.txt", "wb") as stdout, open(folder / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(
            [exe, "check", "--report-dir", str(out)], cwd=folder, stdout=stdout, stderr=stderr
        )
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
    seconds = time.perf_counter() - t0
    killed = os.WIFSIGNALED(status)
    result: dict[str, object] = {
        "gate": gate,
        "seconds": round(seconds, 1),
        "peak_mb": round(usage.ru_maxrss / 1024),  # Linux: KiB
        "exit": None if killed else os.WEXITSTATUS(status),
        "killed": killed,
        "stdout_lines": len((folder / "stdout.txt").read_bytes().splitlines()),
    }
    if (out / "report.json").is_file():
        doc = json.loads((out / "report.json").read_text())
        result["status"] = doc["status"]
        result["verdicts"] = len(doc["gates"])
        result["report_json_mb"] = round((out / "report.json").stat().st_size / 2**20, 2)
        result["report_md_kb"] = round((out / "report.md").stat().st_size / 1024, 1)
        first = (
            doc["errors"][:1] or [g["message"] for g in doc["gates"] if g["status"] == "error"][:1]
        )
        result["first_error"] = first[0][:160] if first else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--gates", nargs="+", choices=sorted(GATES), default=list(GATES))
    parser.add_argument("--max-slices", type=int, default=None, help="statistics.max_slices")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    for values in args.values:
        with tempfile.TemporaryDirectory(prefix="mg-highcard-") as tmp:
            folder = Path(tmp)
            write_data(folder, values)
            for gate in args.gates:
                result = run_case(folder, gate, args.max_slices, args.timeout)
                print(json.dumps({"values": values, "rows": values * ROWS_PER_VALUE, **result}))
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
