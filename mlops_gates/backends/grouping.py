"""The finest grouping of rows over every column a gate slices by."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates._values import scalar
from mlops_gates.sources.data import Table

__all__ = ["Grouping"]


@dataclass
class Grouping:
    """Groups of rows, one per distinct combination of the sliced columns' values.

    Rows are reduced once per group; every slice is a union of groups, so slicing later
    needs only the small `keys` table, never the rows again. Groups are numbered in the
    sorted order of their keys (pandas' `groupby(sort=True, dropna=False)`), whichever
    backend found them, so tables from different backends line up row for row.
    """

    codes: np.ndarray  # (n_rows,) group of each row (or of each cell a backend returned)
    keys: pd.DataFrame  # (n_groups, n_columns) the columns' values in each group
    _cache: dict[tuple[str, ...], tuple[np.ndarray, list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    # Per column, when known: each group's code in the sorted order of the column's
    # values (missing last), and those values. Slicing then needs no groupby.
    _digits: dict[str, tuple[np.ndarray, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: pd.DataFrame | Table, columns: list[str]) -> Grouping:
        """The groups of the rows' `columns`. A `Table` lends the columns its reader
        already factorized (text read through Parquet dictionaries) and decodes nothing."""
        table = Table.of(rows)
        if not columns:
            return cls(np.zeros(len(table), dtype=np.int64), pd.DataFrame(index=[0]))
        fast = _by_factorize(table, columns)
        return fast if fast is not None else cls.by_groupby(table.frame, columns)

    @classmethod
    def by_groupby(cls, frame: pd.DataFrame, columns: list[str]) -> Grouping:
        """pandas' own groupby: the definition of the order `of` must reproduce."""
        grouped = frame.groupby(columns, dropna=False, sort=True, observed=True)
        codes = grouped.ngroup().to_numpy(dtype=np.int64)
        keys = grouped.size().index.to_frame(index=False)
        return cls(codes, keys)

    @property
    def n_groups(self) -> int:
        """How many groups: the length every per-group table has."""
        return len(self.keys)

    def slicing(self, columns: tuple[str, ...]) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Map each group to a slice of `columns`; returns (group_to_slice, slice values)."""
        if columns not in self._cache:
            if not columns:
                self._cache[columns] = (np.zeros(self.n_groups, dtype=np.int64), [{}])
            elif all(c in self._digits for c in columns):
                g2s, first = self._merge(columns)
                # Each column's values of every slice taken at once, not looked up one by
                # one (an Arrow string array's lookup costs microseconds): 7 slicings of
                # 800 groups 9 ms before.
                taken = [self._digits[c][1].take(self._digits[c][0][first]) for c in columns]
                values = [
                    {c: scalar(v) for c, v in zip(columns, row, strict=True)}
                    for row in zip(*taken, strict=True)
                ]
                self._cache[columns] = (g2s, values)
            else:
                grouped = self.keys.groupby(list(columns), dropna=False, sort=True, observed=True)
                g2s = grouped.ngroup().to_numpy(dtype=np.int64)
                values = [
                    {c: scalar(v) for c, v in zip(columns, key, strict=True)}
                    for key in grouped.size().index.to_frame(index=False).itertuples(index=False)
                ]
                self._cache[columns] = (g2s, values)
        return self._cache[columns]

    def coarsen(self, columns: list[str]) -> tuple[Grouping, np.ndarray]:
        """The grouping over a subset of the columns, and each group's coarse group.

        Score tables are reduced over only the columns that score gates slice by: their
        size is groups x bins, so every column they do not need multiplies it for nothing.
        """
        if not columns:
            coarse = Grouping(np.zeros(0, dtype=np.int64), pd.DataFrame(index=[0]))
            return coarse, np.zeros(self.n_groups, dtype=np.int64)
        if all(c in self._digits for c in columns):
            to_coarse, first = self._merge(tuple(columns))
            digits = {c: (self._digits[c][0][first], self._digits[c][1]) for c in columns}
            keys = pd.DataFrame({c: u.take(d) for c, (d, u) in digits.items()})
            return Grouping(np.zeros(0, dtype=np.int64), keys, _digits=digits), to_coarse
        grouped = self.keys.groupby(columns, dropna=False, sort=True, observed=True)
        to_coarse = grouped.ngroup().to_numpy(dtype=np.int64)
        keys = grouped.size().index.to_frame(index=False)
        return Grouping(np.zeros(0, dtype=np.int64), keys), to_coarse

    def _merge(self, columns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Each group's slice of `columns`, and a group in each slice: the columns' sorted
        codes combined in mixed radix sort the slices as groupby(sort=True) would."""
        combined = np.zeros(self.n_groups, dtype=np.int64)
        for c in columns:
            d, u = self._digits[c]
            combined *= max(len(u), 1)
            combined += d
        _, first, g2s = np.unique(combined, return_index=True, return_inverse=True)
        return g2s.astype(np.int64, copy=False), first


def _by_factorize(table: Table, columns: list[str]) -> Grouping | None:
    """The groups of `Grouping.by_groupby`, 2-3x faster on millions of rows.

    Each column is factorized in whatever order hashing (or a Parquet dictionary) gives,
    and the codes combined in mixed radix. Only the few distinct combinations are then put
    in sorted order (each column's values sorted by pandas, missing last, as groupby puts
    them), so the rows need one pass per column and one lookup, and no sort. None (use
    groupby) for categoricals, whose order is their own, or values that do not sort."""
    n_rows = len(table)
    codes: np.ndarray | None = None
    radices: list[int] = []
    ranks: list[np.ndarray] = []
    ordered: list[Any] = []
    space = 1
    for c in columns:
        if c in table.factorized:
            k, u = table.factorized[c]
            if isinstance(u, pd.arrays.NumpyExtensionArray):
                u = u.to_numpy()  # object text (pandas < 3): pandas 2 warns factorizing it
        else:
            col = table.column(c)
            if isinstance(col.dtype, pd.CategoricalDtype):
                return None
            k, u = pd.factorize(col, use_na_sentinel=False)
        try:  # the rank of each distinct value among them, by pandas' own sort
            rank, sorted_values = pd.factorize(u, sort=True, use_na_sentinel=False)
        except TypeError:  # mixed types that do not compare
            return None
        n = max(len(u), 1)
        space *= n
        if space > 1 << 62:
            return None
        if codes is None:  # the first column's codes, a copy: one pass, not three
            codes = np.array(k, dtype=np.int64)
        else:
            codes *= n
            codes += k
        radices.append(n)
        ranks.append(np.asarray(rank, dtype=np.int64))
        ordered.append(sorted_values)
    assert codes is not None  # (`of` asks for at least one column)
    dense = space <= max(4 * n_rows, 1 << 16)
    if dense:
        combos = np.flatnonzero(np.bincount(codes, minlength=space))
    else:
        combos, inverse = np.unique(codes, return_inverse=True)
    # Each combination's digits, then the same digits as ranks: their mixed-radix value
    # orders the combinations as the sorted keys.
    digits = []
    rest = combos.astype(np.int64)
    for n in reversed(radices):
        digits.append(rest % n)
        rest //= n
    digits.reverse()
    sorted_digits = [rank[d] for rank, d in zip(ranks, digits, strict=True)]
    key = np.zeros(combos.shape[0], dtype=np.int64)
    for d, n in zip(sorted_digits, radices, strict=True):
        key *= n
        key += d
    order = np.argsort(key, kind="stable")
    number = np.empty(combos.shape[0], dtype=np.int64)
    number[order] = np.arange(combos.shape[0])
    if dense:
        lookup = np.zeros(space, dtype=np.int64)
        lookup[combos] = number
        group = lookup[codes]
    else:
        group = number[inverse]
    per_column = {
        c: (d[order], values) for c, d, values in zip(columns, sorted_digits, ordered, strict=True)
    }
    keys = pd.DataFrame({c: u.take(d) for c, (d, u) in per_column.items()})
    return Grouping(group, keys, _digits=per_column)
