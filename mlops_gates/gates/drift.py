"""`drift` gate: each feature's distribution in the evaluation data is close to a reference.

The reference is a profile (or a data file, profiled on the fly); current values are
counted into the reference's bins, and one effect size per feature is judged against
`max`. p-values (chi-square on the binned table, or KS) are reported and adjusted across
the features, but never decide the verdict: with tens of thousands of rows every
difference is "significant".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlops_gates.config import Config, DriftGate
from mlops_gates.errors import DataError, MlopsGatesError
from mlops_gates.gates.base import Need, NotEvaluated, Run, register
from mlops_gates.gates.common import error_result
from mlops_gates.gates.judge import Finding, Judge, result_id
from mlops_gates.gates.result import Bound, GateResult, slice_label
from mlops_gates.sources.data import read_table
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.sources.profile import (
    DEFAULT_BINS,
    DEFAULT_TOP_K,
    FeatureProfile,
    Profile,
    build_profile,
    count_like,
    is_profile_path,
    prediction_profiles,
    read_profile,
)
from mlops_gates.stats.drift import NUMERIC_ONLY, Drift, compare_categorical, compare_numeric

__all__ = [
    "Counter",
    "DriftSource",
    "FrameSource",
    "evaluate",
    "evaluate_drift_on",
    "outcome_columns",
]

# The model output compared with `predictions: true`, in order of preference.
PREDICTION_KINDS = ("scores", "values", "labels")


class Counter(Protocol):
    """Counts a column of the current data into a reference's bins."""

    def __call__(self, reference: FeatureProfile) -> FeatureProfile: ...


class DriftSource(Protocol):
    """Where a drift gate reads: the current rows, a data-file reference, the model output.

    In memory (`FrameSource`) pandas holds the rows; under `backend.engine: duckdb` or
    `spark` (`backends.drift_source.TableSource`) the engine computes the same tables."""

    @property
    def where(self) -> Path:
        """The evaluation data's path, for messages."""

    def has(self, column: str) -> bool:
        """Does the current data have this column?"""

    def counter(self, column: str) -> Counter:
        """How to count this column of the current data into a reference's bins."""

    def reference(
        self, path: Path, *, bins: int, top_k: int
    ) -> tuple[Profile, Callable[[], dict[str, FeatureProfile]] | None]:
        """A data-file reference profiled, and how to profile the model's output on it."""
        ...

    def outputs(self) -> dict[str, Counter]:
        """The candidate's output on the current rows, by kind (scores, labels, values)."""
        ...


@dataclass
class FrameSource:
    """The rows in memory: the evaluation frame and, for the model output, its inputs."""

    config: Config
    frame: pd.DataFrame
    data: EvalData | None
    inputs_error: str | None

    @property
    def where(self) -> Path:
        """The evaluation data's path, for messages."""
        return self.config.data_path

    def has(self, column: str) -> bool:
        """Does the frame have this column?"""
        return column in self.frame.columns

    def counter(self, column: str) -> Counter:
        """Counts this column of the frame into a reference's bins."""
        return partial(_count_series, self.frame[column])

    def reference(
        self, path: Path, *, bins: int, top_k: int
    ) -> tuple[Profile, Callable[[], dict[str, FeatureProfile]] | None]:
        """A data-file reference profiled in memory, and its model-output profiler."""
        frame = read_table(path)
        profile = build_profile(frame, bins=bins, top_k=top_k, source=path)
        return profile, partial(
            prediction_profiles, self.config, frame, path, bins=bins, top_k=top_k
        )

    def outputs(self) -> dict[str, Counter]:
        """The candidate's output on the rows; `NotEvaluated` when inputs failed."""
        if self.data is None:
            raise NotEvaluated(self.inputs_error)
        return {kind: partial(_count_series, s) for kind, s in _current_output(self.data).items()}


def _count_series(series: pd.Series, reference: FeatureProfile) -> FeatureProfile:
    return count_like(reference, series)


def _reads(gate: DriftGate) -> tuple[Need, ...]:
    # The model's output is compared only with `predictions: true`; features need no model.
    return ("inputs",) if gate.predictions else ()


@register("drift", needs=("table",), wants=_reads)
def evaluate(gate: DriftGate, run: Run) -> list[GateResult]:
    """The gate on the run's rows in memory."""
    frame = run.need("table").frame
    why = run.why.get("inputs")
    return evaluate_drift_on(gate, run.config, FrameSource(run.config, frame, run.inputs, why))


def evaluate_drift_on(gate: DriftGate, config: Config, source: DriftSource) -> list[GateResult]:
    """The gate from a `DriftSource`: the rows in memory, or an engine's table."""
    gid = gate.id
    ref_path = config.resolve(gate.reference)
    if not ref_path.exists():
        raise DataError(
            f"{ref_path}: reference not found; check `reference:` of gate {gid!r}. Write a "
            f"profile with `mlops-gates profile DATA -o {Path(gate.reference).name}`"
            if ref_path.suffix.lower() == ".json"
            else f"{ref_path}: reference data file not found; check `reference:` of gate {gid!r}"
        )
    ref_outputs: Callable[[], dict[str, FeatureProfile]] | None = None
    if is_profile_path(ref_path):
        reference = read_profile(ref_path)
    else:
        bins, top_k = gate.bins or DEFAULT_BINS, gate.top_k or DEFAULT_TOP_K
        reference, ref_outputs = source.reference(ref_path, bins=bins, top_k=top_k)

    items: list[Finding | GateResult] = []
    for name in _feature_names(gate, config, reference, ref_path):
        slc = {"feature": name}
        try:
            ref = reference.features.get(name)
            if ref is None:
                raise DataError(
                    f"column {name!r} is not in the reference {ref_path.name} (it has: "
                    f"{_listing(reference.features)}); rebuild the reference or drop it "
                    f"from `features`"
                )
            if not source.has(name):
                raise DataError(
                    f"{source.where}: column {name!r} is in the reference but not in the data"
                )
            items.append(_finding(gate, slc, ref, name, source.counter(name)))
        except MlopsGatesError as exc:
            items.append(_error(gate, gid, slc, str(exc)))
    if gate.predictions:
        items.append(_predictions(gate, gid, reference, ref_outputs, ref_path, source))

    findings = [i for i in items if isinstance(i, Finding)]
    judge = Judge.of(
        gate,
        confidence=config.statistics.confidence,
        metric=gate.statistic,
        what=f"{gate.statistic} drift",
        undefined_why="no values on one side",
    )
    judged = iter(judge.findings(findings))
    return [next(judged) if isinstance(i, Finding) else i for i in items]


def _feature_names(
    gate: DriftGate, config: Config, reference: Profile, ref_path: Path
) -> list[str]:
    if gate.features is not None:
        return list(dict.fromkeys(gate.features))
    unknown = [c for c in gate.exclude if c not in reference.features]
    if unknown:
        raise DataError(
            f"`exclude` names columns the reference {ref_path.name} does not have: "
            f"{', '.join(map(repr, unknown))}; it has: {_listing(reference.features)}"
        )
    left_out = set(gate.exclude)
    if not gate.include_label_and_predictions:
        left_out |= outcome_columns(config)
    names = [n for n in reference.features if n not in left_out]
    if gate.statistic in NUMERIC_ONLY:
        names = [n for n in names if reference.features[n].type == "numeric"]
    return names


def outcome_columns(config: Config) -> set[str]:
    """The label column and the prediction and score columns the models are read from:
    not features. A label's missing share says when labels arrived, not how the world
    moved (monitoring saw PSI 2.8 on healthy data two days short of labels), and the
    model's output has its own verdict (`predictions: true`)."""
    names = {config.task.label}
    for model in (config.candidate, config.baseline):
        if model is not None:
            names |= {c for c in (model.predictions, model.scores) if c}
    return names


def _finding(
    gate: DriftGate, slc: dict[str, Any], ref: FeatureProfile, what: str, count: Counter
) -> Finding:
    if ref.type == "categorical" and gate.statistic in NUMERIC_ONLY:
        raise DataError(
            f"{what!r} is categorical in the reference, and {gate.statistic} needs a numeric "
            f"feature; leave it out, or judge it in a drift gate with psi, js or chi2"
        )
    cur = count(ref)
    drift = _compare(gate, ref, cur)
    details: dict[str, Any] = {
        "type": ref.type,
        "reference": gate.reference,
        "test": drift.test,
        "test_statistic": drift.test_statistic,
        "rows": {"reference": ref.rows, "current": cur.rows},
        "missing_share": {
            "reference": _share(ref.missing, ref.rows),
            "current": _share(cur.missing, cur.rows),
        },
        **drift.details,
    }
    if ref.type == "numeric":
        details["mean"] = {"reference": ref.summary.get("mean"), "current": cur.summary.get("mean")}
    return Finding(
        slc=slc,
        observed=drift.value,
        bound=Bound(max=gate.bound),
        support=drift.support,
        min_support=gate.min_support,
        p_value=drift.p_value,
        details=details,
    )


def _compare(gate: DriftGate, ref: FeatureProfile, cur: FeatureProfile) -> Drift:
    if ref.numeric is not None:
        assert cur.numeric is not None
        std = ref.summary.get("std")
        return compare_numeric(
            ref.numeric, cur.numeric, gate.statistic, scale=None if std is None else float(std)
        )
    assert ref.categorical is not None and cur.categorical is not None
    return compare_categorical(ref.categorical, cur.categorical, gate.statistic)


def _predictions(
    gate: DriftGate,
    gid: str,
    reference: Profile,
    ref_outputs: Callable[[], dict[str, FeatureProfile]] | None,
    ref_path: Path,
    source: DriftSource,
) -> Finding | GateResult:
    slc = {"prediction": "output"}
    try:
        current = source.outputs()
        ref_output = ref_outputs() if ref_outputs is not None else reference.predictions
        kinds = [k for k in PREDICTION_KINDS if k in current and k in ref_output]
        if gate.statistic in NUMERIC_ONLY:
            kinds = [k for k in kinds if ref_output[k].type == "numeric"]
        if not kinds:
            if not ref_output:
                raise DataError(
                    f"the reference profile {ref_path.name} holds no model output; write it "
                    f"with `mlops-gates profile DATA --config <mlops-gates.yaml>`, or use the "
                    f"data file as the reference"
                )
            raise DataError(
                f"the reference has model {', '.join(ref_output)}, the candidate gives "
                f"{', '.join(current)}: nothing to compare with {gate.statistic}"
            )
        slc = {"prediction": kinds[0]}
        return _finding(gate, slc, ref_output[kinds[0]], kinds[0], current[kinds[0]])
    except MlopsGatesError as exc:
        return _error(gate, gid, slc, str(exc))


def _current_output(data: EvalData) -> dict[str, pd.Series]:
    if data.task == "regression":
        return {"values": pd.Series(data.candidate, name="predicted values")}
    labels = np.asarray(list(data.classes), dtype=object)[data.candidate]
    out = {"labels": pd.Series(labels, name="predicted labels", dtype=object)}
    if data.candidate_scores is not None:
        out["scores"] = pd.Series(data.candidate_scores, name="scores")
    return out


def _error(gate: DriftGate, gid: str, slc: dict[str, Any], message: str) -> GateResult:
    res = error_result(
        gid,
        "drift",
        gate.severity,
        f"{gid} on {slice_label(slc)}: {message}",
        metric=gate.statistic,
    )
    return replace(res, id=result_id(gid, slc), slice=slc)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _listing(features: dict[str, Any], limit: int = 40) -> str:
    names = list(features)
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
