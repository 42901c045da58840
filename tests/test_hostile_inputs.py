"""A standing corpus of bad and hostile inputs (issue 17).

Each bad input must give one clear line naming the file or column and what to do, no
traceback, no silent pass (exit status and report status), and a report.json all the same.
Hostile values (terminal escapes, bidi overrides, forged workflow commands) must reach no
rendered report raw.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from helpers import base_config, binary_frame, validate_report

from mlops_gates.cli import main

ACC = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}
AUC = {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}
CHAMP = {"id": "champ", "kind": "baseline", "metric": "accuracy", "max_drop": 0.05}
FAIR = {
    "id": "dp",
    "kind": "fairness",
    "metric": "demographic_parity_difference",
    "sensitive": "sex",
    "max": 0.5,
}
SCHEMA = {"id": "schema", "kind": "schema", "schema": "schema.yaml"}
# Raw characters no rendered report may hold: C0 controls but tab and newline, DEL, C1,
# bidi embeddings / overrides / isolates.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "x\n::error title=forged::injected \x1b[31mred\x1b[0m \u202eevil\u202c \x07"


@dataclass(frozen=True)
class Case:
    config: dict[str, Any]
    frame: pd.DataFrame | None = None
    files: dict[str, bytes] | None = None
    names: tuple[str, ...] = ()  # what the one error line must name


def _missing_sex() -> pd.DataFrame:
    f = binary_frame()
    f["sex"] = None
    return f


def _one_class() -> pd.DataFrame:
    f = binary_frame()
    f["y"] = 1
    return f


CASES: dict[str, Case] = {
    "header-only-csv-fairness": Case(
        base_config(gates=[FAIR]), binary_frame().iloc[:0], names=("eval.csv", "no rows")
    ),
    "header-only-csv-metric": Case(
        base_config(gates=[ACC, FAIR]), binary_frame().iloc[:0], names=("eval.csv", "no rows")
    ),
    "sensitive-column-all-missing": Case(
        base_config(gates=[FAIR]), _missing_sex(), names=("sex", "fewer than 2 groups")
    ),
    "baseline-model-missing": Case(
        base_config(baseline={"model": "base.skops"}, gates=[ACC, CHAMP]),
        names=("base.skops", "not found"),
    ),
    "baseline-model-empty": Case(
        base_config(baseline={"model": "base.skops"}, gates=[ACC, CHAMP]),
        files={"base.skops": b""},
        names=("base.skops", "cannot load"),
    ),
    "baseline-model-corrupt": Case(
        base_config(baseline={"model": "base.skops"}, gates=[ACC, CHAMP]),
        files={"base.skops": b"PK\x03\x04 not a zip at all"},
        names=("base.skops", "cannot load"),
    ),
    "schema-missing": Case(base_config(gates=[SCHEMA, ACC]), names=("schema.yaml", "not found")),
    "schema-empty": Case(
        base_config(gates=[SCHEMA, ACC]),
        files={"schema.yaml": b""},
        names=("schema.yaml", "no columns and no checks"),
    ),
    "schema-corrupt": Case(
        base_config(gates=[SCHEMA, ACC]),
        files={"schema.yaml": b"{{{: not yaml ]"},
        names=("schema.yaml", "line 1, column 4"),
    ),
    "one-row-file": Case(
        base_config(gates=[ACC, AUC]), binary_frame().iloc[:1], names=("'y'", "over 1 row")
    ),
    "single-class-labels": Case(
        base_config(gates=[ACC, AUC]), _one_class(), names=("'y'", "holds 1 class")
    ),
    "every-slice-too-small": Case(
        base_config(gates=[{**ACC, "overall": False, "slices": ["region"], "min_support": 1000}]),
        names=("region", "judged nothing"),
    ),
    "too-many-slices": Case(
        base_config(statistics={"max_slices": 3}, gates=[{**ACC, "slices": ["region"]}]),
        names=("acc", "'region'", "4 distinct values", "statistics.max_slices"),
    ),
    "too-many-groups": Case(
        base_config(statistics={"max_slices": 3}, gates=[{**FAIR, "sensitive": "region"}]),
        names=("dp", "'region'", "statistics.max_slices"),
    ),
    "too-many-baseline-slices": Case(
        base_config(statistics={"max_slices": 3}, gates=[{**CHAMP, "slices": ["region"]}]),
        names=("champ", "'region'", "statistics.max_slices"),
    ),
}


def _check(
    tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any], str]:
    frame = binary_frame() if case.frame is None else case.frame
    frame.to_csv(tmp_path / "eval.csv", index=False)
    for name, content in (case.files or {}).items():
        (tmp_path / name).write_bytes(content)
    config = tmp_path / "mlops-gates.yaml"
    config.write_text(yaml.safe_dump(case.config, sort_keys=False))
    out = tmp_path / "out"
    code = main(["check", "--config", str(config), "--report-dir", str(out)])
    captured = capsys.readouterr()
    doc = json.loads((out / "report.json").read_text())  # written whatever happened
    validate_report(doc)
    return code, doc, captured.out + captured.err


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_bad_input_is_one_clear_error_never_a_pass(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    code, doc, printed = _check(tmp_path, case, capsys)
    assert "Traceback" not in printed
    assert (code, doc["status"]) == (1, "error"), doc["errors"] or doc["gates"]
    lines = list(doc["errors"]) + [g["message"] for g in doc["gates"] if g["status"] == "error"]
    clear = [line for line in lines if all(n in line for n in case.names)]
    assert clear, f"no error names {case.names}: {lines}"
    assert "\n" not in clear[0] and len(clear[0]) < 600


def test_explicit_on_insufficient_is_honoured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accepting too little data is allowed, when the config says so."""
    gate = {**FAIR, "on_insufficient": "pass"}
    code, doc, _ = _check(tmp_path, Case(base_config(gates=[gate]), _missing_sex()), capsys)
    assert (code, doc["status"], doc["gates"][0]["status"]) == (0, "pass", "pass")


def test_a_skip_next_to_judged_slices_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One small slice beside judged ones is "not enough evidence", not an error."""
    gate = {**ACC, "slices": ["region"]}
    code, doc, _ = _check(tmp_path, Case(base_config(gates=[gate])), capsys)
    statuses = sorted(g["status"] for g in doc["gates"])
    assert (code, doc["status"], statuses.count("skip")) == (0, "pass", 1), statuses


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_proc_environ_as_data_leaks_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-hostile-0123456789abcdef"
    monkeypatch.setenv("MLOPS_GATES_TEST_API_KEY", secret)
    config = base_config(data={"path": "/proc/self/environ", "format": "csv"}, gates=[FAIR])
    code, doc, printed = _check(tmp_path, Case(config), capsys)
    assert (code, doc["status"]) == (1, "error")
    assert any("/proc/self/environ: not a regular file" in e for e in doc["errors"])
    written = (tmp_path / "out" / "report.json").read_text()
    written += (tmp_path / "out" / "report.md").read_text()
    for text in (written, printed):
        assert secret not in text and "PATH=" not in text


def test_a_wrong_file_quotes_a_short_excerpt_of_its_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is not the evaluation data: its "column names" are shown cut short."""
    secret = "TOKEN=" + "s" * 500
    (tmp_path / "eval.csv").write_text(f"{secret},\x1b[2Jwipe\n1,2\n")
    config = tmp_path / "mlops-gates.yaml"
    config.write_text(yaml.safe_dump(base_config(gates=[ACC])))
    code = main(["check", "--config", str(config), "--report-dir", str(tmp_path / "out")])
    printed = "".join(capsys.readouterr())
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    (error,) = doc["errors"]
    assert code == 1 and "'y' named in `task.label` not found" in error
    assert "s" * 100 not in error and "s" * 100 not in printed and len(error) < 400
    assert "\x1b" not in json.dumps(doc, ensure_ascii=False) and "\x1b" not in printed


# -- hostile values in every rendering ----------------------------------------------------
def _hostile_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    frame = binary_frame()
    column = "reg\x1bion\u202e"
    frame[column] = frame.pop("region").replace({"north": HOSTILE, "south": "\u2066b\u2069"})
    gates = [{**ACC, "slices": [column]}, {**ACC, "id": "low", "min": 0.99, "severity": "warn"}]
    case = Case(base_config(gates=gates), frame)
    _, doc, _ = _check(tmp_path, case, capsys)
    assert any(HOSTILE in (g["slice"] or {}).values() for g in doc["gates"])
    return doc


def _renderings(doc: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    from mlops_gates.alerts.alert import AlertOptions, issue_body
    from mlops_gates.promote.body import BodyContext, render_comment, render_promotion_body
    from mlops_gates.report import github

    markdown = (tmp_path / "out" / "report.md").read_text()
    ctx = BodyContext(
        model="m",
        version="1",
        uri="models:/m/1",
        alias="production",
        manifest_path="deploy/m.yaml",
        base="main",
        marker="<!-- x -->",
    )
    return {
        "report.md": markdown,
        "job summary": github.summary(markdown),
        "annotations": "\n".join(github.annotation_lines(doc)),
        "PR body": render_promotion_body(doc, ctx),
        "PR comment": render_comment(markdown),
        "issue": issue_body(doc, markdown, ["gate low failed"], AlertOptions()),
    }


def test_hostile_values_reach_no_rendering_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_gates.report.github import annotation_lines

    doc = _hostile_report(tmp_path, capsys)
    for where, text in _renderings(doc, tmp_path).items():
        assert not RAW.search(text), (where, RAW.findall(text))
        if where != "annotations":  # those are workflow commands, one per line, escaped
            commands = [line for line in text.splitlines() if line.lstrip().startswith("::")]
            assert not commands, (where, commands)
    # One annotation (the warn gate), one line: the forged command stays inside its message.
    (line,) = annotation_lines(doc)
    assert line.startswith("::warning ") and "\n" not in line and "\r" not in line
    # What was escaped stays readable.
    assert "\\x1b" in doc_md(tmp_path) and "\\u202eevil" in doc_md(tmp_path)


def doc_md(tmp_path: Path) -> str:
    return (tmp_path / "out" / "report.md").read_text()


def test_clean_shows_what_it_removes() -> None:
    from mlops_gates._text import clean, clean_block, excerpt, safe_line

    assert clean("a\x1b[2Jb\u202ec\n") == "a\\x1b[2Jb\\u202ec\\n"
    assert clean("x" * 200, 80) == "x" * 79 + "…" and len(excerpt("y" * 1000)) == 80
    assert clean_block("ok\n::error ::x\n\tt\x07") == "ok\n\\::error ::x\n\tt\\x07"
    assert safe_line("::warning::x") == "\\x3a:warning::x"
    assert not RAW.search(clean("".join(map(chr, range(0x2000, 0x2070)))))


# -- promotion refuses a report that judged nothing ----------------------------------------
def test_promote_refuses_a_report_with_no_evaluated_blocking_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((Path(__file__).parent / "fixtures" / "adult-report.json").read_text())
    assert doc["status"] == "pass"
    for g in doc["gates"]:  # every gate skipped for want of rows, or non-blocking
        g.update(status="skip", reason="insufficient_support")
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.json").write_text(json.dumps(doc))
    (out / "report.md").write_text("## ✅ mlops-gates: PASS\n")
    argv = ["promote", str(out), "--model", "m", "--model-version", "1", "--dry-run"]
    assert main(argv) == 1
    assert "without judging anything" in capsys.readouterr().err


# -- bounded output ----------------------------------------------------------------------
def test_many_slices_are_listed_worst_first_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.concat([binary_frame(seed=s) for s in range(3)], ignore_index=True)
    frame["user"] = [f"u{i % 300:03d}" for i in range(len(frame))]
    gate = {**ACC, "min": 0.0, "slices": ["user"], "min_support": 1}
    code, doc, _ = _check(tmp_path, Case(base_config(gates=[gate]), frame), capsys)
    assert code == 0 and len(doc["gates"]) == 301  # report.json keeps every verdict
    md = doc_md(tmp_path)
    listed = [line for line in md.splitlines() if line.startswith("| ✅")]
    assert len(listed) == 50
    assert "… and 251 more slices of acc \\(251 pass\\); report.json lists them all" in md
    # The worst slices are the ones listed: the lowest accuracies.
    lowest = sorted(g["observed"] for g in doc["gates"])[:50]
    assert max(lowest) <= min(
        g["observed"]
        for g in doc["gates"]
        if g["slice"] and f"user={g['slice']['user']} |" not in md
    )


# -- the smoke command's environment -------------------------------------------------------
def test_smoke_command_gets_a_scrubbed_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_gates.deploy.deploy import Smoke, run_smoke

    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("SERVING_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("MLOPS_GATES_SMOKE_THRESHOLD", "0.9")
    monkeypatch.setenv("MLOPS_GATES_SMOKE_ENV", "SERVING_URL, NOT_SET")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    dump = tmp_path / "env.json"
    script = f"import json, os; open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))"
    passed, _ = run_smoke(Smoke(f'{sys.executable} -c "{script}"'), {"MODEL_NAME": "m"})
    env = json.loads(dump.read_text())
    assert passed
    assert "GITHUB_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["SERVING_URL"] == "http://127.0.0.1:1" and env["MODEL_NAME"] == "m"
    assert env["MLOPS_GATES_SMOKE_THRESHOLD"] == "0.9" and env["LC_ALL"] == "C.UTF-8"
    assert env["PATH"] == os.environ["PATH"]
