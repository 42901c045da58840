"""Turn the evaluation table and the configured models into encoded arrays.

This is where labels become class indices (binary: 0 negative, 1 positive) and where every
problem with labels, predictions and scores is caught with a message naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.config import Config, ModelConfig
from mlops_gates.errors import DataError, MlopsGatesError
from mlops_gates.sources.data import Table, require_columns
from mlops_gates.sources.models import LoadedModel, load_model, model_features, predict, trust_of

__all__ = [
    "EvalData",
    "ModelOutput",
    "build_inputs",
    "encode_labels",
    "model_output",
    "small_int_values",
]


@dataclass(frozen=True)
class ModelOutput:
    """One model's predictions on the evaluation rows, as given (not yet encoded)."""

    labels: np.ndarray
    scores: np.ndarray | None
    info: dict[str, Any]
    loaded: LoadedModel | None = None  # the model that made them (None: a column gave them)


@dataclass(frozen=True)
class EvalData:
    """Evaluation rows with encoded truth and predictions, ready to be reduced.

    ``table`` is the data as read (a DataFrame is accepted and wrapped); ``frame`` is it
    as a DataFrame, built on first use for gates that read rows."""

    table: Table
    path: Path
    task: str
    classes: tuple[Any, ...]  # index order; binary: (negative, positive); () for regression
    y_true: np.ndarray  # int64 class codes, or float64 targets
    candidate: np.ndarray
    candidate_scores: np.ndarray | None
    baseline: np.ndarray | None = None
    baseline_scores: np.ndarray | None = None
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline_error: str | None = None  # why the configured baseline is unusable
    # The candidate that made the predictions, for gates that call it again (behaviour):
    # loaded once, so a registry alias cannot resolve to two versions in one run.
    candidate_model: LoadedModel | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", Table.of(self.table))

    @property
    def frame(self) -> pd.DataFrame:
        """The evaluation rows as a DataFrame (decoded on first use), for gates that read rows."""
        return self.table.frame

    @property
    def n_rows(self) -> int:
        """Number of evaluation rows."""
        return len(self.table)


def model_output(
    role: str, mc: ModelConfig, rows: Table | pd.DataFrame, config: Config, path: Path
) -> ModelOutput:
    """One model's predictions on `rows` (`role` is `candidate` or `baseline`): read from the
    configured columns, or predicted by loading the configured model."""
    table = Table.of(rows)
    positive = config.task.positive_label if config.task.type == "binary" else None
    if mc.predictions is not None:
        cols = [mc.predictions] + ([mc.scores] if mc.scores else [])
        require_columns(table.columns, cols, where=f"`{role}`", path=path)
        scores = None
        if mc.scores is not None:
            scores = _numeric(table.column(mc.scores), f"{role}.scores", mc.scores, path)
        info = {"source": "column", "predictions": mc.predictions, "scores": mc.scores}
        return ModelOutput(table.column(mc.predictions).to_numpy(), scores, info)
    frame = table.frame
    assert mc.model is not None
    base = config.source.parent if config.source else Path.cwd()
    loaded = load_model(mc.model, base, trust_of(mc, role))
    features = model_features(loaded, mc.features)
    require_columns(frame, features, where=f"the features of `{role}.model`", path=path)
    if config.task.type == "binary" and positive is None:
        positive = _default_positive(frame[config.task.label])
    labels, scores = predict(loaded, frame, features, positive_label=positive)
    return ModelOutput(labels, scores, {**loaded.info, "ref": mc.model}, loaded)


def build_inputs(config: Config, rows: Table | pd.DataFrame, path: Path) -> EvalData:
    """Encode the truth and both models' outputs; a problem with the truth or the
    candidate raises, a problem with the baseline is kept in `baseline_error`."""
    task = config.task
    table = Table.of(rows)
    require_columns(table.columns, [task.label], where="`task.label`", path=path)
    cand = model_output("candidate", config.candidate, table, config, path)
    base: ModelOutput | None = None
    baseline_error = None
    if config.baseline is not None:
        try:
            base = model_output("baseline", config.baseline, table, config, path)
        except MlopsGatesError as exc:
            baseline_error = str(exc)
    models = {"candidate": cand.info} | ({"baseline": base.info} if base else {})
    label = table.column(task.label)

    if task.type == "regression":
        y = _numeric(label, "task.label", task.label, path)
        c = _numeric(pd.Series(cand.labels), "candidate predictions", _col(config.candidate), path)
        b = None
        if base is not None and config.baseline is not None:
            b = _numeric(
                pd.Series(base.labels), "baseline predictions", _col(config.baseline), path
            )
        return EvalData(
            table,
            path,
            task.type,
            (),
            y,
            c,
            None,
            b,
            None,
            models,
            baseline_error,
            candidate_model=cand.loaded,
        )

    classes = _classes(config, label, cand.labels, base.labels if base else None, path)
    y = encode_labels(label.to_numpy(), classes, f"column {task.label!r} (task.label)", path)
    c = encode_labels(
        cand.labels, classes, f"candidate predictions ({_col(config.candidate)})", path
    )
    b = None
    if base is not None and config.baseline is not None:
        try:
            b = encode_labels(
                base.labels, classes, f"baseline predictions ({_col(config.baseline)})", path
            )
        except DataError as exc:
            baseline_error, base = str(exc), None
    for out, role in ((cand, "candidate"), (base, "baseline")):
        if out is not None and out.scores is not None:
            _check_finite(out.scores, f"{role} scores", path)
    return EvalData(
        table,
        path,
        task.type,
        classes,
        y,
        c,
        cand.scores if task.type == "binary" else None,
        b,
        base.scores if (base is not None and task.type == "binary") else None,
        models,
        baseline_error,
        candidate_model=cand.loaded,
    )


def _col(mc: ModelConfig) -> str:
    return f"column {mc.predictions!r}" if mc.predictions else f"model {mc.model!r}"


def _default_positive(y: pd.Series) -> Any:
    values = set(pd.unique(y.dropna()))
    if values <= {0, 1}:
        return True if y.dtype == bool else 1
    raise DataError(
        f"column {y.name!r} holds labels {sorted(map(str, values))[:10]}; "
        f"say which one is positive with `task.positive_label`"
    )


def _classes(
    config: Config, y: pd.Series, cand: np.ndarray, base: np.ndarray | None, path: Path
) -> tuple[Any, ...]:
    task = config.task
    if task.classes is not None:
        declared = list(task.classes)
        if task.type == "binary":
            pos = task.positive_label if task.positive_label is not None else declared[1]
            neg = next(c for c in declared if c != pos)
            return (neg, pos)
        return tuple(declared)
    # Distinct values per column first (a typed pass each), then the union of those few.
    parts = [y.to_numpy(), cand] + ([base] if base is not None else [])
    seen = pd.unique(
        pd.Series(np.concatenate([np.asarray(_distinct(p), dtype=object) for p in parts]))
        .dropna()
        .to_numpy()
    )
    values = sorted(seen, key=lambda v: (str(type(v)), v))
    if task.type == "multiclass":
        return tuple(values)
    pos = task.positive_label if task.positive_label is not None else _default_positive(y)
    others = [v for v in values if not _same(v, pos)]
    if len(others) > 1:
        raise DataError(
            f"{path}: a binary task, but labels and predictions hold {len(values)} values "
            f"{[str(v) for v in values][:10]}; use `task.type: multiclass`, or declare "
            f"`task.classes` to catch the stray values"
        )
    return (others[0] if others else f"not {pos}", pos)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of a column of labels or predictions, in some order."""
    small = small_int_values(values)
    return np.asarray(pd.unique(values)) if small is None else small


def small_int_values(values: np.ndarray) -> np.ndarray | None:
    """The distinct values, ascending and in the column's type, of a column of small
    non-negative integers (below 2**16, as labels and predictions mostly are); None for
    any other column. Counted with one ``bincount`` (a million 0/1 labels: 1.6 ms against
    pandas' hash pass of 2.9 ms), or, for at most two values, both ends of the range."""
    if values.dtype.kind not in "iu" or not values.shape[0]:
        return None
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= 1 << 16:
        return None
    if hi - lo <= 1:  # the minimum and the maximum both occur: nothing to count
        return np.unique(np.array([lo, hi], dtype=values.dtype))
    counts = np.bincount(values.astype(np.intp, copy=False), minlength=hi + 1)
    return np.flatnonzero(counts != 0).astype(values.dtype)


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) or str(a) == str(b)


def encode_labels(
    values: np.ndarray, classes: tuple[Any, ...], what: str, path: Path
) -> np.ndarray:
    """Each of `values` (labels or predictions) as its index in `classes`; a `DataError`
    naming `what` in the file at `path`, and the first offending row, for any other value."""
    same = _codes_already(values, classes)
    if same is not None:
        return same
    # Factorize once (a typed hash pass), then match the few distinct values to the
    # classes: looking every row up in an object index costs ~10x more at 10M rows.
    row_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = np.asarray(uniques, dtype=object)
    lookup = pd.Index(list(classes), dtype=object).get_indexer(distinct).astype(np.int64)
    if (lookup < 0).any():
        # YAML may say 1 where the data holds "1" (or the reverse): match on text as well.
        as_text = pd.Index([str(c) for c in classes]).get_indexer(
            pd.Index([str(v) for v in distinct])
        )
        lookup = np.where(lookup < 0, as_text, lookup).astype(np.int64)
    # A missing value has row code -1, which picks the appended -1.
    codes = np.append(lookup, -1)[row_codes]
    bad = codes < 0
    if bad.any():
        series = pd.Series(values)
        missing = int(series.isna().sum())
        stray = pd.unique(series[bad & series.notna().to_numpy()])
        parts = []
        if len(stray):
            parts.append(
                f"{int((bad & series.notna().to_numpy()).sum())} rows hold values outside "
                f"the classes {list(classes)}: {[str(v) for v in stray[:10]]}"
            )
        if missing:
            parts.append(f"{missing} rows are missing")
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {what}: {'; '.join(parts)} (first at row {first}). "
            f"Fix the data, or declare the right `task.classes`."
        )
    result: np.ndarray = codes
    return result


def _codes_already(values: np.ndarray, classes: tuple[Any, ...]) -> np.ndarray | None:
    """``values`` themselves when they are integers that equal their class index (labels
    0/1 of a binary task, 0..K-1 of a multiclass one): no hash pass, no copy. None when
    the general matching is needed."""
    if values.dtype.kind not in "iu" or not values.shape[0]:
        return None
    lo, hi = values.min(), values.max()
    if lo < 0 or hi >= len(classes):
        return None
    for code in range(int(lo), int(hi) + 1):
        c = classes[code]
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c != code:
            return None
    return values.astype(np.int64, copy=False)


def _numeric(s: pd.Series, what: str, col: str, path: Path) -> np.ndarray:
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "fiu":  # read as is, no parse
        arr: np.ndarray = s.to_numpy(dtype=np.float64)
        _check_finite(arr, f"{what} ({col})", path)
        return arr
    try:
        arr = pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        raise DataError(
            f"{path}: {what} ({col}) must be numeric; found {bad.iloc[:5].tolist()!r}"
        ) from None
    _check_finite(arr, f"{what} ({col})", path)
    return arr


def _check_finite(arr: np.ndarray, what: str, path: Path) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(
            f"{path}: {what}: {int(bad.sum())} rows are missing or not finite "
            f"(first at row {int(np.flatnonzero(bad)[0])}); drop or fill them before gating"
        )
