"""`run_gates(config) -> Report`: the only way gates are evaluated.

The engine is opened once and the data read once, labels and predictions are encoded once
(each model loaded once), rows are reduced once to per-group sufficient statistics; every
gate then works on those small tables, through its kind's evaluator (`gates/base.py`). Only
what some gate reads is made; a gate whose needs could not be met, or that throws, becomes
an `error` verdict and the run goes on, so one report shows everything. Severity is applied
here, once for every kind.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates._gc import rare_collections
from mlops_gates._text import excerpt
from mlops_gates._version import __version__
from mlops_gates.backends.base import open_backend
from mlops_gates.backends.memory import MemoryBackend
from mlops_gates.backends.sql_backend import SqlBackend
from mlops_gates.config import Config, DriftGate, SchemaGate, StalenessGate
from mlops_gates.errors import MlopsGatesError
from mlops_gates.gates.base import NEEDS, Run, evaluator_for, not_evaluated
from mlops_gates.gates.common import Context, error_result
from mlops_gates.gates.needs import needs_inputs
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.unjudged import floor_gates, nothing_judged, settle
from mlops_gates.sources import mlflow_models  # registers the models:/ and runs:/ loaders
from mlops_gates.sources.data import Table, file_digest, require_columns
from mlops_gates.sources.evaluation import EvalData, build_inputs
from mlops_gates.sources.models import start_notices
from mlops_gates.stats.overview import overview, worst_key

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.backends.profiles import SqlTable

__all__ = ["Evaluation", "evaluate", "run_gates"]

# With an engine (backend.engine duckdb or spark), these kinds are computed where the data
# live (`_at_scale`), and schema gates are judged on the engine's sample while it reduces.
_AT_SCALE = ("drift", "staleness")
_WHILE_REDUCING = ("schema",)


@dataclass
class Evaluation:
    """A finished run: the report, plus the loaded inputs for custom gates."""

    report: Report
    data: EvalData | None


def run_gates(config: Config, *, table: pd.DataFrame | None = None) -> Report:
    """Evaluate every configured gate and return the report.

    `table`: the evaluation rows, already in memory, instead of reading `data.path`; the
    memory engine judges them (the report warns when `backend.engine` says otherwise), and
    `data.path` only names them in messages and the report, so name them honestly.
    `fingerprint.data` is then None: no file was read."""
    return evaluate(config, table=table).report


def evaluate(config: Config, *, table: pd.DataFrame | None = None) -> Evaluation:
    """Evaluate every gate with the engine opened once; the report and the encoded inputs.
    The garbage collector runs as in `mlops-gates check` meanwhile, whoever calls
    (`_gc.rare_collections`): a run allocates a lot once."""
    with rare_collections(), open_backend(config, rows=table) as backend:
        return _evaluate(config, backend)


def _evaluate(config: Config, backend: MemoryBackend | SqlBackend) -> Evaluation:
    started = _now()
    t0 = time.perf_counter()
    notices = start_notices()  # model loads add theirs (a pickle was trusted, ...)
    notices.extend(backend.notes)  # e.g. rows given in memory under another engine
    errors: list[str] = []
    results: list[GateResult] = []
    data_path = config.data_path
    table: Table | None = None
    fingerprint: dict[str, Any] = {
        "config": file_digest(config.source) if config.source else None,
        "data": None,
        "code": _git_commit(config.source.parent if config.source else Path.cwd()),
        "models": {},
    }

    ctx: Context | None = None
    sql: SqlBackend | None = None  # SQL engines reduce where the data lives: no frame
    if isinstance(backend, SqlBackend):
        sql = backend
        try:
            ctx = _reduce_at_scale(config, sql, fingerprint, results)
        except Exception as exc:
            errors.append(_describe(exc, "reducing the data"))
    else:
        try:
            # Gates that read only the reduced tables let the file stream by (#25).
            streamed = backend.stream()
            if streamed is not None:
                ctx = Context(config, streamed)
            else:
                table = backend.table()
            fingerprint["data"] = backend.digest()
        except MlopsGatesError as exc:
            errors.append(str(exc))
    rows = ctx.reduced.n_rows if ctx else None if table is None else len(table)
    no_rows = _no_rows(data_path, rows)
    if no_rows is not None:  # no rows, no verdict: every gate that needs rows says why
        errors.append(no_rows)
        ctx = None

    run = Run(config, data_path, table=table, reduced=ctx)
    if errors:  # (no rows included)
        run.why = dict.fromkeys(NEEDS, errors[0])
    elif sql is not None:
        held = (
            f"with backend.engine: {config.backend.engine} the rows stay in the engine, and "
            "this gate reads them in memory; use backend.engine: memory for it"
        )
        run.why = {"table": held, "inputs": held, "candidate_model": held}
    if no_rows is None:
        _make_inputs(run, backend, errors)
    if run.inputs is not None:
        fingerprint["models"] = {k: v.get("digest") for k, v in run.inputs.models.items()}

    for gate in config.gates:
        if sql is not None and gate.kind in _WHILE_REDUCING:
            continue
        if sql is not None and gate.kind in _AT_SCALE:
            # Reduced where the data live, like the metrics: counts into the reference's
            # bins, the newest timestamp (backends/profiles.py).
            assert isinstance(gate, DriftGate | StalenessGate)
            models = run.reduced.reduced.models if run.reduced else None
            unread = run.why.get("inputs")
            at_scale = partial(_at_scale, gate, config, sql, models, unread)
            results.extend(_guard(gate, at_scale))
            continue
        results.extend(_judge(gate, run))

    # No verdict, no pass: a gate or run that judged nothing is an error (gates/unjudged.py);
    # then each verdict gets its gate's severity, once for every kind.
    results = floor_gates(config, results)
    gates = {g.id: g for g in config.gates}
    results = [settle(gates.get(r.gate), r) for r in results]
    if (nothing := nothing_judged(config, results)) is not None:
        errors.append(nothing)
    # Order follows the config; the gate's own results keep their slice order.
    order = {g.id: i for i, g in enumerate(config.gates)}
    results.sort(key=lambda r: order.get(r.gate, len(order)))
    if ctx is not None:
        ctx.release()  # every gate is judged: the context reads the reduced tables only
    report = Report(
        status=Report.overall_status(results, errors),
        started_at=started,
        finished_at=_now(),
        fingerprint=fingerprint,
        gates=results,
        errors=errors,
        context=_report_context(run, round(time.perf_counter() - t0, 3), results),
        warnings=list(notices),
    )
    return Evaluation(report, run.inputs)


def _make_inputs(run: Run, backend: MemoryBackend | SqlBackend, errors: list[str]) -> None:
    """Encode labels and predictions (loading the models once) and reduce them, when a
    gate reads them: a config of schema and feature-drift gates alone (monitoring
    unlabelled production rows) must not fail on a label column it never uses."""
    config, table = run.config, run.table
    if table is None or not any(needs_inputs(g) for g in config.gates):
        return
    # models:/ and runs:/ resolve against this config's MLflow. A baseline alias that is
    # not set yet (the first model) is "no baseline", not an error.
    with mlflow_models.resolving(config):
        run.no_baseline = mlflow_models.absent_baseline(config)
        inputs_config = config
        if run.no_baseline is not None:
            inputs_config = config.model_copy(update={"baseline": None})
        try:
            data = build_inputs(inputs_config, table, run.data_path)
        except Exception as exc:
            why = _describe(exc, "reading labels and predictions")
            run.why.update({"inputs": why, "reduced": why, "candidate_model": why})
            errors.append(why)
            return
    run.inputs, run.candidate_model = data, data.candidate_model
    if data.candidate_model is None:
        run.why["candidate_model"] = (
            "the candidate is a column of predictions (`candidate.predictions`), not a model "
            "to call; give `candidate.model`"
        )
    try:
        run.reduced = Context(config, backend.reduce(data), data)
    except Exception as exc:
        run.why["reduced"] = _describe(exc, "reducing the data")
        errors.append(run.why["reduced"])


def _report_context(run: Run, duration_s: float, results: list[GateResult]) -> dict[str, Any]:
    """The report's `context`: tool, task, data, reduction, models, statistics."""
    config, ctx, data, table = run.config, run.reduced, run.inputs, run.table
    models = dict(data.models) if data else dict(ctx.reduced.models) if ctx else {}
    if run.no_baseline is not None:
        models["baseline"] = {"uri": _baseline_ref(config), "missing": run.no_baseline}
    return {
        "tool": {"name": "mlops-gates", "version": __version__},
        "config_path": str(config.source) if config.source else None,
        "task": {
            "type": config.task.type,
            "label": config.task.label,
            "classes": [str(c) for c in ctx.reduced.classes]
            if ctx and config.task.type != "regression"
            else [str(c) for c in data.classes]
            if data
            else None,
        },
        "data": {
            "path": str(run.data_path),
            "rows": ctx.reduced.n_rows if ctx else None if table is None else len(table),
        },
        "reduction": ctx.reduced.describe(widest_judged=_widest_widening(results)) if ctx else None,
        # Small tables the pictures need (report/plots.py draws from the report, never rows).
        "overview": _overview(ctx, results) if ctx else None,
        "models": models,
        "statistics": config.statistics.model_dump(),
        "duration_s": duration_s,
    }


def _widest_widening(results: list[GateResult]) -> float | None:
    """The largest ``se_widening_bound`` the paired verdicts on a coarse grid state."""
    stated = [r.details.get("se_widening_bound") for r in results if r.kind == "baseline"]
    known = [w for w in stated if isinstance(w, float)]
    return max(known) if known else None


def _overview(ctx: Context, results: list[GateResult]) -> dict[str, Any] | None:
    # The metric verdicts pick the slices that get their own ROC / PR curves (the worst).
    keys = ctx.reduced.score_grouping.keys
    return overview(
        ctx.reduced.stats,
        ctx.reduced.scores,
        ctx.reduced.classes,
        verdicts=[_as_ranked(r) for r in _worst_of_each_slice(results)],
        group_keys={str(c): keys[c].to_numpy(dtype=object) for c in keys.columns},
        whole={model: ctx.reduced.whole_scores(model) for model in ctx.reduced.scores},
    )


def _worst_of_each_slice(results: list[GateResult]) -> list[GateResult]:
    """Of the metric verdicts on each slice (six gates share the slices), the one the
    overview ranks worst, in report order: the overview keeps only the worst verdict of a
    slice, so the others need no conversion (1,158 verdicts a 1M-row run; 4 ms, not 0.5).
    Ties keep the first, as the overview's stable sort does. Slices are told apart by
    identity (the gates of one slicing share its slice dicts): equal slices that are other
    objects only let more verdicts through, and the overview keeps each slice once by value."""
    worst: dict[int, tuple[tuple[int, float], int, GateResult]] = {}
    for n, r in enumerate(results):
        if r.kind != "metric" or not r.slice:
            continue
        observed, bound = r.observed, r.bound
        if observed is not None and not math.isfinite(observed):
            observed = None  # as report.json holds it
        low, high = (None, None) if bound is None else (bound.min, bound.max)
        key = worst_key(r.status, observed, low, high)
        kept = worst.get(id(r.slice))
        if kept is None or key < kept[0]:
            worst[id(r.slice)] = (key, n, r)
    return [r for _, _, r in sorted(worst.values(), key=lambda kept: kept[1])]


def _as_ranked(result: GateResult) -> dict[str, Any]:
    """The four keys of a verdict the overview ranks slices by, as report.json holds them:
    `to_dict()` would convert every detail of a thousand verdicts for these."""
    from mlops_gates._values import jsonable

    observed, bound = result.observed, result.bound
    return {
        "slice": jsonable(result.slice),
        "observed": None if observed is None or not math.isfinite(observed) else float(observed),
        "bound": None if bound is None else {"min": bound.min, "max": bound.max},
        "status": result.status,
    }


def _no_rows(path: Path, rows: int | None) -> str | None:
    if rows != 0:
        return None
    return (
        f"{path}: the data has no rows (a header only?); every gate needs rows to judge: "
        "check `data.path` and the step that wrote the file"
    )


def _baseline_ref(config: Config) -> str | None:
    return config.baseline.model if config.baseline is not None else None


def _reduce_at_scale(
    config: Config, backend: SqlBackend, fingerprint: dict[str, Any], results: list[GateResult]
) -> Context:
    """Reduce with an out-of-core or Spark backend; schema gates check a seeded sample of
    `backend.sample_rows` rows (one pass, the pandera schema as it is: docs/scale.md), and
    SQL counts what it can over every row."""
    from dataclasses import replace

    reduced = backend.reduce()
    digest = backend.digest()
    sample = None
    if any(isinstance(g, SchemaGate) for g in config.gates):
        sample = backend.sample(config.backend.sample_rows, config.statistics.seed)
    fingerprint["data"] = digest
    if sample is not None:
        from mlops_gates.gates.schema import evaluate_schema

        for gate in config.gates:
            if isinstance(gate, SchemaGate):
                full = partial(_schema_over_all_rows, backend.table(), gate.max_failure_cases)
                check = partial(
                    evaluate_schema, gate, config, sample, all_rows=full, rows=reduced.n_rows
                )
                results.extend(
                    replace(
                        v,
                        details={**v.details, "sample_rows": len(sample), "rows": reduced.n_rows},
                    )
                    for v in _guard(gate, check)
                )
    return Context(config, reduced)


def _schema_over_all_rows(table: SqlTable, max_cases: int, schema: Any) -> Any:
    """The schema checks SQL can count over every row (backends/schema_sql.py)."""
    from mlops_gates.backends.schema_sql import run_full_checks

    return run_full_checks(schema, table, max_cases=max_cases)


def _at_scale(
    gate: DriftGate | StalenessGate,
    config: Config,
    backend: SqlBackend,
    models: dict[str, dict[str, Any]] | None,
    inputs_error: str | None,
) -> list[GateResult]:
    """A drift or staleness gate on the engine's table of the evaluation data."""
    from mlops_gates.backends.drift_source import TableSource

    table = backend.table()
    if isinstance(gate, DriftGate):
        from mlops_gates.gates.drift import evaluate_drift_on

        return evaluate_drift_on(gate, config, TableSource(config, table, backend.open_table))
    from mlops_gates.gates.staleness import evaluate_staleness_on

    def newest(column: str) -> tuple[datetime | None, int, int]:
        where = f"gate {gate.id!r}"
        require_columns(list(table.types), [column], where=where, path=table.where)
        return table.newest(column)

    return evaluate_staleness_on(gate, newest, models, inputs_error)


def _describe(exc: Exception, doing: str) -> str:
    if isinstance(exc, MlopsGatesError):
        return str(exc)
    # A bug, or a library surprise: still one report, with enough to file an issue (and
    # no more: a library's message may quote the file it choked on).
    said = excerpt(exc, 300)
    return f"internal error while {doing} ({type(exc).__name__}: {said}); please report it"


def _judge(gate: Any, run: Run) -> list[GateResult]:
    """One gate by its kind's evaluator; a need the run could not meet is its one `error`."""
    gid = gate.id
    metric = getattr(gate, "metric", None)
    try:
        evaluator = evaluator_for(gate.kind)
    except MlopsGatesError as exc:
        return [error_result(gid, gate.kind, gate.severity, f"{gid}: {exc}", metric=metric)]
    why = run.missing(evaluator.needs(gate))
    if why is not None:
        message = f"{gid}: {not_evaluated(why)}"
        return [error_result(gid, gate.kind, gate.severity, message, metric=metric)]
    return _guard(gate, partial(evaluator.evaluate, gate, run))


def _guard(gate: Any, fn: Callable[[], list[GateResult]]) -> list[GateResult]:
    """Run one gate; whatever it raises becomes an `error` verdict, never a crash."""
    gid = gate.id
    try:
        return fn()
    except Exception as exc:
        message = _describe(exc, "evaluating the gate")
    return [
        error_result(
            gid, gate.kind, gate.severity, f"{gid}: {message}", metric=getattr(gate, "metric", None)
        )
    ]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
