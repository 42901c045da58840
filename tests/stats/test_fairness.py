from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import fairlearn.metrics as flm  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from mlops_gates.stats.fairness import (
    Criterion,
    Measure,
    between_groups,
    between_groups_batch,
    demographic_parity,
    equal_opportunity,
    equalized_odds,
    parity_batch,
)
from mlops_gates.stats.reduce import reduce_classification

from ._support import NAN, assert_close, no_warnings, quiet

FUNCTIONS: dict[Criterion, Callable[..., float]] = {
    "demographic_parity": demographic_parity,
    "equalized_odds": equalized_odds,
    "equal_opportunity": equal_opportunity,
}
FAIRLEARN: dict[tuple[Criterion, Measure], Callable[..., float]] = {
    ("demographic_parity", "difference"): flm.demographic_parity_difference,
    ("demographic_parity", "ratio"): flm.demographic_parity_ratio,
    ("equalized_odds", "difference"): flm.equalized_odds_difference,
    ("equalized_odds", "ratio"): flm.equalized_odds_ratio,
    ("equal_opportunity", "difference"): flm.equal_opportunity_difference,
    ("equal_opportunity", "ratio"): flm.equal_opportunity_ratio,
}
MEASURES: list[Measure] = ["difference", "ratio"]


def _per_group_cm(y: Any, p: Any, sf: Any, n_groups: int) -> NDArray[np.int64]:
    stats = reduce_classification(np.asarray(sf), n_groups, y, p, n_classes=2)
    return stats.candidate_confusion()


BETWEEN_CASES = [
    ("spread", [0.2, 0.5, 0.4], 0.3, 0.4),
    ("one-group", [0.7], 0.0, 1.0),
    ("undefined-groups-skipped", [NAN, 0.2, 0.8, NAN], 0.6, 0.25),
    ("all-undefined", [NAN, NAN], NAN, NAN),
    ("no-groups", [], NAN, NAN),
    ("largest-is-zero", [0.0, 0.0], 0.0, NAN),
    ("smallest-is-zero", [0.0, 0.5], 0.5, 0.0),
    # Ratios are meant for non-negative metrics; with negatives we do what fairlearn does.
    ("negative-values", [-2.0, -1.0], 1.0, 2.0),
    ("infinite-skipped", [math.inf, 0.5, 0.25], 0.25, 0.5),
]


@pytest.mark.parametrize(
    ("values", "difference", "ratio"),
    [c[1:] for c in BETWEEN_CASES],
    ids=[c[0] for c in BETWEEN_CASES],
)
def test_between_groups(values: list[float], difference: float, ratio: float) -> None:
    with no_warnings():
        assert_close(between_groups(values, measure="difference"), difference)
        assert_close(between_groups(values, measure="ratio"), ratio)
    assert isinstance(between_groups(values, measure="ratio"), float)
    finite = [v for v in values if math.isfinite(v)]
    if finite:  # MetricFrame's min/max agrees wherever defined
        rows = np.repeat(finite, 2)  # fairlearn squeezes a one-row feature to a scalar
        frame = flm.MetricFrame(
            metrics=lambda yt, yp: float(yt[0]),
            y_true=rows,
            y_pred=rows,
            sensitive_features=np.repeat(np.arange(len(finite)), 2),
        )
        assert_close(frame.difference(), difference)
        assert_close(frame.ratio(), ratio)


def test_between_groups_batch_and_errors() -> None:
    values = np.array([[0.1, 0.3, NAN], [NAN, NAN, NAN], [0.0, 0.0, 0.0]])
    assert_close(between_groups_batch(values, measure="difference"), [0.2, NAN, 0.0])
    assert_close(between_groups_batch(values, measure="ratio"), [1 / 3, NAN, NAN])
    with pytest.raises(ValueError, match="measure must be"):
        between_groups([0.1], measure="gap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(G,\)"):
        between_groups(values, measure="ratio")


CRITERION_CASES: list[tuple[str, list[int], list[int], list[int], dict[str, float]]] = [
    (
        "unequal",
        [0, 0, 1, 1, 0, 0, 1, 1],
        [0, 1, 1, 1, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 1, 1, 1],
        # selection 3/4 vs 1/4; TPR 1 vs 1/2; FPR 1/2 vs 0
        {"demographic_parity_difference": 0.5, "demographic_parity_ratio": 1 / 3,
         "equal_opportunity_difference": 0.5, "equal_opportunity_ratio": 0.5,
         "equalized_odds_difference": 0.5, "equalized_odds_ratio": 0.0},
    ),
    (
        # Nobody predicted positive: every rate is 0, so ratios are 0/0.
        "nobody-selected",
        [0, 1, 0, 1],
        [0, 0, 0, 0],
        [0, 0, 1, 1],
        {"demographic_parity_difference": 0.0, "demographic_parity_ratio": NAN,
         "equal_opportunity_ratio": NAN, "equalized_odds_difference": 0.0,
         "equalized_odds_ratio": NAN},
    ),
    (
        # No group has a negative: the FPR component is undefined, the TPR one decides.
        "no-negatives",
        [1, 1, 1, 1],
        [1, 0, 1, 1],
        [0, 0, 1, 1],
        {"equalized_odds_difference": 0.5, "equalized_odds_ratio": 0.5},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("y", "p", "sf", "expected"),
    [c[1:] for c in CRITERION_CASES],
    ids=[c[0] for c in CRITERION_CASES],
)
def test_criteria(y: list[int], p: list[int], sf: list[int], expected: dict[str, float]) -> None:
    cm = _per_group_cm(y, p, sf, 2)
    for key, value in expected.items():
        criterion, measure = key.rsplit("_", 1)
        with no_warnings():
            got = FUNCTIONS[criterion](cm, measure=measure)  # type: ignore[index]
        assert isinstance(got, float)
        assert_close(got, value)
        theirs = quiet(FAIRLEARN[(criterion, measure)], y, p, sensitive_features=sf)  # type: ignore[index]
        if math.isfinite(theirs):
            assert_close(got, theirs)


def test_group_without_positives_is_left_out() -> None:
    # Group 0 has no positives, so its TPR is undefined. fairlearn's rate functions call it
    # 0 (sklearn's normalize="true" turns 0/0 into 0), which invents a disparity no row
    # supports; we leave the group out and compare the groups that have a TPR.
    y, p, sf = [0, 0, 1, 1, 0, 1], [0, 1, 1, 0, 0, 1], [0, 0, 1, 1, 2, 2]  # TPR -, 1/2, 1
    cm = _per_group_cm(y, p, sf, 3)
    assert flm.equal_opportunity_difference(y, p, sensitive_features=sf) == 1.0
    assert flm.equal_opportunity_ratio(y, p, sensitive_features=sf) == 0.0
    assert_close(equal_opportunity(cm, measure="difference"), 0.5)
    assert_close(equal_opportunity(cm, measure="ratio"), 0.5)
    # With only groups 0 and 1 fairlearn reports a gap of 0.5; one TPR is defined: no gap.
    assert flm.equal_opportunity_difference(y[:4], p[:4], sensitive_features=sf[:4]) == 0.5
    assert_close(equal_opportunity(cm[:2], measure="difference"), 0.0)
    assert_close(equal_opportunity(cm[:2], measure="ratio"), 1.0)


def test_empty_group_is_left_out() -> None:
    cm = _per_group_cm([0, 1, 0, 1], [1, 1, 0, 1], [0, 0, 2, 2], 3)  # group 1 has no rows
    assert cm[1].sum() == 0
    assert_close(demographic_parity(cm, measure="difference"), 0.5)
    assert_close(demographic_parity(cm[1:2], measure="difference"), NAN)


def test_parity_batch_over_replicates() -> None:
    rng = np.random.default_rng(5)
    cm = rng.integers(0, 6, size=(7, 3, 2, 2))
    for criterion, f in FUNCTIONS.items():
        for measure in MEASURES:
            batched = parity_batch(criterion, cm, measure=measure)
            assert batched.shape == (7,)
            assert_close(batched, [f(cm[r], measure=measure) for r in range(7)])


@pytest.mark.parametrize(
    ("cm", "message"),
    [(np.zeros((2, 3, 3)), r"G, 2, 2\), got \(2, 3, 3\)"), (np.zeros((2, 2)), r"G, 2, 2\)")],
    ids=["multiclass", "no-group-axis"],
)
def test_criteria_reject_bad_shapes(cm: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        demographic_parity(cm, measure="difference")


@st.composite
def fairness_rows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n_groups = draw(st.integers(1, 4))
    n = draw(st.integers(2, 40))  # fairlearn squeezes a one-row feature to a scalar
    ints = st.lists(st.integers(0, 1), min_size=n, max_size=n)
    sf = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)))
    return np.array(draw(ints)), np.array(draw(ints)), sf, n_groups


def _nan_rate(rate: Callable[..., float], true_class: int) -> Callable[..., float]:
    """fairlearn's rate, but undefined (NaN) for a group without rows of ``true_class``."""
    return lambda yt, yp: float(rate(yt, yp)) if (yt == true_class).any() else NAN


@given(rows=fairness_rows())
@settings(max_examples=100, deadline=None)
def test_criteria_match_fairlearn_metric_frame(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    y, p, sf, n_groups = rows
    cm = _per_group_cm(y, p, sf, n_groups)
    frame = flm.MetricFrame(
        metrics={
            "demographic_parity": flm.selection_rate,
            "tpr": _nan_rate(flm.true_positive_rate, 1),
            "fpr": _nan_rate(flm.false_positive_rate, 0),
        },
        y_true=y,
        y_pred=p,
        sensitive_features=sf,
    )
    for measure in MEASURES:
        agg = frame.difference() if measure == "difference" else frame.ratio()
        worst = np.fmax if measure == "difference" else np.fmin
        expected = {
            "demographic_parity": agg["demographic_parity"],
            "equal_opportunity": agg["tpr"],
            "equalized_odds": worst(agg["tpr"], agg["fpr"]),
        }
        for criterion, f in FUNCTIONS.items():
            with no_warnings():
                got = f(cm, measure=measure)
            assert_close(got, expected[criterion])


@given(rows=fairness_rows())
@settings(max_examples=30, deadline=None)
def test_criteria_match_fairlearn_functions(
    rows: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> None:
    # fairlearn's public functions, wherever their answer is finite and every group has
    # both classes (otherwise fairlearn calls an undefined rate 0; see above).
    y, p, sf, n_groups = rows
    cm = _per_group_cm(y, p, sf, n_groups)
    both_classes = all(len(set(y[sf == g])) == 2 for g in set(sf.tolist()))
    for (criterion, measure), theirs in FAIRLEARN.items():
        if criterion != "demographic_parity" and not both_classes:
            continue
        expected = quiet(theirs, y, p, sensitive_features=sf)
        if math.isfinite(expected):
            assert_close(FUNCTIONS[criterion](cm, measure=measure), expected)
