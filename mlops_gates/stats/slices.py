"""Weak-slice discovery: a lattice search on one half of the rows, confirmation on the other.

The rows arrive as integer codes per feature (a category, or a numeric bin) and one flag
per row: is the row *bad* for the metric (a wrong prediction for accuracy, a missed
positive for recall, a false alarm for FPR), counted over the rows the metric is a share
of. A slice is a conjunction ``f1 = v1 AND f2 = v2 ...`` of up to ``max_order`` features.

- **Search** (one half): every conjunction of up to ``max_order`` features is counted in one
  pass per feature combination (``bincount`` over a mixed-radix key); slices with fewer than
  ``min_support`` rows are dropped, and so is a slice holding exactly the rows of one of its
  parents (``sex=Male, relationship=Husband`` when every husband is male). The rest are
  scored with SliceLine's score (Sagadeeva & Boehm, SIGMOD 2021)::

      score = w·(ē_S / ē − 1) − (1 − w)·(n / |S| − 1)

  (``ē_S`` the slice's bad rate, ``ē`` the half's, ``|S|`` its rows, ``n`` the half's rows):
  high for slices much worse than overall and not tiny (the larger ``w``, the smaller the
  slices that rank high). The ``top_k`` best with a bad rate above the half's go on: the
  score only ranks, the confirmation decides.
- **Confirmation** (the other half, rows the search never saw): each candidate's gap to the
  overall rate ``D = ē_S − ē = (1 − s)·(ē_S − ē_R)`` (``R`` the rest of the half, ``s`` the
  slice's share of its rows) is tested one-sided against the tolerated gap ``δ``:
  ``D > δ`` iff ``ē_S − ē_R > δ / (1 − s)``, a two-sample test of proportions with the
  Agresti-Caffo adjustment (one bad and one good row added to each side; statsmodels'
  ``test_proportions_2indep(method="agresti-caffo")``, which the tests check it equals).
  The caller adjusts the candidates' p-values (Holm): selection on one half and testing on
  the other keeps the selection from biasing the tests.

Cost: O(rows × C(features, order)) for the search (one ``bincount`` per combination of
features, all of them up to ``max_order``), O(rows × top_k) for the confirmation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["Candidate", "Confirmation", "confirm", "search", "sliceline_score"]

# Above this many cells a combination's table is counted sparsely (np.unique), not densely.
_DENSE_CELLS = 1 << 22


@dataclass(frozen=True)
class Candidate:
    """One slice found by the search: which features, which codes, its counts there."""

    features: tuple[int, ...]
    values: tuple[int, ...]
    size: int
    bad: float
    score: float


@dataclass(frozen=True)
class Confirmation:
    """A candidate's counts on the confirmation half and its one-sided test."""

    size: int  # rows of the slice on this half
    bad: int
    rest_size: int
    rest_bad: int
    gap: float  # slice bad rate − the half's bad rate
    se: float  # of the gap (Agresti-Caffo, scaled by 1 − share)
    p_value: float  # that the gap exceeds the tolerance


def sliceline_score(
    size: np.ndarray, bad: np.ndarray, *, total: int, total_bad: float, weight: float
) -> np.ndarray:
    """SliceLine's score of slices with ``size`` rows and ``bad`` bad rows, in a table of
    ``total`` rows and ``total_bad`` bad rows; -inf for empty slices."""
    mean = total_bad / total if total else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = bad / size
        score = weight * (rate / mean - 1.0) - (1.0 - weight) * (total / size - 1.0)
    return np.where(size > 0, score, -np.inf)


def search(
    codes: list[np.ndarray],
    cards: list[int],
    bad: np.ndarray,
    *,
    max_order: int,
    min_support: int,
    top_k: int,
    weight: float = 0.99,
) -> tuple[list[Candidate], int]:
    """The ``top_k`` worst slices of up to ``max_order`` features among these rows, and
    how many slices with enough rows were scored. ``codes[j]``: feature j's code per row,
    in ``[0, cards[j])``; ``bad``: 0/1 per row."""
    n = len(bad)
    flags = np.asarray(bad, dtype=np.float64)
    total_bad = float(flags.sum())
    if n == 0 or total_bad == 0:
        return [], 0
    mean = total_bad / n
    found: list[Candidate] = []
    scored = 0
    sizes_of: dict[tuple[tuple[int, int], ...], int] = {}
    for order in range(1, max_order + 1):
        for combo in itertools.combinations(range(len(codes)), order):
            keys, sizes, bads = _count(combo, codes, cards, flags)
            keep = sizes >= min_support
            if not keep.any():
                continue
            keys, sizes, bads = keys[keep], sizes[keep], bads[keep]
            scores = sliceline_score(sizes, bads, total=n, total_bad=total_bad, weight=weight)
            for key, size, b, sc in zip(keys, sizes, bads, scores, strict=True):
                values = _unravel(int(key), combo, cards)
                ident = tuple(zip(combo, values, strict=True))
                sizes_of[ident] = int(size)
                # The same rows as a parent: the parent already says it.
                if order > 1 and any(
                    sizes_of.get(parent) == size
                    for parent in itertools.combinations(ident, order - 1)
                ):
                    continue
                scored += 1
                if b / size > mean:
                    found.append(Candidate(combo, values, int(size), float(b), float(sc)))
    found.sort(key=lambda c: (-c.score, c.features, c.values))
    return found[:top_k], scored


def confirm(
    codes: list[np.ndarray], bad: np.ndarray, candidates: list[Candidate], *, tolerance: float
) -> list[Confirmation]:
    """Each candidate on other rows: its gap to the overall bad rate, and the one-sided
    p-value that the gap exceeds ``tolerance`` (Agresti-Caffo z-test of slice vs rest)."""
    flags = np.asarray(bad, dtype=bool)
    n, total_bad = len(flags), int(flags.sum())
    out = []
    for c in candidates:
        mask = np.ones(n, dtype=bool)
        for j, v in zip(c.features, c.values, strict=True):
            mask &= codes[j] == v
        size = int(mask.sum())
        bad_in = int(flags[mask].sum())
        rest, rest_bad = n - size, total_bad - bad_in
        out.append(_test(size, bad_in, rest, rest_bad, tolerance))
    return out


def _test(size: int, bad: int, rest: int, rest_bad: int, tolerance: float) -> Confirmation:
    total = size + rest
    if size == 0 or rest == 0:
        return Confirmation(size, bad, rest, rest_bad, math.nan, math.nan, math.nan)
    share = size / total
    gap = bad / size - (bad + rest_bad) / total
    # Agresti-Caffo: one bad and one good row added to each side, then Wald.
    ps, pr = (bad + 1) / (size + 2), (rest_bad + 1) / (rest + 2)
    se_diff = math.sqrt(ps * (1 - ps) / (size + 2) + pr * (1 - pr) / (rest + 2))
    z = (ps - pr - tolerance / (1 - share)) / se_diff
    p = 1.0 - NormalDist().cdf(z)
    return Confirmation(size, bad, rest, rest_bad, gap, (1 - share) * se_diff, p)


def _count(
    combo: tuple[int, ...], codes: list[np.ndarray], cards: list[int], flags: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows and bad rows per cell of the features in ``combo``: (keys, sizes, bads) of the
    non-empty cells, keys in mixed radix (the first feature most significant)."""
    key = codes[combo[0]].astype(np.int64)
    cells = cards[combo[0]]
    for j in combo[1:]:
        key = key * cards[j] + codes[j]
        cells *= cards[j]
    if cells <= _DENSE_CELLS:
        sizes = np.bincount(key, minlength=cells)
        bads = np.bincount(key, weights=flags, minlength=cells)
        keys = np.flatnonzero(sizes)
        return keys, sizes[keys], bads[keys]
    keys, inverse = np.unique(key, return_inverse=True)
    return keys, np.bincount(inverse), np.bincount(inverse, weights=flags)


def _unravel(key: int, combo: tuple[int, ...], cards: list[int]) -> tuple[int, ...]:
    values = []
    for j in reversed(combo):
        key, v = divmod(key, cards[j])
        values.append(v)
    return tuple(reversed(values))
