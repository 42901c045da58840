"""The report's paired-grid context (Reduced._paired_grid) bounds every score group's
paired standard error a block of groups at a time, so that it does not hold per-entry
arrays of the whole tables at the run's end (issue 25): the blocks must give exactly the
bits the whole tables give, whatever the block size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import paired_binned_tables

from mlops_gates.backends.plan import _se_bounds_in_blocks
from mlops_gates.stats.normal import paired_roc_auc_difference_se_bounds


@pytest.mark.parametrize("block", [1, 7, 300, 5_000, 1 << 30])
def test_blocks_give_the_whole_tables_bits(block: int) -> None:
    cand, base, joint = paired_binned_tables(n_groups=40, rows=60_000, seed=3)
    lo, hi = paired_roc_auc_difference_se_bounds(cand, base, joint)
    assert np.isnan(lo).any() and np.isfinite(lo).sum() > 20  # the cases are exercised
    b_lo, b_hi = _se_bounds_in_blocks(cand, base, joint, block=block)
    assert b_lo.shape == lo.shape
    np.testing.assert_array_equal(b_lo, lo)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(b_hi, hi)


def test_blocks_of_a_joint_table_not_ordered_by_group_are_found_by_mask() -> None:
    """Every engine orders the tables by group, and the blocks are found by binary search;
    a joint table whose entries come in another order within each class still gives every
    group its own entries (the sums, added in another order, agree to rounding)."""
    cand, base, joint = paired_binned_tables(n_groups=40, rows=60_000, seed=5)
    lo, hi = paired_roc_auc_difference_se_bounds(cand, base, joint)
    rng = np.random.default_rng(0)
    neg = joint.n_negative_entries
    order = np.r_[rng.permutation(neg), neg + rng.permutation(joint.group.shape[0] - neg)]
    shuffled = dataclasses.replace(
        joint,
        group=joint.group[order],
        candidate=joint.candidate[order],
        baseline=joint.baseline[order],
        count=joint.count[order],
    )
    b_lo, b_hi = _se_bounds_in_blocks(cand, base, shuffled, block=300)
    np.testing.assert_allclose(b_lo, lo, rtol=1e-12)
    np.testing.assert_allclose(b_hi, hi, rtol=1e-12)
