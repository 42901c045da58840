"""The candidate as behaviour gates call it: a function of a frame, from the run's model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.sources.models import LoadedModel, predict

__all__ = ["Candidate"]


@dataclass
class Candidate:
    """The candidate model as a function of a frame: labels, and scores when it has them."""

    loaded: LoadedModel
    features: list[str]
    task: str
    positive: Any

    def __call__(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        labels, scores = predict(self.loaded, frame, self.features, positive_label=self.positive)
        if self.task == "regression":
            scores = np.asarray(labels, dtype=np.float64)
        return labels, scores
