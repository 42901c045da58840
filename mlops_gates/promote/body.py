"""Render a promotion pull request's body, and the sticky report comment, from report.json.

Nothing here computes a metric: rows are picked, sorted and formatted from the report
document, in the order a reviewer needs them (what needs a look, what deploys, candidate vs
baseline, then one table per gate with report.md's interval bars, passing rows folded).
Every value that came from data or config (slice values, group names, gate ids, messages,
paths) goes through an escaping filter; the `mermaid` filter stays for users' templates
(ours draws no charts: a bar chart of differences without intervals misleads).
GitHub refuses bodies over 65,536 characters, so the body is rendered at decreasing levels
of detail until it fits, and says so when it was shortened.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_gates._text import clean, clean_block
from mlops_gates.errors import PromotionError
from mlops_gates.gates.result import fmt
from mlops_gates.report.bounded import worst_first, worst_per_gate
from mlops_gates.report.markdown import (
    AXIS,
    BOUND,
    DETECTABLE_KINDS,
    DOT,
    LEFT,
    LINE,
    RIGHT,
    STATUS_ICON,
    Scale,
    bar_scale,
    baseline_verdict,
    kind_columns,
    markdown_environment,
    md_escape,
    problem_kind,
    reason_line,
    row_cells,
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
    "live_lines",
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
_NEEDS_ORDER = ("failed", "errors", "warnings", "insufficient evidence", "skipped")

# Detail levels, most detailed first; the first whose rendering fits is used.
# per_gate: verdicts listed per gate (the worst); unfolded: problem rows shown per gate
# before the rest are folded; passing: whether gates that passed everywhere are listed;
# glance: problem lines in the list that opens the body.
LEVELS: tuple[dict[str, int], ...] = (
    {"per_gate": 50, "unfolded": 10, "passing": 1, "glance": 30},
    {"per_gate": 15, "unfolded": 5, "passing": 1, "glance": 20},
    {"per_gate": 5, "unfolded": 3, "passing": 0, "glance": 10},
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
    # The manifest on the base branch, i.e. what is live: None when there is none (a
    # first deployment); `live_read` False when it was not read (a dry run).
    live: dict[str, Any] | None = None
    live_read: bool = False
    attestation: dict[str, Any] | None = None  # the manifest's `attestation`, if signed


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


# -- what is live -----------------------------------------------------------------------
def _date(stamp: Any) -> str:
    """An ISO time as its day (2026-12-01): the body says since when, not to the second."""
    return str(stamp)[:10]


def live_lines(doc: dict[str, Any], ctx: BodyContext) -> dict[str, str | None]:
    """What this promotion replaces, what it was compared with, and a warning when the
    baseline compared is not the live version (Markdown, escaped).

    The live version is the one the deployment alias serves when the report saw it (its
    baseline carries the registry's aliases), else the one the base branch's manifest
    names. "Live since" and the deploying pull request come from the tags deploy writes
    on the version; without them the manifest's promotion time is shown as such."""
    models = (doc.get("context") or {}).get("models") or {}
    base = models.get("baseline") if isinstance(models.get("baseline"), dict) else None
    live = ctx.live if ctx.live_read else None
    live_model = (live or {}).get("model") or {}
    name, version = live_model.get("name"), live_model.get("version")
    serves = base is not None and ctx.alias in (base.get("aliases") or [])
    if serves and base is not None and base.get("name") == ctx.model:
        name, version = base.get("name"), base.get("version")
    out: dict[str, str | None] = {"replaces": None, "compared": None, "warning": None}
    if ctx.live_read:
        if version is None:
            out["replaces"] = (
                f"nothing: {code(ctx.manifest_path)} is not on {code(ctx.base)} yet and "
                f"alias {code(ctx.alias)} serves nothing known, so this is the first "
                f"deployment of {code(ctx.model)}."
            )
        else:
            deployed = ((base or {}).get("deployed") or {}).get(ctx.alias) if serves else None
            since = ""
            if deployed and deployed.get("at"):
                pr = deployed.get("pr")
                since = f", live since {md_escape(_date(deployed['at']))}" + (
                    f" (deployed in #{int(pr)})" if str(pr or "").isdigit() else ""
                )
            elif live and live.get("promoted_at"):
                since = (
                    f", named by {code(ctx.manifest_path)} on {code(ctx.base)} (promoted "
                    f"{md_escape(_date(live['promoted_at']))})"
                )
            replaces = f"{code(name)} version {code(version)}{since}."
            if (
                live_model.get("version") is not None
                and serves
                and str(live_model.get("version")) != str(version)
            ):
                replaces += (
                    f" {code(ctx.manifest_path)} on {code(ctx.base)} names version "
                    f"{code(live_model.get('version'))}, but alias {code(ctx.alias)} serves "
                    f"{code(version)} (rolled back?)."
                )
            out["replaces"] = replaces
    compared, is_live = _compared(doc, base, name, version, live)
    out["compared"] = compared
    if ctx.live_read and version is not None and not is_live:
        out["warning"] = (
            f"The baseline compared is not shown to be the live version ({code(name)} "
            f'version {code(version)}), so "better than the baseline" says nothing about '
            f"what this replaces. Point `baseline.model` at "
            f"{code(f'models:/{ctx.model}@{ctx.alias}')} and run the gates again."
        )
    return out


def _compared(
    doc: dict[str, Any],
    base: dict[str, Any] | None,
    name: Any,
    version: Any,
    live: dict[str, Any] | None,
) -> tuple[str, bool]:
    """The "compared with" line, and whether the baseline is the live version."""
    if base is None:
        return "no baseline is configured: the candidate was judged on its own.", False
    if base.get("missing"):
        return (
            f"no baseline: {md_escape(base['missing'], 300)} (a first model is judged on its own).",
            False,
        )
    text = _model_text(base) or str(base.get("uri") or "")
    where = base.get("uri") if base.get("uri") and base.get("uri") != text else None
    said = f"the baseline {code(text, 300)}" + (f" ({code(where, 300)})" if where else "")
    if version is None:
        return said + ".", False
    same_version = base.get("name") == name and str(base.get("version")) == str(version)
    # A file baseline has no version: the bytes tell (the live manifest keeps the digest
    # of the model its gates judged).
    live_digest = (((live or {}).get("digests") or {}).get("models") or {}).get("candidate")
    base_digest = ((doc.get("fingerprint") or {}).get("models") or {}).get("baseline")
    same_bytes = bool(live_digest) and live_digest == base_digest
    if same_version or same_bytes:
        return said + ": the live version.", True
    return said + f", not the live version ({code(version)}).", False


# -- view -------------------------------------------------------------------------------
def _table(rows: list[dict[str, Any]], scale: Scale | None, kind: str) -> str:
    """One gate's verdicts as a table; the bar column's header is the bars' scale."""
    header = ["status", "slice", "value", "interval", "bar", "bound", "support"]
    align = ["---", "---", "---:", "---", "---", "---", "---:"]
    if scale is not None:
        header[4] = f"`{scale.label()}`"
    if kind in DETECTABLE_KINDS:
        header.append("detectable")
        align.append("---:")
    for name, alignment in kind_columns(kind):  # baseline, calibration, churn
        header.append(name)
        align.append(alignment)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row_cells(g, scale, kind)) + " |" for g in rows]
    return "\n".join(lines)


def _section(
    gid: str, rows: list[dict[str, Any]], every: list[dict[str, Any]], unfolded: int
) -> dict[str, Any]:
    """One gate: its first problem rows with their reason lines, the rest folded."""
    ranked = worst_first(rows)
    kind, metric = str(ranked[0].get("kind")), ranked[0].get("metric")
    scale = bar_scale(ranked)
    problems = [g for g in ranked if g.get("status") != "pass"]
    passes = [g for g in ranked if g.get("status") == "pass"]

    def table(part: list[dict[str, Any]]) -> str:
        return _table(part, scale, kind) if part else ""

    def reasons(part: list[dict[str, Any]]) -> list[str]:
        return [
            f"{STATUS_ICON.get(str(g.get('status')), '')} **{md_escape(gid)}** · "
            f"{md_escape(slice_text(g.get('slice')))}: "
            + ("" if g.get("observed") is None else f"{fmt(g.get('observed'))}, ")
            + md_escape(reason_line(g), 500)
            for g in part
        ]

    shown, folded = problems[:unfolded], problems[unfolded:]
    status = str(ranked[0].get("status"))
    return {
        "id": gid,
        "title": f"{STATUS_ICON.get(status, '')} {md_escape(gid)} · "
        + md_escape(f"{kind}{f' · {metric}' if metric else ''}"),
        "count": len(every),
        "problems": sum(g.get("status") != "pass" for g in every),
        "problem_table": table(shown),
        "problem_reasons": reasons(shown),
        "more_problems": len(folded),
        "more_table": table(folded),
        "more_reasons": reasons(folded),
        "passes": len(passes),
        "pass_table": table(passes),
    }


def _comparison(g: dict[str, Any]) -> dict[str, Any]:
    d = g.get("details") or {}
    return {
        "gate": g["gate"],
        "metric": g.get("metric"),
        "status": g["status"],
        "candidate": d.get("candidate"),
        "baseline": d.get("baseline"),
        "delta": g.get("observed"),
        "relative": d.get("relative_change"),
        "ci": g.get("ci"),
        "direction": "higher" if d.get("greater_is_better", True) is not False else "lower",
        "verdict": baseline_verdict(g),
    }


def _model_text(m: Any) -> str:
    """A model of report.json's context as people name it: registry name and version, or
    the file it was loaded from."""
    if not isinstance(m, dict):
        return ""
    if m.get("name") and m.get("version") is not None:
        return f"{m['name']} version {m['version']}"
    return str(m.get("ref") or m.get("path") or m.get("uri") or "")


def build_view(doc: dict[str, Any], limits: dict[str, int]) -> dict[str, Any]:
    """The facts the pull request body template shows, from report.json (`limits`: rows
    per gate, problem rows unfolded per gate, whether passing gates are listed)."""
    gates = list(doc.get("gates") or [])
    shown, omitted = worst_per_gate(gates, limits["per_gate"])
    by_gate: dict[str, list[dict[str, Any]]] = {}
    for g in shown:
        by_gate.setdefault(str(g.get("gate")), []).append(g)
    every: dict[str, list[dict[str, Any]]] = {}
    for g in gates:
        every.setdefault(str(g.get("gate")), []).append(g)
    first = {gid: i for i, gid in enumerate(by_gate)}
    worst = {gid: min(_ORDER.get(str(g.get("status")), 5) for g in r) for gid, r in by_gate.items()}
    sections = [_section(gid, r, every[gid], limits["unfolded"]) for gid, r in by_gate.items()]
    sections.sort(key=lambda s: (worst[s["id"]], first[s["id"]]))
    counted = Counter(problem_kind(g) for g in gates if g.get("status") != "pass")
    needs = {k: counted[k] for k in _NEEDS_ORDER if counted[k]}
    needs.update((k, n) for k, n in counted.items() if k not in needs)
    # One line per problem, worst gate first, so the reviewer sees them all on one screen.
    glance = [r for s in sections for r in s["problem_reasons"]]
    overall = [_comparison(g) for g in gates if g.get("kind") == "baseline" and not g.get("slice")]
    models = (doc.get("context") or {}).get("models") or {}
    passing = [s for s in sections if not s["problems"]]
    return {
        "n_gates": len(every),
        "n_verdicts": len(gates),
        "needs": needs,
        "glance": glance[: limits["glance"]],
        "glance_omitted": max(0, len(glance) - limits["glance"]),
        "problem_gates": sum(1 for s in sections if s["problems"]),
        "problem_sections": [s for s in sections if s["problems"]],
        "passing_sections": passing if limits["passing"] else [],
        "passing_gates": len(passing),
        "omitted": [md_escape(o.describe(), 500) for o in omitted],
        "overall": overall,
        "verdicts": Counter(r["verdict"] for r in overall),
        "candidate_text": _model_text(models.get("candidate")),
        "baseline": _model_text(models.get("baseline")),
        "legend": f"{AXIS}{LEFT}{LINE}{DOT}{LINE}{RIGHT}{AXIS}{BOUND}{AXIS}",
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
            body = tmpl.render(
                doc=doc, ctx=ctx, view=view, live=live_lines(doc, ctx), shortened=level > 0
            )
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
