"""`behaviour` gate: evaluate the properties and cases against the run's candidate."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_gates._values import plain
from mlops_gates.config import (
    BehaviourGate,
    Config,
    DirectionalCheck,
    InvarianceCheck,
)
from mlops_gates.errors import DataError, MlopsGatesError, ModelError
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.behaviour.cases import evaluate_cases
from mlops_gates.gates.behaviour.model import Candidate
from mlops_gates.gates.behaviour.rows import Row, RowSource, data_rows, same, schema_rows, show
from mlops_gates.gates.behaviour.strategies import NO_EXAMPLES, collect, shrink
from mlops_gates.gates.common import error_result
from mlops_gates.gates.judge import Finding, Judge, result_id
from mlops_gates.gates.result import Bound, GateResult, fmt, slice_label
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.sources.models import LoadedModel, model_features
from mlops_gates.stats.intervals import wilson_interval

__all__ = ["check_kind", "describe", "evaluate", "evaluate_behaviour"]

P = ParamSpec("P")
R = TypeVar("R")


# The candidate is the one the run loaded to predict (a registry alias resolves once).
@register("behaviour", needs=("inputs", "candidate_model"))
def evaluate(gate: BehaviourGate, run: Run) -> list[GateResult]:
    """The gate on the run's candidate model and evaluation rows."""
    return evaluate_behaviour(gate, run.config, run.need("inputs"), run.need("candidate_model"))


def evaluate_behaviour(
    gate: BehaviourGate, config: Config, data: EvalData, loaded: LoadedModel
) -> list[GateResult]:
    """Each invariance and directional property, then the cases, one verdict each."""
    gid = gate.id
    model = _candidate(config, data, loaded)
    seed = gate.seed if gate.seed is not None else config.statistics.seed
    out: list[GateResult] = []
    source: RowSource | None = None
    source_error: str | None = None
    if gate.invariance or gate.directional:
        wanted = [*model.features]
        for c in [*(i.column for i in gate.invariance), *(d.column for d in gate.directional)]:
            if c not in wanted:
                wanted.append(c)
        try:
            source = _source(gate, config, data, wanted)
        except MlopsGatesError as exc:
            source_error = str(exc)
    checks: list[InvarianceCheck | DirectionalCheck] = [*gate.invariance, *gate.directional]
    for check in checks:
        slc = {check_kind(check): check.column}
        if source is None:
            out.append(_error(gate, gid, slc, source_error or "no example rows"))
            continue
        try:
            if isinstance(check, InvarianceCheck):
                out.append(_invariance(gate, check, gid, config, model, source, seed))
            else:
                out.append(_directional(gate, check, gid, config, model, source, seed))
        except MlopsGatesError as exc:
            out.append(_error(gate, gid, slc, str(exc)))
    if gate.cases:
        try:
            out.extend(evaluate_cases(gate, gid, model, data))
        except MlopsGatesError as exc:
            out.extend(_error(gate, gid, {"case": c.name}, str(exc)) for c in gate.cases)
    return out


def check_kind(check: InvarianceCheck | DirectionalCheck) -> str:
    """The slice key of a property's verdict: invariance or directional."""
    return "invariance" if isinstance(check, InvarianceCheck) else "directional"


def _candidate(config: Config, data: EvalData, loaded: LoadedModel) -> Candidate:
    mc = config.candidate
    positive = data.classes[1] if data.task == "binary" else None
    return Candidate(loaded, model_features(loaded, mc.features), data.task, positive)


def _source(gate: BehaviourGate, config: Config, data: EvalData, columns: list[str]) -> RowSource:
    schema = None
    if gate.schema_ is not None:
        from mlops_gates.gates.schema import load_schema

        schema = load_schema(gate.schema_, config)
    if gate.rows == "data":
        return data_rows(data.frame, str(data.path), columns, schema)
    assert gate.schema_ is not None
    return schema_rows(schema, gate.schema_, columns, data.frame)


def _columns(model: Candidate, column: str) -> list[str]:
    return model.features + ([column] if column not in model.features else [])


# --- invariance ---------------------------------------------------------------------------


def _invariance(
    gate: BehaviourGate,
    check: InvarianceCheck,
    gid: str,
    config: Config,
    model: Candidate,
    source: RowSource,
    seed: int,
) -> GateResult:
    from hypothesis import strategies as st

    col = check.column
    values = st.sampled_from(check.values) if check.values else source.values(col)
    rows = source.rows(_columns(model, col))
    pairs = st.tuples(rows, values).filter(lambda p: not same(p[0][col], p[1]))
    limit = check.max_score_change
    if limit is None and model.task == "regression":
        limit = 0.0

    def changed(before: tuple[Any, Any], after: tuple[Any, Any]) -> bool:
        if limit is None:
            return not same(before[0], after[0])
        if before[1] is None or after[1] is None:
            raise ModelError(
                f"max_score_change needs scores, and model {model.loaded.ref!r} has no "
                f"predict_proba; remove it to count label changes"
            )
        return bool(abs(after[1] - before[1]) > limit)

    def perturb(pair: tuple[Row, Any]) -> tuple[Row, Row]:
        row, value = pair
        return row, {**row, col: value}

    def sample(rng: np.random.Generator) -> list[tuple[Row, Any]]:
        out = []
        for row in source.draw(_columns(model, col), gate.max_examples, rng):
            if check.values:
                others = [v for v in check.values if not same(v, row[col])]
                value = others[int(rng.integers(len(others)))] if others else None
            else:
                value = source.other_value(col, row[col], rng)
            if value is not None:
                out.append((row, value))
        return out

    return _property(
        gate,
        gid,
        config,
        model,
        source,
        seed,
        slc={"invariance": col},
        what=f"share of predictions changed by replacing {col}",
        bound=Bound(max=check.max_flip_rate),
        strategy=pairs,
        perturb=perturb,
        broken=changed,
        details={"property": "invariance", "column": col, "max_score_change": limit},
        column=col,
        sample=sample if source.kind == "data" else None,
    )


# --- directional --------------------------------------------------------------------------


def _directional(
    gate: BehaviourGate,
    check: DirectionalCheck,
    gid: str,
    config: Config,
    model: Candidate,
    source: RowSource,
    seed: int,
) -> GateResult:
    col, delta = check.column, check.delta
    dtype = source.dtypes.get(col, object)
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise DataError(f"directional: column {col!r} is {dtype}, not numeric; it cannot be raised")
    if pd.api.types.is_integer_dtype(dtype) and not float(delta).is_integer():
        raise DataError(
            f"directional: column {col!r} holds integers, so `delta` must be a whole number "
            f"(got {delta})"
        )
    step: int | float = int(delta) if pd.api.types.is_integer_dtype(dtype) else delta

    def raisable(row: Row) -> bool:
        v = row[col]
        return not (v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))) and (
            source.accepts(col, v + step)
        )

    rows = source.rows(_columns(model, col)).filter(raisable)
    sign = 1.0 if check.direction == "increasing" else -1.0

    def wrong_way(before: tuple[Any, Any], after: tuple[Any, Any]) -> bool:
        if before[1] is None or after[1] is None:
            raise ModelError(
                f"directional checks need scores, and model {model.loaded.ref!r} has no "
                f"predict_proba"
            )
        return bool(sign * (after[1] - before[1]) < -check.tolerance)

    return _property(
        gate,
        gid,
        config,
        model,
        source,
        seed,
        slc={"directional": col},
        what=f"share of scores moving against {check.direction} {col}",
        bound=Bound(max=check.max_violation_rate),
        strategy=rows,
        perturb=lambda row: (row, {**row, col: row[col] + step}),
        broken=wrong_way,
        details={
            "property": "directional",
            "column": col,
            "direction": check.direction,
            "delta": delta,
            "tolerance": check.tolerance,
        },
        column=col,
        sample=(
            (lambda rng: source.draw(_columns(model, col), gate.max_examples, rng, raisable))
            if source.kind == "data"
            else None
        ),
    )


# --- the shared search ----------------------------------------------------------------------


def _one_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with native thread pools limited to one thread."""

    @functools.wraps(fn)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        # One row at a time (shrinking), thread start-up costs more than the prediction:
        # scikit-learn's HistGradientBoosting runs 6x faster on one thread here.
        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return limited


def _search(
    gate: BehaviourGate,
    gid: str,
    config: Config,
    model: Candidate,
    source: RowSource,
    seed: int,
    *,
    slc: dict[str, Any],
    what: str,
    bound: Bound,
    strategy: Any,
    perturb: Callable[[Any], tuple[Row, Row]],
    broken: Callable[[tuple[Any, Any], tuple[Any, Any]], bool],
    details: dict[str, Any],
    column: str,
    sample: Callable[[np.random.Generator], list[Any]] | None,
) -> GateResult:
    # Data rows: the rate is measured on a uniform sample, so it estimates the rate in
    # the data (hypothesis favours edge cases, here the first and last rows), and the
    # counterexample is the first sampled row that breaks the property. Schema rows:
    # hypothesis's examples, and a violation is shrunk.
    if sample is not None:
        examples = sample(np.random.default_rng(seed))
    else:
        examples = collect(strategy, seed=seed, max_examples=gate.max_examples)
    if not examples:
        raise DataError(NO_EXAMPLES)
    pairs = [perturb(e) for e in examples]
    n = len(pairs)
    # One model call for every example, original and changed rows together: a pipeline's
    # per-call cost (validation, column transforms, one pass per tree) is paid once.
    before, after = _halves(model(source.frame([p[0] for p in pairs] + [p[1] for p in pairs])))
    bad = [broken(_at(before, i), _at(after, i)) for i in range(n)]
    k = int(sum(bad))
    counterexample: dict[str, Any] | None = None
    if k:
        first = bad.index(True)
        counterexample = _record(model, pairs[first], column, _at(before, first), _at(after, first))
        counterexample["shrunk"] = False
        # Shrink generated rows only: a "smaller" data row would just be another row.
        if sample is None and not bound.holds(k / n):

            def breaks(example: Any) -> dict[str, Any] | None:
                b_row, a_row = perturb(example)
                b, a = _halves(model(source.frame([b_row, a_row])))
                if broken(_at(b, 0), _at(a, 0)):
                    return _record(model, (b_row, a_row), column, _at(b, 0), _at(a, 0))
                return None

            small = shrink(strategy, breaks, seed=seed, max_examples=gate.max_examples)
            if small is not None:
                counterexample = {**small[0], "shrunk": True, "shrink_complete": small[1]}
    ci = None
    if config.statistics.intervals and n:
        w = wilson_interval(k, n, level=config.statistics.confidence)
        ci = (float(w.lo), float(w.hi))
    policy = Judge.of(
        gate,
        confidence=config.statistics.confidence,
        metric=str(details["property"]),
        what=what,
        undefined_why="no examples",
    )
    finding = Finding(
        slc=slc, observed=k / n if n else float("nan"), bound=bound, support=n, min_support=1, ci=ci
    )
    verdict = policy.verdict(
        finding,
        details={
            **details,
            "rows_from": source.kind,
            "source": source.where,
            "seed": seed,
            "max_examples": gate.max_examples,
            "examples": n,
            "violations": k,
            "used_by_model": column in model.features,
            "counterexample": counterexample,
            "confidence": config.statistics.confidence,
            "ci_method": "wilson" if ci else None,
        },
    )
    note = "" if column in model.features else f"; {column} is not among the model's features"
    if counterexample is not None:
        note += f"; {'shrunk ' if counterexample['shrunk'] else ''}counterexample: "
        note += describe(counterexample)
    return replace(verdict, message=verdict.message.replace(" rows)", " examples)") + note)


_property = _one_thread(_search)


def _halves(
    out: tuple[np.ndarray, np.ndarray | None],
) -> tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]:
    """Split a model's output on [rows before the change] + [rows after] in two."""
    labels, scores = out
    n = len(labels) // 2
    first = (labels[:n], None if scores is None else scores[:n])
    return first, (labels[n:], None if scores is None else scores[n:])


def _at(out: tuple[np.ndarray, np.ndarray | None], i: int) -> tuple[Any, Any]:
    labels, scores = out
    return labels[i], None if scores is None else float(scores[i])


def _record(
    model: Candidate,
    pair: tuple[Row, Row],
    column: str,
    before: tuple[Any, Any],
    after: tuple[Any, Any],
) -> dict[str, Any]:
    row, changed = pair
    shown = [c for c in model.features if c in row]
    if column not in shown:
        shown.append(column)
    return {
        "row": {c: plain(row[c]) for c in shown},
        "column": column,
        "from": plain(row[column]),
        "to": plain(changed[column]),
        "before": {"label": plain(before[0]), "score": before[1]},
        "after": {"label": plain(after[0]), "score": after[1]},
    }


def describe(cx: dict[str, Any], limit: int = 600) -> str:
    """One line for a counterexample: the change, the two predictions, then the row."""

    def out(p: dict[str, Any]) -> str:
        score = "" if p["score"] is None else f" (score {fmt(p['score'])})"
        return f"{show(p['label'])}{score}"

    row = ", ".join(f"{k}={show(v)}" for k, v in cx["row"].items())
    if len(row) > limit:
        row = row[: limit - 1] + "…"
    return (
        f"{cx['column']} {show(cx['from'])} -> {show(cx['to'])} turns "
        f"{out(cx['before'])} into {out(cx['after'])}, on the row {{{row}}}"
    )


def _error(gate: BehaviourGate, gid: str, slc: dict[str, Any], message: str) -> GateResult:
    res = error_result(gid, "behaviour", gate.severity, f"{gid} on {slice_label(slc)}: {message}")
    return replace(res, id=result_id(gid, slc), slice=slc)
