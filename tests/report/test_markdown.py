"""report.md as GitHub shows it: rendered by cmark-gfm (GitHub's own Markdown engine, through
cmarkgfm) and checked for structure: what needs a human first, one table per gate, passing
rows folded, no empty header row, bars that agree with report.json's numbers, escaping."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_gates.gates.result import fmt
from mlops_gates.report import github
from mlops_gates.report.bounded import SHOWN_PER_GATE
from mlops_gates.report.markdown import (
    BAR_WIDTH,
    UNFOLDED_PER_GATE,
    baseline_verdict,
    render_markdown,
    slice_text,
)

from .conftest import HOSTILE

cmarkgfm = pytest.importorskip("cmarkgfm")

GOLDEN = Path(__file__).parents[1] / "golden" / "adult-report.json"
BODY_LIMIT = 65536  # GitHub's limit on a comment or PR body, in characters


# -- GitHub's rendering, parsed ------------------------------------------------------------
@dataclass
class Table:
    gate: str  # the text of the heading above it
    folded: bool  # inside a <details>
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    position: int = 0  # order in the document


@dataclass
class Page:
    headings: list[tuple[int, str]] = field(default_factory=list)  # (level, text)
    tables: list[Table] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)  # (heading above, text)
    tags: list[str] = field(default_factory=list)  # every start tag


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.details = 0
        self.text: list[str] | None = None
        self.heading = ""
        self.row: list[str] | None = None
        self.events = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append(tag)
        self.events += 1
        if tag == "details":
            self.details += 1
        elif tag in ("h2", "h3", "h4", "th", "td", "li"):
            self.text = []
        elif tag == "table":
            self.page.tables.append(Table(self.heading, self.details > 0, [], [], self.events))
        elif tag == "tr":
            self.row = []

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self.text or []).strip()
        if tag == "details":
            self.details -= 1
        elif tag in ("h2", "h3", "h4"):
            self.page.headings.append((int(tag[1]), text))
            self.heading = text
        elif tag == "th":
            self.page.tables[-1].header.append(text)
        elif tag == "td" and self.row is not None:
            self.row.append(text)
        elif tag == "tr" and self.row:
            self.page.tables[-1].rows.append(self.row)
            self.row = None
        elif tag == "li":
            self.page.items.append((self.heading, text))
        if tag in ("h2", "h3", "h4", "th", "td", "li"):
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def render_github(markdown: str) -> str:
    """HTML as github.com renders Markdown (raw HTML kept; GitHub sanitizes it after, and
    keeps <details> and <summary>)."""
    from cmarkgfm.cmark import Options

    return str(
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    )


def parse(markdown: str, *, closed: bool = True) -> Page:
    reader = _Reader()
    reader.feed(render_github(markdown))
    reader.close()
    assert reader.details == 0 or not closed, "a <details> is left open"
    return reader.page


def golden() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return doc


def _status(row: list[str]) -> str:
    return row[0].split()[-1]


def _column(table: Table, name: str) -> int:
    return table.header.index(name)


def _gate_of(table: Table) -> str:
    """The gate id from a heading `⚠️ dp-sex · fairness · …`."""
    return table.gate.split(" ", 1)[1].split(" · ", 1)[0]


# -- structure -----------------------------------------------------------------------------
def test_golden_report_reads_problems_first() -> None:
    doc = golden()
    page = parse(render_markdown(doc, html_page=True))
    problems = [g for g in doc["gates"] if g["status"] != "pass"]
    gates = list(dict.fromkeys(g["gate"] for g in doc["gates"]))

    # "N gates" counts gates (18), not verdicts (83).
    text = render_markdown(doc)
    assert f"**{len(gates)} gates**, {len(doc['gates'])} verdicts" in text
    assert len(gates) == 18 and len(doc["gates"]) == 83

    # No empty header row: every header cell says what its column is, in every table.
    for table in page.tables:
        assert all(table.header), table.header
        assert all(len(row) == len(table.header) for row in table.rows), table.gate
    assert not re.search(r"^\|(\s*\|)+\s*$", text, re.M)

    # What is not folded is exactly what needs a human; every pass is folded.
    unfolded = [row for t in page.tables if not t.folded for row in t.rows]
    assert len(unfolded) == len(problems) == 8
    assert {_status(r) for r in unfolded} == {"warn"}
    assert all(_status(r) == "pass" for t in page.tables if t.folded for r in t.rows)

    # Problems before passes: every problem row comes before the "Passed" section, and the
    # first gate headings are the gates that need a look.
    passed_at = [h for h in page.headings if h[1] == "Passed"]
    assert passed_at and page.headings.index((3, "Needs a human")) < page.headings.index(
        passed_at[0]
    )
    last_problem = max(t.position for t in page.tables if not t.folded)
    first_gate_that_passed = min(
        t.position
        for t in page.tables
        if not any(g["status"] != "pass" for g in doc["gates"] if g["gate"] == _gate_of(t))
    )
    assert last_problem < first_gate_that_passed

    # Every gate is there, under its own heading, each verdict in one row.
    shown = [_gate_of(t) for t in page.tables]
    assert set(shown) == set(gates)
    rows = sum(len(t.rows) for t in page.tables)
    assert rows == len(doc["gates"])

    # One reason line per problem row, naming its slice; the table has no message column.
    reasons = [(h, i) for h, i in page.items if i.startswith("⚠️ ")]
    for g in problems:
        mine = [
            i
            for h, i in reasons
            if h.split(" ", 1)[1].startswith(g["gate"] + " ")
            and i.startswith(f"⚠️ {slice_text(g['slice'])}: ")
        ]
        assert len(mine) == 1, (g["id"], mine)
    assert all("message" not in t.header for t in page.tables)
    assert any("insufficient evidence, 19 positives of 159 rows" in i for _, i in reasons)
    # The pointer to report.html, only when it is written.
    assert "`report.html`" in render_markdown(doc, html_page=True)
    assert "report.html" not in text


def test_bars_agree_with_the_numbers_of_report_json() -> None:
    """Each bar's value, interval ends and bound sit where report.json's numbers fall on
    the scale printed in the column header (to the nearest character), and the scale holds
    them all."""
    doc = golden()
    page = parse(render_markdown(doc))
    by_row = {(g["gate"], slice_text(g["slice"])): g for g in doc["gates"]}
    checked = 0
    for table in page.tables:
        bar_col = 4
        lo_text, hi_text = table.header[bar_col].split(" … ")
        lo, hi = float(lo_text), float(hi_text)
        for row in table.rows:
            g = by_row[(_gate_of(table), row[_column(table, "slice")])]
            bar = row[bar_col]
            assert len(bar) == BAR_WIDTH and set(bar) <= set("·─├┤●│┼"), bar

            def at(x: float, lo: float = lo, hi: float = hi) -> float:
                assert lo - 1e-12 <= x <= hi + 1e-12, (x, lo, hi)  # the scale holds it
                return (x - lo) / (hi - lo) * (BAR_WIDTH - 1)

            dot = bar.index("●")
            assert abs(dot - at(g["observed"])) <= 0.5 + 1e-9, (g["id"], bar)
            if g["ci"] is not None:
                # The interval is the one run of interval glyphs around the dot.
                start = end = dot
                while start > 0 and bar[start - 1] in "├─┼":
                    start -= 1
                while end + 1 < BAR_WIDTH and bar[end + 1] in "├─┤┼":
                    end += 1
                assert abs(start - at(g["ci"][0])) <= 0.5 + 1e-9, (g["id"], bar)
                assert abs(end - at(g["ci"][1])) <= 0.5 + 1e-9, (g["id"], bar)
                # The dot within the interval where the value lies within it.
                if end > start:
                    share = (g["observed"] - g["ci"][0]) / (g["ci"][1] - g["ci"][0])
                    assert abs((dot - start) / (end - start) - share) <= 1.0 / (end - start) + 1e-9
            for bound in (g["bound"] or {}).values():
                if bound is None:
                    continue
                # The bound within a character of its place (a bound outside the interval
                # that would land on an end moves outward), and `┼` exactly when the
                # interval holds it.
                near = [
                    i
                    for i in range(BAR_WIDTH)
                    if bar[i] in "│┼" and abs(i - at(bound)) <= 1.5 + 1e-9
                ]
                inside = g["ci"] is not None and g["ci"][0] <= bound <= g["ci"][1]
                if not near:  # only where the dot or the scale's edge leaves no room
                    assert abs(dot - at(bound)) <= 1.5 or at(bound) < 1 or at(bound) > 19
                    continue
                glyph = bar[min(near, key=lambda i: abs(i - at(bound)))]
                assert glyph == ("┼" if inside else "│"), (g["id"], bar, bound)
            b = g["bound"] or {}
            if g["details"].get("judged_on") == "estimate" and g["reason"] in ("ok",):
                if b.get("min") is not None and round(at(b["min"])) != dot:
                    assert dot > round(at(b["min"])), (g["id"], bar)
                if b.get("max") is not None and round(at(b["max"])) != dot:
                    assert dot < round(at(b["max"])), (g["id"], bar)
            checked += 1
    assert checked == len(doc["gates"])


@pytest.mark.parametrize(
    ("ci", "greater_is_better", "expected"),
    [
        ([0.01, 0.05], True, "better"),
        ([-0.01, 0.05], True, "not shown better"),  # positive difference, interval crosses 0
        ([-0.05, -0.01], True, "worse"),
        ([-0.05, -0.01], False, "better"),  # a loss: lower is better
        ([-0.05, 0.01], False, "not shown better"),
        ([0.01, 0.05], False, "worse"),
        (None, True, "no interval"),
    ],
    ids=["above-0", "crosses-0", "below-0", "loss-below-0", "loss-crosses", "loss-above", "no-ci"],
)
def test_baseline_rows_say_better_from_the_interval(
    ci: list[float] | None, greater_is_better: bool, expected: str
) -> None:
    g = {"ci": ci, "observed": 0.02, "details": {"greater_is_better": greater_is_better}}
    assert baseline_verdict(g) == expected


def test_golden_baseline_rows_read_from_the_interval_not_the_sign() -> None:
    doc = golden()
    page = parse(render_markdown(doc))
    by_row = {(g["gate"], slice_text(g["slice"])): g for g in doc["gates"]}
    seen = set()
    for table in page.tables:
        if "vs baseline" not in table.header:
            continue
        for row in table.rows:
            g = by_row[(_gate_of(table), row[1])]
            word = row[_column(table, "vs baseline")]
            lo, hi = g["ci"]
            if not g["details"]["greater_is_better"]:
                lo, hi = -hi, -lo
            assert word == ("better" if lo > 0 else "worse" if hi < 0 else "not shown better")
            base, cand = row[_column(table, "baseline → candidate")].split(" → ")
            assert (base, cand) == (fmt(g["details"]["baseline"]), fmt(g["details"]["candidate"]))
            seen.add(word)
    # The example has positive differences whose interval crosses 0 (race=Other accuracy).
    assert seen == {"better", "not shown better"}


def test_fairness_rows_carry_their_interval_and_groups() -> None:
    doc = golden()
    page = parse(render_markdown(doc))
    fairness = {g["gate"] for g in doc["gates"] if g["kind"] == "fairness"}
    by_id = {(g["gate"], slice_text(g["slice"])): g for g in doc["gates"]}
    for table in page.tables:
        if _gate_of(table) not in fairness:
            continue
        for row in table.rows:
            g = by_id[(_gate_of(table), row[1])]
            interval = row[_column(table, "interval")]
            if g["ci"] is None:
                assert interval == ""
            else:
                assert interval == f"[{fmt(g['ci'][0])}, {fmt(g['ci'][1])}]"
    # The gap's reason line names the groups and their rates.
    (line,) = [i for _, i in page.items if "selection_rate: Female 0.0812, Male 0.257" in i]
    assert "above the maximum 0.1" in line


# -- bounds --------------------------------------------------------------------------------
def _many(doc: dict[str, Any], gate: str, n: int, status: str) -> dict[str, Any]:
    """`doc` with gate `gate` sliced n ways, every slice of status `status`."""
    doc = copy.deepcopy(doc)
    template = next(g for g in doc["gates"] if g["gate"] == gate and g["slice"])
    rows = []
    for i in range(n):
        g = copy.deepcopy(template)
        g.update(
            id=f"{gate}[user=u{i:04d}]",
            slice={"user": f"u{i:04d}"},
            status=status,
            observed=0.5 + i / (4 * n),
            ci=[0.45 + i / (4 * n), 0.55 + i / (4 * n)],
            reason="ok" if status == "pass" else "below_min",
        )
        rows.append(g)
    doc["gates"] = [g for g in doc["gates"] if g["gate"] != gate] + rows
    counts = {s: sum(g["status"] == s for g in doc["gates"]) for s in doc["summary"]}
    doc["summary"] = counts
    return doc


def test_unfolded_rows_are_bounded_with_many_failing_slices() -> None:
    doc = _many(golden(), "accuracy-by-slice", 400, "fail")
    text = render_markdown(doc)
    page = parse(text)
    unfolded = [r for t in page.tables if not t.folded for r in t.rows]
    # 8 problems of the example, plus the first few failing slices of the sliced gate.
    assert len(unfolded) == 8 + UNFOLDED_PER_GATE
    folded_fails = [
        r for t in page.tables if t.folded and _gate_of(t) == "accuracy-by-slice" for r in t.rows
    ]
    assert len(folded_fails) == SHOWN_PER_GATE - UNFOLDED_PER_GATE
    assert "… and 350 more slices of accuracy-by-slice \\(350 fail\\)" in text
    assert "**Needs a human:** 400 failed, 6 warnings, 2 insufficient evidence, in 7 gates" in text
    # The worst first: the lowest accuracies are the ones unfolded.
    shown = [r[1] for t in page.tables if not t.folded for r in t.rows if r[1].startswith("user")]
    assert shown == [f"user=u{i:04d}" for i in range(UNFOLDED_PER_GATE)]


def test_every_pass_is_folded_with_thousands_of_slices() -> None:
    doc = _many(golden(), "accuracy-by-slice", 3000, "pass")
    page = parse(render_markdown(doc))
    assert sum(len(t.rows) for t in page.tables if not t.folded) == 8
    assert all(len(t.rows) <= SHOWN_PER_GATE for t in page.tables), (
        "a table lists more than the worst of its gate"
    )


def test_job_summary_and_comment_stay_within_githubs_limits() -> None:
    """A report too long for a comment: the sticky comment is cut to 65,536 characters and
    the problems, which come first, survive the cut; the job summary fits its 1 MiB."""
    from mlops_gates.promote.body import render_comment

    doc = golden()
    gates = []
    for k in range(40):
        d = _many(doc, "accuracy-by-slice", 60, "fail" if k < 3 else "pass")
        for g in d["gates"]:
            if g["gate"] == "accuracy-by-slice":
                g.update(
                    gate=f"acc-{k:02d}", id=g["id"].replace("accuracy-by-slice", f"acc-{k:02d}")
                )
                g["slice"] = {"user": g["slice"]["user"] + "-" + "x" * 60}
                gates.append(g)
    doc["gates"] += gates
    doc["summary"] = {s: sum(g["status"] == s for g in doc["gates"]) for s in doc["summary"]}
    markdown = render_markdown(doc)
    assert len(markdown) > BODY_LIMIT
    comment = render_comment(markdown)
    assert len(comment) <= BODY_LIMIT
    # promote/body.py cuts the comment wherever the limit falls (here inside the folded
    # passes); what needs a human is all before that.
    page = parse(comment, closed=False)
    fails = [r for t in page.tables if not t.folded for r in t.rows if _status(r) == "fail"]
    assert len(fails) == 3 * UNFOLDED_PER_GATE  # every unfolded problem kept
    summary = github.summary(markdown, limit=len(markdown.encode()) // 2)
    assert len(summary.encode()) <= len(markdown.encode()) // 2
    assert summary.endswith("the rest is in report.md in the report artifact._\n")
    parse(summary)  # the cut leaves no <details> open: the note is not folded away


# -- escaping ------------------------------------------------------------------------------
def test_hostile_slice_values_stay_text_in_githubs_rendering() -> None:
    doc = golden()
    g = next(g for g in doc["gates"] if g["id"] == "recall-by-group[race=Other]")
    evil = "a|b</td><script>alert(1)</script>`x` @team [l](http://x) <!--"
    g["slice"] = {"race": evil}
    g["message"] = f"recall on race={evil}: insufficient evidence, 25 positives"
    text = render_markdown(doc)
    html = render_github(text)
    page = parse(text)
    assert "script" not in page.tags
    # Markdown syntax in data stays text (GitHub still autolinks a bare URL, as it would in
    # any comment; the link syntax around it is not followed).
    assert "<script>" not in html and "<!--" not in html and ">l</a>" not in html
    for table in page.tables:
        assert all(len(r) == len(table.header) for r in table.rows)
    (row,) = [r for t in page.tables for r in t.rows if "alert" in r[1]]
    assert row[1].startswith("race=a|b</td><script>alert(1)</script>`x` @\u200dteam [l](")


def test_report_md_of_a_real_run(picture_report: tuple[Path, pd.DataFrame]) -> None:
    """`mlops-gates check` on a project with failing slices and a hostile slice value."""
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    text = (out / "report.md").read_text()
    page = parse(text)
    assert "img" not in page.tags
    assert any(HOSTILE in cell for t in page.tables for r in t.rows for cell in r)
    problems = [g for g in doc["gates"] if g["status"] != "pass"]
    assert problems, "the fixture is meant to have failing slices"
    unfolded = [r for t in page.tables if not t.folded for r in t.rows]
    assert len(unfolded) == len(problems)
    assert all(_status(r) != "pass" for r in unfolded)
    # matplotlib is installed here, so report.html is written and report.md points to it.
    assert (out / "report.html").is_file() and "`report.html`" in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:5000/#/experiments/1/runs/abc", True),
        ("javascript:alert(1)", False),
        ("http://x/<img src=x>", False),
    ],
    ids=["http", "javascript", "markup"],
)
def test_the_mlflow_run_is_linked_only_by_a_plain_web_address(url: str, shown: bool) -> None:
    doc = golden()
    doc["context"]["mlflow"] = {"run_id": "abc", "run_url": url}
    page = render_github(render_markdown(doc))
    assert (f'<a href="{url}">' in page) is shown
    assert "<img" not in page and 'href="javascript' not in page
