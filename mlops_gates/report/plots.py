"""Pictures of a report: drawn from report.json (verdicts and `context.overview`), never
from rows, so they cost the same at 10M rows as at 10k.

- one interval plot per metric, fairness and baseline gate: each slice's value with its
  interval, the bound as a line, failing slices marked, worst first;
- the confusion matrix of the candidate (and of the baseline, beside it);
- ROC, precision-recall and reliability curves, candidate and baseline on the same axes;
- ROC and precision-recall curves of the worst slices (`context.overview.slice_curves`);
- drift: reference against current shares per bin for each drifted feature (the counts in
  the drift verdict's `details.histogram`).

matplotlib is an optional extra (`pip install 'mlops-gates[plots]'`) imported only here,
only when a plot is made. Figures are built with `matplotlib.figure.Figure` (no pyplot, no
global state) and saved without dates and with a fixed SVG hash salt, so the same report
gives the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_gates.report.bounded import worst_first
from mlops_gates.report.plot_style import (
    MODEL_COLOURS,
    STATUS_COLOURS,
    file_part,
    short,
    slice_label,
)
from mlops_gates.report.plots_detail import DriftPanel, detail_plots

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AUTO_PLOTS",
    "INTERVAL_KINDS",
    "MAX_SLICES",
    "IntervalPanel",
    "IntervalRow",
    "Plot",
    "axes_of",
    "chosen_plots",
    "confusion_figure",
    "curve_figure",
    "inline_svg",
    "interval_figure",
    "interval_panels",
    "plots_available",
    "plots_for",
    "reliability_figure",
    "render",
    "render_formats",
    "write_plots",
]

Format = Literal["svg", "png"]
INTERVAL_KINDS = ("metric", "fairness", "baseline")
MAX_SLICES = 30  # rows of one interval plot; the rest are counted in its title
# Plots report.html draws by default (`report.html: auto`): each costs about 0.08 s of
# matplotlib, and a cold `check` of the example has a 3 s budget (bench/coldrun.py).
AUTO_PLOTS = 6
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_RC: dict[str, Any] = {
    "svg.hashsalt": "mlops-gates",  # element ids from a fixed salt, not a random one
    "svg.fonttype": "path",  # glyphs as paths: no font needed where the SVG is shown
    "text.parse_math": False,  # a `$` in a slice value is a dollar, not a formula
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def plots_available() -> bool:
    """Is matplotlib importable (the `plots` extra installed)?"""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # blocked in sys.modules, or a broken install
        return False


@dataclass(frozen=True)
class Plot:
    """One picture of a report: a file name (without suffix), a title and how to draw it."""

    name: str
    title: str
    draw: Callable[[], Figure]
    needs_a_look: bool = False  # a gate's plot with a slice that did not pass
    # What the picture was made from (a digest of the verdicts and the overview): report.html
    # and the MLflow upload ask for the same plots, and `render` draws each one once.
    key: str = ""
    # What an interval plot or a drift histogram shows: report.html draws these two kinds
    # itself as SVG (report/svg.py), without matplotlib. None for every other kind.
    panel: IntervalPanel | DriftPanel | None = None


@dataclass(frozen=True)
class IntervalRow:
    """One slice of an interval plot, as the report gives it."""

    label: str
    status: str
    observed: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class IntervalPanel:
    """What an interval plot shows: its rows (worst first), the bound and what was left out."""

    gate: str
    kind: str
    metric: str
    rows: list[IntervalRow]
    bound_min: float | None
    bound_max: float | None
    hidden: int

    @property
    def title(self) -> str:
        """The plot's title: the gate, and how many slices are not drawn."""
        return _panel_title(self)

    @property
    def xlabel(self) -> str:
        """What the x axis shows: the metric (for a baseline gate, the difference)."""
        return _xlabel(self)


def interval_panels(doc: dict[str, Any], limit: int = MAX_SLICES) -> list[IntervalPanel]:
    """One panel per metric, fairness and baseline gate that has any observed value."""
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for g in doc.get("gates") or []:
        if g.get("kind") in INTERVAL_KINDS:
            by_gate.setdefault(str(g.get("gate")), []).append(g)
    panels = []
    for gate, verdicts in by_gate.items():
        ranked = [g for g in worst_first(verdicts) if g.get("observed") is not None]
        if not ranked:
            continue
        bound = ranked[0].get("bound") or {}
        rows = [
            IntervalRow(
                label=slice_label(g.get("slice")),
                status=str(g.get("status")),
                observed=float(g["observed"]),
                low=_end(g, 0),
                high=_end(g, 1),
            )
            for g in ranked[:limit]
        ]
        panels.append(
            IntervalPanel(
                gate=gate,
                kind=str(ranked[0].get("kind")),
                metric=str(ranked[0].get("metric") or ""),
                rows=rows,
                bound_min=bound.get("min"),
                bound_max=bound.get("max"),
                hidden=len(ranked) - len(rows),
            )
        )
    return panels


def plots_for(doc: dict[str, Any]) -> list[Plot]:
    """Every picture this report can give, in reading order: gates first, then the whole data."""
    out = []
    names: set[str] = set()
    ov = (doc.get("context") or {}).get("overview") or {}
    # In the report's key order: the order of a dict is the order its lines are drawn in.
    made_from = json.dumps([doc.get("gates"), ov], default=str)
    key = hashlib.sha256(made_from.encode()).hexdigest()
    for p in interval_panels(doc):
        # Two gate ids may clean to the same file name; the second gets a number.
        name = base = f"gate-{file_part(p.gate)}"
        while name in names:
            name = f"{base}-{len(names)}"
        names.add(name)
        # Rows are worst first: the first says whether any slice did not pass.
        look = p.rows[0].status != "pass"
        out.append(Plot(name, p.title, _bind(interval_figure, p), look, key, p))
    confusion = ov.get("confusion")
    if confusion and confusion.get("candidate"):
        confusion_plot = _bind(confusion_figure, confusion)
        out.append(Plot("confusion-matrix", "Confusion matrix", confusion_plot, key=key))
    curves = ov.get("curves") or {}
    for kind, title in (("roc", "ROC curve"), ("pr", "Precision-recall curve")):
        if any(kind in c for c in curves.values()):
            out.append(Plot(f"{kind}-curve", title, _bind(curve_figure, curves, kind), key=key))
    if any("reliability" in c for c in curves.values()):
        draw = _bind(reliability_figure, curves)
        out.append(Plot("reliability", "Reliability diagram", draw, key=key))
    for name, title, draw, drift in detail_plots(doc, names):
        # A drift histogram is drawn only for a feature that drifted (fail or warn).
        out.append(Plot(name, title, draw, drift is not None, key, drift))
    return out


def chosen_plots(plots: list[Plot], limit: int = AUTO_PLOTS) -> list[Plot]:
    """What `report.html: auto` draws: the plots of gates that did not pass, the first
    `limit` in reading order. A run where every gate passed draws none (and imports no
    matplotlib)."""
    return [p for p in plots if p.needs_a_look][:limit]


def render(plot: Plot, fmt: Format = "svg") -> bytes:
    """One plot as SVG or PNG bytes; the same report gives the same bytes, drawn once per
    process (each costs matplotlib about 0.08 s)."""
    return render_formats(plot, (fmt,))[fmt]


def render_formats(plot: Plot, formats: tuple[Format, ...]) -> dict[Format, bytes]:
    """The plot in each of `formats`: what this process drew already is reused, and the
    rest is saved from one figure, built once (the MLflow upload wants SVG and PNG)."""
    out: dict[Format, bytes] = {}
    missing: list[Format] = []
    for fmt in formats:
        memo = (plot.key, plot.name, plot.title, fmt)
        if plot.key and memo in _RENDERED:
            out[fmt] = _RENDERED[memo]
        else:
            missing.append(fmt)
    if missing:
        drawn = _render(plot, missing)
        out.update(drawn)
        if plot.key:
            for fmt, data in drawn.items():
                _RENDERED[(plot.key, plot.name, plot.title, fmt)] = data
            while len(_RENDERED) > _RENDERED_MAX:
                del _RENDERED[next(iter(_RENDERED))]
    return out


# Drawn plots by (report key, name, title, format): one report's SVGs and PNGs fit many times.
_RENDERED: dict[tuple[str, str, str, str], bytes] = {}
_RENDERED_MAX = 128


def _render(plot: Plot, formats: list[Format]) -> dict[Format, bytes]:
    out: dict[Format, bytes] = {}
    with _style():
        fig = plot.draw()
        for fmt in formats:
            buf = io.BytesIO()
            # No dates and no version strings in the metadata: reproducible files.
            meta = {"Date": None, "Creator": None} if fmt == "svg" else {"Software": None}
            fig.savefig(buf, format=fmt, metadata=meta, dpi=100, bbox_inches="tight")
            out[fmt] = buf.getvalue()
    return out


def write_plots(
    doc: dict[str, Any], folder: Path, formats: tuple[Format, ...] = ("svg", "png")
) -> list[Path]:
    """Write every plot of the report into `folder` in each format; returns the files. Each
    plot is drawn once for the formats report.html did not draw already."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for plot in plots_for(doc):
        drawn = render_formats(plot, formats)
        for fmt in formats:
            path = folder / f"{plot.name}.{fmt}"
            path.write_bytes(drawn[fmt])
            written.append(path)
    return written


def inline_svg(plot: Plot) -> str:
    """The plot as an `<svg>` element to put inside HTML (no XML prolog, no DOCTYPE)."""
    text = render(plot, "svg").decode("utf-8")
    # matplotlib repeats each label in an XML comment (with `>` escaped, so data cannot end
    # it); drop them: the page then holds no text from data inside the SVG at all.
    return _COMMENT.sub("", text[text.index("<svg") :])


def interval_figure(panel: IntervalPanel) -> Figure:
    """Each slice's value (dot) and interval (bar), worst at the top; bounds as dashed lines."""
    from matplotlib.figure import Figure

    n = len(panel.rows)
    fig = Figure(figsize=(7.5, 1.2 + 0.28 * n))
    ax = fig.add_subplot()
    ys = list(range(n))[::-1]  # worst first = top
    for y, row in zip(ys, panel.rows, strict=True):
        colour = STATUS_COLOURS.get(row.status, "#333333")
        if row.low is not None and row.high is not None:
            ax.plot([row.low, row.high], [y, y], color=colour, linewidth=2, solid_capstyle="butt")
        marker = "o" if row.status == "pass" else "X"
        ax.plot([row.observed], [y], marker=marker, color=colour, markersize=7, linestyle="")
    for value, name in ((panel.bound_min, "min"), (panel.bound_max, "max")):
        if value is not None:
            ax.axvline(value, color="#333333", linestyle="--", linewidth=1, label=f"bound ({name})")
    ax.set_yticks(ys, [f"{r.label} ({r.status})" for r in panel.rows])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(_xlabel(panel))
    ax.set_title(_panel_title(panel), loc="left")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    return fig


def confusion_figure(confusion: dict[str, Any]) -> Figure:
    """Counts of (true class, predicted class), candidate and baseline side by side."""
    from matplotlib.figure import Figure

    labels = [short(str(v)) for v in confusion["labels"]]
    models = [m for m in ("candidate", "baseline") if confusion.get(m)]
    k = len(labels)
    side = max(2.6, 0.55 * k + 1.6)
    fig = Figure(figsize=(side * len(models) + 0.4, side))
    for i, model in enumerate(models):
        matrix = confusion[model]
        ax = fig.add_subplot(1, len(models), i + 1)
        ax.imshow(matrix, cmap="Blues", vmin=0)
        top = max((v for row in matrix for v in row), default=0)
        for t in range(k):
            for p in range(k):
                v = matrix[t][p]
                colour = "white" if top and v > top / 2 else "black"
                ax.text(p, t, f"{v:,}", ha="center", va="center", color=colour)
        ax.set_xticks(range(k), labels, rotation=30 if k > 3 else 0)
        ax.set_yticks(range(k), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(model, loc="left")
    return fig


def curve_figure(curves: dict[str, Any], key: Literal["roc", "pr"]) -> Figure:
    """ROC (false vs true positive rate) or precision-recall, one line per model."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    x_key, y_key = ("fpr", "tpr") if key == "roc" else ("recall", "precision")
    for model, c in curves.items():
        if key in c:
            ax.plot(c[key][x_key], c[key][y_key], label=model, color=MODEL_COLOURS.get(model))
    if key == "roc":
        ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("ROC curve" if key == "roc" else "Precision-recall curve", loc="left")
    ax.legend(loc="lower right" if key == "roc" else "lower left", frameon=False)
    return fig


def reliability_figure(curves: dict[str, Any]) -> Figure:
    """Mean score against the observed positive rate per score bin; the diagonal is perfect."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linestyle=":", label="perfectly calibrated")
    for model, c in curves.items():
        if "reliability" in c:
            r = c["reliability"]
            ax.plot(
                r["mean_score"],
                r["observed_rate"],
                marker="o",
                label=model,
                color=MODEL_COLOURS.get(model),
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("observed positive rate")
    ax.set_title("Reliability diagram", loc="left")
    ax.legend(loc="upper left", frameon=False)
    return fig


def axes_of(fig: Figure) -> list[Axes]:
    """The figure's axes (for tests that read back what was drawn)."""
    return list(fig.axes)


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    rc: Any = _RC  # matplotlib types the keys as a Literal of every rc name
    with matplotlib.rc_context(rc):
        yield


def _bind(fn: Callable[..., Figure], *args: Any) -> Callable[[], Figure]:
    return lambda: fn(*args)


def _end(g: dict[str, Any], i: int) -> float | None:
    ci = g.get("ci")
    if not ci or ci[i] is None:
        return None
    return float(ci[i])


def _panel_title(p: IntervalPanel) -> str:
    more = f" (worst {len(p.rows)}; {p.hidden:,} more slices in report.json)" if p.hidden else ""
    return short(p.gate) + more


def _xlabel(p: IntervalPanel) -> str:
    metric = short(p.metric) if p.metric else "value"
    if p.kind == "baseline":
        return f"{metric}: candidate − baseline"
    return metric
