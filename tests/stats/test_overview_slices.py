"""Which groups make up a slice of the per-slice curves: equal keys, and a missing slice
value matching every kind of missing key (None, NaN, pandas' NA from an engine)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_gates.stats.overview import _entries_of, _equals, _worst_key
from mlops_gates.stats.reduce import ScoreStats


@pytest.mark.parametrize(
    "value, want",
    [
        ("a", [True, False, False, False, False]),
        (None, [False, False, True, True, True]),
        (1, [False, True, False, False, False]),
    ],
    ids=["text", "missing", "number"],
)
@pytest.mark.parametrize("na", [True, False], ids=["with-pandas-na", "numpy-compares"])
def test_slice_members(value: object, want: list[bool], na: bool) -> None:
    # Without pandas' NA numpy compares the whole column at once; with it, one by one.
    keys = np.asarray(["a", 1, None, float("nan"), pd.NA][: 5 if na else 4], dtype=object)
    assert _equals(keys, value).tolist() == want[: len(keys)]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
@pytest.mark.parametrize("seed", range(5))
def test_a_slices_entries_are_its_groups_entries(seed: int, dtype: type) -> None:
    # Against a plain mask over every entry: the same entries, in table order (so the
    # curves' sums are the same floats), empty groups and the last group included, with
    # the engines' narrow group types too.
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.choice(rng.integers(1, 30), size=rng.integers(0, 400))).astype(dtype)
    table = ScoreStats(
        thresholds=np.linspace(0, 1, 7),
        group=groups,
        score=rng.integers(0, 7, size=len(groups)),
        pos=rng.integers(0, 3, size=len(groups)),
        neg=rng.integers(0, 3, size=len(groups)),
        n_groups=int(groups.max(initial=0)) + 2,
    )
    member = rng.random(table.n_groups) < 0.4
    want = np.flatnonzero(member[table.group])
    assert _entries_of(table, np.flatnonzero(member)).tolist() == want.tolist()


def test_worst_first_by_status_then_slack() -> None:
    verdicts = [
        {"status": "pass", "observed": 0.81, "bound": {"min": 0.8, "max": None}},
        {"status": "fail", "observed": 0.7, "bound": {"min": 0.8, "max": None}},
        {"status": "pass", "observed": 0.9, "bound": {"min": 0.8, "max": None}},
        {"status": "fail", "observed": 0.79, "bound": {"min": 0.8, "max": None}},
    ]
    order = sorted(range(4), key=lambda i: _worst_key(verdicts[i]))
    assert order == [1, 3, 0, 2]
