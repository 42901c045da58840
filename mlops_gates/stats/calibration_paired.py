"""Paired candidate-vs-baseline calibration: the debiased squared ℓ2 calibration error.

The ECE difference of :mod:`mlops_gates.stats.calibration` is valid but unpaired, so the
label noise both models share does not cancel; and ECE's ``|·|`` makes every paired
resampling of it undercover (its upward bias is largest for the better-calibrated model).
This module compares a smooth measure instead, the squared ℓ2 calibration error with
Kumar, Liang & Ma's (2019, "Verified uncertainty calibration") debiasing::

    CE²  = Σ_b (n_b / n) · (s̄_b − p̄_b)²          (p̄_b: the bin's mean true probability)
    ĈE² = Σ_b (n_b / n) · [(s̄_b − ŷ_b)² − ŷ_b (1 − ŷ_b) / (n_b − 1)]

over bins with at least two rows (one-row bins count 0, as in their
``uncertainty-calibration`` package). Given the scores, ``ĈE²`` is unbiased for ``CE²``
when the rows of a bin share their probability, and very nearly so otherwise.

The difference ``D̂ = ĈE²(candidate) − ĈE²(baseline)`` on the same rows is a quadratic
polynomial in the positives ``X_i`` of the joint cells ``i = (candidate bin j, baseline
bin k)``, which are independent binomials given the scores. Its variance is computed
exactly from the binomial moments (up to the fourth) rather than by the delta method: the
delta method keeps only the linear term, whose gradient ``∝ (p̄ − s̄)`` vanishes when both
models are calibrated, and its variance then collapses to 0; the quadratic term is what
remains there, and it is kept. The moments are evaluated at each cell's positive rate,
shrunk towards its two bins' rates (two pseudo-rows) so a small cell's estimated variance
is not 0, and the squared gradient, observed with noise, has that noise's variance
subtracted (else a nearly calibrated pair's variance is about doubled). The interval is
``D̂ ± z·se``; its coverage and its false-"better" rate are measured by seeded simulation
in tests/stats/test_calibration_paired.py and bench/calibration_paired.py
(docs/explanation/new-gates-statistics.md).

That variance is conditional on the scores: it is the whole story for the two models'
calibration on these rows, not for the population the rows were drawn from, whose
difference also moves with the rows' composition (two equally miscalibrated models differ
on any one sample of rows). The interval reported is population-level: its variance is
the larger of the conditional one and the variance over redrawn rows (scores and labels),
estimated from the joint cells' score sums by a second-order expansion in the rows:
``D̂ ≈ D + (1/n) Σ_r φ_r + Q`` with the influence
``φ = 2 g_j e + g_j² − 2 g'_k e' − g'_k²`` (``e = s − y − g_j``, ``g_j`` the bin's mean
score minus its rate) and ``Q = (1/n)(Σ_j A_j² − Σ_k B_k²)``, ``A_j = Σ_{r∈j} e_r/√n_j``,
so ``Var D̂ = Var φ / n + Var Q`` with ``Var Q ≈ 2/n² (Σ_j a_j² + Σ_k b_k² − 2 Σ_jk c_jk²)``
(``a_j = Var A_j``, ``c_jk = Cov(A_j, B_k)``). Plugging the observed ``g`` into ``Var φ``
adds ``2 Var Q`` (its noise), so ``Var Q`` is subtracted once. Equal-mass bins are treated
as fixed edges. The seeded simulations redraw the rows and check coverage of the
population difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from mlops_gates.stats.calibration import CalibrationBins
from mlops_gates.stats.intervals import Interval
from mlops_gates.stats.reduce import AnyIntArray, JointScores, ScoreStats

__all__ = [
    "JointCalibrationBins",
    "joint_calibration_bins",
    "l2_calibration_error",
    "l2_difference",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Pseudo-rows that pull a joint cell's positive rate towards its two bins' rates when
# its variance is estimated: a cell of one row would otherwise have a rate of 0 or 1 and
# no variance at all.
_PSEUDO_ROWS = 2.0

# Score sums kept per joint cell (c: candidate score, b: baseline score, y: the label).
_MOMENTS = ("c", "b", "cc", "bb", "cb", "cy", "by")


@dataclass(frozen=True)
class JointCalibrationBins:
    """Rows and positives per (slice, candidate bin, baseline bin): shape ``(S, B, B)``,
    and the cells' score sums the rows' composition variance needs: ``sums[m]`` for
    ``m`` in :data:`_MOMENTS` (Σ s, Σ s², Σ s·y of each model and Σ s·s' over the rows)."""

    total: IntArray
    positives: IntArray
    sums: FloatArray  # (len(_MOMENTS), S, B, B)


def joint_calibration_bins(
    joint: JointScores,
    candidate: ScoreStats,
    baseline: ScoreStats,
    candidate_bins: CalibrationBins,
    baseline_bins: CalibrationBins,
) -> JointCalibrationBins:
    """Cross the two models' calibration bins on the rows they share.

    ``joint`` pairs each row's candidate and baseline score indices (the table paired
    DeLong reads); the bins are the ones :func:`~mlops_gates.stats.calibration.
    calibration_bins` made of ``candidate`` and ``baseline``, so the joint table's margins
    are those bins' rows and positives. Raises ``ValueError`` when they are not (the tables
    came from different rows or slicings).
    """
    if joint.factor != 1:
        raise ValueError("the paired calibration comparison needs each row's own score bins")
    s_count, n_bins = candidate_bins.total.shape
    if baseline_bins.total.shape != (s_count, n_bins) or joint.n_groups != s_count:
        raise ValueError("the joint table and both models' bins must share their slices")
    size = s_count * n_bins * n_bins
    total = np.zeros(size)
    positives = np.zeros(size)
    sums = np.zeros((len(_MOMENTS), size))
    for positive in (False, True):
        group, c_idx, b_idx, count = joint.of_class(positive)
        s_c, s_b = candidate.thresholds[c_idx], baseline.thresholds[b_idx]
        bin_c = _bin_of(s_c, group, candidate_bins.edges)
        bin_b = _bin_of(s_b, group, baseline_bins.edges)
        # int64 before the product: a slicing's groups may come as int32 codes.
        key = (np.multiply(group, n_bins, dtype=np.int64) + bin_c) * n_bins + bin_b
        rows = np.bincount(key, weights=count, minlength=size)
        total += rows
        zero = np.zeros_like(s_c)
        terms = (s_c, s_b, s_c**2, s_b**2, s_c * s_b, s_c if positive else zero,
                 s_b if positive else zero)  # fmt: skip
        for m, term in enumerate(terms):
            sums[m] += np.bincount(key, weights=count * term, minlength=size)
        if positive:
            positives += rows
    shape = (s_count, n_bins, n_bins)
    out = JointCalibrationBins(
        total=np.rint(total).astype(np.int64).reshape(shape),
        positives=np.rint(positives).astype(np.int64).reshape(shape),
        sums=sums.reshape((len(_MOMENTS), *shape)),
    )
    for margin, axis in ((candidate_bins, 2), (baseline_bins, 1)):
        if not (
            np.array_equal(out.total.sum(axis=axis), margin.total)
            and np.array_equal(out.positives.sum(axis=axis), margin.positives)
        ):
            raise ValueError("the joint table's margins differ from the models' bins")
    return out


def l2_calibration_error(bins: CalibrationBins) -> FloatArray:
    """Debiased squared ℓ2 calibration error per slice (see the module docstring); NaN
    for an empty slice. May be slightly negative: it is unbiased, not clipped."""
    n = bins.total.sum(axis=1).astype(np.float64)
    nb = bins.total.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = bins.positives / nb
        term = (bins.mean_score() - rate) ** 2 - rate * (1.0 - rate) / (nb - 1.0)
        total = np.where(bins.total >= 2, nb * term, 0.0).sum(axis=1) / n
    return np.asarray(np.where(n > 0, total, np.nan), dtype=np.float64)


def l2_difference(
    candidate: CalibrationBins,
    baseline: CalibrationBins,
    joint: JointCalibrationBins,
    *,
    level: float = 0.95,
) -> tuple[FloatArray, Interval, FloatArray]:
    """``ĈE²(candidate) − ĈE²(baseline)`` per slice on the same rows, its ``level``
    interval and its standard error (the exact variance of the polynomial, see the module
    docstring). NaN for an empty slice."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    estimate = l2_calibration_error(candidate) - l2_calibration_error(baseline)
    variance = np.maximum(_variance(candidate, baseline, joint), _total_variance(joint))
    se = np.sqrt(np.maximum(variance, 0.0))
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return estimate, Interval(estimate - z * se, estimate + z * se), se


def _coefficients(bins: CalibrationBins) -> tuple[FloatArray, FloatArray]:
    """``ĈE² = const + Σ_b (α_b Y_b + β_b Y_b²)`` in the bins' positives ``Y_b``.

    Per bin ``(n_b/n)[(s̄ − Y/n_b)² − (Y/n_b)(1 − Y/n_b)/(n_b − 1)]`` expands to
    ``α = −(2 s̄ + 1/(n_b − 1)) / n`` and ``β = n_b / ((n_b − 1) · n · n_b)``; bins with
    fewer than two rows count 0."""
    n = bins.total.sum(axis=1, keepdims=True).astype(np.float64)
    nb = bins.total.astype(np.float64)
    used = bins.total >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = -(2.0 * bins.mean_score() + 1.0 / (nb - 1.0)) / n
        beta = 1.0 / ((nb - 1.0) * n)
    return np.where(used, alpha, 0.0), np.where(used, beta, 0.0)


def _variance(
    candidate: CalibrationBins, baseline: CalibrationBins, joint: JointCalibrationBins
) -> FloatArray:
    """Var(D̂) per slice from the binomial moments of the joint cells (module docstring).

    With ``X_i = μ_i + e_i`` per cell ``i = (j, k)``, ``D̂ − E D̂ = Σ g_i e_i + eᵀQe − E eᵀQe``
    where ``Q_ii' = β_j [j = j'] − β'_k [k = k']``, so
    ``Var = Σ g²σ² + 2 Σ g_i Q_ii μ3_i + Σ Q_ii² (μ4_i − σ_i⁴) + 2 Σ_{i≠i'} Q_ii'² σ_i² σ_i'²``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_c = np.nan_to_num(candidate.positives / candidate.total.astype(np.float64))
        rate_b = np.nan_to_num(baseline.positives / baseline.total.astype(np.float64))
    prior = (rate_c[:, :, None] + rate_b[:, None, :]) / 2.0
    p = (joint.positives + _PSEUDO_ROWS * prior) / (joint.total + _PSEUDO_ROWS)
    return _variance_at(candidate, baseline, joint.total, p, estimated=True)


def _variance_at(
    candidate: CalibrationBins,
    baseline: CalibrationBins,
    total: IntArray,
    p: FloatArray,
    *,
    estimated: bool = False,
) -> FloatArray:
    """Var(D̂) per slice when joint cell ``i`` holds ``total_i`` rows of probability
    ``p_i``: the exact variance of the polynomial (tests check it against simulation)."""
    a_c, b_c = _coefficients(candidate)  # (S, B) over candidate bins j
    a_b, b_b = _coefficients(baseline)  # (S, B) over baseline bins k
    n_i = total.astype(np.float64)
    q = 1.0 - p
    var = n_i * p * q  # σ_i²
    mu3 = var * (q - p)
    excess4 = 2.0 * var**2 + var * (1.0 - 6.0 * p * q)  # μ4 − σ⁴
    mean = n_i * p
    m_c = mean.sum(axis=2)  # E Y_j
    m_b = mean.sum(axis=1)  # E Z_k
    g = (a_c + 2.0 * b_c * m_c)[:, :, None] - (a_b + 2.0 * b_b * m_b)[:, None, :]
    g2 = g**2
    if estimated:
        # The gradient at the observed rates is noisy, and its square is biased upwards by
        # its own variance (4β²·Var Y_j + 4β'²·Var Z_k − 8ββ'·σ_i²): subtracted, so a
        # nearly calibrated pair is not judged with an inflated variance.
        noise = 4.0 * (
            (b_c**2 * var.sum(axis=2))[:, :, None]
            + (b_b**2 * var.sum(axis=1))[:, None, :]
            - 2.0 * b_c[:, :, None] * b_b[:, None, :] * var
        )
        g2 = np.maximum(g2 - noise, 0.0)
    q_diag = b_c[:, :, None] - b_b[:, None, :]
    linear = (g2 * var).sum(axis=(1, 2))
    cross = 2.0 * (g * q_diag * mu3).sum(axis=(1, 2))
    diag4 = (q_diag**2 * excess4).sum(axis=(1, 2))
    # Σ_{i,i'} Q_ii'² σ_i² σ_i'² = Σ_j β_j² (Σ_k σ²)² + Σ_k β'_k² (Σ_j σ²)² − 2 Σ_i β_j β'_k σ_i⁴
    all_pairs = (
        (b_c**2 * var.sum(axis=2) ** 2).sum(axis=1)
        + (b_b**2 * var.sum(axis=1) ** 2).sum(axis=1)
        - 2.0 * (b_c[:, :, None] * b_b[:, None, :] * var**2).sum(axis=(1, 2))
    )
    same = (q_diag**2 * var**2).sum(axis=(1, 2))
    total = linear + cross + diag4 + 2.0 * (all_pairs - same)
    empty = candidate.total.sum(axis=1) == 0
    return np.asarray(np.where(empty, np.nan, total), dtype=np.float64)


def _total_variance(joint: JointCalibrationBins) -> FloatArray:
    """Var(D̂) per slice over redrawn rows (scores and labels from the population), by the
    second-order expansion in the rows (module docstring): the plug-in variance of the
    rows' influence ``φ = 2g_j e + g_j² − 2g'_k e' − g'_k²`` over ``n``, where
    ``e = s − y − g_j`` and ``g_j`` is bin ``j``'s mean score minus its positive rate, less
    the quadratic term ``V_Q = 2/n² (Σ_j a_j² + Σ_k b_k² − 2 Σ_jk c_jk²)`` once: the noise
    in the plugged-in ``g`` inflates the first by ``2 V_Q``, and the truth is
    ``Var(φ)/n + V_Q``. Never below ``V_Q``."""
    n_i = joint.total.astype(np.float64)
    y = joint.positives.astype(np.float64)
    c, b, cc, bb, cb, cy, by = joint.sums
    n = n_i.sum(axis=(1, 2))
    n_c, n_b = n_i.sum(axis=2), n_i.sum(axis=1)
    sd_c, sd_b = c - y, b - y  # Σ (s − y) per cell
    with np.errstate(divide="ignore", invalid="ignore"):
        g_c = np.where(n_c >= 2, sd_c.sum(axis=2) / n_c, 0.0)[:, :, None]
        g_b = np.where(n_b >= 2, sd_b.sum(axis=1) / n_b, 0.0)[:, None, :]
    e_c = sd_c - n_i * g_c  # Σ e per cell
    e_b = sd_b - n_i * g_b
    ee_c = (cc - 2.0 * cy + y) - 2.0 * g_c * sd_c + n_i * g_c**2  # Σ e² per cell
    ee_b = (bb - 2.0 * by + y) - 2.0 * g_b * sd_b + n_i * g_b**2
    ee_cb = (cb - cy - by + y) - g_b * sd_c - g_c * sd_b + n_i * g_c * g_b  # Σ e e'
    h = g_c**2 - g_b**2
    phi = 2.0 * g_c * e_c - 2.0 * g_b * e_b + n_i * h
    phi2 = (
        4.0 * g_c**2 * ee_c
        + 4.0 * g_b**2 * ee_b
        - 8.0 * g_c * g_b * ee_cb
        + 2.0 * h * (2.0 * g_c * e_c - 2.0 * g_b * e_b)
        + n_i * h**2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = phi.sum(axis=(1, 2)) / n
        plug_in = (phi2.sum(axis=(1, 2)) / n - mean**2) / n
        a = np.where(n_c > 0, ee_c.sum(axis=2) / n_c, 0.0)
        b_ = np.where(n_b > 0, ee_b.sum(axis=1) / n_b, 0.0)
        c_ = np.where(n_i > 0, ee_cb / np.sqrt(n_c[:, :, None] * n_b[:, None, :]), 0.0)
        quad = 2.0 / n**2 * ((a**2).sum(axis=1) + (b_**2).sum(axis=1)
                             - 2.0 * (c_**2).sum(axis=(1, 2)))  # fmt: skip
    total = np.maximum(plug_in - quad, quad)
    return np.asarray(np.where(n > 0, total, np.nan), dtype=np.float64)


def _bin_of(value: FloatArray, group: AnyIntArray, edges: FloatArray) -> IntArray:
    """Each entry's bin under its slice's edges, as ``np.searchsorted(edges[1:-1], v)``
    (a score on an inner edge falls in the bin below, as in scikit-learn)."""
    inner = edges[:, 1:-1]
    if inner.shape[1] == 0:
        return np.zeros(value.shape[0], dtype=np.int64)
    if np.all(inner == inner[:1]):  # uniform: one set of edges
        return np.searchsorted(inner[0], value).astype(np.int64)
    return np.asarray((value[:, None] > inner[group]).sum(axis=1), dtype=np.int64)
