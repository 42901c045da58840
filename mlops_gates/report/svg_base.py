"""The small SVG writer behind report/svg.py: elements with every value escaped, text widths
without a font, round tick values, an x axis.

Nothing here knows about reports; report/svg.py draws the pictures with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

__all__ = [
    "AXIS",
    "FONT",
    "GRID",
    "INK",
    "TITLE_FONT",
    "Svg",
    "esc",
    "nice_ticks",
    "num",
    "span",
    "text_width",
    "tick_count",
    "tick_label",
    "title_width",
    "value_label",
    "x_axis",
]

FONT = 12  # px
TITLE_FONT = 13
INK = "#222222"
GRID = "#dddddd"
AXIS = "#555555"
# The reader's own sans-serif: nothing is loaded (report.html's CSP forbids it).
FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# Characters XML does not allow at all; `short` already shows controls as escapes.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Advance widths of DejaVu Sans in hundredths of an em, for ASCII 32-126 (read from the
# font at the time of writing): the widest of the usual system sans-serifs (Linux's
# default), so margins sized with it hold in Helvetica, Arial or Segoe UI too.
# fmt: off
_ASCII_WIDTHS = (
    32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 34, 34, 84, 84, 84, 53, 100, 68, 69, 70, 77, 63,
    58, 77, 75, 29, 29, 66, 56, 86, 75, 79, 60, 79, 69, 63, 61, 73, 68, 99, 69,
    61, 69, 39, 34, 39, 84, 50, 50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58,
    28, 97, 63, 61, 63, 63, 41, 52, 39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84,
)
# fmt: on


def text_width(text: str, size: float = FONT) -> float:
    """About how wide `text` is in a sans-serif at `size` px, a little over rather than
    under: no font is measured (none is loaded), so margins are sized from a width table."""
    units = 0
    for ch in text:
        code = ord(ch)
        if 32 <= code < 127:
            units += _ASCII_WIDTHS[code - 32]
        elif code >= 0x2E80:  # CJK and the like: full width
            units += 100
        else:  # accented letters, dashes, the ellipsis
            units += 80
    return units / 100 * size


def title_width(title: str) -> float:
    """The room a title needs, from the left edge (semibold: a tenth wider)."""
    return 8 + text_width(title, TITLE_FONT) * 1.1


def tick_count(length: float, *, vertical: bool = False) -> int:
    """How many intervals an axis of `length` px gets: matplotlib's `nbins="auto"`, at most
    9, and labels no closer than three font sizes (x) or two (y)."""
    return max(3, min(9, int(length // (FONT * (2 if vertical else 3)))))


def nice_ticks(lo: float, hi: float, most: int = 8) -> tuple[list[float], int]:
    """Tick values at round steps (1, 2, 2.5 or 5 times a power of ten) inside [lo, hi], and
    how many decimals their labels need: matplotlib's default rule (`MaxNLocator` with those
    steps): the smallest step giving at most `most` intervals, or a smaller one when fewer
    than two ticks would fall inside."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo], 3
    power = math.floor(math.log10(span / max(most, 1)))
    steps = [m * 10.0**p for p in (power - 1, power, power + 1) for m in (1.0, 2.0, 2.5, 5.0)]
    largest = next(i for i, step in enumerate(steps) if span / step <= most * (1 + 1e-9))
    values: list[float] = []
    decimals = 0
    for step in reversed(steps[: largest + 1]):
        exponent = math.floor(math.log10(step) + 1e-9)
        decimals = max(0, -exponent) + (1 if round(step / 10.0**exponent, 6) == 2.5 else 0)
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        values = [round(k * step, decimals + 2) for k in range(first, last + 1)]
        if len(values) >= 2:
            break
    return values, decimals


def x_axis(
    svg: Svg,
    ticks: tuple[list[float], int],
    sx: Callable[[float], float],
    box: tuple[float, float, float, float],
    label: str,
) -> None:
    """Grid lines, the axis, tick marks and labels, and the axis label below them; `box` is
    the plot area (left, top, right, bottom)."""
    x0, top, x1, axis_y = box
    values, decimals = ticks
    for t in values:
        x = sx(t)
        svg.el("line", cls="grid", x1=x, y1=top, x2=x, y2=axis_y, stroke=GRID, stroke_width=0.6)
    svg.el("line", cls="axis", x1=x0, y1=axis_y, x2=x1, y2=axis_y, stroke=AXIS)
    svg.el("line", cls="axis", x1=x0, y1=top, x2=x0, y2=axis_y, stroke=AXIS)
    for t in values:
        x = sx(t)
        svg.el("line", cls="tick", x1=x, y1=axis_y, x2=x, y2=axis_y + 5, stroke=AXIS)
        text = tick_label(t, decimals)
        svg.el("text", text, cls="tick-x", x=x, y=axis_y + 18, text_anchor="middle")
    centre = (x0 + x1) / 2
    svg.el("text", label, cls="axis-label", x=centre, y=axis_y + 38, text_anchor="middle")


def span(values: list[float]) -> tuple[float, float]:
    """An axis' range: every value with 5% to spare each side (matplotlib's default margins)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1.0):
        pad = max(abs(lo) * 0.1, 0.05)
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def tick_label(value: float, decimals: int) -> str:
    """A tick value with `decimals` decimals and a real minus sign."""
    text = f"{value:.{decimals}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "\u2212")  # a minus sign, as matplotlib prints it


def value_label(value: float) -> str:
    """A value in four significant digits, as a label or a tooltip shows it."""
    # `+ 0.0` turns -0.0 (a `max_drop: 0` bound) into 0.
    return f"{value + 0.0:.4g}".replace("-", "\u2212")


def num(x: float) -> str:
    """A coordinate as an attribute value."""
    # Two decimals: a hundredth of a pixel, far below what a screen can show.
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def esc(text: str) -> str:
    """Text or an attribute value as markup: the five characters that could end either are
    written as references (jinja2's choice of references, so the page reads the same)."""
    text = _NOT_XML.sub("\ufffd", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&#34;").replace("'", "&#39;")


class Svg:
    """An `<svg>` element built as a list of markup pieces, every value escaped on the way."""

    def __init__(self, width: float, height: float, title: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []
        self.el("title", title)  # the picture's accessible name

    def el(self, tag: str, text: str | None = None, **attrs: str | float) -> None:
        """An element; `text` its content. `cls` is `class`; `_` in a name is `-`."""
        end = "/>" if text is None else f">{esc(text)}</{tag}>"
        self.parts.append(_start(tag, attrs) + end)

    def open(self, tag: str, **attrs: str | float) -> None:
        """The start of an element whose children follow (`close` ends it)."""
        self.parts.append(_start(tag, attrs) + ">")

    def close(self, tag: str) -> None:
        """The end of an element `open` started."""
        self.parts.append(f"</{tag}>")

    def markup(self) -> str:
        """The whole `<svg>` element."""
        root = _start(
            "svg",
            {
                "xmlns": "http://www.w3.org/2000/svg",
                "cls": "mg-plot",
                "width": math.ceil(self.width),
                "height": math.ceil(self.height),
                "viewBox": f"0 0 {math.ceil(self.width)} {math.ceil(self.height)}",
                "role": "img",
                "font_family": FAMILY,
                "font_size": FONT,
                "fill": INK,
            },
        )
        return root + ">" + "".join(self.parts) + "</svg>"


def _start(tag: str, attrs: dict[str, str | float]) -> str:
    out = [f"<{tag}"]
    for name, value in attrs.items():
        key = "class" if name == "cls" else name.replace("_", "-")
        text = num(value) if isinstance(value, float) else str(value)
        out.append(f' {key}="{esc(text)}"')
    return "".join(out)
