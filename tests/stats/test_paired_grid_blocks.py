"""The paired DeLong bounds read the coarse joint grid a block of entries at a time (issue
25: no per-entry array of the whole grid per slicing), and a slicing relabels the grid's
groups with int32 codes: both must give the sums of one pass over int64 labels (the same
bits for the labels' width; to rounding for the block size, since sums by group and by
candidate bin add each block's runs of one key at once)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import paired_binned_tables

from mlops_gates.stats import normal
from mlops_gates.stats.normal import paired_roc_auc_difference_se_bounds
from mlops_gates.stats.reduce import (
    marginalize,
    marginalize_joint,
)


def _one_pass(entries: tuple, mean_c, width_c, mean_b, width_b, n_groups):  # type: ignore[no-untyped-def]
    """What the blocks replace: whole-grid arrays and one np.bincount per sum."""
    g, ci, bi, count = (np.asarray(a, dtype=np.int64) for a in entries)
    at_c, at_b = g * width_c + ci, g * width_b + bi
    oc, ob = mean_c[at_c], mean_b[at_b]
    d = oc - ob
    w = count.astype(np.float64)
    cells = np.bincount(g, weights=count * d * d, minlength=n_groups)
    out = [cells]
    for at, other, size in ((at_c, ob, mean_c.shape[0]), (at_b, oc, mean_b.shape[0])):
        total = np.bincount(at, weights=w, minlength=size)
        mean = np.bincount(at, weights=w * other, minlength=size)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(total > 0, mean / np.where(total > 0, total, 1.0), 0.0)
        resid = other - mean[at]
        out.append(np.bincount(at, weights=w * resid * resid, minlength=size))
    return out


@pytest.mark.parametrize("block", [1, 7, 1000, 1 << 30])
def test_grid_sums_in_blocks_are_one_passs_sums(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(normal, "_BLOCK", block)
    cand, base, joint = paired_binned_tables(n_groups=30, rows=40_000, seed=5)
    assert joint.group.shape[0] > 1000  # several blocks at the smaller sizes
    for positive in (True, False):
        c, b = normal._placements(cand)[1 - positive], normal._placements(base)[1 - positive]
        mean_c, width_c, _ = normal._coarse_means(cand, c, positive, joint.factor)
        mean_b, width_b, _ = normal._coarse_means(base, b, positive, joint.factor)
        got = normal._grid_sums(
            joint.of_class(positive), mean_c, width_c, mean_b, width_b, joint.n_groups
        )
        want = _one_pass(joint.of_class(positive), mean_c, width_c, mean_b, width_b, joint.n_groups)
        for x, y in zip(got, want, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)  # NaN where NaN


@pytest.mark.parametrize("block", [3, 1 << 30])
def test_bounds_do_not_depend_on_the_block(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    cand, base, joint = paired_binned_tables(n_groups=25, rows=30_000, seed=9)
    whole = paired_roc_auc_difference_se_bounds(cand, base, joint)
    assert np.isfinite(whole[0]).sum() > 10 and np.isnan(whole[0]).any()
    cand, base, joint = paired_binned_tables(n_groups=25, rows=30_000, seed=9)  # fresh memos
    monkeypatch.setattr(normal, "_BLOCK", block)
    parts = paired_roc_auc_difference_se_bounds(cand, base, joint)
    for x, y in zip(parts, whole, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def test_a_slicing_merges_the_grid_into_int32_slices_and_the_same_sums() -> None:
    cand, base, joint = paired_binned_tables(n_groups=40, rows=50_000, seed=2)
    assert joint.factor > 1
    to_slice = np.arange(40) % 6
    narrow = marginalize_joint(joint, to_slice, 6)
    assert narrow.group.dtype == np.int32
    assert narrow.count.shape[0] < joint.count.shape[0]  # one entry per occupied cell
    wide = dataclasses.replace(joint, group=to_slice[joint.group].astype(np.int64), n_groups=6)
    c6, b6 = marginalize(cand, to_slice, 6), marginalize(base, to_slice, 6)
    got = paired_roc_auc_difference_se_bounds(c6, b6, narrow)
    c6, b6 = marginalize(cand, to_slice, 6), marginalize(base, to_slice, 6)
    want = paired_roc_auc_difference_se_bounds(c6, b6, wide)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12)
    assert np.isfinite(got[1]).all()


def test_a_merged_grid_counts_each_cell_as_pandas_does() -> None:
    import pandas as pd

    _, _, joint = paired_binned_tables(n_groups=40, rows=50_000, seed=4)
    to_slice = (np.arange(40) * 7) % 5  # slices interleaved over the groups
    merged = marginalize_joint(joint, to_slice, 5)
    positive = np.arange(joint.count.shape[0]) >= joint.n_negative_entries
    want = (
        pd.DataFrame(
            {
                "y": positive.astype(int),
                "s": to_slice[joint.group],
                "a": joint.candidate,
                "b": joint.baseline,
                "n": joint.count,
            }
        )
        .groupby(["y", "s", "a", "b"])["n"]
        .sum()
        .reset_index()
    )
    assert merged.n_negative_entries == int((want["y"] == 0).sum())
    for got, column in zip(
        (merged.group, merged.candidate, merged.baseline, merged.count), "sabn", strict=True
    ):
        np.testing.assert_array_equal(got, want[column])
    # The fine table (each row's own bins) is relabelled, never merged.
    fine = dataclasses.replace(joint, factor=1)
    assert marginalize_joint(fine, to_slice, 5).count.shape == joint.count.shape


def test_a_grid_merged_from_a_finer_slicing_is_the_same_table() -> None:
    # What the gates' context relies on to form region's grid from region x segment's.
    _, _, joint = paired_binned_tables(n_groups=40, rows=50_000, seed=6)
    fine = np.arange(40) % 8  # 8 slices
    coarse_of_fine = np.array([0, 1, 0, 2, 1, 0, 2, 2])  # 3 slices, each a union of them
    direct = marginalize_joint(joint, coarse_of_fine[fine], 3)
    stepwise = marginalize_joint(marginalize_joint(joint, fine, 8), coarse_of_fine, 3)
    assert direct.n_negative_entries == stepwise.n_negative_entries
    for name in ("group", "candidate", "baseline", "count"):
        np.testing.assert_array_equal(getattr(stepwise, name), getattr(direct, name))


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_spread_per_key_is_the_weighted_mean_and_squared_deviations(order: str) -> None:
    """:func:`normal._spread` (by runs of sorted keys, or by bincount) against each key's
    numbers computed plainly: the weighted mean and the weighted sum of squares about it,
    with a weight-0 key (mean 0) and a key with no entries."""
    rng = np.random.default_rng(7)
    key = np.sort(rng.choice([0, 1, 3, 4, 6], 500)).astype(np.int64)  # no 2 nor 5
    weight = rng.integers(0, 4, 500).astype(np.float64)
    weight[key == 4] = 0.0
    values = rng.normal(size=500)
    if order == "shuffled":
        perm = rng.permutation(500)
        key, weight, values = key[perm], weight[perm], values[perm]
    keyed = normal._keyed(key)
    assert (keyed.starts is None) == (order == "shuffled")
    mean, spread = normal._spread(keyed, weight, values, 7)
    for k in range(7):
        m = key == k
        w, v = weight[m], values[m]
        want = float(np.average(v, weights=w)) if w.sum() > 0 else 0.0
        assert mean[k] == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert spread[k] == pytest.approx(float(np.sum(w * (v - want) ** 2)), rel=1e-12, abs=1e-15)
