"""Minimum detectable effect (MDE) and rows needed, per metric family.

"Insufficient evidence" is only useful with a size: the smallest true change a one-sided
test at tail ``alpha`` would detect with probability ``power`` (80 % by convention) from
the rows at hand, and how many rows a given change would need. ``alpha`` is the one-sided
level of the judgement: ``1 − confidence`` for ``judge: significance``,
``(1 − confidence) / 2`` for ``judge: interval`` (an interval beyond the bound). With
``z_a = Φ⁻¹(1 − alpha)`` and ``z_b = Φ⁻¹(power)``:

- **proportion vs a bound** (accuracy, recall, FPR, selection rate, ...; ``n`` is the
  metric's own denominator): arcsine (Cohen's ``h``) scale, where the variance is
  ``1 / (4n)`` whatever the proportion: a change from ``p`` is detectable when
  ``|2·asin√p − 2·asin√p₁| ≥ (z_a + z_b) / √n``, so
  ``MDE = p − sin²(asin√p − (z_a + z_b) / (2√n))`` for a drop (the mirror for a rise),
  and ``rows = ((z_a + z_b) / h)²``. This is statsmodels'
  ``NormalIndPower(ratio=0)`` with ``proportion_effectsize``.
- **paired candidate vs baseline** (a proportion on the same rows; McNemar): with
  ``ψ`` the share of discordant rows (one model right, the other wrong), Connor (1987):
  ``rows = (z_a·√ψ + z_b·√(ψ − δ²))² / δ²``; the MDE solves it for ``δ`` given the rows.
- **mean of per-row values** (log loss, Brier, MAE, mean error; ``sd`` per row):
  ``MDE = (z_a + z_b) · sd / √n``, ``rows = ((z_a + z_b) · sd / δ)²``.
- **any estimate with a standard error** (ROC AUC by DeLong, F1 and average precision by
  the bootstrap's spread, unpaired differences): ``MDE = (z_a + z_b) · se``; the standard
  error shrinks as ``1/√n``, so ``rows = n · ((z_a + z_b) · se / δ)²``.

All are normal approximations: seeded simulations (tests/stats/test_power.py) show the
power at the reported MDE near 80 %.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "mde_mean",
    "mde_paired",
    "mde_proportion",
    "mde_se",
    "rows_mean",
    "rows_paired",
    "rows_proportion",
    "rows_se",
]

FloatArray = NDArray[np.float64]
Direction = Literal["drop", "rise"]


def mde_proportion(
    p: ArrayLike,
    n: ArrayLike,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    direction: Direction = "drop",
) -> FloatArray:
    """Smallest drop (or rise) from proportion ``p`` detectable from ``n`` rows. NaN where
    ``n == 0`` or where no change inside [0, 1] is detectable (a drop from 0.05 that even
    reaching 0 would not show): "could only detect a drop of 0.05" would read as
    evidence of something."""
    z = _z(alpha) + _zp(power)
    pp, nn = _arrays(p, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.arcsin(np.sqrt(pp))
        step = z / (2.0 * np.sqrt(nn))
        if direction == "drop":
            reachable = phi - step >= 0.0
            mde = pp - np.sin(phi - step) ** 2
        elif direction == "rise":
            reachable = phi + step <= math.pi / 2
            mde = np.sin(phi + step) ** 2 - pp
        else:
            raise ValueError(f"direction must be 'drop' or 'rise', got {direction!r}")
    return np.asarray(np.where((nn > 0) & reachable, mde, np.nan), dtype=np.float64)


def rows_proportion(
    p: ArrayLike,
    effect: ArrayLike,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    direction: Direction = "drop",
) -> FloatArray:
    """Rows needed to detect a drop (or rise) of ``effect`` from proportion ``p``
    (rounded up); NaN when ``p ∓ effect`` leaves [0, 1] or ``effect <= 0``."""
    z = _z(alpha) + _zp(power)
    pp, e = _arrays(p, effect)
    p1 = pp - e if direction == "drop" else pp + e
    if direction not in ("drop", "rise"):
        raise ValueError(f"direction must be 'drop' or 'rise', got {direction!r}")
    ok = (e > 0) & (p1 >= 0) & (p1 <= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.abs(2 * np.arcsin(np.sqrt(pp)) - 2 * np.arcsin(np.sqrt(np.clip(p1, 0, 1))))
        rows = np.ceil((z / h) ** 2)
    return np.asarray(np.where(ok, rows, np.nan), dtype=np.float64)


def rows_paired(
    discordant: ArrayLike, effect: ArrayLike, *, alpha: float = 0.05, power: float = 0.8
) -> FloatArray:
    """Rows needed for McNemar to detect a paired difference ``effect`` when a share
    ``discordant`` of rows disagree (Connor 1987; rounded up). NaN unless
    ``0 < effect ≤ discordant`` (a difference larger than the disagreement is impossible)."""
    za, zb = _z(alpha), _zp(power)
    psi, d = _arrays(discordant, effect)
    ok = (d > 0) & (d <= psi)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.ceil((za * np.sqrt(psi) + zb * np.sqrt(np.maximum(psi - d * d, 0.0))) ** 2 / d**2)
    return np.asarray(np.where(ok, rows, np.nan), dtype=np.float64)


def mde_paired(
    discordant: ArrayLike, n: ArrayLike, *, alpha: float = 0.05, power: float = 0.8
) -> FloatArray:
    """Smallest paired difference McNemar detects from ``n`` rows of which a share
    ``discordant`` disagree: Connor's formula solved for ``δ`` (bisection). NaN where
    ``n == 0``, nothing is discordant, or not even ``δ = ψ`` (every discordant row in
    the candidate's favour) is detectable."""
    za, zb = _z(alpha), _zp(power)
    psi, nn = _arrays(discordant, n)
    ok = (nn > 0) & (psi > 0)
    psi_ok = np.where(ok, psi, 1.0)
    n_ok = np.where(ok, nn, 1.0)

    def needed(d: FloatArray) -> FloatArray:
        root = za * np.sqrt(psi_ok) + zb * np.sqrt(np.maximum(psi_ok - d * d, 0.0))
        return np.asarray(root**2 / (d * d))

    # Rows needed fall as δ grows: bisect on δ in (0, ψ] for needed(δ) = n.
    lo, hi = np.zeros(psi.shape), psi_ok.copy()
    for _ in range(80):
        mid = (lo + hi) / 2
        with np.errstate(divide="ignore"):
            enough = needed(mid) <= n_ok
        hi = np.where(enough, mid, hi)
        lo = np.where(enough, lo, mid)
    reachable = needed(psi_ok) <= n_ok
    return np.asarray(np.where(ok & reachable, hi, np.nan), dtype=np.float64)


def mde_mean(sd: ArrayLike, n: ArrayLike, *, alpha: float = 0.05, power: float = 0.8) -> FloatArray:
    """Smallest change in a mean of per-row values (standard deviation ``sd``) that ``n``
    rows detect; NaN where ``n == 0``."""
    z = _z(alpha) + _zp(power)
    s, nn = _arrays(sd, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mde = z * s / np.sqrt(nn)
    return np.asarray(np.where(nn > 0, mde, np.nan), dtype=np.float64)


def rows_mean(
    sd: ArrayLike, effect: ArrayLike, *, alpha: float = 0.05, power: float = 0.8
) -> FloatArray:
    """Rows needed to detect a change ``effect`` in a mean of per-row values (rounded up)."""
    z = _z(alpha) + _zp(power)
    s, e = _arrays(sd, effect)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.ceil((z * s / e) ** 2)
    return np.asarray(np.where(e > 0, rows, np.nan), dtype=np.float64)


def mde_se(se: ArrayLike, *, alpha: float = 0.05, power: float = 0.8) -> FloatArray:
    """Smallest change an estimate with standard error ``se`` detects: ``(z_a + z_b)·se``.
    NaN where ``se`` is not positive and finite (a slice with no spread detects nothing
    that a number could state)."""
    z = _z(alpha) + _zp(power)
    s = np.asarray(se, dtype=np.float64)
    ok = np.isfinite(s) & (s > 0)
    return np.asarray(np.where(ok, z * np.where(ok, s, 0.0), np.nan), dtype=np.float64)


def rows_se(
    se: ArrayLike, n: ArrayLike, effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> FloatArray:
    """Rows (in the unit of ``n``) needed for a change ``effect`` when ``n`` give standard
    error ``se``: the standard error shrinks as ``1/√n`` (rounded up)."""
    mde = mde_se(se, alpha=alpha, power=power)
    s, nn = _arrays(mde, n)
    with np.errstate(invalid="ignore"):
        rows = np.ceil(nn * (s / effect) ** 2)
    return np.asarray(np.where(np.isfinite(s) & (nn > 0) & (effect > 0), rows, np.nan))


def _z(alpha: float) -> float:
    """``Φ⁻¹(1 − alpha)``, the one-sided critical value."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha is a one-sided level in (0, 0.5), e.g. 0.05; got {alpha}")
    return NormalDist().inv_cdf(1.0 - alpha)


def _zp(power: float) -> float:
    """``Φ⁻¹(power)``."""
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), e.g. 0.8; got {power}")
    return NormalDist().inv_cdf(power)


def _arrays(a: ArrayLike, b: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    # broadcast_arrays costs 8-15 us a call, most of an MDE of a few slices (35 a run):
    # equal shapes and one number against an array (a point, a level) are done directly.
    if x.shape == y.shape:
        return np.array(x), np.array(y)
    if y.ndim == 0:
        return np.array(x), np.full(x.shape, y)
    if x.ndim == 0:
        return np.full(y.shape, x), np.array(y)
    x, y = np.broadcast_arrays(x, y)
    return np.array(x), np.array(y)
