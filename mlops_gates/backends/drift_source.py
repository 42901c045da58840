"""What a drift gate reads at scale: the engine's table of the current data (the run's,
opened once), data-file references opened by the same engine, and the model output as the
configured columns."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_gates.backends.profile_jobs import profile_table
from mlops_gates.backends.profiles import SqlTable
from mlops_gates.errors import DataError
from mlops_gates.sources.profile import FeatureProfile, FeatureType, Profile

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = ["OpenTable", "TableSource", "output_columns", "output_profiles"]

# A reference file as a table of the run's engine (`SqlBackend.open_table`).
OpenTable = Callable[[Path], AbstractContextManager[SqlTable]]


@dataclass
class TableSource:
    """What a drift gate reads, from an engine: the current table, data-file references
    opened by the same engine, and the model output as the configured columns (at scale
    predictions and scores are columns; no model is run)."""

    config: Config
    table: SqlTable
    open_table: OpenTable

    @property
    def where(self) -> Path:
        """Where the current data was read from, for messages naming the file."""
        return self.table.where

    def has(self, column: str) -> bool:
        """Does the current data hold `column` (a missing one is the gate's error)?"""
        return self.table.has(column)

    def counter(self, column: str) -> Callable[[FeatureProfile], FeatureProfile]:
        """Count the current `column` into a reference's bins, by the engine, once the
        reference is known."""
        return partial(self.table.count, column)

    def reference(
        self, path: Path, *, bins: int, top_k: int
    ) -> tuple[Profile, Callable[[], dict[str, FeatureProfile]] | None]:
        """A data file's profile as the reference, read by the run's engine, and how to
        profile its model-output columns later (read only if a gate compares the output)."""
        with self.open_table(path) as ref:
            profile = profile_table(ref, bins=bins, top_k=top_k)
        return profile, partial(self._reference_outputs, path, bins, top_k)

    def _reference_outputs(self, path: Path, bins: int, top_k: int) -> dict[str, FeatureProfile]:
        with self.open_table(path) as ref:
            return output_profiles(self.config, ref, bins=bins, top_k=top_k)

    def outputs(self) -> dict[str, Callable[[FeatureProfile], FeatureProfile]]:
        """Counters of the model output by kind (labels, scores or values), read from the
        configured columns, since at scale no model is run."""
        return {kind: self.counter(c) for kind, c in output_columns(self.config).items()}


def output_columns(config: Config) -> dict[str, str]:
    """The model output a drift gate compares at scale: the configured columns, by kind."""
    c = config.candidate
    if c.predictions is None:
        raise DataError(
            "under backend.engine duckdb or spark the model output is read from columns; "
            "set `candidate.predictions` (and `scores`)"
        )
    if config.task.type == "regression":
        return {"values": c.predictions}
    cols = {"labels": c.predictions}
    if config.task.type == "binary" and c.scores is not None:
        cols = {"scores": c.scores, **cols}
    return cols


def output_profiles(
    config: Config, table: SqlTable, *, bins: int, top_k: int
) -> dict[str, FeatureProfile]:
    """The model output columns of `table` profiled as `profile.prediction_profiles` profiles
    a model's output: predicted labels as categories, scores and values as numbers."""
    out = {}
    for kind, column in output_columns(config).items():
        if not table.has(column):
            raise DataError(f"{table.where}: no column {column!r} (the candidate's {kind})")
        as_kind: FeatureType = "categorical" if kind == "labels" else "numeric"
        out[kind] = table.profile(column, bins=bins, top_k=top_k, kind=as_kind)
    return out
