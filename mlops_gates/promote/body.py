"""Render a promotion pull request's body, and the sticky report comment, from report.json.

Nothing here computes a metric: rows are picked, sorted and formatted from the report
document. Every value that came from data or config (slice values, group names, gate ids,
messages, paths) goes through an escaping filter; Mermaid labels have their own sanitizer.
GitHub refuses bodies over 65,536 characters, so the body is rendered at decreasing levels
of detail until it fits, and says so when it was shortened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_gates._text import clean, clean_block
from mlops_gates.errors import PromotionError
from mlops_gates.gates.result import fmt
from mlops_gates.report.markdown import (
    markdown_environment,
    slice_text,
)

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "BodyContext",
    "build_view",
    "chart_number",
    "ci_text",
    "code",
    "fence",
    "mermaid_text",
    "parse_marker",
    "percent",
    "promotion_marker",
    "render_comment",
    "render_promotion_body",
    "report_marker",
    "signed",
    "truncate",
]

BODY_LIMIT = 65536  # GitHub's limit on PR bodies and comments, in characters
PROMOTION_MARKER = "mlops-gates:promotion"
REPORT_MARKER = "<!-- mlops-gates:report -->"  # unkeyed: comments of releases before keys
_ORDER = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}

# Detail levels, most detailed first; the first whose rendering fits is used.
LEVELS: tuple[dict[str, int], ...] = (
    {"slices": 40, "fairness": 60, "attention": 50, "all_gates": 250, "charts": 3, "bars": 20},
    {"slices": 15, "fairness": 25, "attention": 25, "all_gates": 60, "charts": 2, "bars": 12},
    {"slices": 5, "fairness": 10, "attention": 10, "all_gates": 0, "charts": 1, "bars": 8},
)
TRUNCATION_NOTE = (
    "\n\n> [!NOTE]\n> This description was cut to fit GitHub's 65,536-character limit; "
    "the whole report is `report.md` in the gates run's artifacts.\n"
)


@dataclass(frozen=True)
class BodyContext:
    """What the body needs beyond report.json: the promotion itself."""

    model: str
    version: str
    uri: str
    alias: str
    manifest_path: str
    base: str
    marker: str  # hidden HTML comment that identifies the promotion
    reproduce: list[str] = field(default_factory=list)  # shell lines
    links: dict[str, str | None] = field(default_factory=dict)  # training_run, gates_run, ...
    run_ids: dict[str, str | None] = field(default_factory=dict)  # training, gates


def promotion_marker(model: str, version: str, base_blob: str | None) -> str:
    """The hidden marker a promotion body carries: model, version, and the base manifest's blob."""
    # model and version match [A-Za-z0-9._+-], so they cannot end the HTML comment.
    return (
        f"<!-- {PROMOTION_MARKER} model={model} version={version} "
        f"base-blob={base_blob or 'none'} -->"
    )


def report_marker(key: str | None) -> str:
    """The sticky comment's first line: one comment per key (config path or model name),
    so two models gated on one pull request keep two comments. No key: the old marker."""
    if not key:
        return REPORT_MARKER
    # Percent-encoding leaves no `>`, space or newline, so the key cannot end the comment.
    return f"<!-- mlops-gates:report key={quote(key, safe='/._-+@:')} -->"


def parse_marker(body: str) -> dict[str, str] | None:
    """The fields of the hidden promotion marker in a pull request body; None without one."""
    m = re.search(rf"<!-- {PROMOTION_MARKER} ([^>]*?) -->", body or "")
    if m is None:
        return None
    return dict(p.split("=", 1) for p in m.group(1).split() if "=" in p)


# -- filters ----------------------------------------------------------------------------
def code(value: Any, limit: int = 200, *, table: bool = False) -> str:
    """An inline code span that no content can break out of."""
    if value is None:
        return "—"
    text = " ".join(str(value).split("\n"))
    text = clean(text.replace("\r", " "), limit)
    if table:
        text = text.replace("|", "\\|")  # GFM splits cells on | even inside code spans
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(lines: list[str]) -> str:
    """The opening of a code fence longer than any backtick run in `lines`."""
    longest = max((len(r) for line in lines for r in re.findall(r"`+", line)), default=0)
    return "`" * max(3, longest + 1)


_MERMAID_UNSAFE = re.compile(r"[^\w .,=+\-/:]")


def mermaid_text(value: Any, limit: int = 30) -> str:
    """A label safe inside a quoted Mermaid string: no quotes, brackets, semicolons,
    `#` entities, `%%` comments or line breaks."""
    text = _MERMAID_UNSAFE.sub("_", " ".join(str(value).split()))
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text or "_"


def chart_number(x: float) -> str:
    """A number as a Mermaid chart reads it: plain decimals, no exponent."""
    # Plain decimals: Mermaid's parser is not promised to read 1e-05.
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def signed(x: float | None) -> str:
    """A difference with its sign ("+0.012"); "n/a" when undefined."""
    if x is None:
        return "n/a"
    return ("+" if x > 0 else "") + fmt(x)


def percent(x: float | None) -> str:
    """A relative change as a signed percentage; "n/a" when undefined."""
    if x is None:
        return "n/a"
    return f"{x * 100:+.2f}%"


def ci_text(ci: Any) -> str:
    """A confidence interval as `[low, high]`, or a dash when there is none."""
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


# -- view -------------------------------------------------------------------------------
def _gain(g: dict[str, Any]) -> float | None:
    """The delta oriented so that larger is better (None when undefined)."""
    delta = g.get("observed")
    if delta is None:
        return None
    greater = (g.get("details") or {}).get("greater_is_better", True)
    return float(delta) if greater is not False else -float(delta)


def _comparison(g: dict[str, Any]) -> dict[str, Any]:
    d = g.get("details") or {}
    return {
        "gate": g["gate"],
        "metric": g.get("metric"),
        "slice": g.get("slice"),
        "status": g["status"],
        "candidate": d.get("candidate"),
        "baseline": d.get("baseline"),
        "delta": g.get("observed"),
        "relative": d.get("relative_change"),
        "ci": g.get("ci"),
        "support": g.get("support"),
        "bound": g.get("bound"),
        "direction": "higher" if d.get("greater_is_better", True) is not False else "lower",
        "gain": _gain(g),
    }


def _fairness_rows(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for g in sorted(gates, key=lambda g: _ORDER.get(g["status"], 5)):
        groups = (g.get("details") or {}).get("groups") or []
        for i, grp in enumerate(groups):
            values = {
                k: v
                for k, v in grp.items()
                if k not in ("group", "support", "included") and isinstance(v, int | float)
            }
            rows.append(
                {
                    "first": i == 0,
                    "gate": g,
                    "group": grp.get("group"),
                    "support": grp.get("support"),
                    "included": grp.get("included", True),
                    "metrics": values,
                }
            )
        if not groups:
            rows.append(
                {
                    "first": True,
                    "gate": g,
                    "group": None,
                    "support": None,
                    "included": True,
                    "metrics": {},
                }
            )
    return rows


def build_view(doc: dict[str, Any], limits: dict[str, int]) -> dict[str, Any]:
    """The facts the pull request body template shows, from report.json (`limits`: rows
    per table)."""
    gates = list(doc.get("gates") or [])
    baseline = [g for g in gates if g.get("kind") == "baseline"]
    overall = [_comparison(g) for g in baseline if not g.get("slice")]
    sliced = [_comparison(g) for g in baseline if g.get("slice")]
    # Worst first: the smallest oriented gain; undefined deltas last.
    sliced.sort(key=lambda r: (r["gain"] is None, r["gain"] if r["gain"] is not None else 0))

    charts = []
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for r in sliced:
        if r["delta"] is not None:
            by_gate.setdefault(r["gate"], []).append(r)
    for gate_id, rows in list(by_gate.items())[: limits["charts"]]:
        bars = rows[: limits["bars"]]
        values = [float(r["delta"]) for r in bars]
        lo, hi = min(0.0, *values), max(0.0, *values)
        pad = (hi - lo) * 0.1 or 0.01
        charts.append(
            {
                "gate": gate_id,
                "metric": bars[0]["metric"],
                "direction": bars[0]["direction"],
                "labels": [slice_text(r["slice"]) for r in bars],
                "deltas": values,
                "lo": lo - pad if lo < 0 else 0.0,
                "hi": hi + pad,
                "omitted": len(rows) - len(bars),
            }
        )

    fairness = _fairness_rows([g for g in gates if g.get("kind") == "fairness"])
    ordered = sorted(gates, key=lambda g: _ORDER.get(g["status"], 5))
    attention = [g for g in ordered if g["status"] in ("error", "fail", "warn")]
    improved = sum(1 for r in overall if r["gain"] is not None and r["gain"] > 0)
    worse = sum(1 for r in overall if r["gain"] is not None and r["gain"] < 0)
    return {
        "overall": overall,
        "slices": sliced[: limits["slices"]],
        "slices_omitted": max(0, len(sliced) - limits["slices"]),
        "charts": charts,
        "charts_omitted": max(0, len(by_gate) - limits["charts"]),
        "fairness": fairness[: limits["fairness"]],
        "fairness_omitted": max(0, len(fairness) - limits["fairness"]),
        "attention": attention[: limits["attention"]],
        "attention_omitted": max(0, len(attention) - limits["attention"]),
        "all_gates": ordered[: limits["all_gates"]],
        "all_gates_omitted": max(0, len(ordered) - limits["all_gates"]),
        "n_gates": len(gates),
        "improved": improved,
        "worse": worse,
    }


# -- rendering --------------------------------------------------------------------------
def _environment(template: Path | None) -> jinja2.Environment:
    env = markdown_environment(None if template is None else template.parent)
    env.filters.update(
        signed=signed,
        percent=percent,
        ci=ci_text,
        code=code,
        tcode=lambda v, limit=200: code(v, limit, table=True),
        mermaid=mermaid_text,
        chart_number=chart_number,
    )
    env.globals["fence"] = fence
    return env


def render_promotion_body(
    doc: dict[str, Any],
    ctx: BodyContext,
    *,
    template: Path | None = None,
    limit: int = BODY_LIMIT,
) -> str:
    """The PR body: as detailed as fits in `limit` characters."""
    import jinja2

    env = _environment(template)
    name = "promotion.md.j2" if template is None else template.name
    try:
        tmpl = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise PromotionError(f"{template}: template not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise PromotionError(f"{exc.filename}:{exc.lineno}: template error: {exc}") from None
    body = ""
    for level, limits in enumerate(LEVELS):
        view = build_view(doc, limits)
        try:
            body = tmpl.render(doc=doc, ctx=ctx, view=view, shortened=level > 0)
        except jinja2.UndefinedError as exc:
            where = template or "promotion.md.j2"
            raise PromotionError(f"{where}: template uses an unknown value: {exc}") from None
        body = clean_block(body)  # a backstop for values a (user's) template shows raw
        if len(body) <= limit:
            return body
    return truncate(body, limit)


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Cut `text` at a line boundary so that it and the note fit in `limit` characters."""
    if len(text) <= limit:
        return text
    room = limit - len(TRUNCATION_NOTE)
    cut = text.rfind("\n", 0, room)
    return text[: cut if cut > 0 else room] + TRUNCATION_NOTE


def render_comment(markdown: str, *, key: str | None = None, limit: int = BODY_LIMIT) -> str:
    """The sticky comment: the marker that finds it again (see `report_marker`), then
    report.md."""
    env = _environment(None)
    report = clean_block(markdown)  # report.md may come from an older or foreign run
    marker = report_marker(key)
    body = str(env.get_template("comment.md.j2").render(marker=marker, report=report))
    return truncate(body, limit)
