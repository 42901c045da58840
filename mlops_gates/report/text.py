"""The terminal table shared by `mlops-gates check`, `monitor` and pytest's terminal summary.

Standard library only (the pytest plugin imports it at the end of a session). Two layouts:
a table when every row fits the width, else one record per gate whose identity line wraps
and is never cut. Every cell is escaped for terminals and CI logs (see `terminal_safe`).
"""

from __future__ import annotations

from typing import Any

from mlops_gates._text import defuse, terminal_safe
from mlops_gates.gates.result import detectable_cell, fmt
from mlops_gates.report.bounded import worst_per_gate
from mlops_gates.report.markdown import describe_bound, describe_interval, slice_text

__all__ = ["format_table", "render_table", "wrap"]

_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}
# SGR colours per status; bold for the two that fail a run.
_COLOUR = {"error": "1;31", "fail": "1;31", "warn": "33", "skip": "36", "pass": "32"}
_HEADER = ("status", "gate", "slice", "observed", "interval", "bound", "support", "detect")
_STATUS_W = 6  # "ERROR " and friends
_INDENT = " " * (_STATUS_W + 2)


def render_table(
    doc: dict[str, Any],
    *,
    width: int | None = None,
    verbose: bool = True,
    colour: bool = False,
    verbose_hint: str = "--verbose",
    reasons: bool = True,
) -> list[str]:
    """The report as terminal lines, problems first.

    `width`: the terminal's columns (None: no limit). Without `verbose`, passing rows are
    folded into one count line that names `verbose_hint`. With `reasons`, each error
    verdict's message (which names the file or column at fault) follows its row.
    """
    gates = sorted(doc["gates"], key=lambda g: _ORDER.get(g["status"], 5))
    shown = gates if verbose else [g for g in gates if g["status"] != "pass"]
    folded = len(gates) - len(shown)
    # A gate sliced by a column of 20,000 values must not print 20,000 lines: its worst
    # rows are listed and the rest counted (report.json keeps them all).
    shown, omitted = worst_per_gate(shown)
    shown.sort(key=lambda g: _ORDER.get(g["status"], 5))
    rows: list[tuple[str, ...]] = [
        (
            str(g["status"]).upper(),
            terminal_safe(g.get("gate") or g["id"]),
            terminal_safe(slice_text(g.get("slice"))),
            fmt(g.get("observed")),
            describe_interval(g.get("ci")),
            describe_bound(g.get("bound"), ascii=True),
            "" if g.get("support") is None else str(g["support"]),
            _detectable(g),
        )
        for g in shown
    ]
    paint = _painter(colour)
    out: list[str] = []
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    widths[0] = max(widths[0], _STATUS_W - 2)
    table_w = sum(widths) + 2 * (len(widths) - 1)
    if rows and (width is None or table_w <= width):
        out += _table(rows, shown, widths, paint, width, reasons)
    elif rows:
        out += _records(rows, shown, width or table_w, paint, reasons)
    out += [terminal_safe(o.describe()) for o in omitted]
    if folded:
        out.append(
            f"{folded} passing gate{'s' * (folded != 1)} not listed ({verbose_hint} lists them)"
        )
    # Run-level warnings (e.g. a pickled model loaded because the config allowed it).
    out += [paint("warn", "warning:") + " " + terminal_safe(w) for w in doc.get("warnings", [])]
    s = doc["summary"]
    status = str(doc["status"])
    out.append(
        paint(status, f"{status.upper()}:")
        + f" {s['pass']} passed, {s['fail']} failed, {s['warn']} warnings, "
        f"{s['error']} errors, {s['skip']} skipped"
    )
    return [defuse(line) for line in out]


def format_table(
    doc: dict[str, Any], *, width: int | None = None, only_problems: bool = False
) -> list[str]:
    """Every row (or only the problems), no colour: what `monitor` prints."""
    return render_table(doc, width=width, verbose=not only_problems, reasons=True)


def _painter(colour: bool) -> Any:
    def paint(status: str, text: str) -> str:
        code = _COLOUR.get(status.lower())
        return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text

    return paint


def _table(
    rows: list[tuple[str, ...]],
    gates: list[dict[str, Any]],
    widths: list[int],
    paint: Any,
    width: int | None,
    reasons: bool,
) -> list[str]:
    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in (3, 6, 7) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    out = [line(_HEADER), line(tuple("-" * w for w in widths))]
    for r, g in zip(rows, gates, strict=True):
        text = line(r)
        out.append(paint(g["status"], text[: widths[0]]) + text[widths[0] :])
        if reasons:
            out += _reason(g, width)
    return out


def _records(
    rows: list[tuple[str, ...]], gates: list[dict[str, Any]], width: int, paint: Any, reasons: bool
) -> list[str]:
    """One record per gate: status and full identity (wrapped), then its numbers."""
    width = max(width, 40)
    avail = width - len(_INDENT)
    header = f"{'status':<{_STATUS_W}}  gate [slice]; then observed, ci, bound, support, mde"
    out = [header, "-" * min(len(header), width)]
    for r, g in zip(rows, gates, strict=True):
        status, gate, slc, observed, interval, bound, support, mde = r
        ident = gate if g.get("slice") is None else f"{gate} [{slc}]"
        first, *rest = wrap(ident, avail)
        out.append(paint(g["status"], f"{status:<{_STATUS_W}}") + "  " + first)
        if rest:  # continuation of a long identity, indented a little further
            out += [_INDENT + "  " + p for p in wrap(ident[len(first) :].lstrip(), avail - 2)]
        numbers = [f"observed {observed}"]
        if interval:
            numbers.append(f"ci {interval}")
        if bound:
            numbers.append(f"bound {bound}")
        if support:
            numbers.append(f"support {support}")
        if mde:
            numbers.append(f"detects {mde}")
        out += [_INDENT + p for p in _fields(numbers, avail)]
        if reasons:
            out += _reason(g, width)
    return out


def _fields(fields: list[str], width: int) -> list[str]:
    """`fields` two spaces apart, in lines of at most `width`, broken between fields (so
    "detects >=24 pt" is never split from its unit); a field longer than a line is
    wrapped on its own (`wrap`)."""
    lines: list[str] = []
    for field in fields:
        if lines and len(lines[-1]) + 2 + len(field) <= width:
            lines[-1] += "  " + field
        elif len(field) <= width:
            lines.append(field)
        else:
            lines += wrap(field, width)
    return lines


def _detectable(g: dict[str, Any]) -> str:
    """The minimum detectable effect as a cell (ASCII, like the bounds): ">=4.1 pt"."""
    mde = detectable_cell(g.get("detectable"))
    return f">={mde}" if mde else ""


def _reason(g: dict[str, Any], width: int | None) -> list[str]:
    """An error verdict's message under its row: the reason names the file or column."""
    if g["status"] != "error" or not g.get("message"):
        return []
    text = "reason: " + terminal_safe(g["message"])
    avail = (width or 10**6) - len(_INDENT)
    return [_INDENT + p for p in wrap(text, max(avail, 20), words=True)]


def wrap(text: str, width: int, *, words: bool = False) -> list[str]:
    """`text` in pieces of at most `width` characters, broken at a space or after a comma,
    bracket, slash or `=` where one is near, else anywhere: nothing is dropped. With
    `words`, only at spaces, and a longer word (a path) overflows rather than breaks."""
    width = max(width, 1)
    pieces: list[str] = []
    while len(text) > width:
        cut = _last_break(text, width, ", [/=" if not words else " ")
        if cut == 0 and words:
            cut = text.find(" ", width) + 1 or len(text)
        elif cut < width // 2 and not words:  # no good break: cut hard, leave no stub
            cut = width
        pieces.append(text[:cut].rstrip(" "))
        text = text[cut:].lstrip(" ")
    if text or not pieces:
        pieces.append(text)
    return pieces


def _last_break(text: str, width: int, seps: str) -> int:
    best = text.rfind(" ", 0, width + 1) + 1  # the space itself is dropped
    for sep in seps.replace(" ", ""):
        best = max(best, text.rfind(sep, 0, width) + 1)
    return best
