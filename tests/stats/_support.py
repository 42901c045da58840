"""Shared strategies, oracles and assertions for the statistics tests.

Oracles are scikit-learn and fairlearn called on the raw rows of one slice; "undefined" is
NaN wherever sklearn raises or returns NaN with ``zero_division=np.nan``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray
from sklearn import metrics as skm

TOL = 1e-9
NAN = float("nan")

# A small value set forces ties; 0, 1 and 1 - 2**-53 exercise log-loss clipping.
SCORE_VALUES = [0.0, 1e-20, 0.1, 0.25, 0.5, 0.75, 0.9, 1 - 2**-53, 1.0]


def assert_close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float),
        np.asarray(expected, dtype=float),
        rtol=TOL,
        atol=TOL,
        equal_nan=True,
    )


@contextmanager
def no_warnings() -> Iterator[None]:
    """Our functions must be silent: numpy divide warnings are suppressed inside them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def quiet(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an oracle with its UndefinedMetricWarning and friends silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


@dataclass
class Rows:
    groups: NDArray[np.int64]
    n_groups: int
    y_true: NDArray[np.int64]
    candidate: NDArray[np.int64]
    baseline: NDArray[np.int64]
    n_classes: int
    scores: NDArray[np.float64]
    baseline_scores: NDArray[np.float64]

    def slices(self) -> Iterator[tuple[NDArray[np.int64], int, list[NDArray[np.bool_]]]]:
        """(group_to_slice, n_slices, row mask per slice): per group, then overall."""
        g = self.n_groups
        yield np.arange(g), g, [self.groups == i for i in range(g)]
        if g > 1:
            yield np.zeros(g, dtype=np.int64), 1, [np.ones_like(self.groups, dtype=bool)]


def _labels(draw: st.DrawFn, n: int, k: int) -> NDArray[np.int64]:
    # Restrict to a random subset of classes: single-class slices and constant
    # predictions come up often.
    present = draw(st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True))
    return np.array(draw(st.lists(st.sampled_from(present), min_size=n, max_size=n)), np.int64)


@st.composite
def classification_rows(draw: st.DrawFn, *, binary: bool | None = None) -> Rows:
    low, high = {None: (2, 4), True: (2, 2), False: (3, 4)}[binary]
    k = draw(st.integers(low, high))
    n_groups = draw(st.integers(1, 4))
    n = draw(st.integers(0, 60))
    groups = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)))
    score = st.lists(st.sampled_from(SCORE_VALUES), min_size=n, max_size=n)
    return Rows(
        groups=groups.astype(np.int64),
        n_groups=n_groups,
        y_true=_labels(draw, n, k),
        candidate=_labels(draw, n, k),
        baseline=_labels(draw, n, k),
        n_classes=k,
        scores=np.array(draw(score), dtype=np.float64),
        baseline_scores=np.array(draw(score), dtype=np.float64),
    )


@dataclass
class RegressionRows:
    groups: NDArray[np.int64]
    n_groups: int
    y_true: NDArray[np.float64]
    candidate: NDArray[np.float64]
    baseline: NDArray[np.float64]

    def slices(self) -> Iterator[tuple[NDArray[np.int64], int, list[NDArray[np.bool_]]]]:
        g = self.n_groups
        yield np.arange(g), g, [self.groups == i for i in range(g)]
        if g > 1:
            yield np.zeros(g, dtype=np.int64), 1, [np.ones_like(self.groups, dtype=bool)]


@st.composite
def regression_rows(draw: st.DrawFn) -> RegressionRows:
    n_groups = draw(st.integers(1, 4))
    n = draw(st.integers(0, 60))
    groups = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)))
    # Far-from-zero targets with small noise test the centred, two-pass moments; noise on a
    # binary grid keeps every value exact, so sklearn's own rounding stays negligible.
    offset = draw(st.sampled_from([0.0, 3.5, 1e6, -2.5e7]))
    step = draw(st.sampled_from([1.0, 2.0**-10]))
    noise_range = draw(st.sampled_from([0, 1, 40]))  # 0: constant target
    ticks = st.lists(st.integers(-noise_range, noise_range), min_size=n, max_size=n)
    y = offset + np.array(draw(ticks), dtype=np.float64) * step

    def predictions() -> NDArray[np.float64]:
        if draw(st.booleans()):
            return np.full(n, offset + draw(st.integers(-3, 3)) * step)  # constant model
        return y + np.array(draw(ticks), dtype=np.float64) * step

    return RegressionRows(
        groups=groups.astype(np.int64),
        n_groups=n_groups,
        y_true=y,
        candidate=predictions(),
        baseline=predictions(),
    )


# --- oracles ---------------------------------------------------------------------------


def sk_confusion(name: str, y: NDArray[np.int64], p: NDArray[np.int64], k: int) -> float:
    """sklearn's (or fairlearn's) value of a confusion-family metric on raw rows."""
    return sk_confusion_all([name], y, p, k)[name]


def sk_confusion_all(
    names: list[str], y: NDArray[np.int64], p: NDArray[np.int64], k: int
) -> dict[str, float]:
    """Oracle values of several confusion-family metrics (one sklearn call per average)."""
    import fairlearn.metrics as flm  # type: ignore[import-untyped]

    if y.shape[0] == 0:
        return dict.fromkeys(names, NAN)
    prf_index = {"precision": 0, "recall": 1, "tpr": 1, "f1": 2}
    prfs: dict[str, Any] = {}

    def prf(average: str) -> Any:
        if average not in prfs:
            labels = None if average == "binary" else list(range(k))
            prfs[average] = skm.precision_recall_fscore_support(
                y, p, labels=labels, average=average, zero_division=np.nan
            )
        return prfs[average]

    out: dict[str, float] = {}
    for name in names:
        if name == "accuracy":
            value = skm.accuracy_score(y, p)
        elif name == "balanced_accuracy":
            value = quiet(skm.balanced_accuracy_score, y, p)
        elif name in prf_index:
            value = prf("binary")[prf_index[name]]
        elif name == "specificity":
            value = skm.recall_score(y, p, pos_label=0, zero_division=np.nan)
        # fairlearn's rates report 0/0 as 0; undefined means no row of that true class.
        elif name == "fpr":
            value = flm.false_positive_rate(y, p) if (y == 0).any() else NAN
        elif name == "fnr":
            value = flm.false_negative_rate(y, p) if (y == 1).any() else NAN
        elif name == "selection_rate":
            value = flm.selection_rate(y, p)
        else:
            stem, average = name.rsplit("_", 1)
            value = prf(average)[prf_index[stem]]
        out[name] = float(value)
    return out


def sk_score(name: str, y: NDArray[np.int64], s: NDArray[np.float64]) -> float:
    if y.shape[0] == 0:
        return NAN
    if name == "roc_auc":
        if np.unique(y).size < 2:
            return NAN  # sklearn >= 1.6: NaN and a warning; older releases raise ValueError
        return float(skm.roc_auc_score(y, s))
    if name == "average_precision":
        if not (y == 1).any():
            return NAN  # sklearn: 0.0 and "No positive class found in y_true"
        return float(skm.average_precision_score(y, s))
    if name == "log_loss":
        # labels=[0, 1]: the classes are known, so a single-class slice is well defined.
        return float(skm.log_loss(y, s, labels=[0, 1]))
    if name == "brier":
        return float(skm.brier_score_loss(y, s, pos_label=1))
    raise AssertionError(name)


def sk_regression(name: str, y: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    if y.shape[0] == 0:
        return NAN
    if name == "mae":
        return float(skm.mean_absolute_error(y, p))
    if name == "mse":
        return float(skm.mean_squared_error(y, p))
    if name == "rmse":
        return float(skm.root_mean_squared_error(y, p))
    if name == "mean_error":
        return float(np.mean(p - y))
    if name == "r2":
        if np.ptp(y) == 0:
            return NAN  # constant target: SS_tot = 0
        return float(skm.r2_score(y, p, force_finite=False))
    raise AssertionError(name)
