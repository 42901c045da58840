"""Time mlops-gates against plain numpy, pandas + scikit-learn, fairlearn and MLflow.

    python bench/run.py --rows 1000000 [--seed 0] [--only NAME ...] [--skip NAME ...]

Every contender runs in its own process on the same cached Parquet file (made by
generate.py), so its peak resident memory is its own (the kernel's ru_maxrss of that
process, from wait4). The table goes to stdout and, merged with earlier runs of the same
size, to bench/results-<rows>.json. Each contender also returns the numbers it computed;
they must agree with mlops-gates' report to 1e-9, or the run fails (exit status 1).

`--guard NAME=RATIO` (issue 25's regression guard, by hand, never in the test suite) also
fails the run when NAME's time, over the `--guard-floor` contender's in the same round,
has a median above RATIO: ratios, not seconds, so that it holds on a faster or slower
machine. For example, issue 25's 1M workload against the read-and-count floor:

    python bench/run.py --rows 1M --only mlops-gates-parity floor-batched --repeat 5 \
        --guard mlops-gates-parity=5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from contenders import CONTENDERS, LAZY_IMPORTS, describe
from generate import ensure

HERE = Path(__file__).resolve().parent
CHILD = HERE / "contenders.py"
REFERENCE = "mlops-gates"
FLOOR = "floor"  # issue 25's bare floor: every contender's time is also shown against it
FLOORS = (FLOOR, "floor-batched")  # read and count, no numbers to check
DEFAULT_ORDER = tuple(CONTENDERS)
SLICED = {name for name in CONTENDERS if name not in ("mlflow-evaluate", *FLOORS)}
SLOW = {"fairlearn", "mlflow-evaluate", "pandas-sklearn", "mlops-gates-spark"}
TOLERANCE = 1e-9
# Above 250k rows the engine bins scores (backend.score_bins: auto, 4,096 bins): ROC AUC
# then carries a stated error, at most 2e-4 on any slice of this data (docs/scale.md).
AUC_BINNED_TOLERANCE = 1e-3
DEFAULT_SLOW_LIMIT = 1_000_000  # rows above which fairlearn and mlflow-evaluate are skipped


def parse_rows(text: str) -> int:
    """``100000``, ``100_000``, ``100k``, ``1M``, ``1e6``."""
    m = re.fullmatch(r"\s*([0-9_.e+]+)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r} (try 100000, 100k or 1M)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    try:
        rows = float(m.group(1).replace("_", "")) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a row count: {text!r}") from None
    if rows < 1 or rows != int(rows):
        raise argparse.ArgumentTypeError(f"not a positive whole row count: {text!r}")
    return int(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="contenders: " + ", ".join(DEFAULT_ORDER),
    )
    parser.add_argument("--rows", type=parse_rows, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", action="extend", choices=DEFAULT_ORDER, default=[])
    parser.add_argument("--skip", nargs="+", action="extend", choices=DEFAULT_ORDER, default=[])
    parser.add_argument(
        "--fairlearn-max-rows",
        type=parse_rows,
        default=DEFAULT_SLOW_LIMIT,
        help="skip fairlearn above this many rows (default 1M)",
    )
    parser.add_argument(
        "--mlflow-max-rows",
        type=parse_rows,
        default=DEFAULT_SLOW_LIMIT,
        help="skip mlflow-evaluate above this many rows (default 1M)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds before a contender is killed"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each contender N times in fresh processes, in rounds (each contender once "
        "a round, the order turning), and keep the median time (the machine is noisy; "
        "default 1)",
    )
    parser.add_argument(
        "--repeat-slow",
        type=int,
        default=1,
        metavar="N",
        help=f"the same for the slow contenders ({', '.join(sorted(SLOW))}); default 1",
    )
    parser.add_argument(
        "--guard",
        action="append",
        default=[],
        metavar="NAME=RATIO",
        type=_guard,
        help="fail (exit 1) when NAME's median ratio to --guard-floor over the rounds is "
        "above RATIO; both must run (repeatable)",
    )
    parser.add_argument(
        "--guard-floor",
        choices=FLOORS,
        default="floor-batched",
        help="the contender --guard divides by, round by round (default floor-batched: "
        "it reads in batches and swings far less with the kernel's memory than floor)",
    )
    parser.add_argument(
        "--lazy-imports",
        action="store_true",
        help="leave the imports mlops-gates makes on first use (scipy.special) inside the "
        "clock, as a fresh `mlops-gates check` pays them; no results file is written",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run each contender under cProfile and print its top functions "
        "(timings are inflated, so no results file is written)",
    )
    args = parser.parse_args(argv)
    if args.lazy_imports:
        os.environ[LAZY_IMPORTS] = "1"  # the children inherit it (run_one copies os.environ)

    names = [n for n in DEFAULT_ORDER if (not args.only or n in args.only) and n not in args.skip]
    if not names:
        parser.error("--only / --skip leave no contender to run")
    for name, _ in args.guard:
        if name not in names or args.guard_floor not in names:
            parser.error(f"--guard {name}: run both {name} and {args.guard_floor}")
    data = ensure(args.rows, args.seed)
    _warm(data)
    limits = {"fairlearn": args.fairlearn_max_rows, "mlflow-evaluate": args.mlflow_max_rows}
    results_path = HERE / f"results-{args.rows}.json"
    earlier = _load(results_path) if results_path.exists() else {}
    if earlier.get("seed") != args.seed:
        earlier = {}  # another seed is another data set: start a new file

    entries: dict[str, dict[str, Any]] = {}
    values: dict[str, dict[str, float | None]] = {}
    to_run = []
    for name in names:
        limit = limits.get(name)
        if limit is not None and args.rows > limit:
            entries[name] = _skipped(name, args.rows, limit)
            print(f"{name}: {entries[name]['note']}", file=sys.stderr, flush=True)
        else:
            to_run.append(name)
    round_seconds: dict[str, dict[int, float]] = {}
    for name, (entry, vals) in run_rounds(to_run, data, args, round_seconds).items():
        entries[name] = entry
        if name in FLOORS and entry["status"] == "ok":
            entry["check"] = "computes no numbers (a read and one bincount" + (
                ")" if name == FLOOR else " a batch)"
            )
        elif vals is not None:
            values[name] = vals
    entries = {n: entries[n] for n in names}

    stored = _reference_values_path(args.rows, args.seed)
    if REFERENCE in values:
        stored.write_text(json.dumps(values[REFERENCE]))
    elif stored.exists():
        # mlops-gates did not run this time: check against its numbers from an earlier run.
        values = {f"{REFERENCE} (earlier run)": json.loads(stored.read_text()), **values}
    failed = check(entries, values) | _check_floors(entries)
    reference = entries.get(REFERENCE) or earlier.get("contenders", {}).get(REFERENCE)
    floor = entries.get(FLOOR) or earlier.get("contenders", {}).get(FLOOR)
    for entry in entries.values():
        _ratios(entry, reference, floor)
    print()
    print(table(entries, args.rows))
    for name, entry in entries.items():
        if entry.get("check", "").startswith("FAILED"):
            print(f"\n{name}: {entry['check']}")
    guarded = guard_failures(args.guard, round_seconds, args.guard_floor)
    failed = failed or bool(guarded)
    if args.profile:
        for name in entries:
            _print_profile(name, args.rows)
        return 1 if failed else 0
    if args.lazy_imports:
        print("\n--lazy-imports: not written (the results file holds the usual clock)")
        return 1 if failed else 0

    merged = dict(earlier.get("contenders", {}))
    for name, entry in entries.items():
        if entry["status"] == "skipped" and merged.get(name, {}).get("status") == "ok":
            continue  # a skip never hides an earlier measurement
        merged[name] = entry
    new_reference = merged.get(REFERENCE)
    for entry in merged.values():
        _ratios(entry, new_reference, merged.get(FLOOR))
    document = {
        "rows": args.rows,
        "seed": args.seed,
        "data": {"file": data.name, "megabytes": round(data.stat().st_size / 1e6, 1)},
        "tolerance": TOLERANCE,
        "machine": machine(),
        "contenders": {n: merged[n] for n in DEFAULT_ORDER if n in merged},
    }
    results_path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {results_path.relative_to(HERE.parent)}")
    return 1 if failed else 0


def _repeats(name: str, args: argparse.Namespace) -> int:
    if args.profile:
        return 1
    return args.repeat_slow if name in SLOW else args.repeat


Run = tuple[dict[str, Any], dict[str, float | None] | None]


def _guard(text: str) -> tuple[str, float]:
    """`NAME=RATIO` of --guard."""
    name, sep, ratio = text.partition("=")
    if not sep or name not in CONTENDERS:
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=RATIO with a contender's name")
    try:
        limit = float(ratio)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: RATIO must be a number") from None
    if not limit > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: RATIO must be above 0")
    return name, limit


def guard_failures(
    guards: list[tuple[str, float]], round_seconds: dict[str, dict[int, float]], floor: str
) -> list[str]:
    """Print each guard's verdict; the ones that failed. A guard fails when the median over
    the rounds where both ran of NAME's seconds over `floor`'s is above its ratio, or when
    no round has both (a contender that failed to run is no pass)."""
    failures = []
    for name, limit in guards:
        mine, floors = round_seconds.get(name, {}), round_seconds.get(floor, {})
        ratios = [mine[r] / floors[r] for r in sorted(mine) if floors.get(r)]
        if not ratios:
            failures.append(f"guard {name}: no round where both it and {floor} ran")
        else:
            median = statistics.median(ratios)
            ok = median <= limit
            verdict = "ok" if ok else "FAILED"
            print(
                f"guard {name}: {median:.2f}x {floor} (median of {len(ratios)} rounds), "
                f"limit {limit:g}: {verdict}"
            )
            if not ok:
                failures.append(f"guard {name}: {median:.2f}x {floor}, above {limit:g}")
    for failure in failures:
        print(failure, file=sys.stderr)
    return failures


def run_rounds(
    names: list[str],
    data: Path,
    args: argparse.Namespace,
    round_seconds: dict[str, dict[int, float]] | None = None,
) -> dict[str, tuple[dict[str, Any], dict[str, float | None] | None]]:
    """Each contender `_repeats` times, in fresh processes and in rounds: every round runs
    each contender that still has runs to make once, the order turning by one each round.

    Interleaved, a contender and the floor meet the same state of the machine's memory in
    each round. Run back to back, five runs of one then five of the other met different
    states: the floor's median at 10M rows moved between 0.45 and 1.13 s from one sitting
    to the next (the kernel compacting memory for numpy's huge pages, bench/pages.py), and
    every ratio to it with it. Each entry is the run with the median time (so its other
    numbers belong to one real run), with every run's time beside it and, where the floor
    ran in the same rounds, the ratio of each round (`floor_ratios`) and their median
    (`floor_ratio_rounds`). `round_seconds`, when given, receives every run's seconds by
    contender and round (for --guard)."""
    runs: dict[str, list[Run]] = {n: [] for n in names}
    failed: dict[str, Run] = {}
    for r in range(max((_repeats(n, args) for n in names), default=0)):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            if name in failed or len(runs[name]) >= _repeats(name, args):
                continue
            print(f"{name}: running on {args.rows:,} rows ...", file=sys.stderr, flush=True)
            entry, vals = run_one(name, data, args.timeout, profile=args.profile, rows=args.rows)
            print(f"{name}: {_brief(entry)}", file=sys.stderr, flush=True)
            if entry["status"] != "ok":
                failed[name] = (entry, None)
                continue
            entry["round"] = r
            runs[name].append((entry, vals))
            if round_seconds is not None:
                round_seconds.setdefault(name, {})[r] = float(entry["seconds"])
    floor_rounds = {e["round"]: float(e["seconds"]) for e, _ in runs.get(FLOOR, [])}
    out: dict[str, Run] = {}
    for name in names:
        if name in failed:
            out[name] = failed[name]
            continue
        done = runs[name]
        ratios = [
            round(float(e["seconds"]) / floor_rounds[e["round"]], 2)
            for e, _ in done
            if name != FLOOR and floor_rounds.get(e["round"])
        ]
        done_sorted = sorted(done, key=lambda run: float(run[0]["seconds"]))
        entry, vals = done_sorted[(len(done_sorted) - 1) // 2]
        entry.pop("round", None)
        if len(done) > 1:
            entry["runs_seconds"] = [float(e["seconds"]) for e, _ in done_sorted]
            entry["peak_rss_mb"] = max(float(e["peak_rss_mb"]) for e, _ in done)
        if len(ratios) > 1:
            entry["floor_ratios"] = ratios
            entry["floor_ratio_rounds"] = round(statistics.median(ratios), 2)
        out[name] = (entry, vals)
    return out


def run_one(
    name: str, data: Path, timeout: float, *, profile: bool, rows: int
) -> tuple[dict[str, Any], dict[str, float | None] | None]:
    """Run one contender in a fresh interpreter; its own peak RSS comes from wait4."""
    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        out = Path(tmp) / "result.json"
        log = Path(tmp) / "log.txt"
        cmd = [sys.executable, str(CHILD), name, "--data", str(data), "--out", str(out)]
        if profile:
            cmd += ["--profile", str(_profile_path(name, rows))]
        env = dict(os.environ)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["PYTHONWARNINGS"] = "ignore"
        started = time.perf_counter()
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=env)
            status, usage, timed_out = _reap(proc, timeout)
        process_seconds = time.perf_counter() - started
        entry: dict[str, Any] = {
            "status": "ok",
            "description": describe(name),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "process_seconds": round(process_seconds, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
            # The whole process's CPU (imports included): on a loaded machine it moves
            # far less than the wall clock.
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            # The kernel's share: mostly zeroing fresh pages and compacting memory for
            # numpy's huge pages, which swings from run to run (bench/pages.py).
            "sys_seconds": round(usage.ru_stime, 3),
            "minor_faults": usage.ru_minflt,
        }
        code = os.waitstatus_to_exitcode(status)
        if timed_out or code != 0 or not out.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            why = f"killed after {timeout:.0f} s" if timed_out else f"exit status {code}"
            entry.update(status="error", note=why, log_tail=tail)
            return entry, None
        result = json.loads(out.read_text())
    entry["seconds"] = round(result["seconds"], 3)
    for k in ("read_seconds", "setup_seconds", "vm_hwm_mb"):
        if result.get(k) is not None:
            entry[k] = round(result[k], 3 if k.endswith("seconds") else 1)
    if result.get("extra"):
        entry["extra"] = result["extra"]
    vals = result["values"]
    entry["numbers"] = len(vals)
    entry["overall"] = {
        m: vals.get(f"{m}|overall") for m in ("accuracy", "roc_auc") if f"{m}|overall" in vals
    }
    return entry, vals


def _warm(path: Path) -> None:
    """Read the data file once, so every contender finds it in the page cache: otherwise
    whichever runs first after the cache was dropped also times the disk."""
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, Any, bool]:
    """Wait for `proc` with wait4 (its own rusage), killing it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline and not timed_out:
            os.kill(proc.pid, signal.SIGKILL)
            timed_out = True
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return status, usage, timed_out


def check(entries: dict[str, dict[str, Any]], values: dict[str, dict[str, float | None]]) -> bool:
    """Compare every contender's numbers with the reference's; True if any disagree."""
    if not values:
        return False
    ref_name = next(iter(values))  # mlops-gates, or its stored numbers, when there are any
    ref = values[ref_name]
    failed = False
    for name, vals in values.items():
        if name == ref_name:
            if name in entries:
                entries[name]["check"] = "reference"
            continue
        problems = []
        missing = sorted(set(vals) - set(ref))
        if name in SLICED and ref_name.split()[0] in SLICED:
            missing = sorted(set(vals) ^ set(ref))
        if missing:
            problems.append(f"{len(missing)} numbers not in both, e.g. {missing[:3]}")
        worst, over = 0.0, []
        for k in set(vals) & set(ref):
            a, b = vals[k], ref[k]
            if a is None or b is None:
                if a is not b:
                    problems.append(f"{k}: {a} vs {b} in {ref_name}")
                continue
            diff = abs(a - b)
            if diff > (AUC_BINNED_TOLERANCE if k.startswith("roc_auc|") else TOLERANCE):
                over.append((diff, k))
            worst = max(worst, diff)
        if over:
            diff, k = max(over)
            problems.append(f"{k} differs by {diff:.3g} from {ref_name}")
        common = len(set(vals) & set(ref))
        if problems:
            failed = True
            entries[name]["check"] = "FAILED: " + "; ".join(problems[:5])
        else:
            entries[name]["check"] = f"{common} numbers = {ref_name} (max diff {worst:.1g})"
    return failed


def _check_floors(entries: dict[str, dict[str, Any]]) -> bool:
    """The two floors count the same cells and rows, or their times compare nothing;
    True (failed) if they do not."""
    ran = [entries[n] for n in FLOORS if entries.get(n, {}).get("status") == "ok"]
    if len(ran) < 2:
        return False
    counted = [e.get("extra") for e in ran]
    if counted[0] == counted[1]:
        ran[1]["check"] += f"; the same {counted[0]['cells']:,} cells as the floor"
        return False
    ran[1]["check"] = f"FAILED: counted {counted[1]}, the floor {counted[0]}"
    return True


def _ratios(
    entry: dict[str, Any], reference: dict[str, Any] | None, floor: dict[str, Any] | None = None
) -> None:
    entry.pop("time_ratio", None)
    entry.pop("rss_ratio", None)
    entry.pop("floor_ratio", None)
    floor_ok = floor is not None and floor.get("status") == "ok" and floor.get("seconds")
    if entry.get("status") == "ok" and floor_ok:
        assert floor is not None
        entry["floor_ratio"] = round(entry["seconds"] / floor["seconds"], 2)
    if entry.get("status") != "ok" or not reference or reference.get("status") != "ok":
        return
    if reference.get("seconds"):
        entry["time_ratio"] = round(entry["seconds"] / reference["seconds"], 2)
    if reference.get("peak_rss_mb"):
        entry["rss_ratio"] = round(entry["peak_rss_mb"] / reference["peak_rss_mb"], 2)


def _skipped(name: str, rows: int, limit: int) -> dict[str, Any]:
    estimate = _estimate(name, rows)
    why = f"est. {estimate}" if estimate else f"above {limit:,} rows"
    return {
        "status": "skipped",
        "note": f"skipped (too slow: {why}; raise the limit with --{_flag(name)})",
    }


def _flag(name: str) -> str:
    return "fairlearn-max-rows" if name == "fairlearn" else "mlflow-max-rows"


def _estimate(name: str, rows: int) -> str | None:
    """Scale the largest earlier measurement of `name` linearly to `rows`."""
    best: tuple[int, float] | None = None
    for path in HERE.glob("results-*.json"):
        doc = _load(path)
        entry = doc.get("contenders", {}).get(name, {})
        n = doc.get("rows")
        ok = entry.get("status") == "ok" and isinstance(n, int) and n < rows
        if ok and (best is None or n > best[0]):
            best = (n, float(entry["seconds"]))
    if best is None:
        return None
    n, seconds = best
    return f"~{seconds * rows / n:,.0f} s, scaled from {seconds:.1f} s at {n:,} rows"


def table(entries: dict[str, dict[str, Any]], rows: int) -> str:
    head = ["contender", "seconds", "read s", "process s", "CPU s", "sys s", "peak RSS MB"]
    head += ["x time", "x RSS", "x floor"]
    lines = [head]
    notes = []
    for name, e in entries.items():
        if e["status"] != "ok":
            lines.append([name, e["status"], *[""] * (len(head) - 2)])
            notes.append(f"{name}: {e.get('note', '')}")
            for line in e.get("log_tail", []):
                notes.append(f"    {line}")
            continue
        lines.append(
            [
                name,
                f"{e['seconds']:.2f}",
                "" if e.get("read_seconds") is None else f"{e['read_seconds']:.2f}",
                f"{e['process_seconds']:.2f}",
                "" if e.get("cpu_seconds") is None else f"{e['cpu_seconds']:.2f}",
                "" if e.get("sys_seconds") is None else f"{e['sys_seconds']:.2f}",
                f"{e['peak_rss_mb']:.0f}",
                "" if e.get("time_ratio") is None else f"{e['time_ratio']:.2f}",
                "" if e.get("rss_ratio") is None else f"{e['rss_ratio']:.2f}",
                "" if e.get("floor_ratio") is None else f"{e['floor_ratio']:.2f}",
            ]
        )
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = [f"{rows:,} rows"]
    for i, r in enumerate(lines):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    spreads = []
    for n, e in entries.items():
        if e.get("runs_seconds"):
            spreads.append(
                f"{n}: median of {len(e['runs_seconds'])} runs "
                f"({', '.join(f'{x:.2f}' for x in e['runs_seconds'])} s)"
            )
        if e.get("floor_ratios"):
            spreads.append(
                f"    x the floor of the same round: "
                f"{', '.join(f'{x:.2f}' for x in e['floor_ratios'])}; "
                f"median {e['floor_ratio_rounds']:.2f}"
            )
    if spreads:
        out += ["", *spreads]
    checks = [f"{n}: {e['check']}" for n, e in entries.items() if "check" in e]
    if checks:
        out += ["", *checks]
    if notes:
        out += ["", *notes]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    with contextlib.suppress(ValueError, OSError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions = {}
    dists = ("mlops-gates", "numpy", "pandas", "pyarrow", "scikit-learn", "fairlearn", "mlflow")
    for dist in dists:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _brief(entry: dict[str, Any]) -> str:
    if entry["status"] != "ok":
        return f"{entry['status']} ({entry.get('note', '')})"
    return f"{entry['seconds']:.2f} s, peak RSS {entry['peak_rss_mb']:.0f} MB"


def _reference_values_path(rows: int, seed: int) -> Path:
    return HERE / "data" / f"values-{REFERENCE}-{rows}-seed{seed}.json"


def _profile_path(name: str, rows: int) -> Path:
    return HERE / "data" / f"profile-{name}-{rows}.prof"


def _print_profile(name: str, rows: int, top: int = 15) -> None:
    import pstats

    path = _profile_path(name, rows)
    if not path.exists():
        return
    print(f"\n--- {name}: top {top} by cumulative time ({path.name}) ---")
    pstats.Stats(str(path)).sort_stats("cumulative").print_stats(top)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


if __name__ == "__main__":
    sys.exit(main())
