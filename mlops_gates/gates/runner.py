"""`run_gates(config) -> Report`: the only way gates are evaluated.

The engine is opened once and the data read once, labels and predictions are encoded once,
rows are reduced once to per-group sufficient statistics; every gate then works on those
small tables. A gate that throws becomes an `error` verdict and the run goes on, so one
report shows everything.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates._text import excerpt
from mlops_gates._version import __version__
from mlops_gates.backends.base import open_backend
from mlops_gates.backends.memory import MemoryBackend
from mlops_gates.backends.sql_backend import SqlBackend
from mlops_gates.config import (
    BaselineGate,
    BehaviourGate,
    Config,
    DriftGate,
    FairnessGate,
    MetricGate,
    SchemaGate,
    SkewGate,
    StalenessGate,
    gate_id,
)
from mlops_gates.errors import MlopsGatesError
from mlops_gates.gates.baseline import evaluate_baseline
from mlops_gates.gates.common import Context, error_result, slicings
from mlops_gates.gates.fairness import evaluate_fairness
from mlops_gates.gates.metric import evaluate_metric
from mlops_gates.gates.needs import needs_inputs
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.unjudged import floor_gates, nothing_judged
from mlops_gates.sources import mlflow_models  # registers the models:/ and runs:/ loaders
from mlops_gates.sources.data import Table, file_digest, require_columns
from mlops_gates.sources.evaluation import EvalData, build_inputs
from mlops_gates.sources.models import start_notices
from mlops_gates.stats.overview import overview

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.backends.profiles import SqlTable


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
    """Evaluate every gate with the engine opened once; the report and the encoded inputs."""
    with open_backend(config, rows=table) as backend:
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
    data: EvalData | None = None
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
            table = backend.table()
            fingerprint["data"] = backend.digest()
        except MlopsGatesError as exc:
            errors.append(str(exc))
    rows = ctx.reduced.n_rows if ctx else None if table is None else len(table)
    no_rows = _no_rows(data_path, rows)
    if no_rows is not None:  # no rows, no verdict: every gate that needs rows says why
        errors.append(no_rows)
        ctx = None

    # Schema gates need only the table, so they run even when predictions cannot be made.
    inputs_error: str | None = errors[0] if errors else None  # (no rows included)
    no_baseline: str | None = None  # why a registry baseline does not exist yet
    inputs_config = config
    if table is not None:
        for gate in config.gates:
            if isinstance(gate, SchemaGate):
                from mlops_gates.gates.schema import evaluate_schema

                check = partial(evaluate_schema, gate, config, table.frame)
                results.extend(_guard(gate, check))
    # Gates that read only the table (schema, feature drift) need no labels or models: a
    # config made of those alone (monitoring unlabelled production rows) must not fail on
    # a label column it never uses.
    if table is not None and no_rows is None and any(needs_inputs(g) for g in config.gates):
        # models:/ and runs:/ resolve against this config's MLflow. A baseline alias that is
        # not set yet (the first model) is "no baseline", not an error.
        with mlflow_models.resolving(config):
            no_baseline = mlflow_models.absent_baseline(config)
            if no_baseline is not None:
                inputs_config = config.model_copy(update={"baseline": None})
            try:
                data = build_inputs(inputs_config, table, data_path)
            except Exception as exc:
                inputs_error = _describe(exc, "reading labels and predictions")
                errors.append(inputs_error)

    if data is not None:
        fingerprint["models"] = {k: v.get("digest") for k, v in data.models.items()}
        try:
            ctx = Context(config, backend.reduce(data), data)
        except Exception as exc:
            inputs_error = _describe(exc, "reducing the data")
            errors.append(inputs_error)

    for gate in config.gates:
        if isinstance(gate, SchemaGate):
            continue
        if sql is not None and isinstance(gate, DriftGate | StalenessGate):
            # Reduced where the data live, like the metrics: counts into the reference's
            # bins, the newest timestamp (backends/profiles.py).
            models = ctx.reduced.models if ctx else None
            at_scale = partial(_at_scale, gate, config, sql, models, inputs_error)
            results.extend(_guard(gate, at_scale))
            continue
        if isinstance(gate, BaselineGate):
            base = partial(_baseline, gate, ctx, data, inputs_config, inputs_error)
            results.extend(_name_missing_baseline(_guard(gate, base), gate, no_baseline))
            continue
        if isinstance(gate, StalenessGate):
            from mlops_gates.gates.staleness import evaluate_staleness

            frame = None if table is None else table.frame
            stale = partial(
                evaluate_staleness, gate, frame, data, inputs_error, data_path=data_path
            )
            results.extend(_guard(gate, stale))
            continue
        if isinstance(gate, DriftGate):
            # Drift needs only the table (and, for the model's output, the predictions).
            from mlops_gates.gates.drift import evaluate_drift

            frame = None if table is None else table.frame
            drift = partial(evaluate_drift, gate, config, frame, data, inputs_error)
            results.extend(_guard(gate, drift))
            continue
        if isinstance(gate, SkewGate):
            # Skew compares two other tables; the evaluation data play no part.
            from mlops_gates.gates.skew import evaluate_skew

            results.extend(_guard(gate, partial(evaluate_skew, gate, config)))
            continue
        if isinstance(gate, BehaviourGate):
            from mlops_gates.gates.behaviour import evaluate_behaviour

            with mlflow_models.resolving(config):
                behave = partial(evaluate_behaviour, gate, config, data, inputs_error)
                results.extend(_guard(gate, behave))
            continue
        if ctx is None:
            results.append(
                error_result(
                    gate_id(gate),
                    gate.kind,
                    gate.severity,
                    f"not evaluated: {inputs_error}",
                    metric=getattr(gate, "metric", None),
                )
            )
            continue
        if not isinstance(gate, MetricGate | FairnessGate):  # a kind registered elsewhere
            msg = f"not evaluated: no evaluator for gate kind {gate.kind!r}"
            results.append(error_result(gate.id, gate.kind, gate.severity, msg))
            continue
        results.extend(_guard(gate, partial(_dispatch, gate, ctx)))

    # No verdict, no pass: a gate or run that judged nothing is an error (gates/unjudged.py).
    results = floor_gates(config, results)
    if (nothing := nothing_judged(config, results)) is not None:
        errors.append(nothing)
    # Order follows the config; the gate's own results keep their slice order.
    order = {gate_id(g): i for i, g in enumerate(config.gates)}
    results.sort(key=lambda r: order.get(r.gate, len(order)))
    models = dict(data.models) if data else dict(ctx.reduced.models) if ctx else {}
    if no_baseline is not None:
        models["baseline"] = {"uri": _baseline_ref(config), "missing": no_baseline}
    context = {
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
            "path": str(data_path),
            "rows": ctx.reduced.n_rows if ctx else None if table is None else len(table),
        },
        "reduction": ctx.reduced.describe() if ctx else None,
        # Small tables the pictures need (report/plots.py draws from the report, never rows).
        "overview": overview(ctx.reduced.stats, ctx.reduced.scores, ctx.reduced.classes)
        if ctx
        else None,
        "models": models,
        "statistics": config.statistics.model_dump(),
        "duration_s": round(time.perf_counter() - t0, 3),
    }
    report = Report(
        status=Report.overall_status(results, errors),
        started_at=started,
        finished_at=_now(),
        fingerprint=fingerprint,
        gates=results,
        errors=errors,
        context=context,
        warnings=list(notices),
    )
    return Evaluation(report, data)


def _no_rows(path: Path, rows: int | None) -> str | None:
    if rows != 0:
        return None
    return (
        f"{path}: the data has no rows (a header only?); every gate needs rows to judge: "
        "check `data.path` and the step that wrote the file"
    )


def _name_missing_baseline(
    verdicts: list[GateResult], gate: BaselineGate, why: str | None
) -> list[GateResult]:
    """Say which registry alias is missing, where the gate says "no baseline configured"."""
    if why is None:
        return verdicts
    from dataclasses import replace

    message = f"{why}; treated as no baseline, outcome set by if_no_baseline: {gate.if_no_baseline}"
    return [replace(v, message=message) if v.reason == "no_baseline" else v for v in verdicts]


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
        where = f"gate {gate_id(gate)!r}"
        require_columns(list(table.types), [column], where=where, path=table.where)
        return table.newest(column)

    return evaluate_staleness_on(gate, newest, models, inputs_error)


def _check_columns(gate: MetricGate | BaselineGate | FairnessGate, ctx: Context) -> None:
    if isinstance(gate, FairnessGate):
        cols = [*gate.control, gate.sensitive]
    else:
        cols = [c for s in slicings(False, gate.slices) for c in s]
    where = ctx.data.path if ctx.data else ctx.config.data_path
    require_columns(list(ctx.reduced.columns), cols, where=f"gate {gate_id(gate)!r}", path=where)


def _dispatch(gate: MetricGate | FairnessGate, ctx: Context) -> list[GateResult]:
    _check_columns(gate, ctx)
    _check_scores(gate.metric, ctx, baseline=False)
    if isinstance(gate, MetricGate):
        return evaluate_metric(gate, ctx)
    return evaluate_fairness(gate, ctx)


def _baseline(
    gate: BaselineGate,
    ctx: Context | None,
    data: EvalData | None,
    config: Config,
    inputs_error: str | None,
) -> list[GateResult]:
    if config.baseline is not None and ctx is None:
        return evaluate_baseline(gate, None, f"not evaluated: {inputs_error}", True)
    if ctx is not None:
        _check_columns(gate, ctx)
        if config.baseline is not None and ctx.reduced.baseline_error is None:
            _check_scores(gate.metric, ctx, baseline=True)
    why = ctx.reduced.baseline_error if ctx else data.baseline_error if data else inputs_error
    return evaluate_baseline(gate, ctx, why, config.baseline is not None)


def _check_scores(metric: str, ctx: Context, *, baseline: bool) -> None:
    from mlops_gates.config import SCORE_METRICS
    from mlops_gates.errors import DataError

    if metric not in SCORE_METRICS:
        return
    roles = ["candidate"] + (["baseline"] if baseline else [])
    for role in roles:
        if ctx.reduced.scores.get(role) is None:
            raise DataError(
                f"{metric} needs scores, but the {role} gives none: use a model with "
                f"predict_proba, or add `scores: <column>` to `{role}`"
            )
        lo, hi = ctx.reduced.score_range.get(role, (0.0, 0.0))
        if metric in ("log_loss", "brier") and (lo < 0 or hi > 1):
            raise DataError(
                f"{metric} needs probabilities, but the {role} scores leave [0, 1] "
                f"(min {lo:.4g}, max {hi:.4g})"
            )


def _describe(exc: Exception, doing: str) -> str:
    if isinstance(exc, MlopsGatesError):
        return str(exc)
    # A bug, or a library surprise: still one report, with enough to file an issue (and
    # no more: a library's message may quote the file it choked on).
    said = excerpt(exc, 300)
    return f"internal error while {doing} ({type(exc).__name__}: {said}); please report it"


def _guard(gate: Any, fn: Callable[[], list[GateResult]]) -> list[GateResult]:
    """Run one gate; whatever it raises becomes an `error` verdict, never a crash."""
    gid = gate_id(gate)
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
