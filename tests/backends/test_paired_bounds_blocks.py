"""The report's paired-grid context (Reduced._paired_grid) bounds every score group's
paired standard error a block of groups at a time, so that it does not hold per-entry
arrays of the whole tables at the run's end (issue 25): the blocks must give exactly the
bits the whole tables give, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_gates.backends.plan import _se_bounds_in_blocks
from mlops_gates.stats.normal import paired_roc_auc_difference_se_bounds
from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores
from mlops_gates.stats.scorebins import ScoreBins


def _tables(n_groups: int, rows: int, seed: int) -> tuple:
    """Two correlated models' binned score tables and their coarse joint grid, as the
    engines make them; some groups empty, some with one class only."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, rows)
    group[group % 7 == 3] = 0  # empty groups
    y = (rng.random(rows) < 0.3).astype(np.int64)
    y[group == 5] = 1  # one class only: NaN standard error
    latent = rng.normal(size=rows) + y
    scores = [1 / (1 + np.exp(-(latent + rng.normal(scale=s, size=rows)))) for s in (0.5, 0.8)]
    tables, index = [], []
    for s in scores:
        bins = ScoreBins(float(s.min()), float(s.max()), 256)
        index.append(bins.codes(s).astype(np.int64))
        tables.append(reduce_scores(group, n_groups, y, index[-1], thresholds=bins.thresholds()))
    f = 16
    joint = reduce_joint_scores(group, n_groups, y, index[0] // f, index[1] // f, factor=f)
    return tables[0], tables[1], joint


@pytest.mark.parametrize("block", [1, 7, 300, 5_000, 1 << 30])
def test_blocks_give_the_whole_tables_bits(block: int) -> None:
    cand, base, joint = _tables(n_groups=40, rows=60_000, seed=3)
    lo, hi = paired_roc_auc_difference_se_bounds(cand, base, joint)
    assert np.isnan(lo).any() and np.isfinite(lo).sum() > 20  # the cases are exercised
    b_lo, b_hi = _se_bounds_in_blocks(cand, base, joint, block=block)
    assert b_lo.shape == lo.shape
    np.testing.assert_array_equal(b_lo, lo)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(b_hi, hi)
