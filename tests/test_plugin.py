"""Acceptance tests of `pytest --mlops-gates` through pytester."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from helpers import base_config, binary_frame, validate_report

pytest_plugins = ["pytester"]


def _project(pytester: pytest.Pytester, gates: list[dict], **cfg: object) -> Path:
    binary_frame().to_csv(pytester.path / "eval.csv", index=False)
    path = pytester.path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(base_config(gates=gates, **cfg), sort_keys=False))
    return path


def _report(pytester: pytest.Pytester, where: str = "mlops-gates-report") -> dict:
    doc = json.loads((pytester.path / where / "report.json").read_text())
    validate_report(doc)
    assert (pytester.path / where / "report.md").is_file()
    return doc


SLICED = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.7, "slices": ["sex"]}


def test_one_item_per_gate_and_slice(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    result = pytester.runpytest("--mlops-gates", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "mlops-gates.yaml::mlops-gates-inputs",
            "mlops-gates.yaml::acc",
            "mlops-gates.yaml::acc[[]sex=F[]]",
            "mlops-gates.yaml::acc[[]sex=M[]]",
        ]
    )


def test_passing_gates_write_a_valid_report(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    result = pytester.runpytest("--mlops-gates")
    result.assert_outcomes(passed=4)
    # Passing rows are folded into a count; -v lists them.
    result.stdout.fnmatch_lines(
        ["*= mlops-gates =*", "3 passing gates not listed (-v lists them)", "PASS: 3 passed*"]
    )
    result = pytester.runpytest("--mlops-gates", "-v")
    result.stdout.fnmatch_lines(["*= mlops-gates =*", "PASS*acc*sex=F*", "PASS: 3 passed*"])
    doc = _report(pytester)
    assert doc["status"] == "pass"
    assert [g["id"] for g in doc["gates"]] == ["acc", "acc[sex=F]", "acc[sex=M]"]


def test_failing_gate_shows_verdict_not_traceback(pytester: pytest.Pytester) -> None:
    _project(pytester, [{**SLICED, "min": 0.9, "min_support": 10}])
    result = pytester.runpytest("--mlops-gates", "-rf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "gate 'acc[sex=M]' FAIL (metric, severity block)" in out
    assert "observed 0.8874; bound >= 0.9; support 231; slice sex=M" in out
    assert "Traceback" not in out and "def runtest" not in out
    assert _report(pytester)["status"] == "fail"


def _gate_line(config: Path, gate: str) -> int:
    """1-based line of `- id: <gate>` (or of the list item holding `id: <gate>`)."""
    lines = config.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() in (f"id: {gate}", f"- id: {gate}"))
    while not lines[at].lstrip().startswith("- "):
        at -= 1
    return at + 1


def test_warn_severity_never_fails_the_run(pytester: pytest.Pytester) -> None:
    config = _project(pytester, [{**SLICED, "min": 0.99, "severity": "warn"}])
    result = pytester.runpytest("--mlops-gates", "-v")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, warnings=3)  # the inputs item passes
    assert result.parseoutcomes()["warned"] == 3  # its own word in the final line
    result.stdout.fnmatch_lines(["*mlops-gates.yaml::acc[[]sex=F[]] WARN*"])
    # The warnings summary points at the gate in the config, not at the plugin.
    line = _gate_line(config, "acc")
    result.stdout.fnmatch_lines([f"*/mlops-gates.yaml:{line}: GateWarning: acc[[]sex=F[]]: *"])
    # Nor at any module of ours (the items live in pytest_items.py).
    assert "pytest_plugin.py" not in result.stdout.str()
    assert "pytest_items.py" not in result.stdout.str()
    assert _report(pytester)["summary"]["warn"] == 3


def test_warn_letter_in_progress_line(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED, {**SLICED, "id": "soft", "min": 0.99, "severity": "warn"}])
    result = pytester.runpytest("--mlops-gates", "-p", "no:randomly")
    result.stdout.re_match_lines([r"mlops-gates\.yaml \.\.\.\.WWW"])


def test_k_selects_slices_and_the_report_follows(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED, {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}])
    result = pytester.runpytest("--mlops-gates", "-k", "sex")
    result.assert_outcomes(passed=2)
    assert [g["id"] for g in _report(pytester)["gates"]] == ["acc[sex=F]", "acc[sex=M]"]


def test_numbers_reach_junit_xml(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    args = ["--junitxml=junit.xml", "-o", "junit_family=xunit1"]  # xunit1 has file and line
    pytester.runpytest("--mlops-gates", *args).assert_outcomes(passed=4)
    tree = ET.parse(pytester.path / "junit.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "acc[sex=F]")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["mlops_gates.status"] == "pass"
    assert props["mlops_gates.support"] == "169"
    assert props["mlops_gates.bound_min"] == "0.7"
    assert float(props["mlops_gates.observed"]) == pytest.approx(0.911242, abs=1e-6)
    assert "mlops_gates.bound_max" not in props  # absent, not the string "None"
    # pytest's location (0-based) is the gate's line in the config.
    assert int(case.get("line", "-1")) == _gate_line(pytester.path / "mlops-gates.yaml", "acc") - 1


def test_junit_leaves_out_absent_values(pytester: pytest.Pytester) -> None:
    _project(pytester, [{**SLICED, "slices": ["colour"]}])
    pytester.runpytest("--mlops-gates", "--junitxml=junit.xml")
    tree = ET.parse(pytester.path / "junit.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "acc")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["mlops_gates.status"] == "error"
    assert "None" not in props.values(), props
    assert "mlops_gates.observed" not in props


def test_bad_config_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _project(pytester, [{"id": "acc", "kind": "metric", "metric": "acuracy", "min": 0.7}])
    result = pytester.runpytest("--mlops-gates")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gates.0.metric: unknown metric (did you mean 'accuracy'?)*"])
    assert "Traceback" not in result.stderr.str()


def test_missing_config_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--mlops-gates")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mlops-gates.yaml: config file not found*mlops-gates init*"])


def test_missing_column_errors_the_gate_and_keeps_the_report(pytester: pytest.Pytester) -> None:
    _project(
        pytester,
        [
            {**SLICED, "slices": ["colour"]},
            {"id": "f1", "kind": "metric", "metric": "f1", "min": 0.1},
        ],
    )
    result = pytester.runpytest("--mlops-gates")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*acc: *'colour' named in gate 'acc' not found; the data has:*"])
    doc = _report(pytester)
    assert doc["status"] == "error"
    assert {g["id"]: g["status"] for g in doc["gates"]} == {"acc": "error", "f1": "pass"}


def test_unreadable_data_fails_the_inputs_item(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    (pytester.path / "eval.csv").unlink()
    result = pytester.runpytest("--mlops-gates")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*mlops-gates could not evaluate every gate:*", "*eval.csv: data file not found*"]
    )
    assert _report(pytester)["status"] == "error"


def test_config_outside_testpaths_and_options(pytester: pytest.Pytester) -> None:
    (pytester.path / "conf").mkdir()
    binary_frame().to_csv(pytester.path / "conf" / "eval.csv", index=False)
    (pytester.path / "conf" / "gates.yaml").write_text(yaml.safe_dump(base_config()))
    pytester.makeini("[pytest]\ntestpaths = tests\n")
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_x.py").write_text("def test_x():\n    pass\n")
    result = pytester.runpytest(
        "--mlops-gates",
        "--mlops-gates-config",
        "conf/gates.yaml",
        "--mlops-gates-report-dir",
        "out",
    )
    result.assert_outcomes(passed=3)
    assert _report(pytester, "out")["status"] == "pass"


def test_custom_gates_join_the_report(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    pytester.makepyfile(
        test_custom=textwrap.dedent(
            """
            import pytest

            @pytest.mark.mlops_gate(id="enough-rows")
            def test_rows(mlops_gates_data):
                assert mlops_gates_data.n_rows == 400
                assert set(mlops_gates_data.frame.columns) >= {"y", "sex"}

            @pytest.mark.mlops_gate(id="soft", severity="warn")
            def test_soft(mlops_gates_data):
                assert mlops_gates_data.candidate.mean() > 0.99

            @pytest.mark.mlops_gate(id="hard")
            def test_hard(mlops_gates_report):
                assert mlops_gates_report.status == "fail"
            """
        )
    )
    result = pytester.runpytest("--mlops-gates")
    result.assert_outcomes(passed=5, failed=1, warnings=1)
    assert result.parseoutcomes()["warned"] == 1  # the failed warn gate: W, not a pass
    doc = _report(pytester)
    custom = {g["id"]: g["status"] for g in doc["gates"] if g["kind"] == "custom"}
    assert custom == {"enough-rows": "pass", "soft": "warn", "hard": "fail"}
    assert doc["status"] == "fail"


# -- layouts: configured gates are always collected ------------------------------------------

GATE_IDS = ["acc", "acc[sex=F]", "acc[sex=M]"]


def _layout(pytester: pytest.Pytester, config_dir: str = ".") -> None:
    where = pytester.path / config_dir
    where.mkdir(exist_ok=True)
    binary_frame().to_csv(where / "eval.csv", index=False)
    (where / "mlops-gates.yaml").write_text(yaml.safe_dump(base_config(gates=[SLICED])))
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_x.py").write_text("def test_x():\n    pass\n")
    pytester.path.joinpath("tests", "conftest.py").write_text("import pytest\n")


LAYOUTS = {
    # name: (ini, config folder, extra files, arguments)
    "testpaths": ("[pytest]\ntestpaths = tests\n", ".", {}, []),
    "path-argument": ("", ".", {}, ["tests"]),
    "node-argument": ("", ".", {}, ["tests/test_x.py::test_x"]),
    "rootdir-elsewhere": ("", ".", {}, ["--rootdir=tests", "tests"]),
    "config-in-subfolder": ("[pytest]\nmlops_gates_config = ml/mlops-gates.yaml\n", "ml", {}, []),
    "subfolder-and-path": (
        "[pytest]\nmlops_gates_config = ml/mlops-gates.yaml\n",
        "ml",
        {},
        ["tests"],
    ),
    "ini-by-c": (
        "",
        ".",
        {"ci/pytest.ini": "[pytest]\ntestpaths = tests\n"},
        ["-c", "ci/pytest.ini"],
    ),
    "ignore": ("", ".", {}, ["--ignore=mlops-gates.yaml"]),
    "conftest-collect-ignore": (
        "",
        ".",
        {"conftest.py": "collect_ignore = ['mlops-gates.yaml']\n"},
        [],
    ),
    "deselect-other": ("", ".", {}, ["--deselect=tests/test_x.py::test_x"]),
}


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_gates_are_collected_in_every_layout(pytester: pytest.Pytester, layout: str) -> None:
    ini, config_dir, files, args = LAYOUTS[layout]
    _layout(pytester, config_dir)
    if ini:
        pytester.makeini(ini)
    for name, text in files.items():
        (pytester.path / name).parent.mkdir(parents=True, exist_ok=True)
        (pytester.path / name).write_text(text)
    result = pytester.runpytest("--mlops-gates", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 4  # inputs + three verdicts (+ test_x where selected)
    report = json.loads(next(pytester.path.rglob("report.json")).read_text())
    assert [g["id"] for g in report["gates"]] == GATE_IDS


def test_only_a_file_that_resolves_to_the_config_becomes_the_gates_node(
    pytester: pytest.Pytester,
) -> None:
    """pytest asks the plugin about every file it walks. A link to the config under another
    name is the config (its node ids follow the link); a file of the config's name elsewhere
    is not."""
    _layout(pytester, "ml")
    (pytester.path / "gates.yaml").symlink_to(pytester.path / "ml" / "mlops-gates.yaml")
    pytester.mkdir("other")
    (pytester.path / "other" / "mlops-gates.yaml").write_text("version: 1\n")
    args = ["--mlops-gates-config", "ml/mlops-gates.yaml", "gates.yaml", "other"]
    result = pytester.runpytest("--mlops-gates", "--co", "-q", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["gates.yaml::mlops-gates-inputs", "gates.yaml::acc"])
    assert "other/" not in result.stdout.str()


def test_the_config_variable_is_honoured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _layout(pytester, "ml")
    monkeypatch.setenv("MLOPS_GATES_CONFIG", "ml/mlops-gates.yaml")
    result = pytester.runpytest("--mlops-gates")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert [g["id"] for g in _report(pytester)["gates"]] == GATE_IDS


def test_option_then_variable_then_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--mlops-gates-config, else $MLOPS_GATES_CONFIG, else the ini key, as the CLI's
    --config, else the variable, else the working directory."""
    _layout(pytester, "ml")
    pytester.makeini("[pytest]\nmlops_gates_config = nowhere.yaml\n")
    monkeypatch.setenv("MLOPS_GATES_CONFIG", "ml/mlops-gates.yaml")
    assert pytester.runpytest("--mlops-gates").ret == pytest.ExitCode.OK
    monkeypatch.setenv("MLOPS_GATES_CONFIG", "elsewhere.yaml")
    result = pytester.runpytest("--mlops-gates", "--mlops-gates-config", "ml/mlops-gates.yaml")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result = pytester.runpytest("--mlops-gates")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*/elsewhere.yaml: config file not found*"])


def test_a_session_leaves_no_plugin_or_state_behind(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    recorder = pytester.inline_run("--mlops-gates")
    recorder.assertoutcome(passed=5)
    config = recorder.getcall("pytest_unconfigure").config
    assert config.pluginmanager.get_plugin("mlops-gates-session") is None
    from mlops_gates.pytest_plugin import _SESSION

    assert _SESSION not in config.stash


def test_deselecting_every_gate_is_said_and_writes_nothing(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    result = pytester.runpytest("--mlops-gates", "-k", "test_x")
    result.assert_outcomes(passed=1, deselected=4)
    result.stdout.fnmatch_lines(
        [
            "mlops-gates: 3 of 3 gate items deselected (-k / -m / --deselect)*",
            "mlops-gates: no gate selected; no report written, nothing logged",
        ]
    )
    assert not (pytester.path / "mlops-gates-report").exists()


def test_gates_removed_behind_the_users_back_are_a_usage_error(pytester: pytest.Pytester) -> None:
    """A plugin that drops the gate items without deselecting them must not make a pass."""
    _layout(pytester)
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(items):
            items[:] = [i for i in items if "mlops-gates" not in i.nodeid]
        """
    )
    result = pytester.runpytest("--mlops-gates")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    out = result.stdout.str() + result.stderr.str()
    assert "mlops-gates.yaml" in out and "gate items were collected" in out
    assert not (pytester.path / "mlops-gates-report").exists()


# -- xdist, --co, markers -------------------------------------------------------------------


def test_xdist_is_refused_with_one_line(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _layout(pytester)
    result = pytester.runpytest("--mlops-gates", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*mlops-gates: --mlops-gates runs the gates once per session*-n0*"]
    )
    assert "Traceback" not in result.stderr.str()
    assert not (pytester.path / "mlops-gates-report").exists()
    # -n0 is no distribution: the gates run as usual.
    pytester.runpytest("--mlops-gates", "-n0").assert_outcomes(passed=5)
    # Without --mlops-gates, xdist is none of our business.
    pytester.runpytest("-n", "2").assert_outcomes(passed=1)


def test_collect_only_lists_gates_and_writes_nothing(pytester: pytest.Pytester) -> None:
    _layout(pytester)
    before = sorted(p.name for p in pytester.path.iterdir())
    result = pytester.runpytest("--mlops-gates", "--co", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "mlops-gates.yaml::acc",
            "mlops-gates.yaml::acc[[]sex=F[]]",
            "mlops-gates.yaml::acc[[]sex=M[]]",
        ]
    )
    result.stdout.fnmatch_lines(["mlops-gates: 3 gate items listed; --collect-only writes no*"])
    assert "PASS:" not in result.stdout.str()
    # pytest's own files aside (pytest < 9 writes its cache even when only collecting).
    own = {"__pycache__", ".pytest_cache"}
    after = sorted(p.name for p in pytester.path.iterdir() if p.name not in own)
    assert after == [n for n in before if n not in own]  # no report, no MLflow store
    # The same run without --co does write (the check above is not vacuous).
    pytester.runpytest("--mlops-gates").assert_outcomes(passed=5)
    assert (pytester.path / "mlops-gates-report" / "report.json").is_file()


FAIR = {
    "id": "dp",
    "kind": "fairness",
    "metric": "demographic_parity_difference",
    "sensitive": "sex",
    "max": 0.5,
    "severity": "warn",
}


@pytest.mark.parametrize(
    ("expr", "ids"),
    [
        ("fairness", ["dp"]),
        ("metric", ["acc", "acc[sex=F]", "acc[sex=M]"]),
        ("not warn", ["mlops-gates-inputs", "acc", "acc[sex=F]", "acc[sex=M]"]),
        ("warn", ["dp"]),
        ("block and not metric", ["mlops-gates-inputs"]),
    ],
)
def test_markers_select_gates_by_kind_and_severity(
    pytester: pytest.Pytester, expr: str, ids: list[str]
) -> None:
    _project(pytester, [SLICED, FAIR])
    args = ["--mlops-gates", "--strict-markers", "-m", expr, "-p", "no:cacheprovider"]
    result = pytester.runpytest(*args, "--co", "-q")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    listed = [line.split("::", 1)[1] for line in result.outlines if "::" in line]
    assert listed == ids


def test_fixtures_skip_without_the_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(mlops_gates_data):\n    pass\n")
    pytester.runpytest().assert_outcomes(skipped=1)


def test_plain_pytest_imports_nothing_heavy(tmp_path: Path) -> None:
    """Installed but not enabled, the plugin must not slow down every pytest run."""
    (tmp_path / "conftest.py").write_text(
        "import sys, json\n"
        "def pytest_unconfigure(config):\n"
        "    open('modules.json', 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modules = set(json.loads((tmp_path / "modules.json").read_text()))
    assert "mlops_gates.pytest_plugin" in modules  # the entry point did load
    heavy = {
        "pandas",
        "numpy",
        "mlflow",
        "github",
        "pandera",
        "sklearn",
        "jinja2",
        "pydantic",
        "pyarrow",
        "yaml",
        "rich",
    }
    assert not heavy & modules, sorted(heavy & modules)


# -- the summary: width, hostile values -----------------------------------------------------


def test_summary_at_80_columns_keeps_every_gate_and_slice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = binary_frame()
    long = {"north": "Amer-Indian-Eskimo", "south": "Asian-Pac-Islander", "east": "White"}
    frame["region"] = frame["region"].map(long).fillna("Other")
    frame.to_csv(pytester.path / "eval.csv", index=False)
    gate = {
        "id": "equalized-odds-within-region",
        "kind": "metric",
        "metric": "accuracy",
        "min": 0.99,
        "slices": [["sex", "region"]],
        "min_support": 1,
        "severity": "warn",
    }
    cfg = base_config(gates=[{**SLICED, "min": 0.9}, gate])
    (pytester.path / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    monkeypatch.setenv("COLUMNS", "80")
    result = pytester.runpytest("--mlops-gates")
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "= mlops-gates =" in line)
    # Our section ends where pytest's next one starts (pytest does not shorten its own
    # "short test summary" lines when CI is set); the report's path is never broken.
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    summary = [line for line in lines[start + 1 : end] if not line.startswith("report: ")]
    assert max(len(line) for line in summary) <= 80, "\n".join(summary)
    doc = _report(pytester)
    problems = [g for g in doc["gates"] if g["status"] != "pass"]
    assert len(problems) >= 8
    for g in problems:
        ident = g["gate"] if g["slice"] is None else f"{g['gate']} [{_slice_text(g['slice'])}]"
        assert any(ident in line for line in summary), (ident, "\n".join(summary))
    assert "…" not in "\n".join(summary)


def _slice_text(s: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items())


def test_hostile_slice_values_cannot_forge_lines(pytester: pytest.Pytester) -> None:
    frame = binary_frame()
    hostile = ["x\n::error title=forged::injected", "\x1b[31mred", "ab\u202ecd"]
    frame["sex"] = [hostile[i % 3] for i in range(len(frame))]
    # CSV, not Parquet: pyarrow's extension types do not survive pytester's in-process
    # module snapshot. The line break inside a value is quoted, as CSV allows.
    frame.to_csv(pytester.path / "eval.csv", index=False)
    cfg = base_config(gates=[{**SLICED, "min": 0.99}])
    (pytester.path / "mlops-gates.yaml").write_text(yaml.safe_dump(cfg))
    result = pytester.runpytest("--mlops-gates", "-v", "-rA", "--color=no")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    for line in out.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "\x1b" not in out and "\u202e" not in out
    assert "acc[sex=x\\n::error title=forged::injected] FAILED" in out


def test_the_gates_run_with_rare_collections_and_the_host_gets_its_own_back(
    pytester: pytest.Pytester,
) -> None:
    """The evaluation raises the garbage collector's thresholds (a cold run's full
    collections cost ~0.4 s) and restores pytest's before any test runs."""
    _project(pytester, [SLICED])
    pytester.makeconftest(
        """
        import gc

        seen = {}

        def pytest_configure(config):
            gc.set_threshold(1234, 11, 12)  # the host's own, not the default
            seen["configure"] = gc.get_threshold()

        def pytest_collection_finish(session):
            seen["after collection"] = gc.get_threshold()

        def pytest_sessionfinish(session):
            print("thresholds", seen["configure"], seen["after collection"], gc.get_threshold())
        """
    )
    # The gates are evaluated during collection, in a fresh process (gc is process-wide).
    result = pytester.runpytest_subprocess("--mlops-gates", "-s", "-q")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*thresholds (1234, 11, 12) (1234, 11, 12) (1234, 11, 12)"])
    assert _report(pytester)["summary"]["pass"] > 0  # the gates did run


def test_the_engine_and_the_config_are_imported_with_rare_collections(
    pytester: pytest.Pytester,
) -> None:
    """Importing the config's models (pydantic) and the engine (pandas, the gates) allocates
    a lot once: both imports run with `check`'s rare collections, not pytest's thresholds."""
    from mlops_gates._gc import GC_THRESHOLDS

    _project(pytester, [SLICED])
    pytester.makeconftest(
        """
        import gc
        import sys

        seen = {}


        def audit(event, args):
            # Raised once per module, when it is first imported.
            if event == "import" and args[0] in ("mlops_gates.config", "mlops_gates.gates.runner"):
                seen.setdefault(args[0], gc.get_threshold())


        sys.addaudithook(audit)


        def pytest_sessionfinish(session):
            print("imported with", sorted(seen.items()))
        """
    )
    result = pytester.runpytest_subprocess("--mlops-gates", "-s", "-q")
    assert result.ret == pytest.ExitCode.OK
    line = next(x for x in result.stdout.lines if "imported with" in x)  # after the dots
    assert ast.literal_eval(line.partition("imported with ")[2]) == [
        ("mlops_gates.config", GC_THRESHOLDS),
        ("mlops_gates.gates.runner", GC_THRESHOLDS),
    ]


_FREEZE_PROBE = """
import atexit
import gc


def pytest_configure(config):
    # After every pytest_unconfigure, as the process ends.
    atexit.register(lambda: print("frozen objects at exit:", gc.get_freeze_count() > 0))
"""


def test_a_command_line_run_ends_without_walking_its_objects_again(
    pytester: pytest.Pytester,
) -> None:
    """`pytest --mlops-gates` as the program: the teardown's garbage collections skip what
    the run loaded (gc.freeze at the very end); without the plugin nothing changes."""
    _project(pytester, [SLICED])
    pytester.makeconftest(_FREEZE_PROBE)
    on = pytester.runpytest_subprocess("--mlops-gates", "-q")
    assert on.ret == pytest.ExitCode.OK
    on.stdout.fnmatch_lines(["frozen objects at exit: True"])
    off = pytester.runpytest_subprocess("-q", "-p", "no:randomly")
    off.stdout.fnmatch_lines(["frozen objects at exit: False"])


def test_the_freeze_at_exit_still_reports_what_a_users_garbage_raises(
    pytester: pytest.Pytester,
) -> None:
    """Freezing must not hide garbage from pytest's end-of-run check: a user's test that
    leaves a cycle whose `__del__` raises is still reported with --mlops-gates on."""
    _project(pytester, [SLICED])
    pytester.makepyfile(
        test_leak="""
        import gc


        class Loud:
            def __del__(self):
                raise RuntimeError("raised by a __del__ in garbage")


        def test_leaves_cyclic_garbage():
            gc.disable()  # the cycle stays until the end of the run
            loud = Loud()
            loud.me = loud
            del loud
        """
    )
    result = pytester.runpytest_subprocess("--mlops-gates", "-q")
    assert _report(pytester)["summary"]["pass"] > 0  # the gates did run
    result.stderr.fnmatch_lines(["*RuntimeError: raised by a __del__ in garbage*"])


def test_an_installed_plugin_s_modules_are_not_rewritten_by_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed from a wheel, the package is a distribution with a pytest11 entry point, and
    pytest marks every module of such a distribution for assert rewriting (again on every
    run where it cannot cache: PYTHONDONTWRITEBYTECODE). A distribution whose file list
    names `mlops_gates/__init__.py` puts this checkout in that situation; the engine's
    modules must still import as plain Python, and so must what the gates import (here
    hypothesis, marked by its own plugin), while the user's test file, collected after the
    gates ran, is rewritten."""
    site = pytester.mkdir("site")
    info = site / "wheel_like-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wheel-like\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nwheel_like = wheel_like_plugin\n")
    (info / "RECORD").write_text("mlops_gates/__init__.py,,\nwheel_like_plugin.py,,\n")
    (site / "wheel_like_plugin.py").write_text("")
    # A schema gate: pandera imports hypothesis, whose own plugin marks it for rewriting.
    schema = {"id": "schema", "kind": "schema", "schema": "schema.yaml"}
    (pytester.path / "schema.yaml").write_text(
        "schema_type: dataframe\napi: pandas\ncolumns:\n  y:\n    dtype: int64\n"
    )
    _project(pytester, [SLICED, schema])
    pytester.makepyfile(
        test_loaders="""
        import sys


        def test_loaders():
            assert True


        def loader(name):
            return type(sys.modules[name].__loader__).__name__


        def test_who_loaded_what():
            print("engine:", loader("mlops_gates.gates.runner"), loader("mlops_gates.config"))
            print("imported by the gates:", loader("hypothesis.core"))
            print("user:", loader(__name__))
        """
    )
    pytester.makeconftest(
        """
        def pytest_configure(config):
            # pytest read the distribution above: it marked its plugin module too.
            print("marked:", "wheel_like_plugin" in config.pluginmanager.rewrite_hook._must_rewrite)
        """
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    )
    result = pytester.runpytest_subprocess("--mlops-gates", "-q", "-s")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "marked: True",
            "*engine: SourceFileLoader SourceFileLoader",
            "imported by the gates: SourceFileLoader",
            "user: AssertionRewritingHook",
        ]
    )


def test_an_in_process_session_freezes_nothing_of_its_host(pytester: pytest.Pytester) -> None:
    """A host that goes on after pytest.main([...]) (here: this test run) keeps collecting
    everything it had."""
    import gc

    _project(pytester, [SLICED])
    before = gc.get_freeze_count()
    result = pytester.runpytest_inprocess("--mlops-gates", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert gc.get_freeze_count() == before


def test_a_config_outside_the_project_given_as_two_arguments_is_warned_about(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # pytest picks the rootdir and ini file before it knows --mlops-gates-config takes a
    # value: as two arguments, a config elsewhere moves the rootdir and loses the ini file.
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    config = _project(pytester, [SLICED])
    for name in ("mlops-gates.yaml", "eval.csv"):
        (pytester.path / name).rename(elsewhere / name)
    pytester.makeini("[pytest]\nmarkers =\n    ours: a marker of the project\n")
    target = str(elsewhere / config.name)
    split = pytester.runpytest("--mlops-gates", "--mlops-gates-config", target)
    split.assert_outcomes(passed=4)
    split.stdout.fnmatch_lines(
        [f"*PytestConfigWarning: mlops-gates: *write --mlops-gates-config={target} to keep*"]
    )
    assert f"rootdir: {pytester.path}\n" not in split.stdout.str()  # what the warning is about
    joined = pytester.runpytest("--mlops-gates", f"--mlops-gates-config={target}")
    joined.assert_outcomes(passed=4)
    joined.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "configfile: tox.ini"])
    assert "PytestConfigWarning" not in joined.stdout.str()
