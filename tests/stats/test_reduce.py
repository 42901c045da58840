from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gates.stats.reduce import (
    ClassificationStats,
    RegressionStats,
    ScoreStats,
    counted_cells,
    marginalize,
    narrow_bins,
    narrow_counts,
    narrow_groups,
    reduce_classification,
    reduce_regression,
)

from ._support import Rows, assert_close, classification_rows, regression_rows


def _reduce(rows: Rows, groups: np.ndarray, n_groups: int) -> ClassificationStats:
    scores = rows.n_classes == 2
    return reduce_classification(
        groups,
        n_groups,
        rows.y_true,
        rows.candidate,
        rows.baseline,
        n_classes=rows.n_classes,
        candidate_scores=rows.scores if scores else None,
        baseline_scores=rows.baseline_scores if scores else None,
    )


def _assert_same_scores(a: ScoreStats | None, b: ScoreStats | None) -> None:
    assert a is not None and b is not None
    assert a.n_groups == b.n_groups
    for field in ("group", "score", "pos", "neg"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    # Thresholds may differ in unused values only; the values used must match.
    np.testing.assert_array_equal(a.thresholds[a.score], b.thresholds[b.score])


def _assert_same_regression(a: RegressionStats, b: RegressionStats) -> None:
    np.testing.assert_array_equal(a.n, b.n)
    assert a.has_baseline == b.has_baseline
    assert_close(a.true_mean(), b.true_mean())
    assert_close(a.m2_true, b.m2_true)
    for field in ("sum_err", "sum_abs_err", "sum_sq_err"):
        assert_close(getattr(a, field), getattr(b, field))


# --- classification ----------------------------------------------------------------------


def test_counts_layout() -> None:
    stats = reduce_classification(
        [0, 0, 1, 1], 3, [0, 1, 1, 1], [0, 1, 0, 1], [1, 1, 1, 0], n_classes=2
    )
    assert stats.counts.shape == (3, 2, 2, 2)
    assert stats.counts.dtype == np.int64
    assert stats.has_baseline and stats.n_classes == 2 and stats.n_groups == 3
    assert stats.counts[0, 0, 0, 1] == 1 and stats.counts[0, 1, 1, 1] == 1
    assert stats.counts[1, 1, 0, 1] == 1 and stats.counts[1, 1, 1, 0] == 1
    np.testing.assert_array_equal(stats.support(), [2, 2, 0])
    np.testing.assert_array_equal(stats.candidate_confusion()[1], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(stats.baseline_confusion()[1], [[0, 0], [1, 1]])
    np.testing.assert_array_equal(stats.baseline_confusion()[0], [[0, 1], [0, 1]])


def test_without_baseline_everything_sits_in_column_zero() -> None:
    stats = reduce_classification([0, 0], 1, [0, 1], [1, 1], n_classes=3)
    assert stats.counts.shape == (1, 3, 3, 1)
    assert not stats.has_baseline
    with pytest.raises(ValueError, match="without baseline"):
        stats.baseline_confusion()


def test_single_class_task_keeps_the_baseline_flag() -> None:
    # K == 1 makes (G, 1, 1, 1) ambiguous; the flag says a baseline was given.
    stats = reduce_classification([0, 0], 1, [0, 0], [0, 0], [0, 0], n_classes=1)
    assert stats.has_baseline
    np.testing.assert_array_equal(stats.baseline_confusion(), [[[2]]])


def test_no_rows() -> None:
    stats = reduce_classification(
        np.array([], np.int64), 2, [], [], n_classes=2, candidate_scores=[]
    )
    assert stats.counts.shape == (2, 2, 2, 1) and stats.counts.sum() == 0
    assert stats.candidate_scores is not None
    assert stats.candidate_scores.group.shape == (0,)
    np.testing.assert_array_equal(stats.candidate_scores.support(), [0, 0])


def test_score_table_is_sorted_by_group_then_score() -> None:
    stats = reduce_classification(
        [1, 0, 1, 0, 1, 1],
        2,
        [1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
        n_classes=2,
        candidate_scores=[0.3, 0.9, 0.3, 0.1, 0.2, 0.9],
    )
    s = stats.candidate_scores
    assert s is not None
    np.testing.assert_array_equal(s.thresholds, [0.1, 0.2, 0.3, 0.9])
    np.testing.assert_array_equal(s.group, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(s.thresholds[s.score], [0.1, 0.9, 0.2, 0.3, 0.9])
    np.testing.assert_array_equal(s.pos, [1, 0, 1, 1, 0])
    np.testing.assert_array_equal(s.neg, [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(s.n_positive(), [1, 2])
    np.testing.assert_array_equal(s.n_negative(), [1, 2])


@pytest.mark.parametrize(
    ("rows", "n_groups", "n_bins"),
    [
        (20_000, 5, 64),  # a key space smaller than the rows: summed densely
        (300, 50, 4_096),  # one far larger than the rows: sorted
        (3, 1, 1),
    ],
)
def test_binned_score_table_counts_every_cell_as_pandas_does(
    rows: int, n_groups: int, n_bins: int
) -> None:

    from mlops_gates.stats.reduce import reduce_scores

    rng = np.random.default_rng(rows)
    groups = rng.integers(0, n_groups, rows)
    bins = rng.integers(0, n_bins, rows)
    y = rng.integers(0, 2, rows)
    table = reduce_scores(groups, n_groups, y, bins, thresholds=np.linspace(0, 1, n_bins))
    _assert_pandas_counts(table, groups, bins, y)


@pytest.mark.parametrize("n_bins", [256, 250], ids=["bins-power-of-two", "bins-any"])
@pytest.mark.parametrize("n_groups", [40, 400], ids=["dense", "sorted"])
def test_score_tables_count_one_label_cells_and_the_last_cell_as_pandas_does(
    n_groups: int, n_bins: int
) -> None:
    # Counted densely (a space up to the rows: (group, score, label) cells side by side)
    # or sorted (positives counted by their running sum): the same counts, whatever the
    # labels of a cell, for the space's last cell too.

    from mlops_gates.stats import reduce as reduce_module

    rng = np.random.default_rng(25)
    n = 30_000  # a space of 10,000 cells or so (dense), or 100,000 (sorted)
    groups = rng.integers(0, n_groups, n)
    bins = rng.integers(0, n_bins, n)
    y = rng.integers(0, 2, n)
    y[groups == 3] = 1  # cells of positives only
    y[groups == 7] = 0  # and of negatives only
    groups[:50], bins[:50] = n_groups - 1, n_bins - 1  # the space's last cell, 50 rows
    table = reduce_module.reduce_scores(
        groups, n_groups, y, bins.astype(np.int32), thresholds=np.linspace(0, 1, n_bins)
    )
    _assert_pandas_counts(table, groups, bins, y)


@pytest.mark.parametrize(
    ("group_type", "label_type"),
    [(np.int32, np.int8), (np.uint16, np.bool_), (np.int64, np.uint8), (np.uint64, np.uint64)],
    ids=["memory-engine", "unsigned-and-bool", "wide-groups", "uint64"],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["rows", "weighted-cells"])
def test_score_tables_are_the_same_from_groups_and_labels_of_any_integer_type(
    group_type: type, label_type: type, weighted: bool
) -> None:
    # The memory engine hands over int32 groups and int8 labels, read as they are: each
    # model's table (binned and exact) and the paired table are pandas' counts.
    import pandas as pd

    from mlops_gates.stats.reduce import reduce_joint_scores, reduce_scores

    rng = np.random.default_rng(11)
    n, n_groups, n_bins = 20_000, 700, 512  # a space of 358,400 cells: sorted
    groups = rng.integers(0, n_groups, n)
    y = rng.integers(0, 2, n)
    ci, bi = rng.integers(0, n_bins, n), rng.integers(0, n_bins, n)
    weights = rng.integers(1, 4, n) if weighted else None
    g, t = groups.astype(group_type), y.astype(label_type)
    frame = pd.DataFrame(
        {"g": groups, "y": y, "c": ci, "b": bi, "w": 1 if weights is None else weights}
    )

    table = reduce_scores(
        g, n_groups, t, ci.astype(np.int32), thresholds=np.arange(n_bins), weights=weights
    )
    exact = reduce_scores(g, n_groups, t, ci / n_bins, weights=weights)
    expected = frame.assign(p=frame.y * frame.w).groupby(["g", "c"])[["p", "w"]].sum()
    expected = expected.reset_index()
    np.testing.assert_array_equal(table.score, expected["c"])
    np.testing.assert_array_equal(exact.thresholds[exact.score], expected["c"] / n_bins)
    for got in (table, exact):
        np.testing.assert_array_equal(got.group, expected["g"])
        np.testing.assert_array_equal(got.pos, expected["p"])
        np.testing.assert_array_equal(got.neg, expected["w"] - expected["p"])

    joint = reduce_joint_scores(g, n_groups, t, ci, bi, weights=weights)
    cells = frame.groupby(["y", "g", "c", "b"])["w"].sum().reset_index()
    assert joint.n_negative_entries == int((cells["y"] == 0).sum())
    np.testing.assert_array_equal(joint.group, cells["g"])
    np.testing.assert_array_equal(joint.candidate, cells["c"])
    np.testing.assert_array_equal(joint.baseline, cells["b"])
    np.testing.assert_array_equal(joint.count, cells["w"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": [0, 2]}, r"groups must hold codes in \[0, 2\)"),
        ({"groups": [0, -1]}, r"groups must hold codes"),
        ({"groups": [0.0, 1.0]}, r"integer codes"),
        ({"y_true": [0, 5]}, r"y_true must hold codes in \[0, 2\)"),
        ({"candidate": [0]}, r"candidate has 1 entries, expected 2"),
        ({"baseline": [0, 3]}, r"baseline must hold codes"),
        ({"candidate_scores": [0.1, np.nan]}, r"candidate_scores contains NaN"),
        ({"baseline_scores": [np.inf, 0.1]}, r"baseline_scores contains NaN or infinite"),
        ({"candidate_scores": [0.1]}, r"candidate_scores must have shape \(2,\)"),
        ({"n_classes": 3, "candidate_scores": [0.1, 0.2]}, r"binary tasks only"),
        ({"groups": [[0, 1]]}, r"one-dimensional"),
    ],
    ids=[
        "group-too-large",
        "group-negative",
        "float-codes",
        "label-out-of-range",
        "length-mismatch",
        "baseline-out-of-range",
        "nan-score",
        "infinite-score",
        "score-length",
        "scores-multiclass",
        "two-dimensional",
    ],
)
def test_reduce_classification_rejects(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "groups": [0, 1],
        "n_groups": 2,
        "y_true": [0, 1],
        "candidate": [1, 1],
        "baseline": None,
        "n_classes": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        reduce_classification(**args)  # type: ignore[arg-type]


@given(rows=classification_rows(), data=st.data())
@settings(max_examples=100, deadline=None)
def test_marginalize_equals_reducing_the_merged_groups(rows: Rows, data: st.DataObject) -> None:
    stats = _reduce(rows, rows.groups, rows.n_groups)
    n_slices = data.draw(st.integers(1, 5))
    to_slice = np.array(
        data.draw(st.lists(st.integers(0, n_slices - 1), min_size=rows.n_groups,
                           max_size=rows.n_groups)),
        dtype=np.int64,
    )  # fmt: skip
    merged = marginalize(stats, to_slice, n_slices)
    direct = _reduce(rows, to_slice[rows.groups], n_slices)
    np.testing.assert_array_equal(merged.counts, direct.counts)
    assert merged.has_baseline
    if rows.n_classes == 2:
        _assert_same_scores(merged.candidate_scores, direct.candidate_scores)
        _assert_same_scores(merged.baseline_scores, direct.baseline_scores)


@given(rows=classification_rows())
@settings(max_examples=100, deadline=None)
def test_marginalize_over_all_groups_equals_one_group(rows: Rows) -> None:
    stats = _reduce(rows, rows.groups, rows.n_groups)
    overall = marginalize(stats, np.zeros(rows.n_groups, np.int64), 1)
    single = _reduce(rows, np.zeros_like(rows.groups), 1)
    np.testing.assert_array_equal(overall.counts, single.counts)
    if rows.n_classes == 2:
        _assert_same_scores(overall.candidate_scores, single.candidate_scores)


@pytest.mark.parametrize(
    "per_row",
    [1, ((1 << 31) - 1) // 1_800, 1 << 33],
    ids=["small-counts", "just-below-the-packing-limit", "counts-too-large-to-pack"],
)
def test_marginalized_score_counts_are_pandas_group_sums(per_row: int) -> None:
    """Marginalizing sums each (slice, score) cell's counts exactly, also when they are
    too large for both to share one int64 (then summed one count at a time)."""
    import pandas as pd

    rng = np.random.default_rng(7)
    n_groups, n_bins, n_slices = 40, 64, 6
    cells = rng.choice(n_groups * n_bins, size=900, replace=False)
    cells.sort()
    group, score = cells // n_bins, cells % n_bins
    # Weighted entries (a count per entry): at most 1,800 x per_row negatives in all, so
    # the middle case keeps every sum below 2**31 and the last carries far beyond it.
    pos = rng.integers(0, 3, cells.shape[0]) * per_row
    neg = rng.integers(1, 3, cells.shape[0]) * per_row
    table = ScoreStats(np.linspace(0, 1, n_bins), group, score, pos, neg, n_groups)
    to_slice = rng.integers(0, n_slices, n_groups)
    out = marginalize(table, to_slice, n_slices)
    expected = (
        pd.DataFrame({"s": to_slice[group], "b": score, "p": pos, "n": neg})
        .groupby(["s", "b"])[["p", "n"]]
        .sum()
        .reset_index()
    )
    np.testing.assert_array_equal(out.group, expected["s"])
    np.testing.assert_array_equal(out.score, expected["b"])
    np.testing.assert_array_equal(out.pos, expected["p"])
    np.testing.assert_array_equal(out.neg, expected["n"])
    assert out.pos.dtype == out.neg.dtype == np.int64


def test_tables_with_empty_groups_and_narrow_types_marginalize_to_pandas_group_sums() -> None:
    """A slicing's keys repeat each slice's first cell over its groups' runs of entries:
    groups with no entries (the first, some inside, the last) have runs of length zero,
    and the batched read's narrow types (int32 groups and counts, int16 bins) sum as
    int64. One table summed into several slicings reuses its packed counts."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n_groups, n_bins = 30, 50
    occupied = np.setdiff1d(np.arange(n_groups), [0, 7, 8, 19, n_groups - 1])
    cells = rng.choice(occupied.shape[0] * n_bins, size=600, replace=False)
    cells.sort()
    group = occupied[cells // n_bins].astype(np.int32)
    score = (cells % n_bins).astype(np.int16)
    pos = rng.integers(0, 4, cells.shape[0]).astype(np.int32)
    neg = rng.integers(0, 4, cells.shape[0]).astype(np.int32)
    table = ScoreStats(np.linspace(0, 1, n_bins), group, score, pos, neg, n_groups)
    rows = pd.DataFrame({"g": group, "b": score, "p": pos, "n": neg})
    for n_slices in (1, 4, n_groups):
        to_slice = rng.integers(0, n_slices, n_groups)
        out = marginalize(table, to_slice, n_slices)
        summed = rows.assign(s=to_slice[group]).groupby(["s", "b"])[["p", "n"]].sum()
        expected = summed[(summed["p"] > 0) | (summed["n"] > 0)].reset_index()
        np.testing.assert_array_equal(out.group, expected["s"])
        np.testing.assert_array_equal(out.score, expected["b"])
        np.testing.assert_array_equal(out.pos, expected["p"])
        np.testing.assert_array_equal(out.neg, expected["n"])
    # The table itself is left as it was.
    np.testing.assert_array_equal(table.pos, rows["p"])
    assert table.pos.dtype == np.int32


def test_marginalize_empty_slice() -> None:
    stats = reduce_classification([0, 1], 2, [0, 1], [0, 1], n_classes=2)
    out = marginalize(stats, [0, 0], 3)
    np.testing.assert_array_equal(out.support(), [2, 0, 0])


@pytest.mark.parametrize(
    ("mapping", "n_slices", "message"),
    [([0], 1, "expected 2"), ([0, 1], 1, r"codes in \[0, 1\)"), ([0, -1], 2, "codes")],
    ids=["wrong-length", "slice-too-large", "negative"],
)
def test_marginalize_rejects_bad_mappings(mapping: list[int], n_slices: int, message: str) -> None:
    stats = reduce_classification([0, 1], 2, [0, 1], [0, 1], n_classes=2)
    with pytest.raises(ValueError, match=message):
        marginalize(stats, mapping, n_slices)


# --- regression --------------------------------------------------------------------------


def test_regression_layout() -> None:
    stats = reduce_regression([0, 0, 1], 3, [1.0, 3.0, 5.0], [2.0, 2.0, 5.0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(stats.n, [2, 1, 0])
    assert_close(stats.true_mean(), [2.0, 5.0, np.nan])
    assert_close(stats.m2_true, [2.0, 0.0, 0.0])
    assert_close(stats.sum_err, [[0.0, -4.0], [0.0, -5.0], [0.0, 0.0]])
    assert_close(stats.sum_abs_err, [[2.0, 4.0], [0.0, 5.0], [0.0, 0.0]])
    assert_close(stats.sum_sq_err, [[2.0, 10.0], [0.0, 25.0], [0.0, 0.0]])
    assert stats.has_baseline and stats.sum_err.shape == (3, 2)
    no_base = reduce_regression([0], 1, [1.0], [1.0])
    assert not no_base.has_baseline and no_base.sum_err.shape == (1, 1)


@pytest.mark.parametrize(
    "value", [0.1, 1e6 + 0.1, -7.3, 1e300], ids=["tenth", "large-offset", "negative", "huge"]
)
def test_constant_target_has_exactly_zero_spread(value: float) -> None:
    # 0.1 + 0.1 + 0.1 != 0.3: a naive mean would leave float noise in the sum of squares,
    # and R² would be a huge finite number instead of undefined.
    y = np.full(7, value)
    stats = reduce_regression([0, 0, 0, 1, 1, 1, 1], 2, y, y + 1)
    assert stats.m2_true.tolist() == [0.0, 0.0]
    overall = marginalize(stats, [0, 0], 1)
    assert overall.m2_true.tolist() == [0.0]
    assert_close(overall.true_mean(), [value])


def test_far_from_zero_groups_combine_accurately() -> None:
    # Two groups around 1e6 whose means differ by 1e-3: combining rounded means would lose
    # ~7 digits of the between-group term; the centred representation keeps them.
    rng = np.random.default_rng(7)
    noise = rng.integers(-50, 50, 400) * 2.0**-16
    groups = np.repeat([0, 1], 200)
    y = 1e6 + noise + groups * 2.0**-10
    stats = reduce_regression(groups, 2, y, y)
    overall = marginalize(stats, [0, 0], 1)
    expected = np.sum((y - y.mean()) ** 2)
    np.testing.assert_allclose(overall.m2_true, [expected], rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": [1.0, np.nan]}, "y_true contains NaN"),
        ({"candidate": [np.inf, 1.0]}, "candidate contains NaN or infinite"),
        ({"baseline": [1.0]}, r"baseline must have shape \(2,\)"),
        ({"groups": [0, 3]}, r"groups must hold codes in \[0, 2\)"),
    ],
    ids=["nan-target", "infinite-prediction", "baseline-length", "group-out-of-range"],
)
def test_reduce_regression_rejects(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "groups": [0, 1],
        "n_groups": 2,
        "y_true": [1.0, 2.0],
        "candidate": [1.0, 2.0],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        reduce_regression(**args)  # type: ignore[arg-type]


@given(rows=regression_rows(), data=st.data())
@settings(max_examples=100, deadline=None)
def test_regression_marginalize_equals_reducing_the_merged_groups(
    rows: object, data: st.DataObject
) -> None:
    from ._support import RegressionRows

    assert isinstance(rows, RegressionRows)
    stats = reduce_regression(
        rows.groups, rows.n_groups, rows.y_true, rows.candidate, rows.baseline
    )
    n_slices = data.draw(st.integers(1, 4))
    to_slice = np.array(
        data.draw(st.lists(st.integers(0, n_slices - 1), min_size=rows.n_groups,
                           max_size=rows.n_groups)),
        dtype=np.int64,
    )  # fmt: skip
    merged = marginalize(stats, to_slice, n_slices)
    direct = reduce_regression(
        to_slice[rows.groups], n_slices, rows.y_true, rows.candidate, rows.baseline
    )
    _assert_same_regression(merged, direct)
    # Constant slices stay exactly constant through the combination.
    for s in range(n_slices):
        y = rows.y_true[to_slice[rows.groups] == s]
        if y.size and np.ptp(y) == 0:
            assert merged.m2_true[s] == 0.0


# --- layering ----------------------------------------------------------------------------


def test_stats_imports_numpy_only() -> None:
    code = (
        "import sys, mlops_gates.stats.reduce, mlops_gates.stats.metrics, "
        "mlops_gates.stats.fairness\n"
        "bad = {'pandas', 'sklearn', 'scipy', 'pytest', 'mlflow', 'jinja2', 'fairlearn'}\n"
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("n", "space", "dtype"),
    [
        (5_000, 300, np.int64),  # a few times the keys or less: summed densely
        (5_000, 4_000_000, np.int64),  # sorted, 32 bits wide
        (5_000, 4_000_000, np.int32),  # keys already narrow
        (5_000, 1 << 35, np.int64),  # too wide for 32 bits: sorted as int64
        (5_000, 1 << 40, np.int64),
        (5_000, (1 << 40) + 1, np.int64),
        (0, 10, np.int64),
    ],
)
def test_counted_cells_are_numpys_unique_counts(n: int, space: int, dtype: type) -> None:
    rng = np.random.default_rng(n + space)
    # Skewed keys, so cells repeat and many keys of the space are absent.
    keys = (rng.pareto(1.5, n) * space / 50).astype(np.int64) % space
    keys[: min(n, 3)] = space - 1  # the space's last key is counted too
    expected_cells, expected_counts = np.unique(keys, return_counts=True)
    cells, counts = counted_cells(keys.astype(dtype), space)
    assert cells.dtype == counts.dtype == np.int64
    assert np.array_equal(cells, expected_cells)
    assert np.array_equal(counts, expected_counts)


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint16, np.float64])
def test_the_paired_table_is_the_same_from_indices_of_any_integer_type(dtype: type) -> None:
    # Narrow signed indices are read as they are (no int64 copy of each row's index);
    # the table is the one int64 indices give.
    from mlops_gates.stats.reduce import reduce_joint_scores

    rng = np.random.default_rng(7)
    n, n_groups = 20_000, 30
    group, y = rng.integers(0, n_groups, n), rng.integers(0, 2, n)
    ci, bi = rng.integers(0, 500, n), rng.integers(0, 300, n)
    wide = reduce_joint_scores(group, n_groups, y, ci, bi)
    narrow = reduce_joint_scores(group, n_groups, y, ci.astype(dtype), bi.astype(dtype))
    assert (narrow.n_negative_entries, narrow.n_groups) == (wide.n_negative_entries, n_groups)
    for name in ("group", "candidate", "baseline", "count"):
        a, b = getattr(wide, name), getattr(narrow, name)
        assert a.dtype == b.dtype == np.int64, name
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_wide_keys_of_equal_low_halves_stay_apart() -> None:
    # Keys differing only in their high 8 bits share a low half: every one is its own cell.
    low = np.array([0, 7, (1 << 32) - 1, 7, 0], dtype=np.int64)
    high = np.array([0, 1, 0, 255, 255], dtype=np.int64) << 32
    keys = np.concatenate([low + high, low[:3] + high[:3], [(1 << 40) - 1]])
    expected_cells, expected_counts = np.unique(keys, return_counts=True)
    cells, counts = counted_cells(keys.copy(), 1 << 40)
    assert np.array_equal(cells, expected_cells)
    assert np.array_equal(counts, expected_counts)


@pytest.mark.parametrize(
    ("n_groups", "width"),
    [(800, 4096), (3, 5), (1025, (1 << 14) + 1)],
    ids=["bench-like", "tiny", "too-wide-for-power-of-two-fields"],
)
def test_the_paired_table_counts_each_class_group_and_bin_pair_as_numpy_does(
    n_groups: int, width: int
) -> None:
    # Fields packed a power of two wide (shifts) while the key fits 40 bits, else at their
    # own widths: the same table, every (class, group, candidate bin, baseline bin) that
    # occurs, class-major, with its rows.
    from mlops_gates.stats.reduce import reduce_joint_scores

    rng = np.random.default_rng(n_groups)
    n = 20_000
    group, y = rng.integers(0, n_groups, n), rng.integers(0, 2, n)
    ci = rng.integers(0, width, n)
    bi = np.clip(ci + rng.integers(-3, 4, n), 0, width - 1)
    ci[0], bi[1], group[2] = width - 1, width - 1, n_groups - 1  # the widest values occur
    joint = reduce_joint_scores(group, n_groups, y, ci, bi)
    rows, counts = np.unique(np.stack([y, group, ci, bi], axis=1), axis=0, return_counts=True)
    assert joint.n_negative_entries == int((rows[:, 0] == 0).sum())
    np.testing.assert_array_equal(joint.group, rows[:, 1])
    np.testing.assert_array_equal(joint.candidate, rows[:, 2])
    np.testing.assert_array_equal(joint.baseline, rows[:, 3])
    np.testing.assert_array_equal(joint.count, counts)


def _assert_pandas_counts(
    table: ScoreStats, groups: np.ndarray, bins: np.ndarray, y: np.ndarray
) -> None:
    """`table` holds pandas' positives and rows per (group, bin), in its order, in the
    batched read's narrow types (int32 groups and counts, int16 bins)."""
    import pandas as pd

    expected = (
        pd.DataFrame({"g": groups, "s": bins, "y": y})
        .groupby(["g", "s"])["y"]
        .agg(["sum", "size"])
        .reset_index()
    )
    types = {"group": np.int32, "score": np.int16, "pos": np.int32, "neg": np.int32}
    for field, expected_type in types.items():
        assert getattr(table, field).dtype == expected_type, field
    np.testing.assert_array_equal(table.group, expected["g"])
    np.testing.assert_array_equal(table.score, expected["s"])
    np.testing.assert_array_equal(table.pos, expected["sum"])
    np.testing.assert_array_equal(table.neg, expected["size"] - expected["sum"])


@pytest.mark.parametrize("order", ["as-reduced", "shuffled"])
def test_a_relabelled_joint_table_puts_each_entry_in_its_groups_slice(order: str) -> None:
    # Entries sorted by group within each class (as reduced) get their slices repeated
    # over the (class, group) runs; any other order is relabelled entry by entry. Either
    # way each entry's slice is its group's, and the slices' rows are pandas' counts.
    import pandas as pd

    from mlops_gates.stats.reduce import JointScores, marginalize_joint, reduce_joint_scores

    rng = np.random.default_rng(3)
    n, n_groups, n_slices = 5_000, 40, 7
    groups, y = rng.integers(0, n_groups, n), rng.integers(0, 2, n)
    ci, bi = rng.integers(0, 30, n), rng.integers(0, 30, n)
    groups[y == 1] = np.minimum(groups[y == 1], 30)  # groups with no positives
    to_slice = rng.integers(0, n_slices, n_groups)
    joint = reduce_joint_scores(groups, n_groups, y, ci, bi)
    if order == "shuffled":
        perm = np.concatenate(
            [
                rng.permutation(joint.n_negative_entries),
                joint.n_negative_entries
                + rng.permutation(joint.count.shape[0] - joint.n_negative_entries),
            ]
        )
        joint = JointScores(
            joint.group[perm], joint.candidate[perm], joint.baseline[perm], joint.count[perm],
            joint.n_negative_entries, n_groups,
        )  # fmt: skip
        assert joint.class_group_runs is None
    else:
        assert joint.class_group_runs is not None
    relabelled = marginalize_joint(joint, to_slice, n_slices)
    np.testing.assert_array_equal(relabelled.group, to_slice[joint.group])
    assert relabelled.n_groups == n_slices
    entries = pd.DataFrame(
        {
            "y": np.arange(relabelled.count.shape[0]) >= relabelled.n_negative_entries,
            "slice": relabelled.group,
            "c": relabelled.candidate,
            "b": relabelled.baseline,
            "rows": relabelled.count,
        }
    )
    got = entries.groupby(["y", "slice", "c", "b"])["rows"].sum()
    rows = pd.DataFrame({"y": y == 1, "slice": to_slice[groups], "c": ci, "b": bi})
    expected = rows.groupby(["y", "slice", "c", "b"]).size()
    assert got.to_dict() == expected.to_dict()


@pytest.mark.parametrize("dtype", ["<i8", ">i8", "i4", "i1", "u2", "?"])
def test_codes_out_of_range_are_refused_in_any_integer_type(dtype: str) -> None:
    # Codes are checked in one pass, read as unsigned: a negative code of any width or
    # byte order is refused as a code too large is, with the values found.
    ok = np.array([0, 1, 1], dtype=dtype)
    np.testing.assert_array_equal(
        reduce_classification(ok, 2, ok, ok, n_classes=2).support(), [1, 2]
    )
    if np.dtype(dtype).kind == "i":
        bad = np.array([0, -1, 1], dtype=dtype)
        with pytest.raises(
            ValueError, match=r"groups must hold codes in \[0, 2\), found values in \[-1, 1\]"
        ):
            reduce_classification(bad, 2, ok, ok, n_classes=2)
    if np.dtype(dtype).kind != "b":
        big = np.array([0, 2, 1], dtype=dtype)
        with pytest.raises(
            ValueError, match=r"y_true must hold codes in \[0, 2\), found values in \[0, 2\]"
        ):
            reduce_classification(ok, 2, big, ok, n_classes=2)


@pytest.mark.parametrize(
    ("wc", "wb", "n_slices"),
    [(64, 64, 5), (37, 50, 5), (60, 60, 10)],
    ids=["power-of-two-bins", "bins-padded-to-powers-of-two", "bins-too-many-to-pad"],
)
def test_a_merged_coarse_grid_sums_each_cell_as_pandas_does(
    wc: int, wb: int, n_slices: int
) -> None:
    # A coarse grid's entries merged per (class, slice, α, β): with power-of-two bins
    # (padded to them when the cells still fit densely: 2 x 10 x 64² would not, below
    # 4 x 20,000 entries) the cells are unpacked with shifts, else with divisions.
    import pandas as pd

    from mlops_gates.stats.reduce import JointScores, marginalize_joint

    rng = np.random.default_rng(wc + wb)
    e, n_groups = 20_000, 30
    y = np.sort(rng.integers(0, 2, e))
    cells = pd.DataFrame(
        {
            "y": y,
            "g": rng.integers(0, n_groups, e),
            "a": rng.integers(0, wc, e),
            "b": rng.integers(0, wb, e),
        }
    )
    cells.loc[0, ["a", "b"]] = [wc - 1, wb - 1]  # the largest bins occur
    cells = cells.sort_values(["y", "g", "a", "b"]).reset_index(drop=True)
    count = rng.integers(1, 5, e)
    joint = JointScores(
        cells["g"].to_numpy(), cells["a"].to_numpy().astype(np.int16),
        cells["b"].to_numpy().astype(np.int16), count.astype(np.int32),
        int((y == 0).sum()), n_groups, factor=4,
    )  # fmt: skip
    to_slice = rng.integers(0, n_slices, n_groups)
    merged = marginalize_joint(joint, to_slice, n_slices)
    assert merged.count.shape[0] < e  # merged: one entry per occupied cell
    want = (
        cells.assign(s=to_slice[cells["g"]], n=count)
        .groupby(["y", "s", "a", "b"])["n"]
        .sum()
        .reset_index()
    )
    assert merged.n_negative_entries == int((want["y"] == 0).sum())
    np.testing.assert_array_equal(merged.group, want["s"])
    np.testing.assert_array_equal(merged.candidate, want["a"])
    np.testing.assert_array_equal(merged.baseline, want["b"])
    np.testing.assert_array_equal(merged.count, want["n"])
    assert merged.factor == 4 and merged.n_groups == n_slices


@pytest.mark.parametrize("kind", [np.int16, np.int32, np.int64, np.uint16])
def test_group_bounds_and_runs_count_each_groups_entries_as_pandas_does(kind: type) -> None:
    """Where each group's entries begin (one search per table, in the groups' own type)
    and how many they are, empty groups first, inside and last included, and a last
    group number the narrow type only just holds."""
    import pandas as pd

    n_groups = int(np.iinfo(kind).max) + 1 if kind in (np.int16, np.uint16) else 40
    rng = np.random.default_rng(5)
    occupied = np.array([1, 2, 5, n_groups // 2, n_groups - 2])
    group = np.sort(rng.choice(occupied, 300)).astype(kind)
    score = np.zeros(group.shape[0], dtype=np.int16)
    ones = np.ones(group.shape[0], dtype=np.int32)
    table = ScoreStats(np.zeros(1), group, score, ones, ones, n_groups)
    sizes = pd.Series(group.astype(np.int64)).value_counts().reindex(range(n_groups), fill_value=0)
    np.testing.assert_array_equal(table.group_runs, sizes.to_numpy())
    np.testing.assert_array_equal(table.group_bounds, np.concatenate([[0], sizes.cumsum()]))
    assert table.group_bounds.shape == (n_groups + 1,)


@pytest.mark.parametrize("n", [1, 4096, (1 << 15) - 1, 1 << 15, (1 << 31) - 1, 1 << 31, 1 << 40])
def test_narrow_types_hold_every_value_and_are_the_narrowest_that_do(n: int) -> None:
    """The bins of a table of `n` bins, counts of `n` rows and the groups of a (group, bin)
    key space of `n` are kept in the narrowest of numpy's signed types that holds `n`
    itself (so every value below it too, and `n` as arithmetic on them reaches it), from
    int16 up for bins and int32 up for counts and groups."""
    chosen = {"bins": narrow_bins(n), "counts": narrow_counts(n), "groups": narrow_groups(n, 1)}
    for column, dtype in chosen.items():
        largest = n
        candidates = [np.int16, np.int32, np.int64] if column == "bins" else [np.int32, np.int64]
        want = next(np.dtype(t) for t in candidates if np.iinfo(t).max >= largest)
        assert dtype == want, (column, n)
    assert narrow_groups(1 << 16, 1 << 15) == np.int64  # the keys, not the groups, decide
