"""Acceptance tests of `pytest --mlops-gates` through pytester."""

from __future__ import annotations

import json
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


def test_warn_severity_never_fails_the_run(pytester: pytest.Pytester) -> None:
    _project(pytester, [{**SLICED, "min": 0.99, "severity": "warn"}])
    result = pytester.runpytest("--mlops-gates")
    result.assert_outcomes(passed=4, warnings=3)
    assert _report(pytester)["summary"]["warn"] == 3


def test_k_selects_slices_and_the_report_follows(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED, {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5}])
    result = pytester.runpytest("--mlops-gates", "-k", "sex")
    result.assert_outcomes(passed=2)
    assert [g["id"] for g in _report(pytester)["gates"]] == ["acc[sex=F]", "acc[sex=M]"]


def test_numbers_reach_junit_xml(pytester: pytest.Pytester) -> None:
    _project(pytester, [SLICED])
    pytester.runpytest("--mlops-gates", "--junitxml=junit.xml").assert_outcomes(passed=4)
    tree = ET.parse(pytester.path / "junit.xml")
    case = next(c for c in tree.iter("testcase") if c.get("name") == "acc[sex=F]")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["mlops_gates.status"] == "pass"
    assert props["mlops_gates.support"] == "169"
    assert props["mlops_gates.bound_min"] == "0.7"
    assert float(props["mlops_gates.observed"]) == pytest.approx(0.911242, abs=1e-6)


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
    result.assert_outcomes(passed=6, failed=1, warnings=1)
    doc = _report(pytester)
    custom = {g["id"]: g["status"] for g in doc["gates"] if g["kind"] == "custom"}
    assert custom == {"enough-rows": "pass", "soft": "warn", "hard": "fail"}
    assert doc["status"] == "fail"


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
    }
    assert not heavy & modules, sorted(heavy & modules)
