"""Label encoding (`sources/evaluation.encode_labels`) equals a plain row-by-row lookup, on awkward
values: ints, floats, text spellings of the same class, booleans, missing values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gates.errors import DataError
from mlops_gates.sources.evaluation import encode_labels

VALUES = st.sampled_from([0, 1, 2, "0", "1", "a", None, float("nan"), 1.0, True])


def row_by_row(values: list[Any], classes: tuple[Any, ...]) -> list[int]:
    """Each row looked up on its own; values that compare equal (1, 1.0, True) are one
    value, spelled as where it first occurs."""
    out = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(-1)
            continue
        v = next(u for u in values[: i + 1] if u == v)
        exact = [i for i, c in enumerate(classes) if c == v]
        text = [i for i, c in enumerate(classes) if str(c) == str(v)]
        out.append(exact[0] if exact else text[0] if text else -1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(VALUES, max_size=40),
    classes=st.sampled_from([(0, 1), ("0", "1"), ("a", 1), (0, 1, 2), ("no", "yes")]),
)
def test_encoding_equals_row_by_row_lookup(values: list[Any], classes: tuple[Any, ...]) -> None:
    expected = row_by_row(values, classes)
    array = np.array(values, dtype=object)
    if any(e < 0 for e in expected):
        with pytest.raises(DataError) as info:
            encode_labels(array, classes, "column 'y'", Path("d.csv"))
        first = expected.index(-1)
        assert f"(first at row {first})" in str(info.value)
        return
    assert encode_labels(array, classes, "column 'y'", Path("d.csv")).tolist() == expected


def test_typed_arraysencode_labels_without_object_lookups() -> None:
    y = np.random.default_rng(0).integers(0, 2, 1000)
    assert (encode_labels(y, (0, 1), "y", Path("d")) == y).all()
    assert (encode_labels(y.astype(bool), (False, True), "y", Path("d")) == y).all()
    assert (encode_labels(y.astype(str), (0, 1), "y", Path("d")) == y).all()  # "1" read as 1


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(-1, 3), max_size=40),
    dtype=st.sampled_from([np.int8, np.int32, np.int64, np.uint8]),
    classes=st.sampled_from(
        [(0, 1), (1, 0), (0, 1, 2), (1, 2), (False, True), ("0", "1"), (np.int64(0), 1), (0, 1.0)]
    ),
)
def test_integer_labelsencode_labels_as_the_general_lookup(
    values: list[int], dtype: type, classes: tuple[Any, ...]
) -> None:
    """Integer columns whose values are their class indices skip the hash pass; whatever
    path runs, the codes (or the error) are those of the object lookup."""
    if dtype is np.uint8:
        values = [v for v in values if v >= 0]
    typed = np.array(values, dtype=dtype)
    try:
        expected = encode_labels(typed.astype(object), classes, "y", Path("d")).tolist()
    except DataError as exc:
        with pytest.raises(DataError) as info:
            encode_labels(typed, classes, "y", Path("d"))
        assert str(info.value) == str(exc)
        return
    got = encode_labels(typed, classes, "y", Path("d"))
    assert got.dtype == np.int64
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(-3, 70_000), min_size=1, max_size=30),
    dtype=st.sampled_from(["int8", "int16", "int32", "int64", "uint8", "uint16", "uint64"]),
)
def test_distinct_labels_are_pandas_unique_values(values: list[int], dtype: str) -> None:
    # Small non-negative integers are counted with one bincount; anything else (negative,
    # 2**16 and above, other types) goes through pandas: the same set of values either way.
    from mlops_gates.sources.evaluation import _distinct

    info = np.iinfo(dtype)
    array = np.array([v for v in values if info.min <= v <= info.max], dtype=dtype)
    if not array.shape[0]:
        return
    got = _distinct(array)
    assert got.dtype == array.dtype
    assert sorted(got.tolist()) == sorted(pd.unique(array).tolist())
    for other in (array.astype(bool), array.astype(float), array.astype(str)):
        assert sorted(_distinct(other).tolist()) == sorted(pd.unique(other).tolist())
