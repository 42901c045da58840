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


TEXT = st.one_of(st.none(), st.sampled_from(["b", "a", "é", "A", "", "a b", "😀"]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(TEXT, TEXT, st.integers(0, 2)), max_size=60),
    st.integers(1, 25),
    st.booleans(),
)
def test_parquet_text_columns_come_factorized_as_pandas_would(
    rows: list[tuple[str | None, str | None, int]], row_group_size: int, large: bool
) -> None:
    """A Parquet file's text columns read through their dictionaries (several row groups,
    each with its own dictionary; missing values) give
    the frame `pd.read_parquet` gives, the codes `pd.factorize(sort=True)` gives, and so
    the groups of pandas' groupby."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_gates.sources.data import read_frame

    text = pa.large_string() if large else pa.string()
    table = pa.table(
        {
            "s": pa.array([r[0] for r in rows], type=text),
            "t": pa.array([r[1] for r in rows], type=text),
            "n": pa.array([r[2] for r in rows], type=pa.int64()),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        frame, factorized = read_frame(path, factorize=["s", "t", "n", "absent"])
        expected = pd.read_parquet(path)
    pd.testing.assert_frame_equal(frame, expected)
    assert sorted(factorized) == ["s", "t"]  # text columns only
    for c, (codes, uniques) in factorized.items():
        want_codes, want_uniques = pd.factorize(expected[c], sort=True, use_na_sentinel=False)
        np.testing.assert_array_equal(codes, want_codes)
        pd.testing.assert_index_equal(pd.Index(uniques), want_uniques)
    columns = ["s", "n", "t"]
    got, slow = Grouping.of(frame, columns, factorized), Grouping.by_groupby(expected, columns)
    np.testing.assert_array_equal(got.codes, slow.codes)
    pd.testing.assert_frame_equal(got.keys, slow.keys)


def test_dictionary_values_no_row_uses_are_not_slices() -> None:
    import pyarrow as pa

    from mlops_gates.sources.data import _sorted_codes

    column = pa.DictionaryArray.from_arrays(
        pa.array([2, None, 0, 2], type=pa.int32()), pa.array(["z", "unused", "b", "a"])
    )
    codes, uniques = _sorted_codes(column, column.dictionary, pd.StringDtype(na_value=np.nan))
    np.testing.assert_array_equal(codes, [0, 2, 1, 0])
    assert list(pd.Index(uniques).fillna("<NA>")) == ["b", "z", "<NA>"]
