"""Small batches predict on one native thread only while every core is busy: whether the
cores are busy is read from the load average, and the predictions themselves do not depend
on the number of threads (so the choice changes the time a run takes, never a verdict)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from mlops_gates.sources.models import cores_busy


@pytest.mark.parametrize(
    ("load", "cores", "busy"),
    [
        (0.0, 2, False),
        (1.0, 2, False),  # this process alone on two cores: one is free
        (1.5, 2, True),
        (3.0, 2, True),
        (0.4, 1, False),
        (0.5, 1, True),
        (6.9, 8, False),
        (7.5, 8, True),
    ],
)
def test_the_cores_are_busy_from_cores_less_half_of_one(
    load: float, cores: int, busy: bool
) -> None:
    assert cores_busy(load, cores) is busy


def test_this_machine_gives_an_answer() -> None:
    assert isinstance(cores_busy(), bool)


@pytest.mark.parametrize("model", ["hgb", "logistic"])
def test_predictions_are_the_same_on_one_thread_and_on_every_thread(model: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0).astype(int)
    est = (
        HistGradientBoostingClassifier(max_iter=50, random_state=0)
        if model == "hgb"
        else LogisticRegression(max_iter=500)
    ).fit(X, y)
    with threadpool_limits(limits=1):
        one = est.predict_proba(X)
    with threadpool_limits(limits=2):
        two = est.predict_proba(X)
    assert np.array_equal(one, two)
