"""The promotion PR body and the sticky comment: a golden for the Adult example's report,
hostile names escaped and bounded, GitHub's 65,536-character limit kept.

`fixtures/adult-report.json` was made once with `python examples/adult/train.py` and
`mlops-gates check --config examples/adult/mlops-gates.yaml --report-dir <tmp>`, then
trimmed: absolute paths made relative to the repository, and the race and sex x race rows
of the `accuracy-by-slice` and `roc-auc` metric gates dropped (summary recounted).
Regenerate the golden with `MLOPS_GATES_UPDATE_GOLDENS=1 pytest tests/promote/test_body.py`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers import validate_report

from mlops_gates.errors import PromotionError
from mlops_gates.gates.result import fmt
from mlops_gates.promote.body import (
    BODY_LIMIT,
    REPORT_MARKER,
    code,
    fence,
    mermaid_text,
    parse_marker,
    promotion_marker,
    render_comment,
    truncate,
)
from mlops_gates.promote.plan import PromoteOptions, make_plan
from mlops_gates.report.markdown import md_escape, slice_text

cmarkgfm = pytest.importorskip("cmarkgfm")

FIXTURES = Path(__file__).parents[1] / "fixtures"
GOLDEN = FIXTURES / "promotion-body.adult.md"
BLOB = "0123456789abcdef0123456789abcdef01234567"

HOSTILE = [
    "a|b||c",
    "`rm -rf /`",
    "<script>alert(1)</script>",
    "@octocat please look",
    "line1\nline2\r\n| injected | row |",
    "x" * 10_000,
    "```mermaid\nflowchart",
    '"]; click A call evil()',
    '] --> "x',
    "#quot;%%{init: {}}%%",
    "[link](javascript:alert(1))",
    "<!-- mlops-gates:report -->",
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "adult-report.json").read_text())
    return data


def _body(doc: dict[str, Any], **options: Any) -> str:
    opts: dict[str, Any] = dict(
        model="adult-income",
        version="7",
        training_run_id="a" * 32,
        gates_run_id="b" * 32,
        mlflow_url="https://mlflow.example.com/",
    )
    opts.update(options)
    plan = make_plan(doc, PromoteOptions(**opts), now="2026-11-23T10:00:00Z")
    return plan.body("main", BLOB)


def test_fixture_is_a_valid_report(doc: dict[str, Any]) -> None:
    validate_report(doc)


def test_golden_body_for_the_adult_example(doc: dict[str, Any]) -> None:
    body = _body(doc)
    if os.environ.get("MLOPS_GATES_UPDATE_GOLDENS"):
        GOLDEN.write_text(body, encoding="utf-8")
    assert body == GOLDEN.read_text(encoding="utf-8")


def test_body_reads_the_report_and_recomputes_nothing(doc: dict[str, Any]) -> None:
    body = _body(doc)
    assert body.startswith(promotion_marker("adult-income", "7", BLOB))
    assert "**✅ Ready to promote:**" in body.splitlines()[1]
    # "N gates" counts gates, not verdicts.
    n_gates = len({g["gate"] for g in doc["gates"]})
    assert n_gates < len(doc["gates"])
    assert f"{n_gates} gates, {len(doc['gates'])} verdicts" in body.splitlines()[1]
    # The candidate vs baseline row shows the report's own numbers.
    auc = next(g for g in doc["gates"] if g["id"] == "auc-vs-baseline")
    row = next(line for line in body.splitlines() if line.startswith("| auc-vs-baseline |"))
    assert "| roc\\_auc | 0.8421 → 0.9276 | +0.08551 | +10.15% |" in row
    assert auc["details"]["candidate"] == pytest.approx(0.9276, abs=5e-5)
    # Without an interval the body does not call the candidate better from the sign.
    assert row.endswith("| higher | ✅ no interval |")
    # Worst slice first (closest to its bound) in a gate's table.
    section = body[body.index("#### ✅ accuracy-vs-baseline") :]
    slice_rows = [line for line in section.splitlines() if line.startswith("| ✅ pass |")]
    assert "race=Amer-Indian-Eskimo" in slice_rows[0]
    # Problems before passes, with the reason line; links; digests; the reproduce command.
    assert body.index("⚠️ **equal-opportunity-race** · overall: 0.3427, above the maximum 0.1") < (
        body.index("### Passed")
    )
    assert "[training run](https://mlflow.example.com/#/runs/" + "a" * 32 + ")" in body
    assert "[model version](https://mlflow.example.com/#/models/adult-income/versions/7)" in body
    assert "the baseline `models/baseline.skops`" in body
    assert doc["fingerprint"]["data"] in body
    assert "mlops-gates check --config examples/adult/mlops-gates.yaml" in body
    # Bar charts that drew every difference as a positive bar are gone.
    assert "```mermaid" not in body


@pytest.mark.parametrize(
    ("ci", "verdict"),
    [([0.071, 0.099], "better"), ([-0.01, 0.099], "not shown better"), ([-0.2, -0.1], "worse")],
)
def test_candidate_vs_baseline_is_judged_from_the_interval(
    doc: dict[str, Any], ci: list[float], verdict: str
) -> None:
    d = copy.deepcopy(doc)
    for g in d["gates"]:
        if g["id"] == "auc-vs-baseline":
            g["ci"] = ci
    body = _body(d)
    row = next(line for line in body.splitlines() if line.startswith("| auc-vs-baseline |"))
    # The delta is +0.0855 in every case: the verdict follows the interval, not the sign.
    assert f"| +0.08551 | +10.15% | [{ci[0]:g}, {ci[1]:g}] | higher | ✅ {verdict} |" in row


def test_marker_round_trip() -> None:
    marker = promotion_marker("m", "1.2", None)
    assert parse_marker(f"text\n{marker}\nmore") == {
        "model": "m",
        "version": "1.2",
        "base-blob": "none",
    }
    assert parse_marker("no marker here") is None


def _hostile_doc(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    base = next(g for g in d["gates"] if g["id"] == "auc-vs-baseline[sex=Female]")
    fair = next(g for g in d["gates"] if g["id"] == "dp-sex")
    warn = next(g for g in d["gates"] if g["status"] == "warn")
    for i, name in enumerate(names):
        g = copy.deepcopy(base)
        g.update(id=f"auc[{i}]", slice={"seg|ment": name}, observed=-0.01 * i)
        d["gates"].append(g)
        w = copy.deepcopy(warn)
        w.update(id=f"w[{i}]", gate=name, slice={name: name}, message=f"bad {name}")
        d["gates"].append(w)
    fair["details"]["groups"] += [
        {"group": name, "support": 40, "included": True, "selection_rate": 0.5} for name in names
    ]
    d["errors"] = [f"column {name!s} is broken" for name in names]
    return d


def _check_markdown_is_contained(body: str) -> None:
    assert len(body) <= BODY_LIMIT
    assert not re.search(r"(?<!\\)<(script|!-- mlops-gates:report)", body)
    assert not re.search("@(?!\u200d)", body), "an @mention would ping someone"
    assert max(len(line) for line in body.splitlines()) < 3000, "a 10k-character name leaked"
    # Tables: every row has as many cell separators as its header.
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and not lines[i - 1].startswith("|"):
            width = len(re.findall(r"(?<!\\)\|", line))
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(re.findall(r"(?<!\\)\|", lines[j])) == width, lines[j][:200]
                j += 1
    # No charts: what a reviewer reads is text and tables.
    assert "```mermaid" not in body


def test_hostile_names_are_escaped_and_bounded(doc: dict[str, Any]) -> None:
    body = _body(_hostile_doc(doc, HOSTILE))
    _check_markdown_is_contained(body)
    assert "\\<script\\>alert" in body  # shown, not run
    assert "@\u200doctocat" in body
    assert "x" * 600 not in body  # cells keep 200 characters, problem lines 500


def test_a_huge_report_is_cut_to_fit_with_a_note(doc: dict[str, Any]) -> None:
    names = [f"{'long-slice-name-' * 8}{i}" for i in range(3000)]
    body = _body(_hostile_doc(doc, names))
    _check_markdown_is_contained(body)
    assert "Shortened to fit GitHub's 65,536-character limit" in body
    assert body.startswith("<!-- mlops-gates:promotion ")


def test_truncate_cuts_at_a_line_and_says_so() -> None:
    text = "\n".join(f"line {i}" for i in range(20_000))
    out = truncate(text, 1000)
    assert len(out) <= 1000
    assert out.endswith("the gates run's artifacts.\n")
    assert "\nline 9" in out and "line 19999" not in out
    assert truncate("short", 1000) == "short"


@pytest.mark.parametrize(
    ("value", "table", "expected"),
    [
        ("plain", False, "`plain`"),
        ("has `tick`", False, "`` has `tick` ``"),
        ("`edge", False, "`` `edge ``"),
        ("a|b", True, "`a\\|b`"),
        ("two\nlines", False, "`two lines`"),
        (None, False, "—"),
    ],
)
def test_code_spans_cannot_be_broken_out_of(value: Any, table: bool, expected: str) -> None:
    assert code(value, table=table) == expected


def test_fences_outgrow_their_content_and_mermaid_labels_are_plain() -> None:
    assert fence(["echo hi"]) == "```"
    assert fence(["a ```` b"]) == "`````"
    assert mermaid_text('a"b]c;d#e%f\ng<h>') == "a_b_c_d_e_f g_h_"
    assert mermaid_text("x" * 100) == "x" * 27 + "..."
    assert mermaid_text("") == "_"


def test_custom_template(doc: dict[str, Any], tmp_path: Path) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text(
        "{{ ctx.marker }}\n{{ ctx.model | code }} {{ doc.status }} {{ view.n_gates }}\n"
    )
    body = _body(doc, template=template)
    assert body.endswith("`adult-income` pass 16\n")  # gates, not verdicts
    template.write_text("{{ nonsense.field }}")
    with pytest.raises(PromotionError, match="template uses an unknown value"):
        _body(doc, template=template)
    with pytest.raises(PromotionError, match="template not found"):
        _body(doc, template=tmp_path / "missing.j2")


def test_comment_starts_with_its_marker_and_fits() -> None:
    body = render_comment("## report\n\n| a |\n|---|\n| 1 |\n")
    assert body.startswith(REPORT_MARKER + "\n## report")
    huge = render_comment("| row |\n" * 20_000)
    assert len(huge) <= BODY_LIMIT and huge.startswith(REPORT_MARKER)
    assert "65,536-character limit" in huge


def test_a_registry_candidate_names_its_training_run(doc: dict[str, Any]) -> None:
    registry = copy.deepcopy(doc)
    registry["context"]["models"]["candidate"].update(
        source="mlflow", name="adult-income", version="7", run_id="c" * 32
    )
    plan = make_plan(registry, PromoteOptions(model="adult-income"), now="2026-11-23T10:00:00Z")
    assert plan.manifest["mlflow"]["training_run_id"] == "c" * 32
    given = PromoteOptions(model="adult-income", training_run_id="d" * 32)
    assert (
        make_plan(registry, given, now="2026-11-23T10:00:00Z").manifest["mlflow"]["training_run_id"]
        == "d" * 32
    )
    # A local model file has no training run to name.
    local = make_plan(
        doc, PromoteOptions(model="adult-income", version="7"), now="2026-11-23T10:00:00Z"
    )
    assert local.manifest["mlflow"]["training_run_id"] is None


# -- the body as GitHub renders it ----------------------------------------------------------
class _Rendered(HTMLParser):
    """Tables of cmark-gfm's HTML: header cells, rows, whether inside a <details>, and the
    heading above each."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.details = 0
        self.heading = ""
        self.text: list[str] | None = None
        self.row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details":
            self.details += 1
        elif tag == "table":
            self.tables.append(
                {"heading": self.heading, "folded": self.details > 0, "header": [], "rows": []}
            )
        elif tag == "tr":
            self.row = []
        elif tag in ("h3", "h4", "th", "td"):
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self.text or []).strip()
        if tag == "details":
            self.details -= 1
        elif tag in ("h3", "h4"):
            self.heading = text
        elif tag == "th":
            self.tables[-1]["header"].append(text)
        elif tag == "td" and self.row is not None:
            self.row.append(text)
        elif tag == "tr" and self.row:
            self.tables[-1]["rows"].append(self.row)
            self.row = None
        if tag in ("h3", "h4", "th", "td"):
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def _rendered(body: str) -> _Rendered:
    from cmarkgfm.cmark import Options

    html = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    page = _Rendered()
    page.feed(html)
    page.close()
    assert page.details == 0, "a <details> is left open"
    return page


def test_the_body_reads_at_a_glance_on_github(doc: dict[str, Any]) -> None:
    body = _body(doc)
    page = _rendered(body)
    assert page.tables
    for table in page.tables:
        assert any(table["header"]), f"an empty header row above {table['heading']!r}"
    # Per-gate tables: problem rows unfolded, passing rows only inside <details>.
    gate_tables = [t for t in page.tables if t["header"][:2] == ["status", "slice"]]
    unfolded = [row for t in gate_tables if not t["folded"] for row in t["rows"]]
    problems = [g for g in doc["gates"] if g["status"] != "pass"]
    assert len(unfolded) == len(problems) and all("pass" not in r[0] for r in unfolded)
    folded = [row for t in gate_tables if t["folded"] for row in t["rows"]]
    assert len(folded) == len(doc["gates"]) - len(problems)
    # Every unfolded row of the page (problems plus one line per baseline gate) is bounded.
    baseline_gates = {g["gate"] for g in doc["gates"] if g["kind"] == "baseline"}
    shown = sum(len(t["rows"]) for t in page.tables if not t["folded"])
    assert shown <= len(problems) + len(baseline_gates) + 7  # + the digests' rows
    # The first screen names every warning of the Adult example, with its value and reason.
    first_screen = body[:2500]
    for g in problems:
        assert g["status"] == "warn"
        line = f"**{md_escape(g['gate'])}** · {md_escape(slice_text(g['slice']))}: "
        assert line + fmt(g["observed"]) in first_screen, line
    assert body.index("### Needs a reviewer") < body.index("### What this deploys")
    assert body.index("### What this deploys") < body.index("### Passed")


def test_a_shortened_body_still_leads_with_the_problems(doc: dict[str, Any]) -> None:
    names = [f"{'long-slice-name-' * 8}{i}" for i in range(3000)]
    body = _body(_hostile_doc(doc, names))
    page = _rendered(body)
    assert body.index("### Needs a reviewer") < 1000
    for table in page.tables:
        assert any(table["header"])
        if not table["folded"]:
            assert len(table["rows"]) <= 50, table["heading"]


# -- what is live: the first lines say what this replaces and what it was compared with -------
def _registry_doc(doc: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    d["context"]["models"]["candidate"].update(
        source="mlflow", name="adult-income", version="7", uri="models:/adult-income@challenger"
    )
    if baseline is None:
        del d["context"]["models"]["baseline"]
    else:
        d["context"]["models"]["baseline"] = baseline
    return d


def _live(doc: dict[str, Any], version: str, **digests: str) -> dict[str, Any]:
    """The manifest a base branch holds after promoting `version` (what is live)."""
    plan = make_plan(
        doc, PromoteOptions(model="adult-income", version=version), now="2026-11-30T09:00:00Z"
    )
    manifest = copy.deepcopy(plan.manifest)
    manifest["digests"]["models"].update(digests)
    return manifest


def _head(doc: dict[str, Any], live: dict[str, Any] | None) -> list[str]:
    """The body's lines before its first section."""
    options = PromoteOptions(model="adult-income", version="7")
    plan = make_plan(doc, options, now="2026-12-06T10:00:00Z")
    body = plan.body("main", BLOB, live=live, live_read=True)
    return body[: body.index("### Needs a reviewer")].splitlines()


SERVING = {
    "source": "mlflow",
    "uri": "models:/adult-income@production",
    "name": "adult-income",
    "version": "3",
    "alias": "production",
    "aliases": ["production"],
    "deployed": {"production": {"at": "2026-12-01T08:30:00Z", "pr": "12"}},
}


def test_the_first_lines_say_which_version_is_replaced_and_since_when(
    doc: dict[str, Any],
) -> None:
    d = _registry_doc(doc, SERVING)
    head = _head(d, _live(doc, "3"))
    assert head[1].startswith("**✅ Ready to promote:**")
    assert (
        "- **Replaces:** `adult-income` version `3`, live since 2026-12-01 (deployed in #12)."
        in head
    )
    assert (
        "- **Compared with:** the baseline `adult-income version 3` "
        "(`models:/adult-income@production`): the live version." in head
    )
    assert not any("WARNING" in line for line in head)


def test_a_baseline_that_is_not_the_live_version_is_a_visible_warning(
    doc: dict[str, Any],
) -> None:
    # The example of issue #20: v4 was compared with v1 (@champion) while v3 served.
    champion = {**SERVING, "uri": "models:/adult-income@champion", "version": "1"}
    champion.update(alias="champion", aliases=["champion"], deployed={})
    head = _head(_registry_doc(doc, champion), _live(doc, "3"))
    text = "\n".join(head)
    assert "- **Replaces:** `adult-income` version `3`, named by `deploy/adult-income.yaml`" in text
    assert "not the live version (`3`)" in text
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    assert "<blockquote>" in html and "[!WARNING]" in html
    assert "`models:/adult-income@production`" in text  # what to point the baseline at


def test_the_first_model_replaces_nothing_and_says_so(doc: dict[str, Any]) -> None:
    absent = {
        "uri": "models:/adult-income@production",
        "missing": "registry alias 'production' of model 'adult-income' does not exist yet",
    }
    head = _head(_registry_doc(doc, absent), None)
    text = "\n".join(head)
    assert "- **Replaces:** nothing: `deploy/adult-income.yaml` is not on `main` yet" in text
    assert "first deployment of `adult-income`" in text
    assert "no baseline: registry alias 'production'" in text
    assert "WARNING" not in text


def test_something_live_but_no_baseline_is_a_warning(doc: dict[str, Any]) -> None:
    head = "\n".join(_head(_registry_doc(doc, None), _live(doc, "3")))
    assert "no baseline is configured" in head and "[!WARNING]" in head


@pytest.mark.parametrize("same", [True, False], ids=["same-bytes", "other-bytes"])
def test_a_file_baseline_is_the_live_version_when_its_bytes_are(
    doc: dict[str, Any], same: bool
) -> None:
    # The live manifest keeps the digest of the model its gates judged: a file baseline
    # with those bytes is the live version, whatever its name.
    digest = doc["fingerprint"]["models"]["baseline"] if same else "sha256:" + "0" * 64
    head = "\n".join(_head(doc, _live(doc, "3", candidate=digest)))
    assert ("the live version." in head) is same
    assert ("[!WARNING]" in head) is not same


def test_a_dry_run_does_not_claim_what_is_live(doc: dict[str, Any]) -> None:
    body = _body(doc)  # the base branch was not read
    assert "**Replaces:**" not in body and "[!WARNING]" not in body
    assert "- **Compared with:** the baseline `models/baseline.skops`." in body
