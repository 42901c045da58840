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


def assert_keys_equal(got: pd.DataFrame, groupby: pd.DataFrame) -> None:
    """Equal key frames. pandas < 3 types a text key column that holds only a missing
    value as float in groupby's keys; the value (missing) is what the slices use."""
    groupby = groupby.copy()
    for c in groupby.columns:
        if got[c].dtype == object and groupby[c].dtype == float and groupby[c].isna().all():
            groupby[c] = groupby[c].astype(object)
    pd.testing.assert_frame_equal(got, groupby)


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
    assert_keys_equal(fast.keys, slow.keys)
    for cols in ((columns[0],), (columns[-1],), tuple(columns), tuple(reversed(columns))):
        got, want = fast.slicing(cols), slow.slicing(cols)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[1] == want[1]
        (fine, to_fine), (slow_fine, slow_to) = fast.coarsen(list(cols)), slow.coarsen(list(cols))
        np.testing.assert_array_equal(to_fine, slow_to)
        assert_keys_equal(fine.keys, slow_fine.keys)
        # Slicing the coarse grouping again (its codes kept) still agrees with groupby.
        sub = (cols[0],)
        np.testing.assert_array_equal(fine.slicing(sub)[0], slow_fine.slicing(sub)[0])
        assert fine.slicing(sub)[1] == slow_fine.slicing(sub)[1]


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
    each with its own dictionary; missing values) give the groups of pandas' groupby
    without decoding any text, and the frame `pd.read_parquet` gives once asked for."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlops_gates.sources.data import read_rows

    text = pa.large_string() if large else pa.string()
    table = pa.table(
        {
            "s": pa.array([r[0] for r in rows], type=text),
            "n": pa.array([r[2] for r in rows], type=pa.int64()),
            "t": pa.array([r[1] for r in rows], type=text),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        got = read_rows(path, factorize=["s", "t", "n", "absent"])
        expected = pd.read_parquet(path)
    assert sorted(got.factorized) == ["s", "t"]  # text columns only
    assert got.columns == ["s", "n", "t"] and len(got) == len(rows)
    pd.testing.assert_series_equal(got.column("n"), expected["n"])
    columns = ["s", "n", "t"]
    fast, slow = Grouping.of(got, columns), Grouping.by_groupby(expected, columns)
    np.testing.assert_array_equal(fast.codes, slow.codes)
    assert_keys_equal(fast.keys, slow.keys)
    assert got._frame is None  # grouping decoded no text
    for c, (codes, uniques) in got.factorized.items():
        decoded = pd.Series(pd.Index(uniques).take(codes), name=c)
        pd.testing.assert_series_equal(decoded, expected[c])
    pd.testing.assert_frame_equal(got.frame, expected)
    pd.testing.assert_series_equal(got.column("s"), expected["s"])


def test_values_no_row_holds_are_not_slices() -> None:
    """A factorization may list values no row holds (a Parquet dictionary can): they get
    no group and no slice."""
    from mlops_gates.sources.data import Table

    frame = pd.DataFrame({"s": ["z", None, "b", "z"], "n": [1, 1, 2, 2]})
    uniques = pd.array(["a", "z", "unused", "b", None], dtype=frame["s"].dtype)
    factorized = {"s": (np.array([1, 4, 3, 1], dtype=np.int32), uniques)}
    got = Grouping.of(Table(frame, factorized=factorized), ["s", "n"])
    want = Grouping.by_groupby(frame, ["s", "n"])
    np.testing.assert_array_equal(got.codes, want.codes)
    pd.testing.assert_frame_equal(got.keys, want.keys)
    assert got.slicing(("s",))[1] == [{"s": "b"}, {"s": "z"}, {"s": None}]
