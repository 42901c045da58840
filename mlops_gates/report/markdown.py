"""Render a report document (the parsed report.json) as Markdown: report.md, which is also
the GitHub job summary and the sticky PR comment.

What needs a human comes first, then one compact table per gate with a text interval bar,
passing rows folded in `<details>`. Templates are package data; every value that came from
data (slice names, column names, category values, messages that quote them) is escaped so
it cannot break the table or inject Markdown / HTML.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates._text import clean, clean_block
from mlops_gates.gates.result import detectable_cell, fmt, slice_label

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "BAR_WIDTH",
    "DETECTABLE_KINDS",
    "STATUS_ICON",
    "UNFOLDED_PER_GATE",
    "Scale",
    "bar_scale",
    "baseline_verdict",
    "describe_bound",
    "describe_interval",
    "describe_pvalues",
    "interval_bar",
    "kind_columns",
    "markdown_environment",
    "md_escape",
    "mlflow_line",
    "problem_kind",
    "reason_line",
    "render_markdown",
    "row_cells",
    "slice_text",
]

# `&` too: "&amp;" in a value must show as written, not as the character it names.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~&])")
STATUS_ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "error": "💥", "skip": "⏭️"}


def md_escape(value: Any, limit: int = 200) -> str:
    """Text safe inside a Markdown table cell."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    # Terminal escapes and bidi overrides would reach a reviewer's screen raw.
    text = clean(text, limit)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # An @mention in a PR comment pings people; a zero-width joiner defuses it.
    return text.replace("@", "@\u200d")


def describe_bound(bound: dict[str, Any] | None, *, ascii: bool = False) -> str:
    """The bound as Markdown shows it (`≥ 0.8`), or with `ascii` as a terminal does
    (`>= 0.8`, `in [a, b]`)."""
    if not bound:
        return ""
    lo, hi = bound.get("min"), bound.get("max")
    if lo is not None and hi is not None:
        return f"{'in ' if ascii else ''}[{fmt(lo)}, {fmt(hi)}]"
    ge, le = (">=", "<=") if ascii else ("≥", "≤")
    return f"{ge} {fmt(lo)}" if lo is not None else f"{le} {fmt(hi)}"


def describe_interval(ci: list[float | None] | None) -> str:
    """The interval as every report shows it (`[0.931, 0.945]`), "" without one."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def describe_pvalues(details: dict[str, Any]) -> str:
    """`p (adjusted p)` of a verdict, "" when it has none."""
    p, adj = details.get("p_value"), details.get("p_adjusted")
    if p is None:
        return ""
    return f"{fmt(p, 2)} ({fmt(adj, 2)})" if adj is not None else fmt(p, 2)


def slice_text(s: dict[str, Any] | None) -> str:
    """A slice as people read it (`sex=Female, race=Other`; `overall` for the whole data)."""
    if not s:
        return "overall"
    return ", ".join(f"{k}={'<missing>' if v is None else v}" for k, v in s.items())


def markdown_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """The jinja2 environment every Markdown template renders in: the package's templates
    (or a user's folder), strict undefined values, and the shared escaping and number
    filters. Callers add the filters only their templates use."""
    import jinja2

    loader: jinja2.BaseLoader = (
        jinja2.PackageLoader("mlops_gates.report", "templates")
        if template_dir is None
        else jinja2.FileSystemLoader(str(template_dir))
    )
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML: escaping is explicit through `md`
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md_escape,
        num=fmt,
        bound=describe_bound,
        slice=slice_text,
        interval=describe_interval,
        pvalues=describe_pvalues,
    )
    env.globals["icon"] = STATUS_ICON
    return env


# -- report.md at a glance -----------------------------------------------------------------
# What needs a human comes first; then one compact table per gate with a text interval bar;
# passing rows are folded. Everything is taken from report.json, nothing is recomputed.

BAR_WIDTH = 21  # characters of a text interval bar
# Kinds whose verdicts carry a minimum detectable effect, shown as a column after support.
DETECTABLE_KINDS = ("metric", "baseline")
UNFOLDED_PER_GATE = 10  # problem rows of one gate shown before the rest are folded too
_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}
_INSUFFICIENT = ("insufficient_support", "undefined")
_NEEDS_ORDER = ("failed", "errors", "warnings", "insufficient evidence", "skipped")
_URL = re.compile(r"https?://[^\s<>()\[\]`\"'\\]+")
# Bar glyphs: the axis, the interval and its ends, the value, a bound (on the axis or
# inside the interval). Box-drawing characters have no line-break opportunity between
# them, so a narrow table cell cannot wrap a bar.
AXIS, LINE, LEFT, RIGHT, DOT, BOUND, BOUND_INSIDE = "·", "─", "├", "┤", "●", "│", "┼"


@dataclass(frozen=True)
class Scale:
    """The axis of one gate's interval bars: `lo` at the first character, `hi` at the last.

    Both ends are round numbers (two significant digits of the range), so the header that
    shows them states the scale exactly."""

    lo: float
    hi: float
    width: int = BAR_WIDTH

    def position(self, x: float) -> int:
        """The character a value falls on (values off the scale are pinned to its ends)."""
        frac = (x - self.lo) / (self.hi - self.lo)
        return min(max(round(frac * (self.width - 1)), 0), self.width - 1)

    def label(self) -> str:
        """The scale as the bar column's header shows it (`0.15 … 0.73`)."""
        return f"{fmt(self.lo)} … {fmt(self.hi)}"


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _ci(g: dict[str, Any]) -> tuple[float, float] | None:
    ci = g.get("ci")
    if not ci or len(ci) != 2:
        return None
    lo, hi = _finite(ci[0]), _finite(ci[1])
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def _bounds(g: dict[str, Any]) -> list[float]:
    bound = g.get("bound") or {}
    return [b for b in (_finite(bound.get("min")), _finite(bound.get("max"))) if b is not None]


def bar_scale(rows: list[dict[str, Any]], width: int = BAR_WIDTH) -> Scale | None:
    """One scale for the bars of a gate's rows (so slices compare at a glance): it spans
    every value, interval end and bound, widened to round numbers. None: nothing to draw."""
    values: list[float] = []
    for g in rows:
        observed = _finite(g.get("observed"))
        if observed is None:
            continue
        values.append(observed)
        values += list(_ci(g) or ())
        values += _bounds(g)
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = 10.0 ** (math.floor(math.log10(hi - lo)) - 1)
    # round() removes the float noise of the division, so 0.8 / 0.01 floors to 80, not 79.
    lo = math.floor(round(lo / step, 6)) * step
    hi = math.ceil(round(hi / step, 6)) * step
    return Scale(float(f"{lo:.12g}"), float(f"{hi:.12g}"), width)


def interval_bar(g: dict[str, Any], scale: Scale | None) -> str:
    """`···├──●─┼──┤····` for one verdict: its interval (├ ┤), value (●) and bound (│, or
    ┼ where the bound falls inside the interval) on the gate's scale. "" without a value.

    Each glyph sits on the character its number rounds to, except a bound outside the
    interval that rounds onto an end: it moves one character outward."""
    observed = _finite(g.get("observed"))
    if scale is None or observed is None:
        return ""
    cells = [AXIS] * scale.width
    ci = _ci(g)
    a = b = -1
    if ci is not None:
        a, b = scale.position(ci[0]), scale.position(ci[1])
        for i in range(a, b + 1):
            cells[i] = LINE
        cells[a], cells[b] = LEFT, RIGHT
    for bound in _bounds(g):
        p = scale.position(bound)
        inside = ci is not None and ci[0] <= bound <= ci[1]
        if ci is not None and not inside and p in (a, b):
            # On an end's character but outside the interval: one character outward, so
            # the bar never shows a bound inside an interval that excludes it.
            p += -1 if p == a and bound < ci[0] else 1
            if not 0 <= p < scale.width:
                continue
        cells[p] = BOUND_INSIDE if inside else BOUND
    cells[scale.position(observed)] = DOT
    return "".join(cells)


def baseline_verdict(g: dict[str, Any]) -> str:
    """Is the candidate better than the baseline, from the interval of the difference
    (candidate − baseline), not from its sign: "better" or "worse" only when the whole
    interval is on one side of 0, else "not shown better"."""
    ci = _ci(g)
    if ci is None:
        return "no interval"
    greater_is_better = (g.get("details") or {}).get("greater_is_better", True) is not False
    lo, hi = ci if greater_is_better else (-ci[1], -ci[0])
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "not shown better"


def problem_kind(g: dict[str, Any]) -> str:
    """What a human must look at in a verdict that did not pass."""
    if g.get("reason") in _INSUFFICIENT:
        return "insufficient evidence"
    return {"fail": "failed", "error": "errors", "warn": "warnings", "skip": "skipped"}.get(
        str(g.get("status")), str(g.get("status"))
    )


def reason_line(g: dict[str, Any]) -> str:
    """Why one verdict did not pass, in one line of plain text (escape it to show it).

    The numbers are in the row already; the line says which side of the bound and on what
    basis, names the groups of a fairness gap, or, for errors and insufficient evidence,
    is the gate's own message (which names the file, column or count at fault)."""
    reason, bound = g.get("reason"), g.get("bound") or {}
    details = g.get("details") or {}
    if reason in ("below_min", "above_max") and bound:
        low = reason == "below_min"
        side = f"{'below the minimum' if low else 'above the maximum'} "
        side += fmt(bound.get("min") if low else bound.get("max"))
        judged = details.get("judged_on")
        if judged == "interval":
            text = f"its interval reaches {side}"
        elif judged == "significance":
            text = f"significantly {side} (adjusted p = {fmt(details.get('p_adjusted'), 2)})"
        else:
            text = side
        groups = _group_values(details.get("groups"))
        return f"{text}; {groups}" if groups else text
    message = str(g.get("message") or reason or "")
    # "recall on race=Other: insufficient evidence, ..." - the row names the slice already.
    cut = message.find(f" on {slice_text(g.get('slice'))}: ")
    if 0 <= cut < 120:
        message = message[cut + len(slice_text(g.get("slice"))) + 6 :]
    return message


def _group_values(groups: Any, limit: int = 8) -> str:
    """`selection_rate: Female 0.0812, Male 0.257` from a fairness verdict's groups."""
    if not isinstance(groups, list) or not groups:
        return ""
    shown = [x for x in groups if isinstance(x, dict) and x.get("included", True)]
    skip = {"group", "included", "support"}
    keys = [k for k in shown[0] if k not in skip and not k.endswith("_support")] if shown else []
    parts = []
    for key in keys:
        values = [f"{x.get('group')} {fmt(_finite(x.get(key)), 3)}" for x in shown[:limit]]
        more = f", … {len(shown) - limit} more" if len(shown) > limit else ""
        parts.append(f"{key}: {', '.join(values)}{more}")
    excluded = len(groups) - len(shown)
    if excluded:
        parts.append(f"{excluded} group{'s' * (excluded != 1)} below min_support left out")
    return "; ".join(parts)


def _columns(kind: str, significance: bool) -> list[tuple[str, str]]:
    """(header, alignment) of a gate's table."""
    cols = [("status", "---"), ("slice", "---"), ("value", "---:"), ("interval", "---")]
    cols += [("bar", "---"), ("bound", "---"), ("support", "---:")]
    if kind in DETECTABLE_KINDS:
        cols.append(("detectable", "---:"))
    if significance:
        cols.append(("p (adj.)", "---:"))
    return cols + kind_columns(kind)


def kind_columns(kind: str) -> list[tuple[str, str]]:
    """(header, alignment) of the cells a gate kind adds at the end of its rows (the PR
    body's tables use them too): baseline → candidate and the verdict for baseline gates,
    one cell for calibration and churn."""
    if kind == "baseline":
        return [("baseline → candidate", "---"), ("vs baseline", "---")]
    if kind in _KIND_CELL:
        return [(kind if kind == "calibration" else "decisions", "---")]
    return []


def _calibration_cell(g: dict[str, Any]) -> str:
    """ECE baseline → candidate and the verdict from the interval, or the slice's mean
    score against its observed rate, or the fit's intercept and slope."""
    d = g.get("details") or {}
    if d.get("baseline") is not None and d.get("candidate") is not None:
        name = "ℓ2²" if g.get("metric") == "squared_l2" else "ECE"
        return f"{name} {fmt(d['baseline'])} → {fmt(d['candidate'])} · {baseline_verdict(g)}"
    if "slope" in d:
        return f"intercept {fmt(_finite(d.get('intercept')))} · slope {fmt(_finite(d['slope']))}"
    score, rate = _finite(d.get("mean_score")), _finite(d.get("observed_rate"))
    return "" if score is None else f"mean score {fmt(score)} · observed {fmt(rate)}"


def _churn_cell(g: dict[str, Any]) -> str:
    """Both flip directions (count and share), or the TOST's baseline → candidate and p."""
    d = g.get("details") or {}
    if "tost_p" in d:
        base, cand = _finite(d.get("baseline")), _finite(d.get("candidate"))
        shown = "" if base is None or cand is None else f"{fmt(base)} → {fmt(cand)} · "
        return f"{shown}TOST p {fmt(_finite(d.get('tost_p')), 2)}"
    parts = []
    for key, name in (("neg_to_pos", "neg→pos"), ("pos_to_neg", "pos→neg")):
        part = d.get(key)
        if isinstance(part, dict) and part.get("share") is not None:
            parts.append(f"{name} {part.get('count', 0):,} ({fmt(100 * part['share'], 2)}%)")
    return " · ".join(parts)


_KIND_CELL = {"calibration": _calibration_cell, "churn": _churn_cell}


def row_cells(
    g: dict[str, Any], scale: Scale | None, kind: str, significance: bool = False
) -> list[str]:
    """One verdict's table cells: status, slice, value, interval, bar, bound, support, the
    minimum detectable effect (metric and baseline gates), then the p-value
    (`significance`) and, for baseline gates, baseline → candidate and the verdict."""
    support = g.get("support")
    details = g.get("details") or {}
    bar = interval_bar(g, scale)
    cells = [
        f"{STATUS_ICON.get(str(g.get('status')), '')} {md_escape(g.get('status'))}",
        md_escape(slice_text(g.get("slice"))),
        fmt(g.get("observed")),
        describe_interval(g.get("ci")),
        f"`{bar}`" if bar else "",
        describe_bound(g.get("bound")),
        "" if support is None else f"{support:,}",
    ]
    if kind in DETECTABLE_KINDS:
        mde = detectable_cell(g.get("detectable"))
        cells.append(f"≥ {mde}" if mde else "")
    if significance:
        cells.append(describe_pvalues(details))
    if kind == "baseline":
        base, cand = _finite(details.get("baseline")), _finite(details.get("candidate"))
        cells.append("" if base is None or cand is None else f"{fmt(base)} → {fmt(cand)}")
        cells.append(baseline_verdict(g))
    if kind in _KIND_CELL:
        cells.append(md_escape(_KIND_CELL[kind](g)))
    return cells


def _table(header: list[tuple[str, str]], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(h for h, _ in header) + " |"]
    lines.append("|" + "|".join(a for _, a in header) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _section(
    gid: str, rows: list[dict[str, Any]], every: list[dict[str, Any]], omitted: str | None
) -> dict[str, Any]:
    """One gate: its problem rows (the first few unfolded), its passing rows, the reason
    line of each problem row, tables ready to print. `rows` are the verdicts listed,
    `every` all of the gate's verdicts (the counts)."""
    from mlops_gates.report.bounded import worst_first

    ranked = worst_first(rows)
    kind = str(ranked[0].get("kind"))
    significance = any((g.get("details") or {}).get("judged_on") == "significance" for g in rows)
    scale = bar_scale(ranked)
    header = _columns(kind, significance)
    if scale is not None:  # the bar column's header is its scale
        header[4] = (f"`{scale.label()}`", "---")
    problems = [g for g in ranked if g.get("status") != "pass"]
    passes = [g for g in ranked if g.get("status") == "pass"]

    def table(part: list[dict[str, Any]]) -> str:
        return (
            _table(header, [row_cells(g, scale, kind, significance) for g in part]) if part else ""
        )

    def reasons(part: list[dict[str, Any]]) -> list[str]:
        return [
            f"{STATUS_ICON.get(str(g.get('status')), '')} "
            f"**{md_escape(slice_text(g.get('slice')))}**: {md_escape(reason_line(g), 500)}"
            for g in part
        ]

    metric = ranked[0].get("metric")
    status = str(ranked[0].get("status"))
    unfolded, folded = problems[:UNFOLDED_PER_GATE], problems[UNFOLDED_PER_GATE:]
    return {
        "id": gid,
        "gate": md_escape(gid),
        "icon": STATUS_ICON.get(status, ""),
        "what": md_escape(f"{kind}{f' · {metric}' if metric else ''}"),
        "count": len(every),
        "problems": sum(g.get("status") != "pass" for g in every),
        "problem_table": table(unfolded),
        "problem_reasons": reasons(unfolded),
        "more_problems": len(folded),
        "more_table": table(folded),
        "more_reasons": reasons(folded),
        "passes": len(passes),
        "pass_table": table(passes),
        "omitted": md_escape(omitted, 500) if omitted else "",
    }


def _run_links(doc: dict[str, Any]) -> list[str]:
    line = mlflow_line(doc)
    return [line] if line else []


def mlflow_line(doc: Mapping[str, Any]) -> str | None:
    """The MLflow line of report.md, the job summary, the sticky comment and the monitoring
    issue: the registered model version judged, its training run and the gates run, linked
    when the report knows the MLflow UI (report/links.py); None when it knows none."""
    from mlops_gates.report.links import mlflow_record

    record = mlflow_record(doc)
    parts = []
    if record.model and record.version:
        name = f"model {md_escape(record.model)} version {md_escape(record.version)}"
        parts.append(_linked(name, record.links.get("model_version")))
    for label, run_id, key in (
        ("training run", record.training_run, "training_run"),
        ("gates run", record.gates_run, "gates_run"),
    ):
        if run_id:
            parts.append(_linked(f"{label} {md_escape(run_id)}", record.links.get(key)))
    return f"MLflow: {' · '.join(parts)}" if parts else None


def _linked(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url and _URL.fullmatch(url) else text


def render_markdown(doc: dict[str, Any], *, html_page: bool = False) -> str:
    """report.md (also the job summary and the sticky PR comment) from a report document:
    what needs a human first, then one table per gate with passing rows folded.

    `html_page`: report.html is written beside it (the line pointing to it is shown)."""
    from mlops_gates.report.bounded import worst_per_gate

    env = markdown_environment()
    # Thousands of slices: the worst of each gate, the rest counted (report.json has all).
    shown, omitted = worst_per_gate(doc["gates"])
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for g in shown:
        by_gate.setdefault(str(g.get("gate")), []).append(g)
    every: dict[str, list[dict[str, Any]]] = {}
    for g in doc["gates"]:
        every.setdefault(str(g.get("gate")), []).append(g)
    left_out = {o.gate: o.describe() for o in omitted}
    sections = [_section(gid, rows, every[gid], left_out.get(gid)) for gid, rows in by_gate.items()]
    first = {gid: i for i, gid in enumerate(by_gate)}
    worst = {
        gid: min(_ORDER.get(str(g.get("status")), 5) for g in rows) for gid, rows in by_gate.items()
    }
    sections.sort(key=lambda s: (worst[s["id"]], first[s["id"]]))
    problem_sections = [s for s in sections if s["problems"]]
    passing_sections = [s for s in sections if not s["problems"]]
    counted = Counter(problem_kind(g) for g in doc["gates"] if g.get("status") != "pass")
    needs = {k: counted[k] for k in _NEEDS_ORDER if counted[k]}
    needs.update((k, n) for k, n in counted.items() if k not in needs)
    statistics = doc.get("context", {}).get("statistics") or {}
    confidence = float(statistics.get("confidence", 0.95))
    text = env.get_template("report.md.j2").render(
        doc=doc,
        n_gates=len({str(g.get("gate")) for g in doc["gates"]}),
        n_verdicts=len(doc["gates"]),
        needs=needs,
        problem_gates=len({str(g.get("gate")) for g in doc["gates"] if g.get("status") != "pass"}),
        problem_sections=problem_sections,
        passing_sections=passing_sections,
        passing_verdicts=sum(s["count"] for s in passing_sections),
        gates=sorted(shown, key=lambda g: _ORDER.get(str(g.get("status")), 5)),
        confidence=confidence,
        html_page=html_page,
        links=_run_links(doc),
        legend=f"{AXIS}{LEFT}{LINE}{DOT}{LINE}{RIGHT}{AXIS}{BOUND}{AXIS}",
    )
    text = _with_estimates(text, doc)
    # A backstop for any value a template shows without `md`.
    return clean_block(text)


def _with_estimates(text: str, doc: Mapping[str, Any]) -> str:
    """`monitor`'s CBPE estimates for rows awaiting their label, one line each, before the
    reading notes: flagged as estimates, never mixed into the verdict tables."""
    mon = (doc.get("context") or {}).get("monitor") or {}
    lines = []
    for e in mon.get("estimates") or []:
        lo, hi = e.get("ci") or (None, None)
        interval = f" [{fmt(lo, 3)}, {fmt(hi, 3)}]" if lo is not None and hi is not None else ""
        lines.append(
            f"- {md_escape(str(e['gate']))} · {md_escape(slice_label(e.get('slice')))}: "
            f"{md_escape(str(e['metric']))} ≈ {fmt(e['value'], 3)}{interval} on "
            f"{e['rows']} rows"
        )
    if mon.get("estimates_note"):
        lines.append(f"- {md_escape(str(mon['estimates_note']))}")
    if not lines:
        return text
    block = (
        "### Estimated without labels\n\n"
        "Rows still awaiting their label, estimated from the scores (CBPE); estimates assume "
        "calibrated scores, are not verdicts, and are replaced by the real metric once the "
        "labels arrive.\n\n" + "\n".join(lines) + "\n\n"
    )
    marker = "<details><summary>How to read the tables"
    at = text.find(marker)
    return text[:at] + block + text[at:] if at >= 0 else text + "\n" + block
