"""The paired DeLong variance read in blocks of the joint table: every block size and both
lookups (dense grid, binary search) give the textbook value; the two lookups the same bits.

Each block's squares are summed per run of one slice (pairwise), so the block size moves
the last bits only (issue 25: this replaced adding entry by entry)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_gates.stats import normal
from mlops_gates.stats.reduce import marginalize, marginalize_joint

from .test_delong import _tables, _textbook_var


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.integers(0, 2, n)
    groups = rng.integers(0, 4, n)
    common = rng.normal(size=n)
    a = np.round(y * 0.8 + common + rng.normal(scale=0.7, size=n), 1)
    b = np.round(y * 0.5 + common + rng.normal(size=n), 1)
    return y, a, b, groups


def _fresh_se(y: np.ndarray, a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> np.ndarray:
    # New tables each time: placements are memoized per table.
    ta, tb, joint = _tables(y, a, b, groups)
    slices = np.array([0, 1, 0, 1])  # groups 0 and 2, 1 and 3
    return normal.paired_roc_auc_difference_se(
        marginalize(ta, slices, 2), marginalize(tb, slices, 2), marginalize_joint(joint, slices, 2)
    )


@pytest.mark.parametrize("block", [1, 7, 64])
@pytest.mark.parametrize("dense_cells", [1 << 22, 1])  # 1: the binary-search lookup
def test_blocks_and_lookups_give_the_textbook_variance(
    monkeypatch: pytest.MonkeyPatch, block: int, dense_cells: int
) -> None:
    y, a, b, groups = _data(block + dense_cells)
    whole = _fresh_se(y, a, b, groups)  # one block: the joint has < 65,536 entries
    monkeypatch.setattr(normal, "_BLOCK", block)
    monkeypatch.setattr(normal, "_DENSE_CELLS", dense_cells)
    got = _fresh_se(y, a, b, groups)
    np.testing.assert_allclose(got, whole, rtol=1e-13)
    for s in range(2):
        m = (groups % 2) == s
        assert got[s] == pytest.approx(math.sqrt(_textbook_var(y[m], a[m], b[m])), rel=1e-10)


@pytest.mark.parametrize("block", [7, 65_536])
def test_both_lookups_give_the_same_bits(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    y, a, b, groups = _data(block)
    monkeypatch.setattr(normal, "_BLOCK", block)
    dense = _fresh_se(y, a, b, groups)
    monkeypatch.setattr(normal, "_DENSE_CELLS", 1)
    assert _fresh_se(y, a, b, groups).tobytes() == dense.tobytes()


def test_runs_of_a_slice_sum_as_adding_entry_by_entry_does() -> None:
    # Labels in runs and alone, a run across the end, an empty input: the same sums as
    # np.add.at up to rounding (pairwise within a run, not entry by entry).
    rng = np.random.default_rng(3)
    label = np.repeat(rng.integers(0, 5, 40), rng.integers(1, 30, 40)).astype(np.int32)
    values = rng.random(label.shape[0]) * 1e3
    for part in (slice(None), slice(0, 1), slice(5, 9), slice(0, 0)):
        want, got = np.zeros(5), np.zeros(5)
        np.add.at(want, label[part], values[part])
        normal._add_by_runs(got, label[part], values[part])
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("block", [5, 64, 65_536])
@pytest.mark.parametrize("slices", [[0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]], ids=str)
def test_looking_up_by_runs_or_by_cells_gives_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, block: int, slices: list[int]
) -> None:
    """Runs of one slice looked up in its rows (``_RUN`` 0: always), or each entry's cell
    (``_RUN`` huge: never): the same bits, and the textbook variance, with slices in runs
    (the joint table's group order kept: rows filled per slice), interleaved (rows of the
    whole grids), and one slice."""
    y, a, b, groups = _data(block)
    labels = np.array(slices)
    n = int(labels.max()) + 1

    def se() -> np.ndarray:
        ta, tb, joint = _tables(y, a, b, groups)
        return normal.paired_roc_auc_difference_se(
            marginalize(ta, labels, n),
            marginalize(tb, labels, n),
            marginalize_joint(joint, labels, n),
        )

    monkeypatch.setattr(normal, "_BLOCK", block)
    monkeypatch.setattr(normal, "_RUN", 0)
    by_runs = se()
    monkeypatch.setattr(normal, "_RUN", 1 << 40)
    by_cells = se()
    assert by_runs.tobytes() == by_cells.tobytes()
    for s in range(n):
        m = labels[groups] == s
        assert by_runs[s] == pytest.approx(math.sqrt(_textbook_var(y[m], a[m], b[m])), rel=1e-10)


@pytest.mark.parametrize("block", [1, 3, 8, 1000])
def test_block_runs_cut_where_the_rule_says(block: int) -> None:
    """The blocks end where a run of one label ends unless the run is longer than a block
    (then a block's length from where the block starts), and each block's runs start where
    its labels change: written out here entry by entry."""
    rng = np.random.default_rng(block)
    label = np.repeat(rng.integers(0, 4, 60), rng.integers(1, 12, 60))
    n = label.shape[0]
    want = []
    start = 0
    while start < n:
        end = min(start + block, n)
        if end < n and label[end] == label[end - 1]:
            inside = [i for i in range(start + 1, end) if label[i] != label[i - 1]]
            end = inside[-1] if inside else end
        runs = [0] + [i - start for i in range(start + 1, end) if label[i] != label[i - 1]]
        want.append((start, end, runs))
        start = end
    got = normal._block_runs(normal._runs(label), n, block)
    assert [(lo, hi, r.tolist()) for lo, hi, r in got] == want
