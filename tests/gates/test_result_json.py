"""report.json holds plain JSON: what `GateResult.to_dict` and `jsonable` turn values into.

The conversion takes a fast path for exact built-in types (issue 25: a 1M-row report
converts ~30,000 values); these pin that every other value still takes the general path.
"""

from __future__ import annotations

import enum
import json
import math

import numpy as np
import pytest

from mlops_gates._values import jsonable
from mlops_gates.gates.result import Bound, GateResult


class Level(enum.IntEnum):
    LOW = 1


class Name(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, 1.5),
        (-0.0, -0.0),
        (float("nan"), None),
        (float("inf"), None),
        (np.float64("nan"), None),
        (np.float32("nan"), None),
        (np.float64(-np.inf), None),
        (np.float64(0.25), 0.25),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (True, True),
        (None, None),
        ("x", "x"),
        ((1, "a"), [1, "a"]),
        ({1: np.int32(2), ("a", "b"): [np.float64(0.5)]}, {"1": 2, "('a', 'b')": [0.5]}),
        ({"a": {"b": float("nan")}}, {"a": {"b": None}}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_jsonable_gives_plain_json_types(value: object, expected: object) -> None:
    out = jsonable(value)
    assert out == expected or (out is None and expected is None)
    # Exactly the built-in types json writes, and no NaN (json refuses it with allow_nan off).
    json.dumps(out, allow_nan=False)
    for leaf in _leaves(out):
        assert type(leaf) in (str, int, float, bool, type(None)), leaf
    if isinstance(expected, float):
        assert math.copysign(1.0, out) == math.copysign(1.0, expected)  # type: ignore[arg-type]


def test_subclasses_of_builtins_keep_the_general_path() -> None:
    # An IntEnum and a str subclass are returned as they are (json writes them as their
    # int and text); a dict subclass is converted like a dict.
    out = jsonable({"level": Level.LOW, "name": Name("n")})
    assert out == {"level": 1, "name": "n"}
    assert json.loads(json.dumps(out)) == {"level": 1, "name": "n"}


def test_a_verdict_converts_field_by_field_with_its_bound() -> None:
    result = GateResult(
        id="auc[region=north]",
        gate="auc",
        kind="metric",
        status="pass",
        severity="block",
        message="ok",
        reason="ok",
        metric="roc_auc",
        slice={"region": "north"},
        observed=np.float64(0.81),
        bound=Bound(min=0.8),
        ci=(np.float64("nan"), 0.9),
        support=np.int64(120),  # type: ignore[arg-type]
        details={"se": np.float64(0.01), "p": float("inf")},
    )
    d = result.to_dict()
    assert list(d) == [
        "id", "gate", "kind", "status", "severity", "message", "reason", "metric", "slice",
        "observed", "bound", "ci", "support", "details", "detectable",
    ]  # fmt: skip
    assert d["bound"] == {"min": 0.8, "max": None}
    assert d["ci"] == [None, 0.9]
    assert d["details"] == {"se": 0.01, "p": None}
    assert type(d["observed"]) is float
    json.dumps({k: v for k, v in d.items() if k != "support"}, allow_nan=False)


def _leaves(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [leaf for v in obj.values() for leaf in _leaves(v)]
    if isinstance(obj, list):
        return [leaf for v in obj for leaf in _leaves(v)]
    return [obj]
