"""Keep human-facing reports bounded: the worst verdicts of each gate, the rest counted.

A gate sliced by a column with 20,000 values has 20,000 verdicts. report.json keeps every
one (it is the canonical record); Markdown, the job summary and the terminal list the worst
`limit` of each gate and a line counting the others ("... and 19,950 more slices of acc:
19,950 pass").
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SHOWN_PER_GATE", "Omitted", "worst_first", "worst_per_gate"]

SHOWN_PER_GATE = 50
_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}


@dataclass(frozen=True)
class Omitted:
    """The verdicts of one gate left out of a listing, counted by status."""

    gate: str
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """How many verdicts were left out."""
        return sum(self.counts.values())

    def describe(self) -> str:
        """The line standing in for them: how many, by status, and where to find them all."""
        parts = ", ".join(
            f"{n:,} {s}"
            for s, n in sorted(self.counts.items(), key=lambda kv: _ORDER.get(kv[0], 5))
        )
        return (
            f"… and {self.total:,} more slices of {self.gate} ({parts}); report.json lists them all"
        )


def _slack(g: dict[str, Any]) -> float:
    """How far the observed value is inside its bound (smaller: closer to failing)."""
    observed, bound = g.get("observed"), g.get("bound") or {}
    if observed is None:
        return -math.inf
    lo, hi = bound.get("min"), bound.get("max")
    sides = [observed - lo] if lo is not None else []
    sides += [hi - observed] if hi is not None else []
    return min(sides) if sides else math.inf


def worst_first(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Verdicts by status (error, fail, warn, skip, pass), then closest to their bound."""
    return sorted(gates, key=lambda g: (_ORDER.get(g.get("status", ""), 5), _slack(g)))


def worst_per_gate(
    gates: list[dict[str, Any]], limit: int = SHOWN_PER_GATE
) -> tuple[list[dict[str, Any]], list[Omitted]]:
    """The worst `limit` verdicts of each gate (in `worst_first` order, gates in their first
    appearance order), and what was left out of each gate."""
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for g in gates:
        by_gate.setdefault(str(g.get("gate")), []).append(g)
    shown: list[dict[str, Any]] = []
    omitted: list[Omitted] = []
    for gid, mine in by_gate.items():
        ranked = worst_first(mine)
        shown += ranked[:limit]
        if len(ranked) > limit:
            omitted.append(Omitted(gid, Counter(str(g.get("status")) for g in ranked[limit:])))
    return shown, omitted
