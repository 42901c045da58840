"""Interval plots and drift histograms as SVG written here, for report.html.

These are the plots a default page draws (`report.html: auto`: the gates that did not pass).
matplotlib took about 0.7 s of a cold `check` to import and draw them, a quarter of the
3 s budget (bench/coldrun.py); this module draws the same pictures in a few milliseconds, so
a default `check` never imports matplotlib. The look follows report/plots.py's figures: rows
worst first, a point per slice coloured by its status (report/plot_style.py), the interval
as a bar, the bound as a dashed line, x ticks at round values.

Text stays text (`<text>`): selectable, found by the browser's search, set in the reader's
own sans-serif (nothing is loaded; the page's CSP forbids it). Every string reaches the
markup through `svg_base.esc`, so a slice value is never markup. The MLflow artifacts and the other
plot kinds (curves, confusion matrices) are still matplotlib's, in report/plots.py.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mlops_gates.report.plot_style import STATUS_COLOURS, short
from mlops_gates.report.svg_base import (
    AXIS,
    GRID,
    TITLE_FONT,
    Svg,
    nice_ticks,
    num,
    span,
    text_width,
    tick_count,
    tick_label,
    title_width,
    value_label,
    x_axis,
)

if TYPE_CHECKING:
    from mlops_gates.report.plots import IntervalPanel
    from mlops_gates.report.plots_detail import DriftPanel

__all__ = ["drift_svg", "interval_svg", "panel_svg"]

WIDTH = 760  # px: about matplotlib's 7.5-inch figure at 100 dpi, the page's plot width
ROW = 26  # px per slice of an interval plot
AXIS_MIN = 360  # px: the least room a value axis gets, whatever the labels beside it take
COLUMNS_HEIGHT = 240.0  # px: the share axis of a numeric feature's histogram
BOUND = "#333333"
REFERENCE = "#7f8c8d"


def panel_svg(panel: IntervalPanel | DriftPanel) -> str:
    """The `<svg>` element of an interval plot or a drift histogram."""
    from mlops_gates.report.plots import IntervalPanel

    return interval_svg(panel) if isinstance(panel, IntervalPanel) else drift_svg(panel)


def interval_svg(panel: IntervalPanel) -> str:
    """Each slice's value (a dot; a cross when it did not pass) and its interval (a bar),
    worst at the top, the bound(s) as dashed lines, sized to its rows."""
    labels = [f"{r.label} ({r.status})" for r in panel.rows]  # labels are short already
    left = 14 + max((text_width(s) for s in labels), default=0.0) + 10
    width = max(WIDTH, left + AXIS_MIN + 24, title_width(panel.title))
    sides = ((panel.bound_min, "min"), (panel.bound_max, "max"))
    bounds = [(float(v), side) for v, side in sides if v is not None and math.isfinite(v)]
    top = 32 + (16 if bounds else 0)  # the title, then the bounds' labels above the rows
    # At least three rows' height, as matplotlib's figure: one slice is not a thin strip.
    area = ROW * max(len(panel.rows), 3)
    first = top + (area - ROW * len(panel.rows)) / 2
    axis_y = top + area
    height = axis_y + 46
    values = [b for b, _ in bounds]
    for r in panel.rows:
        values += [v for v in (r.observed, r.low, r.high) if v is not None]
    lo, hi = span(values)
    x0, x1 = left, width - 24
    ticks = nice_ticks(lo, hi, tick_count(x1 - x0))

    def sx(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    svg = Svg(width, height, panel.title)
    svg.el("text", panel.title, cls="title", x=4, y=18, font_size=TITLE_FONT, font_weight=600)
    x_axis(svg, ticks, sx, (x0, top, x1, axis_y), panel.xlabel)
    for value, side in bounds:
        x = sx(value)
        svg.el(
            "line",
            cls="bound",
            data_side=side,
            x1=x,
            y1=top - 4,
            x2=x,
            y2=axis_y,
            stroke=BOUND,
            stroke_width=1,
            stroke_dasharray="5 3",
        )
        anchor = "end" if x > x1 - 60 else "start" if x < x0 + 60 else "middle"
        text = f"bound ({side}) {value_label(value)}"
        svg.el("text", text, cls="bound-label", x=x, y=top - 8, text_anchor=anchor, font_size=11)
    for i, (row, label) in enumerate(zip(panel.rows, labels, strict=True)):
        y = first + ROW * (i + 0.5)
        colour = STATUS_COLOURS.get(row.status, "#333333")
        svg.open("g", cls="row", data_status=row.status)
        ci = (
            ""
            if row.low is None or row.high is None
            else f" [{value_label(row.low)}, {value_label(row.high)}]"
        )
        svg.el("title", f"{label}: {value_label(row.observed)}{ci}")
        svg.el("text", label, cls="label", x=x0 - 10, y=y, dy="0.35em", text_anchor="end")
        if row.low is not None and row.high is not None:
            a, b = sx(row.low), sx(row.high)
            svg.el("line", cls="ci", x1=a, y1=y, x2=b, y2=y, stroke=colour, stroke_width=2.5)
        x = sx(row.observed)
        if row.status == "pass":
            svg.el("circle", cls="point", cx=x, cy=y, r=4.5, fill=colour)
        else:  # a cross, as matplotlib's "X" marker: it does not depend on colour alone
            s = 4.5
            d = f"M{num(x - s)} {num(y - s)}L{num(x + s)} {num(y + s)}"
            d += f"M{num(x - s)} {num(y + s)}L{num(x + s)} {num(y - s)}"
            svg.el("path", cls="point", d=d, stroke=colour, stroke_width=3, fill="none")
        svg.close("g")
    return svg.markup()


def drift_svg(panel: DriftPanel) -> str:
    """Share of rows per bin, reference beside current: numeric bins in order along x,
    categories down the side (in the histogram's order, top first)."""
    value = "" if panel.observed is None else f" {float(panel.observed):.3g}"
    title = f"{short(panel.feature)}: {panel.statistic}{value} ({panel.status})"
    colours = (REFERENCE, STATUS_COLOURS.get(panel.status, "#2b7bba"))
    legend = [
        f"{name} ({n:,} rows)" for name, n in zip(("reference", "current"), panel.rows, strict=True)
    ]
    length = COLUMNS_HEIGHT if panel.numeric else AXIS_MIN
    ticks = nice_ticks(0.0, _share_top(panel), tick_count(length, vertical=panel.numeric))
    n = max(len(panel.labels), 1)
    top = 54  # the title, then the legend
    if panel.numeric:
        left = 30 + max(text_width(tick_label(t, ticks[1])) for t in ticks[0]) + 8
        width = left + 46 * n + 24
        axis_y = top + COLUMNS_HEIGHT
        # The bins' labels hang below the axis at 40 degrees.
        height = axis_y + max((text_width(s) for s in panel.labels), default=0.0) * 0.65 + 28
    else:
        left = 14 + max((text_width(s) for s in panel.labels), default=0.0) + 10
        width = left + AXIS_MIN + 24
        axis_y = top + 30.0 * n
        height = axis_y + 46
    legend_width = 8 + sum(text_width(t) + 35 for t in legend)
    width = max(width, 520.0 if panel.numeric else 620.0, title_width(title), legend_width)
    svg = Svg(width, height, title)
    svg.el("text", title, cls="title", x=4, y=18, font_size=TITLE_FONT, font_weight=600)
    x = 4.0
    for text, colour in zip(legend, colours, strict=True):
        svg.el(
            "rect",
            cls="swatch",
            data_side=text.split()[0],
            x=x,
            y=30,
            width=12,
            height=12,
            fill=colour,
        )
        svg.el("text", text, cls="legend", x=x + 17, y=40)
        x += 17 + text_width(text) + 18
    box = (left, float(top), width - 24, axis_y)
    if panel.numeric:
        _drift_columns(svg, panel, colours, ticks, box)
    else:
        _drift_rows(svg, panel, colours, ticks, box)
    return svg.markup()


def _drift_columns(
    svg: Svg,
    panel: DriftPanel,
    colours: tuple[str, str],
    ticks: tuple[list[float], int],
    box: tuple[float, float, float, float],
) -> None:
    """Numeric bins along x, shares up the y axis."""
    x0, top, x1, axis_y = box
    hi = _share_top(panel)
    slot = (x1 - x0) / max(len(panel.labels), 1)

    def sy(v: float) -> float:
        return axis_y - v / hi * (axis_y - top)

    for t in ticks[0]:
        y = sy(t)
        svg.el("line", cls="grid", x1=x0, y1=y, x2=x1, y2=y, stroke=GRID, stroke_width=0.6)
        svg.el("line", cls="tick", x1=x0 - 5, y1=y, x2=x0, y2=y, stroke=AXIS)
        text = tick_label(t, ticks[1])
        svg.el("text", text, cls="tick-y", x=x0 - 8, y=y, dy="0.35em", text_anchor="end")
    svg.el("line", cls="axis", x1=x0, y1=axis_y, x2=x1, y2=axis_y, stroke=AXIS)
    svg.el("line", cls="axis", x1=x0, y1=top, x2=x0, y2=axis_y, stroke=AXIS)
    mid = num((top + axis_y) / 2)
    turn = f"rotate(-90 14 {mid})"
    svg.el(
        "text", "share of rows", cls="axis-label", x=14, y=mid, text_anchor="middle", transform=turn
    )
    for i, label in enumerate(panel.labels):
        centre = x0 + slot * (i + 0.5)
        _bin_start(svg, panel, i)
        for side, share, colour, shift in _sides(panel, i, colours):
            y = sy(share)
            svg.el(
                "rect",
                cls="bar",
                data_side=side,
                x=centre + shift * slot,
                y=y,
                width=0.4 * slot,
                height=axis_y - y,
                fill=colour,
            )
        y = axis_y + 14
        turn = f"rotate(-40 {num(centre)} {num(y)})"
        svg.el("text", label, cls="label", x=centre, y=y, text_anchor="end", transform=turn)
        svg.close("g")


def _drift_rows(
    svg: Svg,
    panel: DriftPanel,
    colours: tuple[str, str],
    ticks: tuple[list[float], int],
    box: tuple[float, float, float, float],
) -> None:
    """Categories down the side, shares along x."""
    x0, top, x1, axis_y = box
    hi = _share_top(panel)
    slot = (axis_y - top) / max(len(panel.labels), 1)

    def sx(v: float) -> float:
        return x0 + v / hi * (x1 - x0)

    x_axis(svg, ticks, sx, box, "share of rows")
    for i, label in enumerate(panel.labels):
        centre = top + slot * (i + 0.5)
        _bin_start(svg, panel, i)
        for side, share, colour, shift in _sides(panel, i, colours):
            svg.el(
                "rect",
                cls="bar",
                data_side=side,
                x=x0,
                y=centre + shift * slot,
                width=sx(share) - x0,
                height=0.4 * slot,
                fill=colour,
            )
        svg.el("text", label, cls="label", x=x0 - 10, y=centre, dy="0.35em", text_anchor="end")
        svg.close("g")


def _share_top(panel: DriftPanel) -> float:
    """The end of a drift histogram's share axis: the largest share and 5% more."""
    return (max([*panel.reference, *panel.current], default=0.0) or 1.0) * 1.05


def _bin_start(svg: Svg, panel: DriftPanel, i: int) -> None:
    ref, cur = panel.reference[i], panel.current[i]
    svg.open("g", cls="bin")
    svg.el("title", f"{panel.labels[i]}: reference {ref:.1%}, current {cur:.1%}")


def _sides(
    panel: DriftPanel, i: int, colours: tuple[str, str]
) -> tuple[tuple[str, float, str, float], ...]:
    # (side, share, colour, offset from the bin's centre in slots): reference first.
    return (
        ("reference", panel.reference[i], colours[0], -0.4),
        ("current", panel.current[i], colours[1], 0.0),
    )
