"""One model call for labels and scores: for the classifiers whose `predict` is the argmax of
`predict_proba` in scikit-learn's own code, the labels come from the probabilities and equal
`predict`'s, ties included; any other model is asked `predict` as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlops_gates.sources.models import LoadedModel, labels_from_proba, predict

FEATURES = ["x1", "x2", "colour"]


def _data(n_classes: int, rows: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
        }
    )
    signal = frame["x1"] + 0.5 * frame["x2"] + (frame["colour"] == "red") + rng.normal(size=rows)
    names = np.array(["low", "mid", "high"][:n_classes], dtype=object)
    cuts = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
    return frame, names[np.searchsorted(cuts, signal)]


def _pipeline(final: Any) -> Pipeline:
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["x1", "x2"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    return Pipeline([("prep", prep), ("model", final)])


ESTIMATORS = {
    "hist-gradient-boosting": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "logistic-regression": lambda: LogisticRegression(max_iter=500),
    "random-forest": lambda: RandomForestClassifier(n_estimators=20, random_state=0),
    "extra-trees": lambda: ExtraTreesClassifier(n_estimators=20, random_state=0),
    "decision-tree": lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
}


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "3-class"])
@pytest.mark.parametrize("name", list(ESTIMATORS), ids=list(ESTIMATORS))
def test_labels_from_the_probabilities_are_what_predict_says(name: str, n_classes: int) -> None:
    frame, y = _data(n_classes)
    for model in (_pipeline(ESTIMATORS[name]()), ESTIMATORS[name]()):
        X = frame[FEATURES] if isinstance(model, Pipeline) else frame[["x1", "x2"]]
        model.fit(X, y)
        labels = labels_from_proba(model, model.predict_proba(X), X)
        assert labels is not None
        assert labels.dtype == model.predict(X).dtype
        assert labels.tolist() == model.predict(X).tolist()


def test_a_tie_is_settled_by_predict() -> None:
    # decision 1e-20 > 0: predict says the second class, while expit(1e-20) rounds to
    # exactly 0.5, so the argmax of [0.5, 0.5] would say the first.
    frame, y = _data(2)
    X = frame[["x1", "x2"]]
    model = LogisticRegression().fit(X, y)
    model.coef_[:] = 0.0
    model.intercept_[:] = 1e-20
    proba = model.predict_proba(X)
    assert (proba[:, 0] == proba[:, 1]).all()
    labels = labels_from_proba(model, proba, X)
    assert labels is not None
    assert labels.tolist() == model.predict(X).tolist() == [model.classes_[1]] * len(X)


class _Stubborn(LogisticRegression):
    """A subclass whose predict is its own business."""

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[0])


@pytest.mark.parametrize(
    "model",
    [_Stubborn(), KNeighborsClassifier(), _pipeline(_Stubborn())],
    ids=["subclass", "k-neighbours", "pipeline-of-subclass"],
)
def test_other_models_are_asked_predict(model: Any) -> None:
    frame, y = _data(2, rows=200)
    X = frame[FEATURES] if isinstance(model, Pipeline) else frame[["x1", "x2"]]
    model.fit(X, y)
    assert labels_from_proba(model, model.predict_proba(X), X) is None
    loaded = LoadedModel(model, "m", {})
    labels, scores = predict(loaded, frame, list(X.columns), positive_label="mid")
    assert labels.tolist() == model.predict(X).tolist()
    assert scores is not None
    assert scores.tolist() == model.predict_proba(X)[:, 1].tolist()


def test_the_model_is_called_once_for_labels_and_scores(tmp_path: Path) -> None:
    frame, y = _data(2)
    model = _pipeline(HistGradientBoostingClassifier(max_iter=30, random_state=0))
    model.fit(frame[FEATURES], y)
    expected = model.predict(frame[FEATURES])
    positive = model.classes_[1]
    expected_scores = model.predict_proba(frame[FEATURES])[:, 1]

    def no_second_call(X: Any) -> Any:
        raise AssertionError("predict was called although predict_proba gave the labels")

    model.predict = no_second_call  # an instance attribute: the class stays Pipeline
    labels, scores = predict(LoadedModel(model, "m", {}), frame, FEATURES, positive_label=positive)
    assert labels.tolist() == expected.tolist()
    assert scores is not None and scores.tolist() == expected_scores.tolist()
