"""The full gate set at 1e8-1e9 rows, engine by engine, with the results compared.

    python bench/scale.py --rows 1e9 --engines duckdb
    python bench/scale.py --rows 1e8 --engines duckdb spark
    python bench/scale.py --rows 1e7 --engines memory duckdb spark
    python bench/scale.py --data 'bench/data/x.parts/part-0000[0-5].parquet' --engines duckdb

The data are bench/generate.py's rows as a folder of Parquet files (``--parts``: what a
large table looks like; `data.path` in the config is the folder, as a user would give it).
The memory engine reads one file, not folders: it gets the single file of the same rows
(generate.py writes the folder chunk for chunk from the same random streams, so both hold
identical rows). The gate set is bench/README.md's: six metric gates on 194 slices, a
demographic-parity gate and a paired baseline ROC AUC gate, 1,359 verdicts.

Each engine runs `run_gates` in its own process, one after the other. Measured: the
seconds of `run_gates` (reading, fingerprinting the files, reducing, judging), the whole
process's wall time, its peak RSS from wait4 and the peak summed RSS of its process tree
sampled every 0.2 s, and the CPU seconds of that tree (for Spark both include the JVM,
which wait4 does not see), and the load average before and after (the machine is shared:
quote it). Spark's run is traced query by query (`SparkTrace`: jobs, tasks, the tasks' run,
CPU and GC seconds, shuffle and spill, from Spark's event log), written beside the results
as results-scale-<rows>[-no-baseline]-spark-queries.json; DuckDB's too (`DuckDBTrace`:
each statement's wall and CPU seconds, rows returned), in ...-duckdb-queries.json. Every
verdict of every engine is then compared field by field (status, value, interval,
p-value, support, message) with the first engine's; the run fails (exit 1) on any
difference above 1e-9.
Results go to bench/results-scale-<rows>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from contenders import gates_config
from generate import ensure
from run import _reap  # wait4 with its rusage, killing after the timeout

HERE = Path(__file__).resolve().parent
ENGINES = ("memory", "duckdb", "spark")
TOLERANCE = 1e-9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda t: int(float(t)))
    parser.add_argument(
        "--data",
        dest="given",
        help="a folder or glob of Parquet files already there (e.g. some of a larger "
        "folder's files) instead of generated ones; not for the memory engine",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=["duckdb"])
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB's backend.memory_limit")
    parser.add_argument("--spark-memory", default="2g", help="the local[2] driver's heap")
    parser.add_argument("--jobs", type=int, default=1, help="processes generating the data")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="leave out the paired baseline ROC AUC gate (its joint score table grows with "
        "the rows), to see what it costs",
    )
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--child-data", dest="data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    if args.given:
        if "memory" in args.engines:
            parser.error("--data: the memory engine reads one file; give --rows instead")
        folder = Path(args.given).absolute()
        files = _files(folder)
        args.rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    elif args.rows:
        folder = ensure(args.rows, args.seed, parts=True, jobs=args.jobs)
        files = _files(folder)
    else:
        parser.error("give --rows or --data")
    runs: dict[str, dict[str, Any]] = {}
    verdicts: dict[str, dict[str, Any]] = {}
    for engine in args.engines:
        data = ensure(args.rows, args.seed) if engine == "memory" else folder
        print(f"{engine}: {args.rows:,} rows from {data} ...", file=sys.stderr, flush=True)
        entry, gates = run_child(engine, data, args)
        runs[engine] = entry
        if gates is not None:
            verdicts[engine] = gates
        print(f"{engine}: {json.dumps(entry)}", file=sys.stderr, flush=True)
    failed = compare(runs, verdicts)
    document = {
        "rows": args.rows,
        "seed": args.seed,
        "data": {
            "path": str(folder),
            "files": len(files),
            "gigabytes": round(sum(f.stat().st_size for f in files) / 1e9, 2),
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "memory_gb": round(_meminfo_kb("MemTotal") / 1024**2, 1),
            "versions": _versions(),
        },
        "runs": runs,
    }
    out = HERE / f"results-scale-{args.rows}{'-no-baseline' if args.no_baseline else ''}.json"
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(runs))
    print(f"\nwritten to {out.relative_to(HERE.parent)}")
    return 1 if failed or any(r["status"] != "ok" for r in runs.values()) else 0


def _files(where: Path) -> list[Path]:
    text = str(where)
    if any(ch in text for ch in "*?["):
        return sorted(Path(p) for p in glob.glob(text))
    return sorted(where.glob("*.parquet"))


# --- the parent: one child per engine ----------------------------------------------------


def run_child(engine: str, data: Path, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """`engine` on `data` in a fresh interpreter: its seconds, RSS and verdicts."""
    with tempfile.TemporaryDirectory(prefix="mlops-gates-scale-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable, __file__, "--rows", str(args.rows), "--child", engine,
            "--child-data", str(data), "--out", str(out), "--memory-limit", args.memory_limit,
            "--spark-memory", args.spark_memory, *(["--no-baseline"] if args.no_baseline else []),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "MLFLOW_DISABLE_TELEMETRY": "true"}
        load_before = _loadavg()
        started = time.perf_counter()
        with (Path(tmp) / "log.txt").open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            tree = TreeSampler(proc.pid)
            tree.start()
            status, usage, timed_out = _reap(proc, args.timeout)
            tree.stop()
        wall = time.perf_counter() - started
        entry: dict[str, Any] = {
            "status": "ok",
            "engine": engine,
            "data": str(data),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "process_seconds": round(wall, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
            "peak_tree_rss_mb": round(tree.peak_kb / 1024, 1),
            "loadavg_before": load_before,
            "loadavg_after": _loadavg(),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            # Includes Spark's JVM, which cpu_seconds (wait4) does not see.
            "tree_cpu_seconds": round(tree.cpu_seconds, 1),
        }
        code = os.waitstatus_to_exitcode(status)
        if timed_out or code != 0 or not out.exists():
            tail = (Path(tmp) / "log.txt").read_text(errors="replace").strip().splitlines()[-15:]
            why = f"killed after {args.timeout:.0f} s" if timed_out else f"exit status {code}"
            entry.update(status="error", note=why, log_tail=tail)
            return entry, None
        result = json.loads(out.read_text())
    entry["seconds"] = round(result["seconds"], 1)
    entry["verdicts"] = len(result["gates"])
    entry["summary"] = result["summary"]
    entry["config_backend"] = result["backend"]
    for key in ("spark_queries", "duckdb_queries"):
        if key in result:
            entry[key] = result[key]
    return entry, {g["id"]: g for g in result["gates"]}


class TreeSampler(threading.Thread):
    """The peak of the summed RSS of a process and its descendants, and the CPU seconds
    they used, sampled. wait4 counts only children that were waited for: Spark's JVM is
    a grandchild nobody waits for, so its CPU time is only seen here (the last sample of
    each process, at most 0.2 s short)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._done = pid, 0, threading.Event()
        self._cpu: dict[int, float] = {}  # pid -> CPU seconds at its last sample

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def run(self) -> None:
        while not self._done.wait(0.2):
            pids = _tree(self.pid)
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in pids))
            for p in pids:
                self._cpu[p] = max(self._cpu.get(p, 0.0), _cpu_seconds(p))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _meminfo_kb(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for dist in ("mlops-gates", "duckdb", "pyspark", "pyarrow", "numpy", "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


def compare(runs: dict[str, dict[str, Any]], verdicts: dict[str, dict[str, Any]]) -> bool:
    """Every engine's verdicts against the first one's, field by field; True on a
    difference (noted in that engine's entry)."""
    if not verdicts:
        return False
    ref_name = next(iter(verdicts))
    ref = verdicts[ref_name]
    failed = False
    for name, gates in verdicts.items():
        if name == ref_name:
            runs[name]["check"] = "reference"
            continue
        problems: list[str] = []
        if set(gates) != set(ref):
            problems.append(f"{len(set(gates) ^ set(ref))} verdicts not in both")
        worst = [0.0]
        fields = [0]
        for gid in sorted(set(gates) & set(ref)):
            _diff(ref[gid], gates[gid], gid, problems, worst, fields)
        if problems:
            failed = True
            runs[name]["check"] = f"FAILED against {ref_name}: " + "; ".join(problems[:5])
        else:
            runs[name]["check"] = (
                f"{len(gates)} verdicts, {fields[0]} numbers = {ref_name}'s "
                f"(max diff {worst[0]:.1g}); statuses and messages identical"
            )
    return failed


def _diff(
    a: Any, b: Any, where: str, problems: list[str], worst: list[float], n: list[int]
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            problems.append(f"{where}: fields {sorted(set(a) ^ set(b))} not in both")
        for k in set(a) & set(b):
            _diff(a[k], b[k], f"{where}.{k}", problems, worst, n)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{where}[{i}]", problems, worst, n)
    elif isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        n[0] += 1
        if math.isnan(a) and math.isnan(b):
            return
        d = abs(a - b)
        worst[0] = max(worst[0], d)
        if not d <= TOLERANCE * max(1.0, abs(a)):
            problems.append(f"{where}: {a!r} vs {b!r}")
    elif a != b:
        problems.append(f"{where}: {a!r} vs {b!r}")


def table(runs: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| engine | run_gates s | process s | CPU s | tree CPU s | peak RSS MB | tree RSS MB "
        "| load before/after | check |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in runs.items():
        if r["status"] != "ok":
            lines.append(f"| {name} | {r['note']} | | | | | | | |")
            continue
        load = f"{r['loadavg_before'][0]:.1f} / {r['loadavg_after'][0]:.1f}"
        lines.append(
            f"| {name} | {r['seconds']} | {r['process_seconds']} | {r['cpu_seconds']} | "
            f"{r['tree_cpu_seconds']} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_tree_rss_mb']:.0f} | {load} | {r.get('check', '')} |"
        )
    return "\n".join(lines)


# --- the child: one engine, one run --------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    import yaml

    from mlops_gates.config import load_config
    from mlops_gates.gates.runner import run_gates

    config = gates_config(args.data, engine=args.child, baseline=not args.no_baseline)
    if args.child == "duckdb":
        config["backend"]["memory_limit"] = args.memory_limit
    trace: SparkTrace | None = None
    duck: DuckDBTrace | None = None
    if args.child == "duckdb":
        duck = DuckDBTrace()
    if args.child == "spark":
        trace = SparkTrace()
        config["backend"]["spark"] = {
            "master": "local[2]",
            "conf": {
                "spark.driver.memory": args.spark_memory,
                "spark.ui.enabled": "false",
                **trace.conf,
            },
        }
    with tempfile.TemporaryDirectory(prefix="mlops-gates-scale-") as tmp:
        path = Path(tmp) / "mlops-gates.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        loaded = load_config(path)
        t0 = time.perf_counter()
        report = run_gates(loaded).to_dict()
        seconds = time.perf_counter() - t0
    queries = trace.finish() if trace is not None else None
    if duck is not None:
        queries = duck.queries
    if report["errors"]:
        raise SystemExit(f"mlops-gates reported errors: {report['errors']}")
    args.out.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "summary": report["summary"],
                "backend": config["backend"],
                "gates": report["gates"],
                **({f"{args.child}_queries": queries} if queries is not None else {}),
            }
        )
    )
    if queries is not None:  # also on its own: the breakdown docs/scale.md quotes
        name = f"results-scale-{args.rows}{'-no-baseline' if args.no_baseline else ''}"
        out = HERE / f"{name}-{args.child}-queries.json"
        out.write_text(json.dumps(queries, indent=2) + "\n")
    return 0


class DuckDBTrace:
    """Where DuckDB's time goes, query by query: the wall and the process's CPU seconds
    (DuckDB's worker threads are this process's threads) around each statement, and the
    rows it returned (or streamed)."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []
        from mlops_gates.backends import duckdb_reducer

        run = duckdb_reducer.DuckDBBackend._run

        def traced_run(backend: Any, where: Path, sql: str) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            frame = run(backend, where, sql)
            self.queries.append(
                {"query": f"q{len(self.queries)}", "sql": sql,
                 "seconds": round(time.perf_counter() - t0, 2),
                 "cpu_seconds": round(time.process_time() - c0, 2),
                 "rows_returned": len(frame)}
            )  # fmt: skip
            return frame

        stream = duckdb_reducer.DuckDBBackend._stream

        def traced_stream(backend: Any, where: Path, sql: str) -> Any:
            # The streamed pass: timed until its last batch is consumed (the numpy
            # counting of the batches included).
            t0, c0 = time.perf_counter(), time.process_time()
            rows = 0
            for batch in stream(backend, where, sql):
                rows += batch.num_rows
                yield batch
            self.queries.append(
                {"query": f"q{len(self.queries)} (streamed)", "sql": sql,
                 "seconds": round(time.perf_counter() - t0, 2),
                 "cpu_seconds": round(time.process_time() - c0, 2),
                 "rows_streamed": rows}
            )  # fmt: skip

        duckdb_reducer.DuckDBBackend._run = traced_run  # type: ignore[method-assign]
        duckdb_reducer.DuckDBBackend._stream = traced_stream  # type: ignore[method-assign]


class SparkTrace:
    """Where Spark's time goes, query by query: each SQL statement of the run gets its
    own job group, and Spark's event log (on for this run) gives every task's run time,
    CPU time, GC time and shuffle bytes, summed per query. The session's start and the
    jobs outside a query (reading the Parquet footers) are listed too."""

    def __init__(self) -> None:
        self.events = Path(tempfile.mkdtemp(prefix="mlops-gates-spark-events-"))
        self.conf = {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": self.events.as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
        }
        self.queries: list[dict[str, Any]] = []
        from mlops_gates.backends import spark_reducer

        start, run = spark_reducer.session, spark_reducer.SparkBackend._run

        def timed_session(config: Any) -> Any:
            t0 = time.perf_counter()
            spark = start(config)
            self.queries.append({"query": "session start", "seconds": time.perf_counter() - t0})
            return spark

        def traced_run(backend: Any, where: Path, sql: str) -> Any:
            group = f"q{len(self.queries)}"
            backend._session().sparkContext.setJobGroup(group, sql[:200])
            t0 = time.perf_counter()
            frame = run(backend, where, sql)
            self.queries.append(
                {"query": group, "sql": sql, "seconds": time.perf_counter() - t0,
                 "rows_returned": len(frame)}
            )  # fmt: skip
            return frame

        spark_reducer.session = timed_session  # type: ignore[assignment]
        spark_reducer.SparkBackend._run = traced_run  # type: ignore[method-assign]

    def finish(self) -> list[dict[str, Any]]:
        """Stop the session (which flushes the event log) and sum its tasks per query."""
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
        stage_group: dict[int, str] = {}
        sums: dict[str, dict[str, float]] = {}
        for log in self.events.iterdir():
            if log.name.startswith("."):
                continue
            for line in log.open():
                event = json.loads(line)
                kind = event["Event"]
                if kind == "SparkListenerJobStart":
                    group = (event.get("Properties") or {}).get("spark.jobGroup.id") or "other"
                    for stage in event["Stage IDs"]:
                        stage_group[stage] = group
                    sums.setdefault(group, {}).setdefault("jobs", 0)
                    sums[group]["jobs"] += 1
                elif kind == "SparkListenerTaskEnd":
                    m = event.get("Task Metrics") or {}
                    d = sums.setdefault(stage_group.get(event["Stage ID"], "other"), {})
                    shuffle = (m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
                    for key, value in (
                        ("tasks", 1),
                        ("task_run_s", m.get("Executor Run Time", 0) / 1e3),
                        ("task_cpu_s", m.get("Executor CPU Time", 0) / 1e9),
                        ("task_gc_s", m.get("JVM GC Time", 0) / 1e3),
                        ("shuffle_mb", shuffle / 1e6),
                        ("spill_mb", m.get("Disk Bytes Spilled", 0) / 1e6),
                    ):
                        d[key] = d.get(key, 0) + value
        shutil.rmtree(self.events, ignore_errors=True)
        out = []
        for q in [*self.queries, {"query": "other"}]:
            entry = {**q, **sums.get(q["query"], {})}
            out.append({k: round(v, 2) if isinstance(v, float) else v for k, v in entry.items()})
        return out


if __name__ == "__main__":
    sys.exit(main())
