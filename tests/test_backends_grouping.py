"""`Grouping.of` (factorize + mixed radix) numbers groups exactly as pandas' groupby does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gates.backends.grouping import Grouping

COLUMNS = {
    "text": lambda rng, n: rng.choice(np.array(["b", "a", "é", "A", ""], dtype=object), n),
    "text_missing": lambda rng, n: pd.Series(
        rng.choice(np.array(["x", "y", None], dtype=object), n), dtype="str"
    ),
    "ints": lambda rng, n: rng.integers(-3, 3, n),
    "nullable_ints": lambda rng, n: pd.array(
        np.where(rng.random(n) < 0.2, None, rng.integers(0, 4, n)).tolist(), dtype="Int64"
    ),
    "floats_nan": lambda rng, n: np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 3, n)),
    "bools": lambda rng, n: rng.random(n) < 0.5,
    "category": lambda rng, n: pd.Categorical(rng.choice(["lo", "hi"], n), ["lo", "hi", "mid"]),
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=3, unique=True),
    st.integers(0, 200),
    st.integers(0, 2**32 - 1),
)
def test_groups_and_keys_equal_pandas_groupby(columns: list[str], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: COLUMNS[c](rng, n) for c in columns})
    fast, slow = Grouping.of(frame, columns), Grouping.by_groupby(frame, columns)
    np.testing.assert_array_equal(fast.codes, slow.codes)
    pd.testing.assert_frame_equal(fast.keys, slow.keys)
    for cols in ((columns[0],), tuple(columns)):
        assert fast.slicing(cols)[1] == slow.slicing(cols)[1]


def test_unorderable_values_fall_back_to_groupby() -> None:
    frame = pd.DataFrame({"mixed": np.array([1, "a", 2.5, "a"], dtype=object)})
    try:
        expected = Grouping.by_groupby(frame, ["mixed"])
    except TypeError:
        pytest.skip("pandas cannot group these either")
    got = Grouping.of(frame, ["mixed"])
    np.testing.assert_array_equal(got.codes, expected.codes)
