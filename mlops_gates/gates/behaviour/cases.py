"""Hand-written cases of a `behaviour` gate: rows whose right answer is not in doubt.

Each case is one verdict, `<gate id>[case=<name>]`: the predicted label and score against
the expected ones. A case must give every feature the model uses; its values are cast to
the types the columns have in the evaluation data.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates._values import plain
from mlops_gates.config import BehaviourGate, MinimumCase
from mlops_gates.errors import DataError, MlopsGatesError, ModelError
from mlops_gates.gates.behaviour.model import Candidate
from mlops_gates.gates.behaviour.rows import did_you_mean, same, show
from mlops_gates.gates.common import error_result
from mlops_gates.gates.judge import result_id
from mlops_gates.gates.result import Bound, GateResult, fmt, slice_label
from mlops_gates.sources.evaluation import EvalData

__all__ = ["evaluate_cases"]


def evaluate_cases(
    gate: BehaviourGate, gid: str, model: Candidate, data: EvalData
) -> list[GateResult]:
    """One verdict per case, in the config's order; all cases in one model call."""
    good: list[tuple[MinimumCase, dict[str, Any]]] = []
    results: dict[str, GateResult] = {}
    for case in gate.cases:
        slc = {"case": case.name}
        try:
            good.append((case, _case_row(case, model, data)))
        except MlopsGatesError as exc:
            results[case.name] = _error(gate, gid, slc, str(exc))
    if good:
        frame = pd.DataFrame([r for _, r in good], columns=model.features)
        for c in model.features:
            if c in data.frame.columns:
                try:
                    frame[c] = frame[c].astype(data.frame[c].dtype)
                except (TypeError, ValueError):
                    bad = next(
                        (case.name for case, r in good if not _castable(r[c], data.frame[c].dtype)),
                        "?",
                    )
                    raise DataError(
                        f"case {bad!r}: the value of {c!r} cannot be {data.frame[c].dtype}, "
                        f"the type the column has in the data"
                    ) from None
        labels, scores = model(frame)
        for i, (case, _) in enumerate(good):
            results[case.name] = _case_verdict(gate, gid, case, labels[i], scores, i)
    return [results[c.name] for c in gate.cases]


def _castable(value: Any, dtype: Any) -> bool:
    try:
        pd.Series([value]).astype(dtype)
    except (TypeError, ValueError):
        return False
    return True


def _case_row(case: MinimumCase, model: Candidate, data: EvalData) -> dict[str, Any]:
    missing = [c for c in model.features if c not in case.row]
    if missing:
        raise DataError(
            f"case {case.name!r} lacks the model feature(s) {', '.join(map(repr, missing))}; "
            f"give every feature the model uses: {', '.join(model.features)}"
        )
    unknown = [c for c in case.row if c not in model.features and c not in data.frame.columns]
    if unknown:
        raise DataError(
            f"case {case.name!r}: unknown column {unknown[0]!r}"
            f"{did_you_mean(unknown[0], model.features)}; the model's features: "
            f"{', '.join(model.features)}"
        )
    return {c: case.row[c] for c in model.features}


def _case_verdict(
    gate: BehaviourGate,
    gid: str,
    case: MinimumCase,
    label: Any,
    scores: np.ndarray | None,
    i: int,
) -> GateResult:
    slc = {"case": case.name}
    score = None if scores is None else float(scores[i])
    wants_score = case.min_score is not None or case.max_score is not None
    if wants_score and score is None:
        raise ModelError(f"case {case.name!r} bounds the score, and the model gives no scores")
    bound = Bound(case.min_score, case.max_score) if wants_score else None
    problems = []
    if case.label is not None and not same(label, case.label) and str(label) != str(case.label):
        problems.append(f"label {show(plain(label))}, expected {show(case.label)}")
    if bound is not None and score is not None and not bound.holds(score):
        problems.append(f"score {fmt(score)}, expected {bound.describe()}")
    got = f"{show(plain(label))}" + ("" if score is None else f" with score {fmt(score)}")
    if problems:
        status = "fail"
        message = f"case {case.name}: predicted {got}: {'; '.join(problems)}"
    else:
        status = "pass"
        message = f"case {case.name}: predicted {got}, as expected"
    return GateResult(
        id=result_id(gid, slc),
        gate=gid,
        kind="behaviour",
        status=status,  # type: ignore[arg-type]
        severity=gate.severity,
        message=message,
        reason="ok" if not problems else "unexpected_output",
        metric="case",
        slice=slc,
        observed=score,
        bound=bound,
        support=1,
        details={
            "property": "case",
            "row": {k: plain(v) for k, v in case.row.items()},
            "expected": {
                "label": case.label,
                "min_score": case.min_score,
                "max_score": case.max_score,
            },
            "predicted": {"label": plain(label), "score": score},
        },
    )


def _error(gate: BehaviourGate, gid: str, slc: dict[str, Any], message: str) -> GateResult:
    res = error_result(gid, "behaviour", gate.severity, f"{gid} on {slice_label(slc)}: {message}")
    return replace(res, id=result_id(gid, slc), slice=slc)
