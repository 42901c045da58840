"""Pictures of the details: the worst slices' ROC / PR curves and the drifted features'
histograms, drawn from report.json like every other plot (report/plots.py), never from rows.

- `context.overview.slice_curves` holds ROC and precision-recall points of the worst
  slices the score tables could form (stats/overview.py): one small panel per slice, both
  models on the same axes;
- each drift verdict's `details.histogram` holds the reference's and the current data's
  counts per bin (stats/drift.py): every drifted feature (a drift verdict that failed or
  warned) gets its shares of rows per bin, reference beside current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from mlops_gates.report.bounded import worst_first
from mlops_gates.report.plot_style import (
    MODEL_COLOURS,
    STATUS_COLOURS,
    file_part,
    short,
    slice_label,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MAX_BARS",
    "MAX_DRIFTED",
    "DriftPanel",
    "detail_plots",
    "drift_figure",
    "drift_panels",
    "slice_curve_figure",
]

MAX_DRIFTED = 6  # drifted features drawn per drift gate, worst first
MAX_BARS = 40  # categories of one drift histogram; the rest summed into one bar

# File name, title, how to draw it, and for a drift histogram what it shows.
Detail = tuple[str, str, Callable[[], "Figure"], "DriftPanel | None"]


def detail_plots(doc: dict[str, Any], names: set[str]) -> list[Detail]:
    """The worst slices' curves, then one histogram per drifted feature, as (file name,
    title, draw, drift panel or None); `names` holds the file names already taken (and
    gains these)."""
    out: list[Detail] = []
    worst = ((doc.get("context") or {}).get("overview") or {}).get("slice_curves") or []
    curves: tuple[tuple[Literal["roc", "pr"], str], ...] = (
        ("roc", "ROC curves of the worst slices"),
        ("pr", "Precision-recall curves of the worst slices"),
    )
    for key, title in curves:
        if any(key in c for w in worst for c in (w.get("curves") or {}).values()):
            names.add(f"{key}-curve-slices")
            draw = partial(slice_curve_figure, worst, key)
            out.append((f"{key}-curve-slices", title, draw, None))
    for panel in drift_panels(doc):
        name = base = f"drift-{file_part(panel.gate)}-{file_part(panel.feature)}"
        while name in names:
            name = f"{base}-{len(names)}"
        names.add(name)
        title = f"Drift of {short(panel.feature)} ({short(panel.gate)})"
        out.append((name, title, partial(drift_figure, panel), panel))
    return out


@dataclass(frozen=True)
class DriftPanel:
    """One drifted feature: its bins' labels and each side's share of rows per bin."""

    gate: str
    feature: str
    numeric: bool
    status: str
    statistic: str
    observed: float | None
    labels: list[str]
    reference: list[float]
    current: list[float]
    rows: tuple[int, int]


def drift_panels(doc: dict[str, Any], limit: int = MAX_DRIFTED) -> list[DriftPanel]:
    """The drifted features (drift verdicts that failed or warned, with bin counts), worst
    first, at most `limit` per drift gate."""
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for g in doc.get("gates") or []:
        hist = (g.get("details") or {}).get("histogram")
        if g.get("kind") == "drift" and hist and g.get("status") in ("fail", "warn"):
            by_gate.setdefault(str(g.get("gate")), []).append(g)
    out = []
    for gate, verdicts in by_gate.items():
        for g in worst_first(verdicts)[:limit]:
            hist = g["details"]["histogram"]
            labels, ref, cur = _bins(hist)
            n_ref, n_cur = sum(ref), sum(cur)
            out.append(
                DriftPanel(
                    gate=gate,
                    feature=", ".join(str(v) for v in (g.get("slice") or {}).values()) or gate,
                    numeric="edges" in hist,
                    status=str(g.get("status")),
                    statistic=str(g.get("metric") or "drift"),
                    observed=g.get("observed"),
                    labels=labels,
                    reference=[c / n_ref if n_ref else 0.0 for c in ref],
                    current=[c / n_cur if n_cur else 0.0 for c in cur],
                    rows=(n_ref, n_cur),
                )
            )
    return out


def _bins(hist: dict[str, Any]) -> tuple[list[str], list[int], list[int]]:
    """Labels and counts of every bin, missing values last (shares are of all rows)."""
    ref, cur = [int(c) for c in hist["reference"]], [int(c) for c in hist["current"]]
    if "edges" in hist:
        edges = [_num(e) for e in hist["edges"]]
        if edges:
            inner = [f"{a} – {b}" for a, b in pairwise(edges)]
            labels = [f"< {edges[0]}", *inner, f"> {edges[-1]}"]
        else:  # a reference with no values: everything present is "above"
            labels = ["below", "above"]
        # The out-of-range bins are drawn only when something fell there.
        last = len(labels) - 1
        keep = [i for i in range(len(labels)) if 0 < i < last or ref[i] or cur[i]]
        labels, ref, cur = [labels[i] for i in keep], [ref[i] for i in keep], [cur[i] for i in keep]
    else:
        labels = [short(str(c)) for c in hist["categories"]]
        if len(labels) > MAX_BARS:
            more = len(labels) - (MAX_BARS - 1)
            ref = [*ref[: MAX_BARS - 1], sum(ref[MAX_BARS - 1 :])]
            cur = [*cur[: MAX_BARS - 1], sum(cur[MAX_BARS - 1 :])]
            labels = [*labels[: MAX_BARS - 1], f"({more} more categories)"]
        other = hist.get("other") or {}
        if other.get("reference") or other.get("current"):
            labels.append("(other)")
            ref.append(int(other.get("reference") or 0))
            cur.append(int(other.get("current") or 0))
    missing = hist.get("missing") or {}
    if missing.get("reference") or missing.get("current"):
        labels.append("(missing)")
        ref.append(int(missing.get("reference") or 0))
        cur.append(int(missing.get("current") or 0))
    return labels, ref, cur


def _num(x: Any) -> str:
    return "?" if x is None else f"{float(x):.4g}"


def slice_curve_figure(worst: list[dict[str, Any]], key: Literal["roc", "pr"]) -> Figure:
    """ROC or precision-recall of each worst slice, one small panel per slice, both models
    on the same axes (as the overall curve)."""
    from matplotlib.figure import Figure

    shown = [w for w in worst if any(key in c for c in (w.get("curves") or {}).values())]
    fig = Figure(figsize=(3.4 * len(shown) + 0.4, 3.6))
    x_key, y_key = ("fpr", "tpr") if key == "roc" else ("recall", "precision")
    for i, w in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), i + 1)
        for model, c in (w.get("curves") or {}).items():
            if key in c:
                ax.plot(c[key][x_key], c[key][y_key], label=model, color=MODEL_COLOURS.get(model))
        if key == "roc":
            ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("false positive rate" if key == "roc" else "recall")
        if i == 0:
            ax.set_ylabel("true positive rate" if key == "roc" else "precision")
            ax.legend(loc="lower right" if key == "roc" else "lower left", frameon=False)
        cand: dict[str, Any] = next(iter((w.get("curves") or {}).values()), {})
        rows = int(cand.get("positives") or 0) + int(cand.get("negatives") or 0)
        ax.set_title(f"{slice_label(w.get('slice'))} ({rows:,} rows)", loc="left", fontsize=8)
    return fig


def drift_figure(panel: DriftPanel) -> Figure:
    """Share of rows per bin, reference beside current: numeric bins in order along x,
    categories down the y axis (the reference's most frequent at the top)."""
    from matplotlib.figure import Figure

    n = len(panel.labels)
    size = (max(5.0, 0.5 * n + 1.5), 3.8) if panel.numeric else (6.5, 1.3 + 0.3 * n)
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    width = 0.4
    sides = (
        ("reference", panel.reference, -width / 2, "#7f8c8d"),
        ("current", panel.current, width / 2, STATUS_COLOURS.get(panel.status, "#2b7bba")),
    )
    for (name, shares, shift, colour), rows in zip(sides, panel.rows, strict=True):
        where = [i + shift for i in range(n)]
        label = f"{name} ({rows:,} rows)"
        if panel.numeric:
            ax.bar(where, shares, width=width, color=colour, label=label)
        else:
            ax.barh(where, shares, height=width, color=colour, label=label)
    if panel.numeric:
        ax.set_xticks(range(n), panel.labels, rotation=40, ha="right")
        ax.set_ylabel("share of rows")
    else:
        ax.set_yticks(range(n), panel.labels)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows")
    value = "" if panel.observed is None else f" {float(panel.observed):.3g}"
    ax.set_title(f"{short(panel.feature)}: {panel.statistic}{value} ({panel.status})", loc="left")
    ax.legend(frameon=False)
    return fig
