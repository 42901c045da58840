"""Reference profiles: per-column histograms and summaries of a data set, as versioned JSON.

A profile is what the drift gate needs of the reference data and nothing more: numeric
columns as counts over bin edges taken from the reference quantiles (with under/overflow
and missing counts, and the mean of each bin), categorical columns as counts of their
``top_k`` most frequent categories plus an ``other`` bucket and missing. Current data are
counted into the same bins, so drift is computed from two small tables. Its JSON Schema
ships as ``mlops_gates/schemas/profile.schema.json``.

This module reads data and JSON and turns pandas columns into plain arrays; the binning
and counting are the pure functions of :mod:`mlops_gates.stats.drift`.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlops_gates.errors import DataError
from mlops_gates.sources.data import file_digest, require_columns
from mlops_gates.stats.drift import (
    CategoryCounts,
    NumericHistogram,
    category_table,
    count_table_into,
    histogram,
    numeric_summary,
    quantile_edges,
)

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_TOP_K",
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "FeatureProfile",
    "FeatureType",
    "Profile",
    "build_profile",
    "category_values",
    "column_type",
    "count_like",
    "is_profile_path",
    "numeric_values",
    "prediction_profiles",
    "profile_column",
    "profile_from_dict",
    "profile_json",
    "profile_schema",
    "profile_to_dict",
    "read_profile",
    "write_profile",
]


PROFILE_FORMAT = "mlops-gates-profile"
PROFILE_VERSION = 1
DEFAULT_BINS = 10
DEFAULT_TOP_K = 50
MAX_BINS = 1000
SCHEMA_PATH = Path(__file__).parents[1] / "schemas" / "profile.schema.json"

FeatureType = Literal["numeric", "categorical"]
PredictionKind = Literal["scores", "labels", "values"]


@dataclass(frozen=True)
class FeatureProfile:
    """One column of a profile: its type, counts and summary."""

    type: FeatureType
    dtype: str
    summary: dict[str, Any]
    numeric: NumericHistogram | None = None
    categorical: CategoryCounts | None = None

    @property
    def rows(self) -> int:
        """Rows counted in this column, missing values included."""
        table = self.numeric if self.numeric is not None else self.categorical
        assert table is not None
        return table.rows

    @property
    def missing(self) -> int:
        """Rows with no value in this column."""
        table = self.numeric if self.numeric is not None else self.categorical
        assert table is not None
        return table.missing


@dataclass(frozen=True)
class Profile:
    """A data set's profile: one entry per column, and optionally the model's output."""

    features: dict[str, FeatureProfile]
    rows: int
    bins: int
    top_k: int
    source: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, FeatureProfile] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not profiled
    created_at: str = ""


# ---------------------------------------------------------------- building


def column_type(series: pd.Series) -> FeatureType | None:
    """numeric, categorical, or None for columns a profile does not cover (dates, times)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"  # two values, no useful order or scale
    if pd.api.types.is_complex_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype)
    ):
        return None
    return "categorical"


def numeric_values(series: pd.Series, *, what: str) -> np.ndarray:
    """Float values with NaN for missing; infinities count as missing. Text that is not
    a number is a `DataError` naming the column."""
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad):
            raise DataError(
                f"{what} is numeric in the reference, but the data hold non-numeric values "
                f"such as {[str(v) for v in bad.unique()[:5]]!r}"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite: np.ndarray = np.where(np.isinf(values), np.nan, values)
    return finite


def category_values(series: pd.Series) -> tuple[list[str], list[int], int]:
    """The distinct non-missing values as text with their counts, and the number of
    missing values. Typed columns are counted before their values become text (10M rows:
    one hash pass, not 10M ``str`` calls and a sort of strings)."""
    if series.dtype == object:
        # Mixed Python objects: True and 1 hash alike, so count their text instead.
        counts = series.dropna().astype(str).value_counts(sort=False)
    else:
        counts = series.value_counts(dropna=True, sort=False)
    merged: dict[str, int] = {}
    for value, count in zip(counts.index, counts.to_numpy(), strict=True):
        if count:  # a categorical dtype lists its unused categories with 0
            name = str(value)
            merged[name] = merged.get(name, 0) + int(count)
    names = sorted(merged)
    missing = len(series) - int(counts.sum())
    return names, [merged[n] for n in names], missing


def profile_column(series: pd.Series, *, bins: int, top_k: int) -> FeatureProfile:
    """One column's profile: a quantile histogram for numbers, counts of the `top_k` most frequent
    values for categories; a `DataError` for dtypes profiles do not cover (dates, times)."""
    kind = column_type(series)
    name = f"column {series.name!r}"
    if kind is None:
        raise DataError(f"{name} has dtype {series.dtype}, which profiles do not cover")
    if kind == "numeric":
        values = numeric_values(series, what=name)
        hist = histogram(values, quantile_edges(values, bins))
        return FeatureProfile("numeric", str(series.dtype), numeric_summary(values), numeric=hist)
    names, counts, missing = category_values(series)
    table = category_table(names, counts, missing=missing, top_k=top_k)
    summary = {"n": sum(counts), "distinct": len(table.categories) + table.other_distinct}
    return FeatureProfile("categorical", str(series.dtype), summary, categorical=table)


def build_profile(
    frame: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    source: Path | None = None,
    predictions: dict[str, FeatureProfile] | None = None,
) -> Profile:
    """Profile ``columns`` of ``frame`` (default: every numeric or categorical column)."""
    _check_settings(bins, top_k)
    where = source or Path("<data>")
    skipped: dict[str, str] = {}
    if columns is None:
        chosen = []
        for col in frame.columns:
            if column_type(frame[col]) is None:
                skipped[str(col)] = f"dtype {frame[col].dtype} is not profiled"
            else:
                chosen.append(col)
    else:
        require_columns(frame, columns, where="--columns", path=where)
        chosen = list(dict.fromkeys(columns))
    features = {str(col): profile_column(frame[col], bins=bins, top_k=top_k) for col in chosen}
    info: dict[str, Any] = {"path": str(source) if source else None, "rows": len(frame)}
    if source is not None and source.is_file():
        info["digest"] = file_digest(source)
    return Profile(
        features=features,
        rows=len(frame),
        bins=bins,
        top_k=top_k,
        source=info,
        predictions=predictions or {},
        skipped=skipped,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def prediction_profiles(
    config: Config, frame: pd.DataFrame, path: Path, *, bins: int, top_k: int
) -> dict[str, FeatureProfile]:
    """The candidate model's output on ``frame``, profiled: positive-class ``scores``
    (binary tasks, when there are scores), predicted ``labels`` (classification) or
    predicted ``values`` (regression)."""
    from mlops_gates.sources.evaluation import model_output

    out = model_output("candidate", config.candidate, frame, config, path)
    if config.task.type == "regression":
        series = pd.Series(out.labels, name="predicted values")
        return {"values": profile_column(series, bins=bins, top_k=top_k)}
    labels = pd.Series(out.labels, name="predicted labels", dtype=object)
    result = {"labels": profile_column(labels, bins=bins, top_k=top_k)}
    if config.task.type == "binary" and out.scores is not None:
        scores = pd.Series(out.scores, name="scores")
        result["scores"] = profile_column(scores, bins=bins, top_k=top_k)
    return result


def count_like(reference: FeatureProfile, series: pd.Series) -> FeatureProfile:
    """Current data counted into ``reference``'s bins (the same edges or categories)."""
    name = f"column {series.name!r}"
    if reference.numeric is not None:
        values = numeric_values(series, what=name)
        hist = histogram(values, reference.numeric.edges)
        return FeatureProfile("numeric", str(series.dtype), numeric_summary(values), numeric=hist)
    assert reference.categorical is not None
    names, counts, missing = category_values(series)
    table = count_table_into(reference.categorical, names, counts, missing=missing)
    summary = {"n": sum(counts), "distinct": len(names)}
    return FeatureProfile("categorical", str(series.dtype), summary, categorical=table)


def _check_settings(bins: int, top_k: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be an integer from 2 to {MAX_BINS}, got {bins!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


# ---------------------------------------------------------------- JSON


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """The profile as its JSON document (format, version and tool stamped; see
    schemas/profile.schema.json)."""
    from mlops_gates._version import __version__

    doc: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "created_at": profile.created_at,
        "tool": f"mlops-gates {__version__}",
        "source": profile.source,
        "settings": {"bins": profile.bins, "top_k": profile.top_k},
        "rows": profile.rows,
        "features": {k: _feature_to_dict(f) for k, f in profile.features.items()},
    }
    if profile.predictions:
        doc["predictions"] = {k: _feature_to_dict(f) for k, f in profile.predictions.items()}
    if profile.skipped:
        doc["skipped"] = dict(profile.skipped)
    return doc


def _feature_to_dict(f: FeatureProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": f.type,
        "dtype": f.dtype,
        "rows": f.rows,
        "missing": f.missing,
        "summary": f.summary,
    }
    if f.numeric is not None:
        h = f.numeric
        means = [_num(v) for v in h.means()]
        out["histogram"] = {
            "edges": [float(e) for e in h.edges],
            "counts": [int(c) for c in h.counts[1:-1]],
            "means": means[1:-1],
            "underflow": {"count": int(h.counts[0]), "mean": means[0]},
            "overflow": {"count": int(h.counts[-1]), "mean": means[-1]},
        }
    else:
        assert f.categorical is not None
        c = f.categorical
        out["categories"] = {
            "values": list(c.categories),
            "counts": [int(n) for n in c.counts],
            "other": {"count": c.other, "distinct": c.other_distinct},
        }
    return out


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def profile_json(profile: Profile) -> str:
    """The profile's JSON text as `mlops-gates profile` writes it (strict JSON: no NaN)."""
    return json.dumps(profile_to_dict(profile), indent=1, allow_nan=False) + "\n"


def write_profile(profile: Profile, path: Path) -> None:
    """Write the profile's JSON to `path`, creating its folder; one `DataError` when that fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(profile_json(profile), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot write the profile: {exc.strerror or exc}") from None


@cache
def profile_schema() -> dict[str, Any]:
    """The JSON Schema every profile file must satisfy (read from the package once)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def read_profile(path: Path) -> Profile:
    """Read and check a profile JSON file; every problem is one `DataError`."""
    if not path.is_file():
        raise DataError(
            f"{path}: reference profile not found; write one with "
            f"`mlops-gates profile DATA -o {path.name}`"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the profile: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    return profile_from_dict(doc, where=str(path))


def profile_from_dict(doc: Any, *, where: str = "profile") -> Profile:
    """A `Profile` from its JSON document, checked against the format version and the schema; every
    problem is one `DataError` naming `where`."""
    # Through import_module: jsonschema ships no type information.
    jsonschema = importlib.import_module("jsonschema")

    if not isinstance(doc, dict) or doc.get("format") != PROFILE_FORMAT:
        raise DataError(
            f'{where}: not an mlops-gates profile (no `"format": "{PROFILE_FORMAT}"`); '
            f"write one with `mlops-gates profile DATA`"
        )
    version = doc.get("version")
    if version != PROFILE_VERSION:
        raise DataError(
            f"{where}: profile format version {version!r}; this mlops-gates reads version "
            f"{PROFILE_VERSION}. Rewrite the profile with this version, or upgrade mlops-gates."
        )
    validator = jsonschema.Draft202012Validator(profile_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        at = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise DataError(f"{where}: invalid profile at {at}: {error.message}")
    features = {
        k: _feature_from_dict(v, f"{where}: features.{k}") for k, v in doc["features"].items()
    }
    predictions = {
        k: _feature_from_dict(v, f"{where}: predictions.{k}")
        for k, v in doc.get("predictions", {}).items()
    }
    settings = doc["settings"]
    return Profile(
        features=features,
        rows=int(doc["rows"]),
        bins=int(settings["bins"]),
        top_k=int(settings["top_k"]),
        source=dict(doc.get("source") or {}),
        predictions=predictions,
        skipped=dict(doc.get("skipped", {})),
        created_at=str(doc.get("created_at", "")),
    )


def _feature_from_dict(d: dict[str, Any], where: str) -> FeatureProfile:
    if d["type"] == "numeric":
        h = d["histogram"]
        edges = np.asarray(h["edges"], dtype=np.float64)
        inner = np.asarray(h["counts"], dtype=np.int64)
        n_bins = max(len(edges) - 1, 0)
        if len(inner) != n_bins or len(h["means"]) != n_bins:
            raise DataError(
                f"{where}: {len(edges)} edges need {n_bins} counts and means, got "
                f"{len(inner)} and {len(h['means'])}"
            )
        if np.any(np.diff(edges) < 0):
            raise DataError(f"{where}: histogram edges must be in increasing order")
        counts = np.concatenate([[h["underflow"]["count"]], inner, [h["overflow"]["count"]]])
        means = [h["underflow"]["mean"], *h["means"], h["overflow"]["mean"]]
        sums = np.asarray(
            [0.0 if m is None else m * c for m, c in zip(means, counts, strict=True)],
            dtype=np.float64,
        )
        hist = NumericHistogram(edges, counts.astype(np.int64), sums, int(d["missing"]))
        return FeatureProfile("numeric", d["dtype"], dict(d["summary"]), numeric=hist)
    cats = d["categories"]
    if len(cats["values"]) != len(cats["counts"]):
        raise DataError(f"{where}: categories.values and categories.counts differ in length")
    table = CategoryCounts(
        tuple(str(v) for v in cats["values"]),
        np.asarray(cats["counts"], dtype=np.int64),
        other=int(cats["other"]["count"]),
        other_distinct=int(cats["other"]["distinct"]),
        missing=int(d["missing"]),
    )
    return FeatureProfile("categorical", d["dtype"], dict(d["summary"]), categorical=table)


# ---------------------------------------------------------------- a reference, either way


def is_profile_path(path: Path) -> bool:
    """Is this reference a profile (a .json file) rather than data to profile?"""
    return path.name.lower().endswith(".json")
