"""Train the candidate and baseline models for the Adult example and write the eval data.

    python examples/adult/train.py

Writes (relative to this folder):
    models/candidate.skops            gradient boosting on every census feature
    models/baseline.skops             logistic regression on a handful of features
    data/train.parquet                adult.data, tidy
    data/eval.parquet                 adult.test, tidy, with age_band
    data/eval_with_predictions.parquet   eval.parquet + pred_/score_ columns of both models
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skops.io import dump

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # so `prepare` imports from any working directory

from prepare import LABEL, MissingDataError, prepare  # noqa: E402

SEED = 0
POSITIVE = ">50K"

CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
# fnlwgt is the census sampling weight of the row, not a property of the person.
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]

BASELINE_NUMERIC = ["age", "education_num", "hours_per_week", "capital_gain", "capital_loss"]
BASELINE_CATEGORICAL = ["sex"]


def make_candidate() -> Pipeline:
    categorical = Pipeline(
        [
            # "?" in the raw data becomes its own "missing" level rather than a guess.
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    features = ColumnTransformer(
        [("categorical", categorical, CATEGORICAL), ("numeric", "passthrough", NUMERIC)]
    )
    model = HistGradientBoostingClassifier(random_state=SEED)
    return Pipeline([("features", features), ("model", model)])


def make_baseline() -> Pipeline:
    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), BASELINE_NUMERIC),
            ("categorical", OneHotEncoder(drop="if_binary"), BASELINE_CATEGORICAL),
        ]
    )
    model = LogisticRegression(max_iter=1000)
    return Pipeline([("features", features), ("model", model)])


def add_predictions(frame: pd.DataFrame, name: str, model: Pipeline) -> None:
    features = frame[list(model.feature_names_in_)]
    frame[f"pred_{name}"] = model.predict(features)
    positive_column = list(model.classes_).index(POSITIVE)
    frame[f"score_{name}"] = model.predict_proba(features)[:, positive_column]


def main() -> int:
    started = time.perf_counter()
    try:
        train, evaluation = prepare(HERE / "data")
    except MissingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    models = {
        "candidate": (make_candidate(), NUMERIC + CATEGORICAL),
        "baseline": (make_baseline(), BASELINE_NUMERIC + BASELINE_CATEGORICAL),
    }
    (HERE / "models").mkdir(exist_ok=True)
    scored = evaluation.copy()
    for name, (model, columns) in models.items():
        # A DataFrame in, so the fitted pipeline records feature_names_in_ for the gates.
        model.fit(train[columns], train[LABEL])
        dump(model, HERE / "models" / f"{name}.skops")
        add_predictions(scored, name, model)
    scored.to_parquet(HERE / "data" / "eval_with_predictions.parquet", index=False)

    accuracy = {name: float(np.mean(scored[f"pred_{name}"] == scored[LABEL])) for name in models}
    print(
        f"adult: trained on {len(train)} rows, evaluated on {len(evaluation)} rows; "
        f"accuracy candidate {accuracy['candidate']:.4f}, baseline {accuracy['baseline']:.4f} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
