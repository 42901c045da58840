"""Minimum detectable effect and rows needed.

Oracles: statsmodels' power classes (``NormalIndPower`` with ``ratio=0`` is the one-sample
z-test; ``proportion_effectsize`` is Cohen's h) and seeded simulations showing about 80 %
power at the reported MDE with the tests a gate runs (score test, McNemar).
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import proportion_effectsize

from mlops_gates.stats.power import (
    mde_mean,
    mde_paired,
    mde_proportion,
    rows_mean,
    rows_paired,
    rows_proportion,
)

from ._support import assert_close

CASES = [(0.85, 500, 0.05), (0.5, 120, 0.025), (0.97, 2000, 0.05), (0.1, 60, 0.01)]


@pytest.mark.parametrize(("p", "n", "alpha"), CASES)
def test_proportion_mde_and_rows_equal_statsmodels(p: float, n: int, alpha: float) -> None:
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n, alpha=alpha, power=0.8, ratio=0, alternative="larger"
    )
    expected = p - np.sin(np.arcsin(np.sqrt(p)) - h / 2) ** 2
    # statsmodels solves numerically (to ~1e-6); its power at our MDE is exact.
    mde = float(mde_proportion(p, n, alpha=alpha)[()])
    np.testing.assert_allclose(mde, expected, rtol=1e-4)
    ours = proportion_effectsize(p, p - mde)
    power = NormalIndPower().power(ours, nobs1=n, alpha=alpha, ratio=0, alternative="larger")
    assert_close(power, 0.8)
    rise = np.sin(np.arcsin(np.sqrt(p)) + h / 2) ** 2 - p
    np.testing.assert_allclose(mde_proportion(p, n, alpha=alpha, direction="rise"), rise, rtol=1e-4)
    # Rows for a drop of exactly the MDE: n back (up to rounding up).
    effect = 0.02
    es = proportion_effectsize(p, p - effect)
    rows = zt_ind_solve_power(effect_size=es, alpha=alpha, power=0.8, ratio=0, alternative="larger")
    assert rows_proportion(p, effect, alpha=alpha)[()] == np.ceil(rows)
    assert rows_proportion(p, mde, alpha=alpha)[()] in (n, n + 1)


def test_mean_mde_equals_statsmodels_and_edges_are_nan() -> None:
    es = NormalIndPower().solve_power(
        nobs1=400, alpha=0.05, power=0.8, ratio=0, alternative="larger"
    )
    np.testing.assert_allclose(mde_mean(0.3, 400), es * 0.3, rtol=1e-4)
    exact = NormalIndPower().power(
        mde_mean(0.3, 400)[()] / 0.3, nobs1=400, alpha=0.05, ratio=0, alternative="larger"
    )
    assert_close(exact, 0.8)
    assert rows_mean(0.3, mde_mean(0.3, 400))[()] in (400, 401)
    assert np.isnan(mde_proportion(0.5, 0)[()])
    # No drop from 0 (or from 0.05 with 10 rows) and no rise from 1 can be detected.
    assert np.isnan(mde_proportion([0.0, 0.05], 10)).all()
    assert np.isnan(mde_proportion(1.0, 10, direction="rise")[()])
    assert np.isnan(rows_proportion(0.01, 0.02)[()])  # a drop below 0 cannot happen
    assert np.isnan(mde_paired(0.0, 100)[()])
    assert np.isnan(mde_paired(0.01, 20)[()])  # 20 rows with 1 % discordant: hopeless
    with pytest.raises(ValueError, match="alpha is a one-sided level"):
        mde_proportion(0.5, 10, alpha=0.95)


def test_paired_mde_inverts_connor_rows() -> None:
    psi, n = np.array([0.05, 0.1, 0.3]), np.array([3000, 1000, 400])
    d = mde_paired(psi, n)
    # Connor's closed form at the MDE gives the rows back.
    assert np.all(np.abs(rows_paired(psi, d) - n) <= 1)
    assert np.all(d < psi)


def test_proportion_power_is_80_percent_at_the_mde_in_simulation() -> None:
    """Score test of H0: p >= p0 at one-sided 5 %, true proportion p0 - MDE."""
    rng = np.random.default_rng(17)
    p0, n, alpha = 0.85, 500, 0.05
    p1 = p0 - float(mde_proportion(p0, n, alpha=alpha)[()])
    x = rng.binomial(n, p1, size=4000)
    z = (x / n - p0) / np.sqrt(p0 * (1 - p0) / n)
    power = np.mean(z < -1.6448536269514722)
    assert 0.76 <= power <= 0.84


def test_paired_power_is_80_percent_at_the_mde_with_mcnemar() -> None:
    rng = np.random.default_rng(23)
    psi, n, alpha = 0.1, 2000, 0.05
    d = float(mde_paired(psi, n, alpha=alpha)[()])
    # Discordant shares: candidate-only right (psi + d) / 2, baseline-only right (psi - d) / 2.
    draws = rng.multinomial(n, [(psi + d) / 2, (psi - d) / 2, 1 - psi], size=3000)
    hits = 0
    for b, c, _ in draws:
        stat = mcnemar([[0, b], [c, 0]], exact=False, correction=False).statistic
        hits += (b > c) and np.sqrt(stat) > 1.6448536269514722
    assert 0.76 <= hits / len(draws) <= 0.84


def test_scalars_broadcast_against_arrays_as_statsmodels_solves_each() -> None:
    # One count for every proportion, one proportion for every count, or one of each:
    # the same MDE as statsmodels' power solved per pair (to its ~1e-6 precision).
    p, n = np.array([0.3, 0.6, 0.9]), np.array([200, 500, 2000])
    for pp, nn in ((p, 500), (0.6, n), (p, n), (0.6, 500)):
        got = mde_proportion(pp, nn, alpha=0.05)
        for (pi, ni), g in zip(np.broadcast(pp, nn), np.ravel(got), strict=True):
            h = NormalIndPower().solve_power(
                effect_size=None, nobs1=ni, alpha=0.05, power=0.8, ratio=0, alternative="larger"
            )
            assert g == pytest.approx(pi - np.sin(np.arcsin(np.sqrt(pi)) - h / 2) ** 2, abs=1e-6)
        assert np.shape(got) == np.broadcast(pp, nn).shape
