"""Render a report document (the parsed report.json) as Markdown.

Templates are package data; every value that came from data (slice names, column names,
category values, messages that quote them) is escaped so it cannot break the table or
inject Markdown / HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates._text import clean, clean_block
from mlops_gates.gates.result import fmt

if TYPE_CHECKING:
    import jinja2

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
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
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def describe_pvalues(details: dict[str, Any]) -> str:
    p, adj = details.get("p_value"), details.get("p_adjusted")
    if p is None:
        return ""
    return f"{fmt(p, 2)} ({fmt(adj, 2)})" if adj is not None else fmt(p, 2)


def slice_text(s: dict[str, Any] | None) -> str:
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


def render_markdown(doc: dict[str, Any]) -> str:
    from mlops_gates.report.bounded import worst_per_gate

    env = markdown_environment()
    order = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}
    # Thousands of slices: the worst of each gate, the rest counted (report.json has all).
    shown, omitted = worst_per_gate(doc["gates"])
    gates = sorted(shown, key=lambda g: order.get(g["status"], 5))
    statistics = doc.get("context", {}).get("statistics") or {}
    confidence = float(statistics.get("confidence", 0.95))
    text = env.get_template("report.md.j2").render(
        doc=doc, gates=gates, confidence=confidence, omitted=[o.describe() for o in omitted]
    )
    # A backstop for any value a template shows without `md`.
    return clean_block(text)
