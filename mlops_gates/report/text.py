"""The terminal table shared by `mlops-gates check` and pytest's terminal summary."""

from __future__ import annotations

from typing import Any

from mlops_gates.gates.result import fmt
from mlops_gates.report.markdown import describe_bound, describe_interval, slice_text

_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}


def format_table(
    doc: dict[str, Any], *, width: int | None = None, only_problems: bool = False
) -> list[str]:
    gates = sorted(doc["gates"], key=lambda g: _ORDER.get(g["status"], 5))
    if only_problems:
        gates = [g for g in gates if g["status"] != "pass"]
    header = ("status", "gate", "slice", "observed", "interval", "bound", "support")
    rows: list[tuple[str, ...]] = [
        (
            g["status"].upper(),
            g["gate"],
            _clip(slice_text(g["slice"]), 40),
            fmt(g["observed"]),
            describe_interval(g["ci"]),
            describe_bound(g["bound"]).replace("≥", ">=").replace("≤", "<="),
            "" if g["support"] is None else str(g["support"]),
        )
        for g in gates
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    if width:
        # Too wide for the terminal: narrow the text columns (slice, then gate), never
        # the numbers at the end of the line, which cutting the line would lose.
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        for col in (2, 1):
            if excess <= 0:
                break
            cut = min(excess, widths[col] - max(len(header[col]), 8))
            if cut > 0:
                widths[col] -= cut
                excess -= cut
                rows = [(*r[:col], _clip(r[col], widths[col]), *r[col + 1 :]) for r in rows]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in (3, 6) else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    out = [line(header), line(tuple("-" * w for w in widths))]
    out += [line(r)[:width] if width else line(r) for r in rows]
    s = doc["summary"]
    out.append(
        f"{doc['status'].upper()}: {s['pass']} passed, {s['fail']} failed, {s['warn']} warnings, "
        f"{s['error']} errors, {s['skip']} skipped"
    )
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
