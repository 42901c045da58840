"""Which groups make up a slice of the per-slice curves: equal keys, and a missing slice
value matching every kind of missing key (None, NaN, pandas' NA from an engine)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_gates.stats.overview import _equals, _worst_key


@pytest.mark.parametrize(
    "value, want",
    [
        ("a", [True, False, False, False, False]),
        (None, [False, False, True, True, True]),
        (1, [False, True, False, False, False]),
    ],
    ids=["text", "missing", "number"],
)
def test_slice_members(value: object, want: list[bool]) -> None:
    keys = np.asarray(["a", 1, None, float("nan"), pd.NA], dtype=object)
    assert _equals(keys, value).tolist() == want


def test_worst_first_by_status_then_slack() -> None:
    verdicts = [
        {"status": "pass", "observed": 0.81, "bound": {"min": 0.8, "max": None}},
        {"status": "fail", "observed": 0.7, "bound": {"min": 0.8, "max": None}},
        {"status": "pass", "observed": 0.9, "bound": {"min": 0.8, "max": None}},
        {"status": "fail", "observed": 0.79, "bound": {"min": 0.8, "max": None}},
    ]
    order = sorted(range(4), key=lambda i: _worst_key(verdicts[i]))
    assert order == [1, 3, 0, 2]
