"""`slice_discovery` gate: no slice that nobody listed is much worse than overall.

The rows the metric is a share of (all rows for accuracy, positives for recall, negatives
for FPR, predicted positives for precision) are split at random, seeded per gate, into a
search half and a confirmation half. On the search half every conjunction of up to
`max_order` feature values with at least `min_support` rows is scored with SliceLine's
score, and the `top_k` worst go on; on the confirmation half each is tested one-sided
against "no more than `max_drop` worse than overall", and the p-values are adjusted
together (Holm), so a confirmed slice is one the data show worse, whatever the search
tried (stats/slices.py). Each candidate becomes a verdict on its confirmation-half gap to
overall: `fail` when confirmed, `pass` otherwise; with no candidate, one passing verdict
says what was searched.

Numeric features are cut at the reference profile's bin edges (a `.json` written by
`mlops-gates profile`, or a data file profiled here); without a reference, at the
evaluation rows' own quantile edges (from the features only, never the labels; from a
seeded sample of 200,000 values when there are more). It reads rows, so
under `backend.engine: duckdb` or `spark` the runner refuses it with the engine's name.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.config.slice_discovery import SliceDiscoveryGate
from mlops_gates.errors import DataError
from mlops_gates.gates.base import Run, register
from mlops_gates.gates.evidence import rng_for
from mlops_gates.gates.judge import Finding, Judge
from mlops_gates.gates.result import Bound, GateResult, Status, fmt
from mlops_gates.sources.data import read_table
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.sources.profile import (
    Profile,
    build_profile,
    column_type,
    is_profile_path,
    numeric_values,
    read_profile,
)
from mlops_gates.stats.drift import quantile_edges
from mlops_gates.stats.slices import Candidate, Confirmation, confirm, search

__all__ = ["bad_rows", "evaluate", "feature_codes"]

_EDGE_SAMPLE = 200_000
# metric -> (which rows it is a share of, which of them are bad, greater is better);
# codes of a binary task: 0 negative, 1 positive.
_ROWS = {
    "accuracy": ("all", "wrong", True),
    "recall": ("positives", "missed", True),
    "tpr": ("positives", "missed", True),
    "fnr": ("positives", "missed", False),
    "specificity": ("negatives", "flagged", True),
    "fpr": ("negatives", "flagged", False),
    "precision": ("predicted positives", "false", True),
}


@register("slice_discovery", needs=("inputs",))
def evaluate(gate: SliceDiscoveryGate, run: Run) -> list[GateResult]:
    """Search on one half, confirm on the other, a verdict per candidate slice."""
    data = run.need("inputs")
    config = run.config
    eligible, bad = bad_rows(gate, data, config.task.type)
    codes, cards, labels = feature_codes(gate, data.frame, run)
    rows = np.flatnonzero(eligible)
    in_search = rng_for(config.statistics, gate.id).random(len(rows)) < 0.5
    a, b = rows[in_search], rows[~in_search]
    unit = _ROWS[gate.metric][0]
    unit = "rows" if unit == "all" else unit
    if min(len(a), len(b)) < 2 * gate.min_support:
        return [_summary(gate, "insufficient", len(a), len(b), 0, unit)]
    found, scored = search(
        [c[a] for c in codes],
        cards,
        bad[a],
        max_order=gate.max_order,
        min_support=gate.min_support,
        top_k=gate.top_k,
        weight=gate.weight,
    )
    if not found:
        return [_summary(gate, "none", len(a), len(b), scored, unit)]
    tolerance = gate.max_drop
    checked = confirm([c[b] for c in codes], bad[b], found, tolerance=tolerance)
    gib = _ROWS[gate.metric][2]
    bound = Bound(min=-tolerance) if gib else Bound(max=tolerance)
    base_a = float(bad[a].mean())
    z = NormalDist().inv_cdf(0.5 + config.statistics.confidence / 2)
    findings = [
        _finding(gate, c, k, (bound, gib, z), labels, base_a, (len(a), len(b), scored), unit)
        for c, k in zip(found, checked, strict=True)
    ]
    judge = Judge(
        gate_id=gate.id,
        kind=gate.kind,
        severity=gate.severity,
        metric=gate.metric,
        what=f"{gate.metric} gap to overall",
        on_insufficient=gate.on_insufficient,
        mode="significance",
        multiplicity="holm",
        confidence=config.statistics.confidence,
    )
    return judge.findings(findings, method="agresti-caffo (slice vs rest)")


def bad_rows(gate: SliceDiscoveryGate, data: EvalData, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Which rows the metric counts, and which of them are bad for it."""
    if task == "regression":
        raise DataError(
            f"gate {gate.id!r}: slice_discovery needs a classification task "
            f"(task.type is regression)"
        )
    y, pred = np.asarray(data.y_true), np.asarray(data.candidate)
    rows, _, _ = _ROWS[gate.metric]
    if rows != "all" and task != "binary":
        raise DataError(
            f"gate {gate.id!r}: metric {gate.metric} is for binary tasks (task.type is "
            f"{task}); use metric: accuracy"
        )
    if rows == "all":
        return np.ones(len(y), dtype=bool), y != pred
    if rows == "positives":
        return y == 1, pred != 1
    if rows == "negatives":
        return y == 0, pred == 1
    return pred == 1, y != 1


def feature_codes(
    gate: SliceDiscoveryGate, frame: pd.DataFrame, run: Run
) -> tuple[list[np.ndarray], list[int], list[list[str]]]:
    """Each feature as integer codes per row, its number of codes, and the code's label
    (a category, or a numeric bin such as `[30, 40)`; missing values have their own)."""
    missing = [f for f in gate.features if f not in frame.columns]
    if missing:
        raise DataError(
            f"{run.data_path}: gate {gate.id!r} lists features {missing} that the data do "
            f"not have; check `features:`"
        )
    numeric = [f for f in gate.features if column_type(frame[f]) == "numeric"]
    values = {f: numeric_values(frame[f], what=f"column {f!r}") for f in numeric}
    edges = _edges(gate, values, run) if numeric else {}
    codes, cards, labels = [], [], []
    for name in gate.features:
        if name in edges:
            code, label = _bin(values[name], edges[name])
        else:
            uniques: Any
            code, uniques = pd.factorize(frame[name], use_na_sentinel=True)
            label = [str(u) for u in uniques] + ["<missing>"]
            code = np.where(code < 0, len(uniques), code)
        codes.append(np.asarray(code, dtype=np.int64))
        cards.append(len(label))
        labels.append(label)
    return codes, cards, labels


def _edges(
    gate: SliceDiscoveryGate, values: dict[str, np.ndarray], run: Run
) -> dict[str, np.ndarray]:
    """Bin edges of the numeric features: the reference profile's, else the rows' own
    (the edges a profile of these rows would have, `quantile_edges`)."""
    numeric = list(values)
    if gate.reference is None:
        return {f: quantile_edges(_sample(v), gate.bins) for f, v in values.items()}
    path = run.config.resolve(gate.reference)
    if not path.exists():
        raise DataError(f"{path}: reference not found; check `reference:` of gate {gate.id!r}")
    profile: Profile
    if is_profile_path(path):
        profile = read_profile(path)
    else:
        ref = read_table(path)
        absent = [f for f in numeric if f not in ref.columns]
        if absent:
            raise DataError(f"{path}: reference has no column {absent[0]!r}")
        profile = build_profile(ref[numeric], bins=gate.bins, source=path)
    out = {}
    for name in numeric:
        feature = profile.features.get(name)
        if feature is None or feature.numeric is None:
            raise DataError(
                f"{path}: no numeric bins for feature {name!r} of gate {gate.id!r}; rebuild "
                f"the profile with that column, or drop it from `features`"
            )
        out[name] = np.asarray(feature.numeric.edges, dtype=np.float64)
    return out


def _sample(values: np.ndarray) -> np.ndarray:
    """At most `_EDGE_SAMPLE` of the values, seeded, for the rows' own edges: deciles from
    200,000 values are as good as from all, and sorting 10M values cost most of the gate."""
    if len(values) <= _EDGE_SAMPLE:
        return values
    return values[np.random.default_rng(0).integers(0, len(values), _EDGE_SAMPLE)]


def _bin(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Codes of numeric values (NaN: missing) in the drift histogram's convention: below
    the first edge, one per bin (the last one closed), above the last edge, missing."""
    bins = max(edges.size - 1, 0)
    code = np.full(x.shape, bins + 2, dtype=np.int64)
    present = ~np.isnan(x)
    if edges.size:
        slot = np.searchsorted(edges[1:-1], x[present], side="right") + 1
        slot[x[present] < edges[0]] = 0
        slot[x[present] > edges[-1]] = bins + 1
        code[present] = slot
    else:
        code[present] = bins + 1
    e = [fmt(float(v)) for v in edges]
    labels = [f"< {e[0]}" if e else "any"]
    labels += [f"[{e[i]}, {e[i + 1]}{']' if i == bins - 1 else ')'}" for i in range(bins)]
    labels += [f"> {e[-1]}" if e else "any", "<missing>"]
    return code, labels


def _finding(
    gate: SliceDiscoveryGate,
    c: Candidate,
    k: Confirmation,
    judged: tuple[Bound, bool, float],
    labels: list[list[str]],
    base_search: float,
    halves: tuple[int, int, int],
    unit: str,
) -> Finding:
    """A candidate as a finding: its gap on the confirmation half, in the metric's units
    (a drop is negative for metrics where greater is better); `judged`: the bound, the
    metric's direction and the interval's normal quantile."""
    bound, gib, z = judged
    sign = -1.0 if gib else 1.0
    gap = sign * k.gap
    ci = (gap - z * k.se, gap + z * k.se)
    slc = {gate.features[j]: labels[j][v] for j, v in zip(c.features, c.values, strict=True)}
    rate = k.bad / k.size if k.size else float("nan")
    overall = (k.bad + k.rest_bad) / (k.size + k.rest_size)
    search_rows, confirm_rows, scored = halves
    details = {
        "slice_metric": 1 - rate if gib else rate,
        "overall_metric": 1 - overall if gib else overall,
        "search": {
            "rows": c.size,
            "gap": sign * (c.bad / c.size - base_search),
            "score": c.score,
        },
        "search_rows": search_rows,
        "confirm_rows": confirm_rows,
        "slices_scored": scored,
        "max_order": gate.max_order,
    }
    return Finding(
        slc=slc,
        observed=gap,
        bound=bound,
        support=k.size,
        min_support=1,
        ci=ci,
        p_value=k.p_value,
        details=details,
        unit=unit,
    )


def _summary(
    gate: SliceDiscoveryGate, why: str, search_rows: int, confirm_rows: int, scored: int, unit: str
) -> GateResult:
    """The one verdict when no slice went to confirmation."""
    gid = gate.id
    status: Status
    if why == "insufficient":
        status, reason = gate.on_insufficient, "insufficient_support"
        message = (
            f"insufficient evidence, {search_rows} and {confirm_rows} {unit} on the search and "
            f"confirmation halves (min_support {gate.min_support} needs "
            f"{2 * gate.min_support} on each)"
        )
    else:
        status, reason = "pass", "ok"
        message = (
            f"no slice of up to {gate.max_order} feature{'s' * (gate.max_order > 1)} with "
            f"{gate.min_support}+ {unit} is worse than overall on {gate.metric}: {scored:,} "
            f"slices scored on {search_rows:,} {unit}"
        )
    return GateResult(
        id=gid,
        gate=gid,
        kind=gate.kind,
        status=status,
        severity=gate.severity,
        reason=reason,
        metric=gate.metric,
        message=f"{gid}: {message}",
        support=search_rows + confirm_rows,
        details={"search_rows": search_rows, "confirm_rows": confirm_rows, "slices_scored": scored},
    )
