"""CPU seconds per stage of one `run_gates` on the benchmark workload, in this process.

    python bench/stages.py --rows 1000000 [--repeat 9] [--set full|parity|metrics]

Where a 1M run's CPU goes, stage by stage (issue 25 item 2). Each stage function is
wrapped (in its module and wherever the package imported it by name) and charged its
`time.process_time()`; a stage that calls itself counts once, stages nest (the reduction
runs inside `_make_inputs`), so the rows do not add up. The paired table, which a run
builds on a second thread when a core is free, is built on the one thread here, so that
each row is that stage's own CPU (the wall time the thread saves is bench/run.py's). Each
gate kind's row is all of its verdicts (evidence, wording). One warm-up run first, then
the median of `--repeat` runs; cyclic garbage collection is timed through `gc.callbacks`.
`Report.to_dict` is timed after each run, outside `run_gates`. cProfile is no substitute
here: it inflates the Python-heavy verdict code and charges collector pauses to whatever
line runs.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import gc
import importlib
import pkgutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import contenders  # noqa: E402
import generate  # noqa: E402

# (module, function or Class.method, what the row says)
STAGES = [
    ("mlops_gates.backends.memory", "MemoryBackend.table", "read: Parquet to a Table"),
    ("mlops_gates.gates.runner", "_make_inputs", "encode + reduce (_make_inputs)"),
    ("mlops_gates.sources.evaluation", "build_inputs", "  encode labels (build_inputs)"),
    ("mlops_gates.backends.memory", "reduce_frame", "  reduce (reduce_frame)"),
    ("mlops_gates.backends.grouping", "Grouping.of", "    groups (Grouping.of)"),
    ("mlops_gates.stats.reduce", "reduce_classification", "    count table"),
    ("mlops_gates.stats.scorebins", "ScoreBins.codes", "    score bins"),
    ("mlops_gates.stats.reduce", "reduce_scores", "    score tables, 2 models"),
    ("mlops_gates.stats.reduce", "reduce_joint_scores", "    joint (paired) table"),
    ("mlops_gates.gates.common", "Context.table", "slicing tables (Context.table)"),
    ("mlops_gates.gates.common", "Context._score_table", "  score tables marginalized"),
    ("mlops_gates.stats.reduce", "marginalize_joint", "  joint table relabelled"),
    ("mlops_gates.gates.common", "Context.resampled", "bootstrap draws"),
    ("mlops_gates.gates.evidence", "metric_evidence", "metric evidence"),
    ("mlops_gates.stats.normal", "score_metric_se", "  DeLong (unpaired)"),
    ("mlops_gates.gates.evidence", "difference_evidence", "baseline evidence"),
    ("mlops_gates.stats.normal", "paired_roc_auc_difference_se", "  paired DeLong"),
    ("mlops_gates.gates.evidence", "parity_evidence", "fairness evidence"),
    ("mlops_gates.gates.detectable", "detectable", "detectable effects (MDE)"),
    ("mlops_gates.gates.judge", "Judge.findings", "wording the verdicts"),
    ("mlops_gates.gates.runner", "_report_context", "report context"),
    ("mlops_gates.stats.overview", "overview", "  overview"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--set",
        choices=tuple(contenders.GATE_SETS),
        default="full",
        help="the gate set: bench/run.py's mlops-gates (default), -parity or -metrics",
    )
    args = parser.parse_args(argv)
    data = generate.ensure(args.rows, args.seed)

    import pandas  # noqa: F401  (imports are not what is measured)
    import sklearn  # noqa: F401

    import mlops_gates
    from mlops_gates.backends import memory
    from mlops_gates.config import load_config
    from mlops_gates.gates import runner

    memory.THREAD_MIN_ROWS = sys.maxsize  # one thread: each stage's CPU, not two at once

    for info in pkgutil.walk_packages(mlops_gates.__path__, "mlops_gates."):
        if not info.name.endswith("__main__"):
            with contextlib.suppress(Exception):  # an optional extra missing: not timed
                importlib.import_module(info.name)
    now: collections.Counter[str] = collections.Counter()
    for module, name, label in STAGES:
        _wrap(importlib.import_module(module), name, label, now)
    judge = runner._judge

    def by_kind(gate: Any, run: Any) -> Any:
        t0 = time.process_time()
        try:
            return judge(gate, run)
        finally:
            now[f"gate kind {gate.kind}: all its verdicts"] += time.process_time() - t0

    runner._judge = by_kind
    collecting = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    seen: dict[str, list[float]] = collections.defaultdict(list)
    whole = []
    with tempfile.TemporaryDirectory(prefix="mlops-gates-bench-") as tmp:
        path = Path(tmp) / "mlops-gates.yaml"
        config_dict = contenders.gates_config(data.resolve(), **contenders.GATE_SETS[args.set])
        path.write_text(yaml.safe_dump(config_dict, sort_keys=False))
        config = load_config(path)
        runner.run_gates(config)  # warm-up
        gc.callbacks.append(on_gc)
        for _ in range(args.repeat):
            now.clear()
            collecting[0] = 0.0
            t0 = time.process_time()
            report = runner.run_gates(config)
            whole.append(time.process_time() - t0)
            t0 = time.process_time()
            report.to_dict()
            now["(after the run) Report.to_dict"] += time.process_time() - t0
            now["garbage collection"] += collecting[0]
            for key, value in now.items():
                seen[key].append(value)
        gc.callbacks.remove(on_gc)
    med = statistics.median
    print(
        f"{args.rows:,} rows, {len(report.gates)} verdicts: run_gates {med(whole):.3f} s CPU "
        f"(median of {len(whole)}: {', '.join(f'{w:.2f}' for w in whole)})"
    )
    order = [label for _, _, label in STAGES] + sorted(k for k in seen if k.startswith("gate"))
    order += ["garbage collection", "(after the run) Report.to_dict"]
    for key in order:
        if key in seen:
            print(f"  {med(seen[key]):6.3f}  {key}")
    return 0


def _wrap(module: Any, name: str, label: str, now: collections.Counter[str]) -> None:
    owner, attr = module, name
    if "." in name:
        cls, attr = name.split(".")
        owner = getattr(module, cls)
    raw = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
    kind = type(raw) if isinstance(raw, classmethod | staticmethod) else None
    original = raw.__func__ if kind else raw
    depth = [0]

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        depth[0] += 1
        t0 = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                now[label] += time.process_time() - t0

    setattr(owner, attr, kind(timed) if kind else timed)
    if owner is module:  # functions imported by name elsewhere in the package
        for mod_name, mod in list(sys.modules.items()):
            if mod_name.startswith("mlops_gates") and mod is not None:
                for key, value in list(vars(mod).items()):
                    if value is original:
                        setattr(mod, key, timed)


if __name__ == "__main__":
    raise SystemExit(main())
