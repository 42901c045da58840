"""What a user waits for: `mlops-gates check` on the Adult example, cold, phase by phase.

    python examples/adult/train.py                 # once: the models and data
    python bench/coldrun.py                        # 3 plain + 3 instrumented runs
    python bench/coldrun.py --runs 5 --imports     # + the slowest imports of one run
    python bench/coldrun.py --json before.json     # on the old code, then on the new:
    python bench/coldrun.py --compare before.json  # each phase before and after

Every run is a fresh Python process (nothing imported, nothing cached in memory; the OS
file cache is warm after the first run, as it is on a developer's machine). Tracking is
off (`MLOPS_GATES_TRACKING=off`): the numbers are the gates, not MLflow.

- plain runs: `python -m mlops_gates check --config ... --report-dir <tmp>`, exactly what a
  user types; wall time and CPU time (user + sys of the child) per run, and their medians.
- instrumented runs: the same command in a child that wraps a few engine functions with
  timers (no behaviour changes), so the run splits into phases. Times are exclusive: a
  phase excludes the phases called inside it, so the phases add up to the run.

`--pytest` also times `pytest --mlops-gates` on the same config, each plain pytest run
right after a plain `check` run so both meet the same load, and splits one set of pytest
runs into its stages (bench/coldrun_probe.py: start-up and plugins, configure, collection =
the gates, items, session finish, unconfigure and exit). pytest runs in the temporary
folder as in a project of its own (that folder is its rootdir, no ini file); the options
are passed as `--option=value` because pytest would read a separate value as a path and
take this checkout as its rootdir (see `--split-options`).

Bytecode: a checkout's modules have no `.pyc` where PYTHONDONTWRITEBYTECODE is set (this
machine sets it), so every run would compile them again; pip compiles an installed package
once at install, so a user never pays that. The script therefore compiles the measured
package first (`compileall`, into its `__pycache__`), as an install would.

`--compare FILE` reads an earlier run's `--json` output (the same machine, another commit)
and prints every phase before and after. `--html auto|on|off` is passed to `check`.
Another commit can be timed without checking it out: `git archive <commit> mlops_gates |
tar -x -C /tmp/old`, then `PYTHONPATH=/tmp/old python bench/coldrun.py ...` (the children
start in a temporary folder, so this checkout's package does not shadow it).

CPU time is the steadier number on a shared machine: wall time grows with other people's
load, CPU time much less. Both are printed; quote the conditions (`uptime`) with them.
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "examples" / "adult" / "mlops-gates.yaml"

# (module, function, phase): a call's exclusive time goes to its phase. `predict` is split
# by who called it (the evaluation rows or a behaviour gate's examples), see _phase_of.
PHASES = [
    ("mlops_gates.cli.main", "main", "cli: parse, print"),
    ("mlops_gates.config", "load_config", "config"),
    ("mlops_gates.gates.runner", "evaluate", "engine (rest)"),
    ("mlops_gates.sources.data", "read_rows", "read data"),
    ("mlops_gates.gates.schema", "evaluate_schema", "schema gate"),
    ("mlops_gates.sources.models", "load_model", "load models (imports included)"),
    ("mlops_gates.sources.models", "predict", "predict"),
    ("mlops_gates.backends.memory", "reduce_frame", "reduce"),
    ("mlops_gates.gates.runner", "_guard", "other gates"),
    ("mlops_gates.gates.behaviour.gate", "evaluate_behaviour", "behaviour gates (rest)"),
    ("mlops_gates.report.writer", "write_report", "write report.json, report.md"),
    ("mlops_gates.report.html", "render_html", "report.html and its plots"),
]


def _child(argv: list[str]) -> None:
    """Run the check in this process with timers around PHASES; write the phases as JSON."""
    t_start = time.perf_counter()
    c_start = time.process_time()
    out_path = argv.pop(0)
    import importlib

    cli = importlib.import_module("mlops_gates.cli.main")
    # Start as the command starts (`cli.run`); older code has no short_process_gc.
    tune_gc = getattr(cli, "short_process_gc", None)
    if tune_gc is not None:
        tune_gc()

    # Modules imported lazily by the engine are imported now so their functions can be
    # wrapped; their own import time lands in "import mlops_gates", not in a gate.
    modules = {m: importlib.import_module(m) for m, _, _ in PHASES}
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    calls: dict[str, int] = {}
    stack: list[list[float]] = []  # per active call: [child wall, child cpu]
    names: list[str] = []

    def phase_of(name: str) -> str:
        if name == "predict":
            inside = "behaviour" in " ".join(names)
            return "behaviour gates: model calls" if inside else "predict evaluation rows"
        return name

    def wrap(fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = phase_of(phase)
            names.append(label)
            stack.append([0.0, 0.0])
            w0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                dw, dc = time.perf_counter() - w0, time.process_time() - c0
                inner = stack.pop()
                names.pop()
                wall[label] = wall.get(label, 0.0) + dw - inner[0]
                cpu[label] = cpu.get(label, 0.0) + dc - inner[1]
                calls[label] = calls.get(label, 0) + 1
                if stack:
                    stack[-1][0] += dw
                    stack[-1][1] += dc

        return timed

    for module_name, fn_name, phase in PHASES:
        original = getattr(modules[module_name], fn_name)
        timed = wrap(original, phase)
        # `from x import f` copies the function into the importing module: replace it there too.
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("mlops_gates") and (
                getattr(mod, fn_name, None) is original
            ):
                setattr(mod, fn_name, timed)
    wall["import mlops_gates"] = time.perf_counter() - t_start
    cpu["import mlops_gates"] = time.process_time() - c_start
    code = cli.main(argv)  # the wrapped function: PHASES replaced it in its module
    Path(out_path).write_text(json.dumps({"wall": wall, "cpu": cpu, "calls": calls, "exit": code}))
    # End as the command ends (`cli.run`): older code has no exit_now and tears down.
    exit_now = getattr(cli, "exit_now", None)
    if exit_now is not None:
        exit_now(0)


def _run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    """Wall and CPU seconds (user + sys) of one child process, and its exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        sys.exit(f"run failed (exit {proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def _compile_package(env: dict[str, str], cwd: str) -> None:
    """Give the measured package the bytecode an install would (see the module docstring).
    The package is the one the children import (PYTHONPATH may point at another commit)."""
    probe = "import importlib.util as u; print(u.find_spec('mlops_gates').origin)"
    where = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()
    where = str(Path(where).parent)
    if not compileall.compile_dir(where, quiet=1):
        print(f"warning: could not compile every module under {where}; runs may compile them")


def _pytest_stages(marks: list[list[Any]], wall: float) -> dict[str, float]:
    """Seconds per stage from the probe's marks (each stage runs until the next mark)."""
    stages: dict[str, float] = {"python and pytest start": marks[0][1]}
    for (name, at), (_, nxt) in itertools.pairwise(marks):
        if name != "plugins loaded":
            stages[name] = nxt - at
        else:
            stages["pytest loads its plugins, reads its options"] = nxt - at
    stages["interpreter teardown"] = wall - marks[-1][1]
    return stages


def _time_pytest(args: argparse.Namespace, env: dict[str, str], tmp: str) -> dict[str, Any]:
    """Plain `check` and `pytest --mlops-gates` runs, alternating; then the pytest stages."""
    py = sys.executable
    report_dir = str(Path(tmp) / "report-pt")
    check = [py, "-m", "mlops_gates", "check", "--config", str(args.config)]
    check += ["--report-dir", report_dir]
    pt = [py, "-m", "pytest", "--mlops-gates", "-q", "-p", "no:cacheprovider"]
    # One argument each (`--option=value`): pytest picks its rootdir and ini file before it
    # knows a plugin's options, so a separate value that names an existing path counts as a
    # path argument. The config's folder would then make this checkout's pyproject.toml the
    # ini file (its `-p pytester`, its filters), and pytest would list every entry of /tmp
    # on its way from there to the working folder: not what a user of a project waits for.
    # `--split-options` measures that form too.
    if args.split_options:
        pt += ["--mlops-gates-config", str(args.config), "--mlops-gates-report-dir", report_dir]
    else:
        pt += [f"--mlops-gates-config={args.config}", f"--mlops-gates-report-dir={report_dir}"]
    runs: dict[str, list[tuple[float, float]]] = {"check": [], "pytest": []}
    for _ in range(args.runs):
        runs["check"].append(_run(check, env, tmp)[:2])
        runs["pytest"].append(_run(pt, env, tmp)[:2])
    print(f"\n$ MLOPS_GATES_TRACKING=off {' '.join(pt[1:])}  (alternating with check)")
    out: dict[str, Any] = {"options": "split" if args.split_options else "joined"}
    for mode, got in runs.items():
        walls, cpus = [w for w, _ in got], [c for _, c in got]
        mw, mc = statistics.median(walls), statistics.median(cpus)
        print(f"  {mode:7} wall s: {', '.join(f'{w:.2f}' for w in walls)}")
        print(f"  {'':7} median wall {mw:.2f} s, CPU {mc:.2f} s")
        out[mode] = {"wall": walls, "cpu": cpus}
    probe_env = {
        **env,
        "PYTHONPATH": os.pathsep.join(
            p for p in (env.get("PYTHONPATH", ""), str(Path(__file__).resolve().parent)) if p
        ),
    }
    stages: list[dict[str, float]] = []
    for i in range(args.runs):
        marks_file = Path(tmp) / f"marks-{i}.json"
        wall, _, _ = _run(
            [*pt, "-p", "coldrun_probe"], {**probe_env, "COLDRUN_PROBE_OUT": str(marks_file)}, tmp
        )
        stages.append(_pytest_stages(json.loads(marks_file.read_text()), wall))
        stages[-1]["total"] = wall
    print(f"\npytest --mlops-gates stages, median of {args.runs} runs (wall s):")
    table = {}
    for name in stages[0]:
        table[name] = round(statistics.median(s.get(name, 0.0) for s in stages), 3)
        print(f"  {name:45} {table[name]:6.2f}")
    out["stages"] = table
    return out


def _compare(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Each phase's median before (an earlier --json) and now, wall and CPU seconds."""
    old, new = before.get("phases", {}), after.get("phases", {})
    # Older files call the outside-of-Python part "python start-up".
    if "python start-up" in old:
        old["python start-up and exit"] = old.pop("python start-up")
    names = sorted(set(old) | set(new), key=lambda n: (n == "total", -old.get(n, {}).get("cpu", 0)))
    print(f"\nbefore ({args_load(before)}) -> after ({args_load(after)}), median seconds:")
    print(f"  {'phase':40} {'wall':>15} {'CPU':>13}")
    for n in names:
        o, w = old.get(n, {}), new.get(n, {})
        print(
            f"  {n:40} {o.get('wall', 0):6.2f} -> {w.get('wall', 0):5.2f}"
            f" {o.get('cpu', 0):5.2f} -> {w.get('cpu', 0):5.2f}"
        )
    for label, doc in (("before", before), ("after", after)):
        plain = doc.get("plain", {})
        if plain:
            mw, mc = statistics.median(plain["wall"]), statistics.median(plain["cpu"])
            print(f"  plain `check` {label}: median wall {mw:.2f} s, CPU {mc:.2f} s")
        pt = doc.get("pytest", {})
        for mode in ("check", "pytest"):
            if mode in pt:
                mw, mc = statistics.median(pt[mode]["wall"]), statistics.median(pt[mode]["cpu"])
                # Files from before the option had the split form (see --split-options).
                how = f", options {pt.get('options', 'split')}" if mode == "pytest" else ""
                line = f"  --pytest loop, {mode} {label}: median wall {mw:.2f} s, CPU {mc:.2f} s"
                print(line + how)
    stages_before = before.get("pytest", {}).get("stages", {})
    stages_after = after.get("pytest", {}).get("stages", {})
    if stages_before or stages_after:
        print("  pytest --mlops-gates stages (wall s), before -> after:")
        for n in dict.fromkeys([*stages_before, *stages_after]):
            print(f"    {n:52} {stages_before.get(n, 0):5.2f} -> {stages_after.get(n, 0):5.2f}")


def args_load(doc: dict[str, Any]) -> str:
    """The load averages a results file was measured under."""
    a, b = doc.get("load_before", [0])[0], doc.get("load_after", [0])[0]
    return f"load {a:.1f}-{b:.1f}"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per mode (median)")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--imports", action="store_true", help="also list the slowest imports")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    ap.add_argument("--compare", type=Path, help="an earlier --json file: phases before/after")
    ap.add_argument("--html", choices=["auto", "on", "off"], help="passed to check")
    ap.add_argument(
        "--pytest", action="store_true", help="also time pytest --mlops-gates, and its stages"
    )
    ap.add_argument(
        "--split-options",
        action="store_true",
        help="pass pytest's --mlops-gates-* options as two arguments each, as runs before "
        "2026-12-07 did (pytest then takes this checkout as its rootdir and walks /tmp)",
    )
    args = ap.parse_args()
    env = {**os.environ, "MLOPS_GATES_TRACKING": "off"}
    py = sys.executable
    load = os.getloadavg()
    print(f"python {py}; {os.cpu_count()} CPUs; load average {load[0]:.1f} {load[1]:.1f}")
    args.config = args.config.resolve()  # the children run in a temporary folder
    results: dict[str, object] = {"config": str(args.config), "load_before": load}
    with tempfile.TemporaryDirectory(prefix="coldrun-") as tmp:
        _compile_package(env, tmp)
        report_dir = str(Path(tmp) / "report")
        check = ["check", "--config", str(args.config), "--report-dir", report_dir]
        if args.html:
            check += ["--html", args.html]
        # Children start in `tmp`: `python -m` puts the working folder first on sys.path, and
        # a checkout's own `mlops_gates/` there would shadow the code on PYTHONPATH.
        plain = [_run([py, "-m", "mlops_gates", *check], env, tmp) for _ in range(args.runs)]
        walls = [w for w, _, _ in plain]
        cpus = [c for _, c, _ in plain]
        print(f"\n$ MLOPS_GATES_TRACKING=off {py} -m mlops_gates {' '.join(check)}")
        print(f"  exit {plain[0][2]}; wall s: {', '.join(f'{w:.2f}' for w in walls)}")
        mw, mc = statistics.median(walls), statistics.median(cpus)
        print(f"  median wall {mw:.2f} s, CPU {mc:.2f} s")
        results["plain"] = {"wall": walls, "cpu": cpus, "exit": plain[0][2]}

        phases: list[dict[str, dict[str, float]]] = []
        for i in range(args.runs):
            out = Path(tmp) / f"phases-{i}.json"
            child = [py, str(Path(__file__).resolve()), "--child", str(out), *check]
            wall, cpu, _ = _run(child, env, tmp)
            doc = json.loads(out.read_text())
            inside_w, inside_c = sum(doc["wall"].values()), sum(doc["cpu"].values())
            doc["wall"]["python start-up and exit"] = wall - inside_w
            doc["cpu"]["python start-up and exit"] = cpu - inside_c
            doc["wall"]["total"], doc["cpu"]["total"] = wall, cpu
            phases.append(doc)
        names = sorted(
            {n for d in phases for n in d["wall"]},
            key=lambda n: (n == "total", -statistics.median(d["wall"].get(n, 0) for d in phases)),
        )
        print(f"\nphases, median of {args.runs} instrumented runs (exclusive seconds):")
        print(f"  {'phase':40} {'wall':>7} {'CPU':>7}")
        table = {}
        for n in names:
            w = statistics.median(d["wall"].get(n, 0.0) for d in phases)
            c = statistics.median(d["cpu"].get(n, 0.0) for d in phases)
            table[n] = {"wall": round(w, 3), "cpu": round(c, 3)}
            print(f"  {n:40} {w:7.2f} {c:7.2f}")
        results["phases"] = table

        if args.imports:
            proc = subprocess.run(
                [py, "-X", "importtime", "-m", "mlops_gates", *check],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
            rows = []
            for line in proc.stderr.splitlines():
                if not line.startswith("import time:") or "|" not in line:
                    continue
                _, cum, name = line.split("|")
                if cum.strip().isdigit() and len(name) - len(name.lstrip()) <= 2:
                    rows.append((int(cum) / 1e6, name.strip()))
            print("\nslowest top-level imports (cumulative s, one run, -X importtime):")
            for secs, name in sorted(rows, reverse=True)[:12]:
                print(f"  {name:40} {secs:7.2f}")
            results["imports"] = sorted(rows, reverse=True)[:12]
            # report.html's default plots are drawn without matplotlib (report/svg.py).
            names = {ln.split("|")[-1].strip() for ln in proc.stderr.splitlines() if "|" in ln}
            mpl = "matplotlib" in names
            print(f"  matplotlib imported: {'yes' if mpl else 'no'}")
            results["matplotlib_imported"] = mpl
        if args.pytest:
            results["pytest"] = _time_pytest(args, env, tmp)
    results["load_after"] = os.getloadavg()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    if args.compare:
        _compare(json.loads(args.compare.read_text()), results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
