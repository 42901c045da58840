"""Performance of the rows still awaiting their label, estimated from the model's scores.

`monitor` judges label-dependent gates on the labelled rows only. For a binary task whose
candidate gives positive-class scores, the rows without a label are not silent: with
confidence-based performance estimation (`stats.cbpe`) each metric gate whose metric CBPE
supports (accuracy, f1, roc_auc) gets, per slice it judges, the expected value on those
rows and an interval for the realised one.

These are estimates, never verdicts: they rest on the scores being calibrated (which the
calibration gate checks on labelled data, not here), so they go into
``context.monitor.estimates`` and cannot pass or fail a run, open an issue or count in the
summary. Only unlabelled rows are estimated: when their labels arrive, a later window
judges them with the real metric and the estimate is gone by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.config import Config
    from mlops_gates.sources.models import LoadedModel

__all__ = ["ASSUMES", "SUPPORTED", "Estimates", "estimate_unlabelled"]

SUPPORTED = ("accuracy", "f1", "roc_auc")
ASSUMES = "calibrated scores"
# The predicted class CBPE assumes: positive when the score reaches it (as predict does
# for a probabilistic classifier's argmax).
THRESHOLD = 0.5


@dataclass(frozen=True)
class Estimates:
    """What goes into ``context.monitor``: the estimates, and why there are none when
    unlabelled rows were left unestimated (None when there is nothing to say)."""

    estimates: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


def estimate_unlabelled(
    config: Config,
    gates: list[Any],
    frame: pd.DataFrame,
    *,
    path: Path,
    model: LoadedModel | None = None,
) -> Estimates:
    """CBPE estimates of `gates`' supported metrics on the rows of `frame` (the window)
    whose label is missing, per slice each gate judges. `config` names the deployed model;
    `model` is that model as the run's gates loaded it (then it is not resolved and loaded
    a second time, which could find another version if the alias moved meanwhile)."""
    from mlops_gates.config import MetricGate

    label = config.task.label
    if label not in frame.columns:
        return Estimates()
    rows = frame[frame[label].isna()].reset_index(drop=True)
    wanted = [g for g in gates if isinstance(g, MetricGate) and g.metric in SUPPORTED]
    if rows.empty or not wanted:
        return Estimates()
    if config.task.type != "binary":
        return Estimates(
            note=f"no estimate for the {len(rows)} rows awaiting their label: estimating "
            f"without labels (CBPE) needs a binary task, this one is {config.task.type}"
        )
    cand = config.candidate
    if cand.model is None and cand.scores is None:
        return Estimates(
            note=f"no estimate for the {len(rows)} rows awaiting their label: the candidate "
            f"gives no scores; set `candidate.scores` to the positive-class score column"
        )
    if config.task.positive_label is None:
        # The scores are of the positive class; with no label in these rows, the labelled
        # rows of the window say which one it is (0/1 labels: 1), as `check` decides.
        present = set(frame[label].dropna().unique())
        if not present <= {0, 1}:
            return Estimates(
                note=f"no estimate for the {len(rows)} rows awaiting their label: say which "
                "class is positive with `task.positive_label`"
            )
        task = config.task.model_copy(
            update={"positive_label": True if frame[label].dtype == bool else 1}
        )
        config = config.model_copy(update={"task": task})
    scores, why = _scores(config, rows, path, model)
    if scores is None:
        return Estimates(note=f"no estimate for the {len(rows)} rows awaiting their label: {why}")
    stats = config.statistics
    out: list[dict[str, Any]] = []
    for gate in wanted:
        out.extend(_per_slice(gate, rows, scores, stats.confidence, stats.replicates, stats.seed))
    return Estimates(out)


def _scores(
    config: Config, rows: pd.DataFrame, path: Path, model: LoadedModel | None
) -> tuple[Any, str]:
    """The candidate's positive-class scores on `rows` (from `model` when given), or None
    and why."""
    import numpy as np

    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.sources.data import require_columns
    from mlops_gates.sources.evaluation import model_output
    from mlops_gates.sources.mlflow_models import resolving
    from mlops_gates.sources.models import model_features, predict

    cand = config.candidate
    try:
        if model is not None and cand.predictions is None:
            features = model_features(model, cand.features)
            require_columns(rows, features, where="the features of `candidate.model`", path=path)
            positive = config.task.positive_label
            _, scores = predict(model, rows, features, positive_label=positive)
        else:
            with resolving(config):
                scores = model_output("candidate", cand, rows, config, path).scores
    except MlopsGatesError as exc:
        return None, str(exc)
    if scores is None:
        return None, "the candidate model gives no positive-class scores (no predict_proba)"
    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
        return None, (
            f"the candidate's scores ({cand.scores or cand.model}) are not probabilities in "
            "[0, 1]; CBPE needs calibrated probabilities of the positive class"
        )
    return scores, ""


def _per_slice(
    gate: Any, rows: pd.DataFrame, scores: Any, level: float, replicates: int, seed: int
) -> list[dict[str, Any]]:
    import numpy as np
    import pandas as pd

    from mlops_gates.gates.common import slicings
    from mlops_gates.stats.cbpe import estimate_performance, unlabelled_scores

    out: list[dict[str, Any]] = []
    for cols in slicings(gate.overall, gate.slices):
        missing = [c for c in cols if c not in rows.columns]
        if missing:
            continue  # the gate's own verdict names the missing column
        if cols:
            codes = rows.groupby(list(cols), dropna=False, sort=True).ngroup().to_numpy()
            keys = rows[list(cols)].drop_duplicates().sort_values(list(cols), na_position="last")
        else:
            codes = np.zeros(len(rows), dtype=np.int64)
            keys = pd.DataFrame(index=[0])
        n_groups = int(codes.max()) + 1
        est = estimate_performance(
            unlabelled_scores(codes, n_groups, scores),
            threshold=THRESHOLD,
            level=level,
            replicates=replicates,
            seed=seed,
        )
        metric = getattr(est, gate.metric)
        # ngroup numbers the groups in sorted key order, as `keys` is sorted.
        for j, (_, key) in enumerate(keys.iterrows()):
            n = int(est.support[j])
            value = float(metric.value[j])
            if n < max(gate.min_support, 1) or not np.isfinite(value):
                continue
            out.append(
                {
                    "gate": gate.id,
                    "metric": gate.metric,
                    "slice": {c: _plain(key[c]) for c in cols} or None,
                    "value": value,
                    "ci": [_finite(metric.lo[j]), _finite(metric.hi[j])],
                    "rows": n,
                    "method": "cbpe",
                    "assumes": ASSUMES,
                    "threshold": THRESHOLD,
                }
            )
    return out


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _finite(value: Any) -> float | None:
    import math

    v = float(value)
    return v if math.isfinite(v) else None
