"""report.html: one self-contained page beside report.json and report.md.

Plots inline as SVG, a verdict table a reader can filter (a few lines of inline script),
no network at all: no CDN, no web fonts, and a Content-Security-Policy that forbids
loading anything. Every value that came from data is HTML-escaped by jinja2's autoescape.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from mlops_gates.gates.result import fmt
from mlops_gates.report.bounded import worst_per_gate
from mlops_gates.report.markdown import describe_bound, describe_interval, slice_text

__all__ = ["render_html"]

_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}


def render_html(doc: dict[str, Any], *, plots: Literal["auto", "all"] = "all") -> str:
    """The page for one report document (the parsed report.json).

    `plots="auto"` draws only the plots of gates that did not pass (see
    `report.plots.chosen_plots`) and says how many more `report.html: on` would draw.
    Interval plots and drift histograms are drawn here as SVG (report/svg.py); only the
    other kinds, which `auto` never draws, need matplotlib. Without it the page is still
    written, and says how many plots it left out and how to get them."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_gates.report", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    shown, omitted = worst_per_gate(doc.get("gates") or [])
    rows = sorted(shown, key=lambda g: _ORDER.get(str(g.get("status")), 5))
    # Native SVG escapes every string (report/svg.py); matplotlib's draws text as paths.
    drawn, left_out, need_extra = _figures(doc, plots)
    figures = [{"name": name, "title": title, "svg": svg} for name, title, svg in drawn]
    return env.get_template("report.html.j2").render(
        doc=doc,
        rows=[_row(g) for g in rows],
        omitted=[o.describe() for o in omitted],
        figures=figures,
        statuses=[s for s in _ORDER if (doc.get("summary") or {}).get(s)],
        problems=sum(r.get("status") != "pass" for r in rows),
        plots_left_out=left_out,
        plots_need_extra=need_extra,
    )


_Figures = tuple[tuple[tuple[str, str, str], ...], int, int]


def _figures(doc: dict[str, Any], plots: str) -> _Figures:
    # write_report runs several times per run (before and after MLflow adds its context);
    # the plots depend only on the verdicts and the overview, so draw them once. Keys keep
    # the report's order: the plots are drawn from this copy (candidate's line first).
    from mlops_gates.report.plots import plots_available

    key = json.dumps(
        [doc.get("gates"), (doc.get("context") or {}).get("overview"), plots], default=str
    )
    return _figures_cached(key, plots_available())


@functools.lru_cache(maxsize=2)
def _figures_cached(key: str, matplotlib: bool) -> _Figures:
    """(drawn plots, plots `auto` left out, plots left out for want of matplotlib)."""
    from mlops_gates.report.plots import chosen_plots, inline_svg, plots_for
    from mlops_gates.report.svg import panel_svg

    gates, ov, which = json.loads(key)
    doc = {"gates": gates, "context": {"overview": ov}}
    every = plots_for(doc)
    chosen = every if which == "all" else chosen_plots(every)
    out = []
    need_extra = 0
    for plot in chosen:
        if plot.panel is None and not matplotlib:
            need_extra += 1  # the page says how to get them
            continue
        try:
            # The kinds a default page draws need no matplotlib (0.7 s of a cold run).
            svg = inline_svg(plot) if plot.panel is None else panel_svg(plot.panel)
        except Exception as exc:  # a picture that fails must not cost the report
            out.append((plot.name, f"{plot.title}: could not be drawn ({exc})", ""))
        else:
            out.append((plot.name, plot.title, svg))
    return tuple(out), len(every) - len(chosen), need_extra


def _row(g: dict[str, Any]) -> dict[str, str]:
    support = g.get("support")
    return {
        "status": str(g.get("status")),
        "gate": str(g.get("gate")),
        "kind": str(g.get("kind")),
        "slice": slice_text(g.get("slice")),
        "observed": fmt(g.get("observed")),
        "interval": describe_interval(g.get("ci")),
        "bound": describe_bound(g.get("bound")),
        "support": "" if support is None else f"{support:,}",
        "message": str(g.get("message") or ""),
    }
