"""stats.skew: which aligned rows disagree, against a direct element-by-element rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gates.stats.skew import exact_mismatch, largest_difference, numeric_mismatch

_values = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 1.0 + 1e-12, 100.0, 100.5, math.inf, -math.inf]),
    st.just(math.nan),
    st.floats(-1e6, 1e6),
)


def _differs(a: float, b: float, atol: float, rtol: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return False
    if a == b:
        return False
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return True
    return abs(b - a) > atol + rtol * abs(a)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(_values, _values), max_size=30),
    atol=st.sampled_from([0.0, 1e-9, 0.5]),
    rtol=st.sampled_from([0.0, 1e-6, 0.01]),
)
def test_numeric_mismatch_is_the_elementwise_rule(
    pairs: list[tuple[float, float]], atol: float, rtol: float
) -> None:
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    got = numeric_mismatch(a, b, atol=atol, rtol=rtol)
    assert got.tolist() == [_differs(x, y, atol, rtol) for x, y in pairs]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", 1, 1.0, True, None]), st.sampled_from(["a", "b", 1, None])
        ),
        max_size=30,
    )
)
def test_exact_mismatch(pairs: list[tuple[object, object]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=object)
    b = np.array([p[1] for p in pairs], dtype=object)
    got = exact_mismatch(
        a,
        b,
        training_missing=np.array([x is None for x in a], dtype=bool),
        serving_missing=np.array([y is None for y in b], dtype=bool),
    )
    want = [
        not ((x is None and y is None) or (x is not None and y is not None and x == y))
        for x, y in pairs
    ]
    assert got.tolist() == want


def test_uncomparable_values_are_mismatches() -> None:
    a = np.empty(2, dtype=object)
    b = np.empty(2, dtype=object)
    a[:] = [np.array([1, 2]), "x"]
    b[:] = [np.array([1, 2]), "x"]
    no = np.zeros(2, dtype=bool)
    assert exact_mismatch(a, b, training_missing=no, serving_missing=no).tolist() == [True, False]


def test_shapes_and_tolerances_are_checked() -> None:
    with pytest.raises(ValueError, match="aligned"):
        numeric_mismatch([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=">= 0"):
        numeric_mismatch([1.0], [1.0], atol=-1)
    assert math.isnan(largest_difference([math.nan], [1.0]))
    assert largest_difference([1.0, 5.0, math.inf], [1.5, 2.0, 0.0]) == 3.0
