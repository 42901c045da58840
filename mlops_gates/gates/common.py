"""What gate kinds share: the evaluation context over the reduced tables, and slicing."""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_gates.backends.grouping import Grouping
from mlops_gates.backends.plan import Reduced
from mlops_gates.config import Config, SliceSpec
from mlops_gates.gates.result import GateResult
from mlops_gates.sources.evaluation import EvalData
from mlops_gates.stats.reduce import (
    ClassificationStats,
    JointScores,
    RegressionStats,
    ScoreStats,
)

__all__ = [
    "Context",
    "check_columns",
    "check_scores",
    "denominator",
    "error_result",
    "scores_needed",
    "slicings",
    "support",
]

ScoresNeeded = Literal["none", "candidate", "both"]
Resample = Literal["candidate", "paired"]
# Replicates of one slicing take R x cells x 8 bytes (1,000 x 160 slices x 4 cells: 5 MB);
# a multiclass table with a baseline can take far more, and is then not kept.
_KEEP_DRAWS_BYTES = 64 * 2**20


def scores_needed(metric: str, *, baseline: bool = False) -> ScoresNeeded:
    """Which models' score tables `metric` reads: none, the candidate's, or both."""
    from mlops_gates.config import SCORE_METRICS

    if metric not in SCORE_METRICS:
        return "none"
    return "both" if baseline else "candidate"


@dataclass
class Context:
    """What gates read: the reduced tables (from whichever backend) and the config."""

    config: Config
    reduced: Reduced
    data: EvalData | None = None  # the rows, when the memory backend read them
    _tables: dict[tuple[str, ...], ClassificationStats | RegressionStats] = field(
        default_factory=dict
    )
    _scores: dict[tuple[tuple[str, ...], str], ScoreStats | None] = field(default_factory=dict)
    _draws: dict[tuple[tuple[str, ...], Resample], np.ndarray] = field(default_factory=dict)
    _joints: dict[tuple[str, ...], JointScores] = field(default_factory=dict)

    def release(self) -> None:
        """Drop the slicings' tables and replicates the gates shared (and the placement
        values memoised on them): once every gate is judged only the reduced tables are
        read, and at 10M rows these caches were most of the run's peak (issue 25)."""
        self._tables.clear()
        self._scores.clear()
        self._draws.clear()
        self._joints.clear()

    @property
    def grouping(self) -> Grouping:
        """The groups the rows were reduced over (one per distinct slice key)."""
        return self.reduced.grouping

    @property
    def stats(self) -> ClassificationStats | RegressionStats:
        """The reduced count (or sum) table over every group."""
        return self.reduced.stats

    def table(
        self, columns: tuple[str, ...], *, scores: ScoresNeeded = "none"
    ) -> tuple[ClassificationStats | RegressionStats, list[dict[str, Any]]]:
        """The reduced table of one slicing (one row per slice) and the slices' values.

        Each part is built once per slicing and shared by every gate: the count table, and
        each model's score table, which is only built for gates that use scores. Score
        tables come over a coarser grouping (the score gates' columns only); both list
        the slices of a slicing in the same sorted order."""
        from mlops_gates.stats.reduce import marginalize

        g2s, values = self.grouping.slicing(columns)
        _check_slice_count(columns, len(values), self.config.statistics.max_slices)
        stats = self.stats
        if columns not in self._tables:
            self._tables[columns] = marginalize(stats, g2s, len(values))
        table = self._tables[columns]
        if scores == "none" or not isinstance(stats, ClassificationStats):
            return table, values
        assert isinstance(table, ClassificationStats)
        score_grouping = self.reduced.score_grouping
        if not set(columns) <= set(score_grouping.keys.columns):
            raise RuntimeError(f"no score table was reduced over {list(columns)}")
        _, score_values = score_grouping.slicing(columns)
        if len(score_values) != len(values):
            raise RuntimeError("score and count tables disagree on the slices")
        parts: dict[str, ScoreStats | JointScores | None] = {}
        for model in ("candidate", "baseline") if scores == "both" else ("candidate",):
            parts[f"{model}_scores"] = self._score_table(columns, model)
        if scores == "both" and self.reduced.joint_scores is not None:
            parts["joint_scores"] = self._joint_table(columns)
        return dataclasses.replace(table, **parts), values  # type: ignore[arg-type]

    def _joint_table(self, columns: tuple[str, ...]) -> JointScores:
        """The joint score table of a slicing. A coarse grid's is merged to its cells
        (far fewer than the groups' entries), kept, and formed from a finer slicing's
        when the gates ask for one, as the score tables are: the counts are integers, so
        it is the same table either way. The fine table is relabelled and not kept: it is
        as long as the rows, and only the paired DeLong of this slicing reads it."""
        from mlops_gates.stats.reduce import marginalize_joint

        joint = self.reduced.joint_scores
        assert joint is not None
        kept = self._joints.get(columns)
        if kept is not None:
            return kept
        if joint.factor > 1:
            parent, labels, n = self._summed_from(columns)
        else:
            s2s, values = self.reduced.score_grouping.slicing(columns)
            parent, labels, n = None, s2s, len(values)
        source = joint if parent is None else self._joint_table(parent)
        table = marginalize_joint(source, labels, n)
        if table.count.shape[0] < joint.count.shape[0]:  # merged: small enough to keep
            self._joints[columns] = table
        return table

    def _score_table(self, columns: tuple[str, ...], model: str) -> ScoreStats | None:
        """One model's score table of a slicing, marginalized hierarchically: from the
        table of a finer slicing the gates also ask for (``region x segment`` for
        ``region``) when there is one, whose entries are far fewer than the finest
        grouping's. Counts are summed exactly either way, so the table is the same."""
        from mlops_gates.stats.reduce import marginalize

        if (columns, model) in self._scores:
            return self._scores[columns, model]
        full = self.reduced.scores.get(model)
        if full is None:
            return None
        if not columns:  # the whole data: the report's context reads the same table
            parent = self._finer_slicing(columns)
            via = None if parent is None else self._score_table(parent, model)
            table = self.reduced.whole_scores(model, via=via)
        else:
            parent, labels, n = self._summed_from(columns)
            source = full if parent is None else self._score_table(parent, model)
            assert source is not None
            table = marginalize(source, labels, n)
        self._scores[columns, model] = table
        return table

    def _summed_from(self, columns: tuple[str, ...]) -> tuple[tuple[str, ...] | None, Any, int]:
        """Where a slicing's score tables are summed from: a finer slicing the gates ask
        for (`_finer_slicing`) with each of its slices' slice of `columns`, else the score
        grouping (None) with each group's; and how many slices `columns` has."""
        grouping = self.reduced.score_grouping
        s2s, values = grouping.slicing(columns)
        parent = self._finer_slicing(columns)
        if parent is None:
            return None, s2s, len(values)
        g2p, parent_values = grouping.slicing(parent)
        # Every slice of the finer slicing lies in one slice of this one.
        up = np.zeros(len(parent_values), dtype=np.int64)
        up[g2p] = s2s
        return parent, up, len(values)

    def _finer_slicing(self, columns: tuple[str, ...]) -> tuple[str, ...] | None:
        """The slicing with the fewest slices that the gates ask for, that refines
        `columns` and that the score tables can form; None when the finest grouping is as
        good (or no slicing refines `columns`)."""
        grouping = self.reduced.score_grouping
        reduced_by = set(grouping.keys.columns)
        limit = self.config.statistics.max_slices
        best, fewest = None, grouping.n_groups
        for gate in self.config.gates:
            for other in slicings(False, getattr(gate, "slices", None) or []):
                if not set(columns) < set(other) <= reduced_by:
                    continue
                count = len(grouping.slicing(other)[1])
                if count < fewest and count <= limit:
                    best, fewest = other, count
        return best

    def resampled(
        self, columns: tuple[str, ...], what: Resample, slices: list[int] | None = None
    ) -> np.ndarray:
        """Bootstrap replicates of one slicing's cells, shared by every gate that reads it.

        ``"candidate"``: ``(R, S, K, K)`` candidate confusion matrices; ``"paired"``:
        ``(R, S, K, K, K)`` counts over (true, candidate, baseline), both models' cells of a
        row drawn together. The stream is seeded by ``statistics.seed``, the slicing and
        ``what`` alone, so the draws do not depend on which other gates the config holds,
        and the accuracy, recall and F1 intervals of one slice come from the same
        replicates. Kept for later gates while small; a large one is drawn again, the same.
        ``slices``: keep only these slices of the slicing (each slice is resampled on its
        own, so a subset of the replicates is a resample of the subset).
        """
        draws = self._draws.get((columns, what))
        if draws is not None:
            return draws if slices is None else draws[:, slices]
        table, _ = self.table(columns)
        if not isinstance(table, ClassificationStats):
            raise TypeError("only classification tables are resampled")
        cells = int(np.prod(table.counts.shape[1:] if what == "paired" else (table.n_classes,) * 2))
        size = self.config.statistics.replicates * table.n_groups * cells * 8
        if slices is None or size <= _KEEP_DRAWS_BYTES:
            draws = self._draw(table, columns, what, None)
            if size <= _KEEP_DRAWS_BYTES:
                self._draws[columns, what] = draws
            return draws if slices is None else draws[:, slices]
        # Too large to keep: draw only the slices asked for (a stream of their own), so a
        # gate over many strata costs one draw per stratum, not one of the whole slicing.
        return self._draw(table, columns, what, slices)

    def _draw(
        self,
        table: ClassificationStats,
        columns: tuple[str, ...],
        what: Resample,
        slices: list[int] | None,
    ) -> np.ndarray:
        from mlops_gates.stats import intervals

        settings = self.config.statistics
        which = "" if slices is None else ":" + ",".join(map(str, slices))
        rng = np.random.default_rng(
            [settings.seed, zlib.crc32(f"{what}:{','.join(columns)}{which}".encode())]
        )
        if what == "paired":
            counts = table.counts if slices is None else table.counts[slices]
            return intervals.bootstrap_paired(counts, replicates=settings.replicates, rng=rng)
        cm = table.candidate_confusion()
        return intervals.bootstrap_confusion(
            cm if slices is None else cm[slices],
            replicates=settings.replicates,
            rng=rng,
            smoothing=intervals.SMOOTHING,
        )


def _check_slice_count(columns: tuple[str, ...], count: int, limit: int) -> None:
    """Stop before the bootstrap of a slicing with more slices than memory allows."""
    if count <= limit:
        return
    from mlops_gates.errors import DataError

    named = " x ".join(repr(c) for c in columns)
    raise DataError(
        f"column {named} has {count:,} distinct values (slices), more than "
        f"statistics.max_slices ({limit:,}); slice by a coarser column, or raise "
        f"`statistics.max_slices` in the config (each slice's bootstrap costs memory)"
    )


def support(table: ClassificationStats | RegressionStats) -> np.ndarray:
    """Rows behind each group of a (marginalized) table."""
    if isinstance(table, ClassificationStats):
        return table.support()
    return table.n


# What a proportion metric is a share of, when that is not every row of the slice.
DENOMINATORS = {
    "recall": "positives",
    "tpr": "positives",
    "fnr": "positives",
    "fpr": "negatives",
    "specificity": "negatives",
    "precision": "predicted positives",
}


def denominator(
    metric: str, table: ClassificationStats | RegressionStats, *, paired: bool = False
) -> tuple[np.ndarray, str]:
    """The evidence behind each slice's value of ``metric``: its own denominator (positives
    for recall, negatives for FPR, predicted positives for precision) or, for every other
    metric, the slice's rows; and the name of what is counted. ``paired``: for a
    candidate − baseline difference, the smaller of the two models' denominators."""
    from mlops_gates.stats.intervals import proportion_counts

    unit = DENOMINATORS.get(metric)
    if unit is None or not isinstance(table, ClassificationStats) or table.n_classes != 2:
        return support(table), "rows"
    _, n = proportion_counts(metric, table.candidate_confusion())
    if paired and table.has_baseline:
        n = np.minimum(n, proportion_counts(metric, table.baseline_confusion())[1])
    return n, unit


def slicings(overall: bool, slices: list[SliceSpec]) -> list[tuple[str, ...]]:
    """The column tuples a gate slices by (``()``: the whole data), each once."""
    out: list[tuple[str, ...]] = [()] if overall else []
    for s in slices:
        cols = (s,) if isinstance(s, str) else tuple(s)
        if cols not in out:
            out.append(cols)
    return out


def error_result(
    gate_id: str, kind: str, severity: Literal["block", "warn"], message: str, **extra: Any
) -> GateResult:
    """A gate's one `error` verdict: it could not be judged, and the message says why."""
    return GateResult(
        id=gate_id,
        gate=gate_id,
        kind=kind,
        status="error",
        severity=severity,
        reason="error",
        message=message,
        **extra,
    )


def check_columns(gate: Any, ctx: Context, columns: list[str]) -> None:
    """Stop with one message naming the gate when the data lack a column it slices by."""
    from mlops_gates.sources.data import require_columns

    where = ctx.data.path if ctx.data else ctx.config.data_path
    require_columns(list(ctx.reduced.columns), columns, where=f"gate {gate.id!r}", path=where)


def check_scores(metric: str, ctx: Context, *, baseline: bool) -> None:
    """Stop when a score metric has no scores to read, or a probability metric's scores
    leave [0, 1]; the message says which model and what to do."""
    from mlops_gates.config import SCORE_METRICS
    from mlops_gates.errors import DataError

    if metric not in SCORE_METRICS:
        return
    roles = ["candidate"] + (["baseline"] if baseline else [])
    for role in roles:
        if ctx.reduced.scores.get(role) is None:
            raise DataError(
                f"{metric} needs scores, but the {role} gives none: use a model with "
                f"predict_proba, or add `scores: <column>` to `{role}`"
            )
        lo, hi = ctx.reduced.score_range.get(role, (0.0, 0.0))
        if metric in ("log_loss", "brier") and (lo < 0 or hi > 1):
            raise DataError(
                f"{metric} needs probabilities, but the {role} scores leave [0, 1] "
                f"(min {lo:.4g}, max {hi:.4g})"
            )
