"""A baseline gate's p-values: one per slice, against that slice's own bound.

The gate computes them in one vectorised call when every slice shares a bound (absolute
margins), and slice by slice when relative margins give each slice its own; both must be
the textbook one-sided normal p-value (scipy) for a standard error, and the bootstrap
share for replicates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from mlops_gates.gates.baseline import _pvalues
from mlops_gates.gates.evidence import Evidence
from mlops_gates.gates.result import Bound

ESTIMATE = np.array([0.02, -0.01, 0.0, -0.05, np.nan])
SE = np.array([0.01, 0.02, 0.0, 0.03, 0.01])


def _normal_oracle(estimate: float, se: float, bound: Bound) -> float:
    if np.isnan(estimate):
        return np.nan
    if bound.min is not None:  # the alternative: the true difference is below the minimum
        return (
            0.0
            if se == 0 and estimate < bound.min
            else 1.0
            if se == 0
            else float(scipy.stats.norm.cdf((estimate - bound.min) / se))
        )
    assert bound.max is not None
    return (
        0.0
        if se == 0 and estimate > bound.max
        else 1.0
        if se == 0
        else float(scipy.stats.norm.sf((estimate - bound.max) / se))
    )


@pytest.mark.parametrize(
    "bounds",
    [
        [Bound(min=-0.01)] * 5,  # max_drop: one bound for every slice
        [Bound(min=-0.01 * k) for k in range(1, 6)],  # max_relative_drop: one per slice
        [Bound(max=0.01)] * 5,  # a metric where lower is better
    ],
    ids=["shared", "per-slice", "shared-max"],
)
def test_normal_pvalues_match_scipy(bounds: list[Bound]) -> None:
    got = _pvalues(Evidence(ESTIMATE, se=SE), bounds)
    want = [_normal_oracle(e, s, b) for e, s, b in zip(ESTIMATE, SE, bounds, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize(
    "bounds", [[Bound(min=0.0)] * 3, [Bound(min=0.0), Bound(min=0.1), Bound(min=-0.1)]]
)
def test_bootstrap_pvalues_count_replicates_per_slice(bounds: list[Bound]) -> None:
    rng = np.random.default_rng(7)
    replicates = rng.normal([0.05, 0.0, -0.02], 0.05, size=(999, 3))
    replicates[::10, 1] = np.nan  # undefined replicates are left out
    got = _pvalues(Evidence(replicates.mean(axis=0), replicates=replicates), bounds)
    for i, bound in enumerate(bounds):
        column = replicates[:, i]
        defined = column[~np.isnan(column)]
        assert bound.min is not None
        # Evidence that the difference is below the minimum: replicates at or above it count
        # against it.
        want = (1 + np.count_nonzero(defined >= bound.min)) / (1 + defined.size)
        assert got[i] == pytest.approx(want, rel=1e-15)
