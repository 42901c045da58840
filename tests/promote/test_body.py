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
from pathlib import Path
from typing import Any

import pytest
from helpers import validate_report

from mlops_gates.errors import PromotionError
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
    # The candidate vs baseline row shows the report's own numbers.
    auc = next(g for g in doc["gates"] if g["id"] == "auc-vs-baseline")
    row = next(line for line in body.splitlines() if line.startswith("| roc\\_auc | auc-vs"))
    assert "0.9276 | 0.8421 | +0.08551 | +10.15%" in row
    assert auc["details"]["candidate"] == pytest.approx(0.9276, abs=5e-5)
    # Worst slice first: the smallest improvement over the baseline.
    slice_rows = [line for line in body.splitlines() if line.startswith("| accuracy-vs-baseline |")]
    assert "race=Amer-Indian-Eskimo" in slice_rows[0]
    # Problems before passes; links; digests; the reproduce command.
    assert body.index("⚠️ warn (non-blocking)") < body.index("<details><summary>All")
    assert "[training run](https://mlflow.example.com/#/runs/" + "a" * 32 + ")" in body
    assert "[model version](https://mlflow.example.com/#/models/adult-income/versions/7)" in body
    assert doc["fingerprint"]["data"] in body
    assert "mlops-gates check --config examples/adult/mlops-gates.yaml" in body
    assert "```mermaid\nxychart-beta\n" in body


def test_confidence_intervals_are_shown_when_present(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    for g in d["gates"]:
        if g["id"] == "auc-vs-baseline":
            g["ci"] = [0.071, 0.099]
    assert "| [0.071, 0.099] |" in _body(d)


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
    # Fences open and close in pairs; Mermaid blocks are exactly the five lines we write.
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", body, re.S | re.M)
    for block in blocks:
        rows = block.splitlines()
        assert [r.split()[0] for r in rows] == ["xychart-beta", "title", "x-axis", "y-axis", "bar"]
        for label in re.findall(r'"([^"]*)"', block):
            assert re.fullmatch(r"[\w .,=+\-/:]*", label), label


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
    assert body.endswith("`adult-income` pass 43\n")
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
