"""Drift at scale: profile a reference and judge a drift gate with each backend.

    python bench/drift.py --rows 10000000 [--engines memory duckdb spark]

For each engine, in fresh processes (so each peak RSS is its own, from wait4):

1. `mlops-gates profile REFERENCE --config <engine config>`: the reference profile of the
   1M-row benchmark file (every column, and the model output columns);
2. `mlops-gates check`: one PSI drift gate over every column and the model output of the
   N-row benchmark file, against that profile.

Prints wall time and peak RSS per step, and checks that every engine's drift values equal
the memory engine's (to 1e-9) when memory ran too. Results are not written to a file; the
numbers go into docs/scale.md and the issue note.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from generate import ensure

HERE = Path(__file__).resolve().parent


def _config(root: Path, data: Path, engine: str) -> Path:
    cfg = {
        "version": 1,
        "data": {"path": str(data)},
        "task": {"type": "binary", "label": "y", "positive_label": 1},
        "candidate": {"predictions": "pred_c", "scores": "score_c"},
        "backend": {"engine": engine, **({"memory_limit": "1GB"} if engine == "duckdb" else {})},
        "gates": [
            {
                "id": "drift",
                "kind": "drift",
                "reference": str(root / f"reference-{engine}.json"),
                "statistic": "psi",
                "max": 0.1,
                "exclude": ["y"],
                "predictions": True,
            }
        ],
    }
    path = root / f"{engine}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _timed(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of one command."""
    env = {**os.environ, "MLOPS_GATES_TRACKING": "off", "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace").strip()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {code}:\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows of the current data")
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--engines", nargs="+", default=["memory", "duckdb", "spark"])
    args = parser.parse_args(argv)
    current, reference = ensure(args.rows, 0), ensure(args.reference_rows, 1)
    cli = [sys.executable, "-m", "mlops_gates"]
    values: dict[str, dict[str, float]] = {}
    print(f"{args.rows:,} current rows, reference {args.reference_rows:,} rows")
    print(f"{'engine':<8} {'profile s':>10} {'MB':>6} {'check s':>8} {'MB':>6}  verdicts")
    with tempfile.TemporaryDirectory(prefix="mlops-gates-drift-") as tmp:
        root = Path(tmp)
        for engine in args.engines:
            cfg = _config(root, current, engine)
            out = root / f"reference-{engine}.json"
            p_s, p_mb, _ = _timed(
                [*cli, "profile", str(reference), "--config", str(cfg), "-o", str(out)]
            )
            report = root / f"report-{engine}"
            c_s, c_mb, _ = _timed(
                [*cli, "check", "--config", str(cfg), "--report-dir", str(report)]
            )
            gates = json.loads((report / "report.json").read_text())["gates"]
            values[engine] = {g["id"]: g["observed"] for g in gates}
            statuses = sorted({g["status"] for g in gates})
            print(f"{engine:<8} {p_s:>10.2f} {p_mb:>6.0f} {c_s:>8.2f} {c_mb:>6.0f}  "
                  f"{len(gates)} ({', '.join(statuses)})")  # fmt: skip
    if "memory" in values:
        for engine, got in values.items():
            diff = max(abs((got[k] or 0) - (values["memory"][k] or 0)) for k in got)
            same = got.keys() == values["memory"].keys() and diff <= 1e-9
            print(f"{engine}: {'equal to memory' if same else 'DIFFERS from memory'} "
                  f"(max diff {diff:.1e})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
