"""Drift at scale: reference profiles and current counts as SQL aggregations.

Every drift statistic is a function of two small tables (`stats/drift.py`): a reference
profile and the current data counted into its bins. Under `backend.engine: duckdb` or
`spark` both tables come from the engine, with the in-memory code's rules, so counts into
given bins are the same as when pandas reads the rows:

- numeric columns: one GROUP BY over the reference bin of each value (a CASE over the
  edges, with the edges as exact DOUBLE literals), giving counts, sums, minimum and maximum
  per bin; text that does not parse as a number is an error naming the column, and NULL,
  NaN and infinities are missing, as in memory;
- categorical columns: one GROUP BY over the value as text (booleans as `True` / `False`,
  as pandas writes them);
- a reference built from a data file: its edges from `COUNT(DISTINCT)`, exact quantiles
  (`quantile_cont` / `percentile`, both numpy's linear interpolation), the heavy values and
  the value after each, through `stats.drift.edges_from`, the same function the in-memory
  path uses (the engines interpolate quantiles with their own arithmetic: edges agree with
  numpy's to a few units in the last place).

Summaries differ only in what the report never shows: the current side carries n, mean,
minimum and maximum (no standard deviation or quantiles), and means and standard
deviations are summed by the engine, so they may differ from numpy's in the last digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gates.backends.sql_text import Dialect, double_literal
from mlops_gates.errors import DataError
from mlops_gates.sources.profile import FeatureProfile, FeatureType
from mlops_gates.stats.drift import (
    SUMMARY_QUANTILES,
    NumericHistogram,
    category_table,
    count_table_into,
    edges_from,
)

__all__ = ["SqlTable", "sql_kind"]

_NUMERIC = (
    "tinyint", "smallint", "integer", "int", "bigint", "hugeint", "long", "short", "byte",
    "utinyint", "usmallint", "uinteger", "ubigint", "uhugeint",
    "float", "double", "real", "decimal", "numeric",
)  # fmt: skip
_TEMPORAL = ("date", "time", "timestamp", "interval")
_TEXT = ("varchar", "string", "char", "text", "enum")


def sql_kind(type_name: str) -> FeatureType | None:
    """What a profile makes of an engine's column type, as `profile.column_type` does of a
    pandas dtype: booleans and text are categorical, numbers numeric, dates and nested
    types not profiled."""
    t = type_name.strip().lower()
    base = t.split("(")[0].strip()
    if base in ("boolean", "bool"):
        return "categorical"
    if base in _NUMERIC:
        return "numeric"
    if base.startswith(_TEMPORAL):
        return None
    if base.startswith(_TEXT):
        return "categorical"
    return None


@dataclass
class SqlTable:
    """One data set an engine can query: its columns with their types, and `run`."""

    dialect: Dialect
    src: str
    types: dict[str, str]  # column -> the engine's type name
    run: Callable[[str], pd.DataFrame]
    where: Path
    files: list[Path] = field(default_factory=list)  # the files read (for their digest)

    def has(self, column: str) -> bool:
        """Does the table hold `column` (a missing one is the gate's error)?"""
        return column in self.types

    def kind(self, column: str) -> FeatureType | None:
        """How a profile treats `column`, from the engine's type, as in memory from the
        dtype; None for what is not profiled."""
        return sql_kind(self.types[column])

    def rows(self) -> int:
        """The table's row count, for the profile's source and the report."""
        return int(self.run(f"SELECT COUNT(*) AS n FROM {self.src}")["n"].iloc[0])

    def count(self, column: str, reference: FeatureProfile) -> FeatureProfile:
        """The current values of `column` counted into `reference`'s bins."""
        if reference.numeric is not None:
            return self._numeric(column, reference.numeric.edges)
        assert reference.categorical is not None
        names, counts, missing = self._categories(column)
        table = count_table_into(reference.categorical, names, counts, missing=missing)
        summary = {"n": int(sum(counts)), "distinct": len(names)}
        return FeatureProfile("categorical", self.types[column], summary, categorical=table)

    def profile(
        self, column: str, *, bins: int, top_k: int, kind: FeatureType | None = None
    ) -> FeatureProfile:
        """A reference profile of one column, as `profile.profile_column` builds it
        (`kind`: profile it as that, e.g. predicted labels as categories)."""
        kind = kind or self.kind(column)
        if kind is None:
            raise DataError(
                f"{self.where}: column {column!r} has type {self.types[column]}, which "
                f"profiles do not cover"
            )
        if kind == "categorical":
            names, counts, missing = self._categories(column)
            table = category_table(names, counts, missing=missing, top_k=top_k)
            summary = {"n": int(sum(counts)), "distinct": len(names)}
            return FeatureProfile("categorical", self.types[column], summary, categorical=table)
        summary, edges = self._edges(column, bins)
        hist = self._numeric(column, edges).numeric
        assert hist is not None
        return FeatureProfile("numeric", self.types[column], summary, numeric=hist)

    def newest(self, column: str) -> tuple[datetime | None, int, int]:
        """The newest timestamp of `column`, the rows holding one, and all rows: one MAX,
        for the staleness gate (timestamp and date columns; naive ones are UTC)."""
        base = self.types[column].strip().lower()
        if not base.startswith(("timestamp", "date")):
            if sql_kind(base) == "numeric":
                raise DataError(
                    f"column {column!r} holds numbers, not timestamps; store datetimes so the "
                    f"age is unambiguous"
                )
            raise DataError(
                f"column {column!r} has type {self.types[column]}; outside memory the data age "
                f"is the engine's MAX over a timestamp column, so store it as one (pandas "
                f"writes datetime64 columns to Parquet as timestamps)"
            )
        c = self.dialect.q(column)
        row = self.run(
            f"SELECT MAX({c}) AS newest, COUNT({c}) AS valid, COUNT(*) AS n FROM {self.src}"
        ).iloc[0]
        valid, rows = int(row["valid"]), int(row["n"])
        if not valid or pd.isna(row["newest"]):
            return None, 0, rows
        stamp = pd.Timestamp(row["newest"])
        stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
        return stamp.to_pydatetime(), valid, rows

    # ------------------------------------------------------------------ queries

    def value_sql(self, column: str) -> str:
        """`column` as a DOUBLE (NULL where text does not parse)."""
        return f"TRY_CAST({self.dialect.q(column)} AS DOUBLE)"

    def finite_sql(self, v: str) -> str:
        """Is DOUBLE `v` a finite number (not NULL, NaN or infinite)?"""
        return f"({v} IS NOT NULL AND NOT isnan({v}) AND ABS({v}) < CAST('Infinity' AS DOUBLE))"

    def _numeric(self, column: str, edges: np.ndarray) -> FeatureProfile:
        v = "__mg_v"
        slot = self.slot_sql(self.dialect.q(column), v, edges)
        inner = f"SELECT {self.value_sql(column)} AS {v}, {self.dialect.q(column)} FROM {self.src}"
        cells = self.run(
            f"SELECT __mg_slot, COUNT(*) AS n, SUM(__mg_x) AS s, MIN(__mg_x) AS lo, "
            f"MAX(__mg_x) AS hi FROM (SELECT {slot} AS __mg_slot, CASE WHEN "
            f"{self.finite_sql(v)} THEN {v} END AS __mg_x FROM ({inner}) AS t) AS u "
            f"GROUP BY __mg_slot"
        )
        return self.histogram(column, edges, cells)

    def slot_sql(self, raw: str, v: str, edges: np.ndarray) -> str:
        """The bin of value `v` (`raw` cast to DOUBLE) as SQL: 0 .. bins + 1 with the two
        outer bins, -1 for missing, -2 for text that is not a number."""
        n_bins = max(edges.size - 1, 0)
        whens = [
            f"WHEN {raw} IS NOT NULL AND {v} IS NULL THEN -2",
            f"WHEN NOT {self.finite_sql(v)} THEN -1",
        ]
        if edges.size == 0:
            whens.append(f"ELSE {n_bins + 1}")
        else:
            whens += [
                f"WHEN {v} < {double_literal(float(edges[0]))} THEN 0",
                f"WHEN {v} > {double_literal(float(edges[-1]))} THEN {n_bins + 1}",
                *(
                    f"WHEN {v} < {double_literal(float(e))} THEN {i}"
                    for i, e in enumerate(edges[1:-1], 1)
                ),
                f"ELSE {n_bins}",
            ]
        return "CASE " + " ".join(whens) + " END"

    def histogram(self, column: str, edges: np.ndarray, cells: pd.DataFrame) -> FeatureProfile:
        """`column`'s profile from its cells by bin (`__mg_slot`, `n`, `s`, `lo`, `hi`)."""
        n_bins = max(edges.size - 1, 0)
        slots = cells["__mg_slot"].to_numpy(dtype=np.int64)
        n = cells["n"].to_numpy(dtype=np.int64)
        if (slots == -2).any():
            raise DataError(
                f"column {column!r} is numeric in the reference, but the data hold "
                f"non-numeric values such as {self._not_numbers(column)!r}"
            )
        inside = slots >= 0
        counts = np.zeros(n_bins + 2, dtype=np.int64)
        sums = np.zeros(n_bins + 2, dtype=np.float64)
        counts[slots[inside]] = n[inside]
        sums[slots[inside]] = cells["s"].to_numpy(dtype=np.float64, na_value=0.0)[inside]
        missing = int(n[slots == -1].sum())
        present = int(counts.sum())
        summary: dict[str, Any] = {"n": present, "mean": None, "min": None, "max": None}
        if present:
            summary["mean"] = float(sums.sum() / present)
            summary["min"] = float(
                np.nanmin(cells["lo"].to_numpy(dtype=np.float64, na_value=np.nan))
            )
            summary["max"] = float(
                np.nanmax(cells["hi"].to_numpy(dtype=np.float64, na_value=np.nan))
            )
        hist = NumericHistogram(np.asarray(edges, dtype=np.float64), counts, sums, missing)
        return FeatureProfile("numeric", self.types[column], summary, numeric=hist)

    def _not_numbers(self, column: str) -> list[str]:
        raw = self.dialect.q(column)
        frame = self.run(
            f"SELECT DISTINCT CAST({raw} AS {self.dialect.text}) AS v FROM {self.src} "
            f"WHERE {raw} IS NOT NULL AND {self.value_sql(column)} IS NULL LIMIT 5"
        )
        return sorted(str(x) for x in frame["v"])

    def text_sql(self, column: str) -> str:
        """`column` as text, as pandas writes its values (NULL when missing)."""
        raw = self.dialect.q(column)
        base = self.types[column].strip().lower()
        if base in ("boolean", "bool"):
            return f"CASE WHEN {raw} THEN 'True' WHEN NOT {raw} THEN 'False' END"
        if sql_kind(base) == "numeric" and base.startswith(("float", "double", "real")):
            # pandas drops NaN as missing before writing values as text.
            return f"CASE WHEN isnan({raw}) THEN NULL ELSE CAST({raw} AS {self.dialect.text}) END"
        return f"CAST({raw} AS {self.dialect.text})"

    def _categories(self, column: str) -> tuple[list[str], list[int], int]:
        text = self.text_sql(column)
        frame = self.run(f"SELECT {text} AS v, COUNT(*) AS n FROM {self.src} GROUP BY {text}")
        is_missing = frame["v"].isna().to_numpy()
        missing = int(frame["n"][is_missing].sum())
        kept = frame[~is_missing]
        return [str(x) for x in kept["v"]], [int(x) for x in kept["n"]], missing

    def _edges(self, column: str, bins: int) -> tuple[dict[str, Any], np.ndarray]:
        v = self.value_sql(column)
        finite = f"(SELECT {v} AS x FROM {self.src}) AS t WHERE {self.finite_sql('x')}"
        qs = ", ".join(repr(float(q)) for q in SUMMARY_QUANTILES)
        row = self.run(
            f"SELECT COUNT(x) AS n, COUNT(DISTINCT x) AS d, AVG(x) AS mean, "
            f"STDDEV_SAMP(x) AS std, MIN(x) AS lo, MAX(x) AS hi, "
            f"{self.dialect.quantiles.format(v='x', qs=qs)} AS q FROM {finite}"
        ).iloc[0]
        n = int(row["n"])
        if n == 0:
            empty: dict[str, Any] = {
                "n": 0,
                "mean": None,
                "std": None,
                "min": None,
                "max": None,
                "quantiles": {},
            }
            return empty, np.empty(0, dtype=np.float64)
        lo, hi = float(row["lo"]), float(row["hi"])
        summary = {
            "n": n,
            "mean": float(row["mean"]),
            "std": float(row["std"]) if n > 1 and not pd.isna(row["std"]) else None,
            "min": lo,
            "max": hi,
            "quantiles": {
                str(q): float(x) for q, x in zip(SUMMARY_QUANTILES, row["q"], strict=True)
            },
        }
        if int(row["d"]) <= bins:
            distinct = self.run(f"SELECT DISTINCT x FROM {finite} ORDER BY x")["x"]
            return summary, edges_from(lo, hi, distinct=distinct.to_numpy(dtype=np.float64))
        cuts = ", ".join(repr(float(q)) for q in np.arange(1, bins) / bins)
        quantiles = self.run(
            f"SELECT {self.dialect.quantiles.format(v='x', qs=cuts)} AS q FROM {finite}"
        ).iloc[0]["q"]
        heavy = self.run(
            f"SELECT x, COUNT(*) AS n FROM {finite} GROUP BY x "
            f"HAVING COUNT(*) * {int(bins)} >= {n} ORDER BY x"
        )["x"].to_numpy(dtype=np.float64)
        after = heavy.copy()
        if heavy.size:
            parts = ", ".join(
                f"MIN(CASE WHEN x > {double_literal(float(h))} THEN x END) AS a{i}"
                for i, h in enumerate(heavy)
            )
            nxt = self.run(f"SELECT {parts} FROM {finite}").iloc[0]
            after = np.array(
                [h if pd.isna(a) else float(a) for h, a in zip(heavy, nxt, strict=True)]
            )
        edges = edges_from(
            lo, hi, quantiles=np.asarray(quantiles, dtype=np.float64), heavy=heavy, after=after
        )
        return summary, edges
