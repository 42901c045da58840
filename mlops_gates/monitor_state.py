"""Monitoring across scheduled runs: running counts kept in a JSON file, judged anytime-valid.

A scheduled `monitor` that tests each window at a fixed level raises a false alarm on a
healthy model every few weeks per gate (docs/explanation/monitoring-over-time.md). With
``monitor.guarantee: anytime`` each run instead *extends* a sequence: the count metrics'
numerators and denominators of the new rows (recovered exactly from each verdict as
``observed x support``: support is the metric's own denominator) are added to running
totals (`stats.sequential.Running`) kept per verdict id in a state file that the monitor
workflow commits (or caches) between runs. Each verdict is then judged on the running
totals with a one-sided e-process against its bound, and e-BH across every verdict so
judged: the chance that *any* of them ever alarms while every metric stays on the good side
of its bound is at most ``alpha``, however many runs there are.

The sequence belongs to one deployed model version: when the version changes, or the file
is missing or unreadable, it starts over and the report says so.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_gates.stats.sequential import Running

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Report

__all__ = [
    "ANYTIME_METRICS",
    "SequenceState",
    "counts_of",
    "extend",
    "judge_over_time",
    "load_state",
    "parse_state",
    "save_state",
    "state_file",
]

STATE_VERSION = 1
# Count metrics: observed = hits / support, support the metric's own denominator, so the
# verdict carries its sufficient statistics. Score metrics (ROC AUC, log loss) are not
# proportions of rows and stay fixed-level.
ANYTIME_METRICS = frozenset(
    {
        "accuracy", "error_rate", "precision", "recall", "tpr", "tnr", "fpr", "fnr",
        "specificity", "npv", "selection_rate", "positive_rate",
    }
)  # fmt: skip
GUARANTEE_ANYTIME = (
    "anytime-valid: running counts since {since} ({runs} runs), one-sided beta-binomial "
    "e-process against the bound, e-BH over {k} verdicts at alpha {alpha:g}; the chance of "
    "ever a false alarm over every run is at most alpha"
)
GUARANTEE_FIXED = "fixed-level: this window alone; each run is a new chance of a false alarm"


@dataclass
class SequenceState:
    """The running counts of one deployed model version, per verdict id."""

    model: str | None
    started_at: str
    through: str | None = None  # timestamp of the newest row counted (with a time column)
    runs: int = 0
    streams: dict[str, Running] = field(default_factory=dict)

    def to_json(self) -> str:
        """The state file's text."""
        doc = {
            "mlops_gates_monitor_state": STATE_VERSION,
            "model": self.model,
            "started_at": self.started_at,
            "through": self.through,
            "runs": self.runs,
            "streams": {k: {"n": v.n, "hits": v.total} for k, v in sorted(self.streams.items())},
        }
        return json.dumps(doc, indent=2) + "\n"


def load_state(
    path: Path, *, model: str | None, now: str, any_model: bool = False
) -> tuple[SequenceState, str | None]:
    """The sequence to extend, and why it starts over (None when it goes on): no file yet,
    a file that is not a monitor state, or another deployed model version (not checked
    with ``any_model``)."""
    fresh = SequenceState(model=model, started_at=now)
    if not path.exists():
        return fresh, f"{path}: no monitor state yet; the sequence starts with this run"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return fresh, _unreadable(str(path), exc, "delete the file or restore it from git")
    return parse_state(
        text,
        where=str(path),
        model=model,
        now=now,
        any_model=any_model,
        fix="delete the file or restore it from git",
    )


def parse_state(
    text: str, *, where: str, model: str | None, now: str, any_model: bool = False, fix: str
) -> tuple[SequenceState, str | None]:
    """`load_state` on the text of a state document (a file, an MLflow artifact) that
    `where` names in messages; `fix` says how to silence a restart over a broken one."""
    fresh = SequenceState(model=model, started_at=now)
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("mlops_gates_monitor_state") != STATE_VERSION:
            raise ValueError("not written by mlops-gates monitor (no mlops_gates_monitor_state: 1)")
        streams = {}
        for key, value in dict(doc["streams"]).items():
            streams[str(key)] = Running.from_json(
                {"n": value["n"], "total": value["hits"], "lo": 0.0, "hi": 1.0},
                where=f"streams.{key}",
            )
        runs = doc["runs"]
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
            raise ValueError(f"runs: expected a whole number, got {runs!r}")
        state = SequenceState(
            model=doc["model"],
            started_at=str(doc["started_at"]),
            through=doc["through"],
            runs=runs,
            streams=streams,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return fresh, _unreadable(where, exc, fix)
    if state.model != model and not any_model:
        # Rows up to `through` were served by the old version: the new one starts after them.
        return replace(fresh, through=state.through), (
            f"{where}: the deployed model changed from {state.model} to {model}; the "
            "sequence starts over with this run"
        )
    return state, None


def _unreadable(where: str, exc: BaseException, fix: str) -> str:
    why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return (
        f"{where}: unreadable monitor state ({why}); the sequence starts over with this "
        f"run ({fix} to silence this)"
    )


def save_state(path: Path, state: SequenceState) -> None:
    """Write the state file atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(state.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def counts_of(report: Report) -> dict[str, tuple[int, int]]:
    """Each count-metric verdict's (denominator, numerator): ``support`` is the metric's own
    denominator, so ``observed x support`` recovers the numerator exactly."""
    out = {}
    for g in report.gates:
        counted = g.status in ("pass", "fail", "warn") and g.observed is not None
        if _anytime(g) and counted and g.support:
            out[g.id] = (int(g.support), round(float(g.observed) * int(g.support)))  # type: ignore[arg-type]
    return out


def extend(
    report: Report,
    state: SequenceState,
    *,
    counts: dict[str, tuple[int, int]],
    alpha: float,
    through: str | None,
) -> tuple[Report, SequenceState, dict[str, str]]:
    """Add this run's `counts` (verdict id -> (n, hits), from the rows new to the sequence)
    to the state and re-judge the report's count-metric verdicts on the running totals; the
    new report, the new state and each verdict's guarantee."""
    from mlops_gates.gates.unjudged import severe
    from mlops_gates.stats.sequential import e_bh, proportion_cs, proportion_evalue

    streams = dict(state.streams)
    for key, (n, hits) in counts.items():
        streams[key] = streams.get(key, Running()).add(n, float(hits))
    judged = [
        i
        for i, g in enumerate(report.gates)
        if _anytime(g) and g.id in streams and streams[g.id].n > 0
    ]
    new_state = replace(
        state, streams=streams, runs=state.runs + 1, through=through or state.through
    )
    gates = list(report.gates)
    evalues = []
    for i in judged:
        g, run = gates[i], streams[gates[i].id]
        side = "below" if g.bound is not None and g.bound.min is not None else "above"
        bound = g.bound.min if side == "below" else g.bound.max  # type: ignore[union-attr]
        evalues.append(
            float(proportion_evalue(run.total, run.n, float(bound), alternative=side))  # type: ignore[arg-type]
            if bound is not None and 0.0 < float(bound) < 1.0
            else math.nan
        )
    alarms = list(e_bh(evalues, alpha=alpha)) if evalues else []
    # One vectorised call for every confidence sequence (the ends are found by bisection).
    runs = [streams[gates[i].id] for i in judged]
    seqs = proportion_cs([r.total for r in runs], [r.n for r in runs], alpha=alpha)
    ends = {
        gates[i].id: (float(lo), float(hi))
        for i, lo, hi in zip(judged, seqs.lo, seqs.hi, strict=True)
    }
    guarantee = {g.id: GUARANTEE_FIXED for g in gates}
    text = GUARANTEE_ANYTIME.format(
        since=state.started_at, runs=new_state.runs, k=len(judged), alpha=alpha
    )
    for i, e, alarm in zip(judged, evalues, alarms, strict=True):
        g, run = gates[i], streams[gates[i].id]
        new_n, new_hits = counts.get(g.id, (0, 0))
        window = f"new rows {new_hits / new_n:.4g} on {new_n}" if new_n else "no new rows"
        if math.isnan(e):
            continue  # a bound of 0 or 1 has no e-process: the fixed verdict stands
        status = "fail" if alarm else "pass"
        side = (
            "below its min" if g.bound is not None and g.bound.min is not None else "above its max"
        )
        message = (
            f"{g.metric} {run.mean:.4g} on {run.n} rows since {state.started_at} "
            f"({window}); e-value {e:.3g}: "
            + (f"anytime-valid evidence that it is {side}" if alarm else "no anytime-valid alarm")
        )
        gates[i] = replace(
            g,
            status=severe(status, g.severity),  # type: ignore[arg-type]
            observed=run.mean,
            ci=ends[g.id],
            support=run.n,
            message=message,
            reason=("below_min" if side.startswith("below") else "above_max") if alarm else "ok",
            details={**g.details, "guarantee": "anytime", "e_value": e, "window": window},
        )
        guarantee[g.id] = text
    from mlops_gates.gates.result import Report as _Report

    new = replace(report, gates=gates, status=_Report.overall_status(gates, list(report.errors)))
    return new, new_state, guarantee


def _anytime(g: GateResult) -> bool:
    return g.kind == "metric" and (g.metric or "") in ANYTIME_METRICS and g.bound is not None


def state_file(config: Config) -> Path:
    """Where `monitor.state` is (relative paths: against the config file's folder)."""
    state = config.monitor.state
    base = config.source.parent if config.source is not None else Path.cwd()
    return state if state.is_absolute() else base / state


def judge_over_time(
    report: Report,
    config: Config,
    labeled: pd.DataFrame,
    *,
    time_column: str | None,
    now: str,
    version: str | None,
    folder: Path,
    store: str | None = None,
) -> Report:
    """The monitoring report with its count-metric verdicts judged on the running sequence:
    the labelled rows of the window that are new to it (newer than the state's `through`)
    are reduced by the same gates, added, and judged anytime-valid (docs/monitor.md).
    The state is kept in ``store`` (default ``monitor.store``): the state file, or MLflow
    (`monitor_store`)."""
    import hashlib

    import pandas as pd

    from mlops_gates.config import DataConfig
    from mlops_gates.gates.runner import run_gates

    file = state_file(config)
    candidate = dict(report.context.get("models", {}).get("candidate") or {})
    model = version or (
        f"{candidate['name']}/{candidate['version']}"
        if candidate.get("name") and candidate.get("version")
        else candidate.get("digest") or candidate.get("uri") or config.candidate.model
    )
    model = None if model is None else str(model)
    in_mlflow = (store or config.monitor.store) == "mlflow"
    handle = None
    if in_mlflow:
        from mlops_gates.monitor_store import FIX, open_state

        # The registry name and version tag the MLflow run; --model-version "name/3" says
        # them for logged prediction columns.
        name, _, number = (model or "").rpartition("/")
        opened = open_state(
            config,
            model=model,
            name=candidate.get("name") or name or None,
            version=str(candidate.get("version") or number) if model else None,
        )
        handle = opened.handle
        if opened.text is None:
            state = SequenceState(model=model, started_at=now, through=opened.through)
            restart = opened.why
        else:
            where = f"{handle.where}, artifact {handle.head}"
            state, restart = parse_state(opened.text, where=where, model=model, now=now, fix=FIX)
    else:
        state, restart = load_state(file, model=model, now=now)
    rows = labeled
    if time_column is not None and len(rows):
        stamps = pd.to_datetime(rows[time_column], utc=True, format="mixed")
        if state.through is not None:
            rows = rows[stamps > pd.Timestamp(state.through)].reset_index(drop=True)
            stamps = stamps[stamps > pd.Timestamp(state.through)]
    judged = {g.gate for g in report.gates}
    gates = [
        g
        for g in config.gates
        if g.id in judged and g.kind == "metric" and getattr(g, "metric", "") in ANYTIME_METRICS
    ]
    counts: dict[str, tuple[int, int]] = {}
    through = state.through
    if gates and len(rows):
        # The same gates on the new rows only, in memory (the rows are kept for inspection).
        kept = (folder / "sequence.parquet").resolve()
        rows.to_parquet(kept, index=False)
        memory = config.backend.model_copy(update={"engine": "memory"})
        sub = config.model_copy(
            update={
                "data": DataConfig(path=kept, format="parquet"),
                "gates": gates,
                "backend": memory,
            }
        )
        counts = counts_of(run_gates(sub, table=rows))
        if time_column is not None:
            # Full precision: a row in the same second as the newest counted one is new.
            through = pd.Timestamp(stamps.max()).isoformat().replace("+00:00", "Z")
    new, new_state, guarantees = extend(
        report, state, counts=counts, alpha=config.monitor.alpha, through=through
    )
    notes = list(handle.notes) if handle is not None else []
    if handle is not None:
        from mlops_gates.monitor_store import save_state as save_to_mlflow

        conflict = save_to_mlflow(
            handle, new_state.to_json(), runs=new_state.runs, through=new_state.through
        )
        if conflict is not None:
            notes.append(conflict)
    else:
        save_state(file, new_state)
    mon = dict(new.context.get("monitor") or {})
    if mon.get("outcome") in ("healthy", "retrain"):  # no_data / not_deployed stand
        mon["outcome"] = "healthy" if new.status == "pass" else "retrain"
    mon["retrain"] = mon.get("outcome") == "retrain"
    mon["reasons"] = [f"{g.id}: {g.message}" for g in new.gates if g.blocking] + list(new.errors)
    mon["guarantee"] = "anytime"
    mon["guarantees"] = guarantees
    mon["sequence"] = {
        "state": handle.where if handle is not None else str(file),
        "store": "mlflow" if handle is not None else "file",
        "model": new_state.model,
        "since": new_state.started_at,
        "runs": new_state.runs,
        "through": new_state.through,
        "new_rows": len(rows),
        "run_id": handle.run_id if handle is not None else None,
        "restarted": restart,
        "notes": notes,
        "digest": "sha256:" + hashlib.sha256(new_state.to_json().encode()).hexdigest(),
    }
    return replace(new, context={**new.context, "monitor": mon})
