"""`mlops-gates` command line: exit codes 0 / 1 / 2 and messages without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import Project
from helpers import base_config, binary_frame, validate_report

from mlops_gates import __version__
from mlops_gates.cli import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_and_help(tmp_path: Path) -> None:
    proc = _cli("--version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"mlops-gates {__version__}")
    for args in (["--help"], ["check", "--help"], ["config-schema", "--help"]):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0 and "usage: mlops-gates" in proc.stdout, args
    assert main([]) == 2


def test_check_passes_with_exit_0(
    make_project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_project(base_config())
    monkeypatch.chdir(path.parent)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 1 passed" in out
    doc = json.loads((path.parent / "mlops-gates-report" / "report.json").read_text())
    validate_report(doc)


def test_check_fails_with_exit_1_and_still_writes(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99}]
    path = make_project(base_config(gates=gates))
    out_dir = tmp_path / "reports"
    assert main(["check", "--config", str(path), "--report-dir", str(out_dir), "-q"]) == 1
    assert "FAIL    acc" in capsys.readouterr().out
    assert json.loads((out_dir / "report.json").read_text())["status"] == "fail"
    assert "❌ fail" in (out_dir / "report.md").read_text()


def test_check_config_error_exits_2(make_project: Project) -> None:
    path = make_project(base_config(gates=[{"kind": "metric", "metric": "accuracy"}]))
    proc = _cli("check", "--config", str(path), cwd=path.parent)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"mlops-gates: error: {path}: gates.0: give a bound")
    assert "Traceback" not in proc.stderr


def test_check_data_error_exits_1_with_message(make_project: Project) -> None:
    path = make_project(base_config(data={"path": "missing.csv"}))
    proc = _cli("check", "--config", str(path), cwd=path.parent)
    assert proc.returncode == 1
    assert "missing.csv: data file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (path.parent / "mlops-gates-report" / "report.json").is_file()


def test_unwritable_report_dir(make_project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    path = make_project(base_config())
    blocker = path.parent / "file"
    blocker.write_text("")
    assert main(["check", "--config", str(path), "--report-dir", str(blocker / "sub")]) == 1
    assert "cannot write the report" in capsys.readouterr().err


def test_config_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "mlops-gates.yaml"


def test_closed_pipe_is_quiet_and_the_report_is_written(make_project: Project) -> None:
    """`mlops-gates check | head -1`: no traceback, and report.json is on disk."""
    path = make_project(base_config())
    proc = subprocess.run(
        f"{sys.executable} -m mlops_gates.cli check --config {path} | head -1",
        shell=True,
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert (path.parent / "mlops-gates-report" / "report.json").is_file()


def _doc(gates: list[dict]) -> dict:
    summary = {s: sum(g["status"] == s for g in gates) for s in ("pass", "fail", "warn", "error")}
    summary["skip"] = sum(g["status"] == "skip" for g in gates)
    return {"status": "fail", "gates": gates, "summary": summary}


def _gate(gate: str, status: str, slice_: dict | None = None, **kw: object) -> dict:
    return {
        "id": gate,
        "gate": gate,
        "status": status,
        "slice": slice_,
        "observed": 0.7123,
        "ci": [0.6512, 0.7734],
        "bound": {"min": 0.8, "max": None},
        "support": 16281,
        "message": f"{gate} says why",
        **kw,
    }


# Gate ids and slices as the Adult example has them, plus a longer cross.
EXAMPLE_LIKE = [
    _gate("accuracy-by-slice", "fail", {"sex": "Female", "race": "Amer-Indian-Eskimo"}),
    _gate("equalized-odds-sex-within-age", "warn", {"age_band": "45-59"}),
    _gate(
        "roc-auc",
        "fail",
        {"native_country": "United-States-of-America-and-its-territories", "race": "Other"},
    ),
    _gate("baseline-roc_auc", "error", None, observed=None, ci=None, support=None),
    *[_gate("accuracy", "pass", {"age_band": str(i)}) for i in range(30)],
]


def test_at_80_columns_every_problem_keeps_its_whole_gate_and_slice() -> None:
    from mlops_gates.report.text import render_table, slice_text

    doc = _doc(EXAMPLE_LIKE)
    lines = render_table(doc, width=80, verbose=False)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for g in EXAMPLE_LIKE:
        if g["status"] == "pass":
            continue
        ident = g["gate"] if g["slice"] is None else f"{g['gate']} [{slice_text(g['slice'])}]"
        # The identity is whole: on one line when it fits the 72 columns after the status,
        # else wrapped at a separator onto the next lines; never cut with "…".
        if len(ident) <= 72:
            assert any(ident in line for line in lines), (ident, text)
        else:
            assert ident in " ".join(line.strip() for line in lines), (ident, text)
    assert "…" not in text
    # Problems first (errors, then failures, then warnings); passing rows folded.
    order = [
        line.split()[0] for line in lines if line.split()[:1] in (["ERROR"], ["FAIL"], ["WARN"])
    ]
    assert order == ["ERROR", "FAIL", "FAIL", "WARN"]
    assert "30 passing gates not listed (--verbose lists them)" in lines
    assert "PASS" not in [line.split()[0] for line in lines if line.strip()]
    # The error's reason is said under its row.
    assert any(line.strip() == "reason: baseline-roc_auc says why" for line in lines)
    # Every number of a problem row is still there.
    assert text.count("observed 0.7123") == 3 and "ci [0.6512, 0.7734]" in text


def test_at_80_columns_a_rows_numbers_wrap_between_fields() -> None:
    # As the Adult example's smallest race slice prints: the numbers do not fit one line of
    # 72 columns, and the minimum detectable effect must not lose its unit to the next.
    from mlops_gates.report.text import render_table

    gate = _gate(
        "recall-by-group",
        "warn",
        {"race": "Amer-Indian-Eskimo"},
        observed=0.3158,
        ci=[0.1536, 0.5399],
        bound={"min": 0.5, "max": None},
        support=19,
        detectable={"effect": 0.24, "per": 0.01},
    )
    lines = render_table(_doc([gate]), width=80, verbose=False)
    numbers = [line.strip() for line in lines if line.startswith(" ") and "reason" not in line]
    assert max(len(line) for line in lines) <= 80
    fields = [f for line in numbers for f in line.split("  ")]
    assert fields[:4] == ["observed 0.3158", "ci [0.1536, 0.5399]", "bound >= 0.5", "support 19"]
    assert len(fields) == 5 and fields[4].startswith("detects >=") and fields[4].endswith("pt")
    # A field longer than the line is still wrapped, and nothing is dropped.
    long = _gate("g", "fail", {"s": "x"}, bound={"min": 0.123456789012345678, "max": None})
    text = " ".join(render_table(_doc([long]), width=40, verbose=False))
    assert "observed 0.7123" in text and "16281" in text


def test_a_wide_terminal_gets_one_row_per_gate() -> None:
    from mlops_gates.report.text import render_table

    lines = render_table(_doc(EXAMPLE_LIKE), width=200, verbose=True)
    row = next(line for line in lines if line.startswith("FAIL") and "roc-auc" in line)
    assert "native_country=United-States-of-America-and-its-territories, race=Other" in row
    assert row.endswith("16281")
    assert sum(line.startswith("PASS") for line in lines) == 30


def test_a_gate_with_thousands_of_failing_slices_prints_a_bounded_table() -> None:
    from mlops_gates.report.bounded import SHOWN_PER_GATE
    from mlops_gates.report.text import render_table

    gates = [_gate("acc", "fail", {"user": str(i)}, observed=i / 3000) for i in range(2000)]
    lines = render_table(_doc(gates), width=120, verbose=True)
    rows = [line for line in lines if line.startswith("FAIL ")]
    assert len(rows) == SHOWN_PER_GATE
    # The worst (furthest below the bound) are the ones listed.
    assert all(f"user={i}" in " ".join(rows) for i in range(SHOWN_PER_GATE))
    assert any(f"… and {2000 - SHOWN_PER_GATE:,} more slices of acc" in x for x in lines)


def test_run_level_warnings_are_printed() -> None:
    from mlops_gates.report.text import render_table

    doc = _doc([_gate("acc", "pass")])
    doc["warnings"] = ["model.pkl was unpickled (allow_pickle: true)\n::error::x"]
    lines = render_table(doc, width=80, verbose=False)
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert "allow_pickle" in warning and "\\n::error" in warning


def test_a_gate_id_longer_than_the_terminal_wraps_whole() -> None:
    from mlops_gates.report.text import render_table

    long = "x" * 150
    lines = render_table(_doc([_gate(long, "fail", {"k": "v" * 90})]), width=80)
    assert max(len(line) for line in lines) <= 80
    joined = "".join(line.strip() for line in lines)
    assert long in joined and "k=" + "v" * 90 in joined


HOSTILE = ["x\n::error title=forged::injected", "\x1b[31mred\x1b[0m", "ab\u202ecd", "::warning::x"]


def test_terminal_safe_escapes_what_a_terminal_would_obey() -> None:
    from mlops_gates._text import defuse, terminal_safe

    assert terminal_safe("x\n::error title=f::i") == "x\\n::error title=f::i"
    assert terminal_safe("\x1b[31mred") == "\\x1b[31mred"
    assert terminal_safe("ab\u202ecd\u2066") == "ab\\u202ecd\\u2066"
    assert terminal_safe("Zoë, 東京, 🙂") == "Zoë, 東京, 🙂"  # printable text is untouched
    assert defuse("  ::error::x") == "  \\x3a:error::x"
    assert defuse("a ::error::x") == "a ::error::x"


def test_check_output_cannot_forge_workflow_commands_or_escapes(make_project: Project) -> None:
    frame = binary_frame()
    frame["sex"] = [HOSTILE[i % len(HOSTILE)] for i in range(len(frame))]
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99, "slices": ["sex"]}]
    path = make_project(base_config(gates=gates), frame=frame, data_name="eval.parquet")
    cfg = path.read_text().replace("eval.csv", "eval.parquet")
    path.write_text(cfg)
    env = {**os.environ, "COLUMNS": "80", "FORCE_COLOR": "1", "MLOPS_GATES_TRACKING": "off"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_gates.cli", "check", "--config", str(path), "--verbose"],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    for line in (proc.stdout + proc.stderr).splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "\u202e" not in line
        # Colour was forced: the only escapes are our own SGR codes around the status.
        assert "\x1b[31mred" not in line
    assert "sex=x\\n::error title=forged::injected" in proc.stdout
    assert "sex=ab\\u202ecd" in proc.stdout
    assert "\x1b[1;31mFAIL" in proc.stdout  # FORCE_COLOR


def test_check_prints_each_error_reason(make_project: Project) -> None:
    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["colour"]}
    ]
    path = make_project(base_config(gates=gates))
    proc = _cli("check", "--config", str(path), cwd=path.parent)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ERROR"))
    assert "acc" in lines[at]
    reason = " ".join(line.strip() for line in lines[at + 1 : at + 4])
    # The reason names the file and the column; a path is never broken across lines.
    assert f"reason: acc: {path.parent / 'eval.csv'}: column 'colour' named in gate" in reason


def test_check_folds_passing_rows_and_colours_on_request(
    make_project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gates = [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["sex"]}]
    path = make_project(base_config(gates=gates))
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["check", "--config", str(path), "--report-dir", str(path.parent / "r")]) == 0
    out = capsys.readouterr().out
    assert "3 passing gates not listed (--verbose lists them)" in out
    assert "\x1b[" not in out  # not a terminal: no colour
    assert main(["check", "--config", str(path), "--report-dir", str(path.parent / "r"), "-v"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS ") == 3 and "not listed" not in out
    for env, flag, coloured in [
        ({}, "yes", True),
        ({"FORCE_COLOR": "1"}, "auto", True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, "auto", False),
        ({"NO_COLOR": "1"}, "yes", True),
        ({"FORCE_COLOR": "1"}, "no", False),
    ]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        main(
            [
                "check",
                "--config",
                str(path),
                "--report-dir",
                str(path.parent / "r"),
                "--color",
                flag,
            ]
        )
        assert ("\x1b[32mPASS:" in capsys.readouterr().out) is coloured, (env, flag)
        for key in env:
            monkeypatch.delenv(key)


def test_stderr_holds_no_pyspark_warning(tmp_path: Path) -> None:
    """With PySpark installed (the [spark] extra), pandera's import of pyspark.pandas
    makes PySpark warn about pandas 3 several times per command; the CLI keeps that
    noise about a backend it never uses off the user's terminal."""
    pytest.importorskip("pyspark")
    data = tmp_path / "rows.parquet"
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "x"]}).to_parquet(data)
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_gates", "schema", "infer", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "columns:" in proc.stdout
    assert "PySpark does not yet fully support" not in proc.stderr


def test_terminal_width_without_a_terminal_is_80(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_gates.cli.common import terminal_width

    monkeypatch.delenv("COLUMNS", raising=False)
    assert terminal_width() == 80  # captured streams: what a CI log gets, as with pytest
    monkeypatch.setenv("COLUMNS", "132")
    assert terminal_width() == 132
