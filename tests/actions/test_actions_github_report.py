"""`mlops-gates github-report` and the GitHub Actions outputs of `promote`, without a runner:
workflow-command escaping, annotation selection and limits, summary size, step outputs."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_double import GitHubDouble

from mlops_gates import cli
from mlops_gates.github import GitHubClient, RetryPolicy
from mlops_gates.report import github as gr

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _gate(gate_id: str, status: str, severity: str = "block", message: str = "m") -> dict[str, Any]:
    return {
        "id": gate_id,
        "gate": gate_id.split("[")[0],
        "kind": "metric",
        "status": status,
        "severity": severity,
        "message": message,
    }


def _doc(*gates: dict[str, Any], errors: list[str] | None = None) -> dict[str, Any]:
    return {"status": "fail", "gates": list(gates), "errors": errors or [], "context": {}}


@pytest.mark.parametrize(
    ("text", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("50% of rows", "50%25 of rows", "50%25 of rows"),
        ("line\nbreak\r", "line%0Abreak%0D", "line%0Abreak%0D"),
        ("a: b, c", "a: b, c", "a%3A b%2C c"),
        ("%0A is not a newline", "%250A is not a newline", "%250A is not a newline"),
    ],
    ids=["plain", "percent", "newlines", "separators", "escape-of-escape"],
)
def test_escaping(text: str, data: str, prop: str) -> None:
    assert gr.escape_data(text) == data
    assert gr.escape_property(text) == prop


def test_workflow_command_drops_empty_properties() -> None:
    line = gr.workflow_command("error", "a\nb", file="c.yaml", line=None, title="t: x")
    assert line == "::error file=c.yaml,title=t%3A x::a%0Ab"
    assert gr.workflow_command("warning", "w") == "::warning::w"


def test_blocking_failures_are_errors_warnings_are_warnings() -> None:
    doc = _doc(
        _gate("acc", "fail"),
        _gate("auc", "error"),
        _gate("dp", "warn", "warn"),
        _gate("ok", "pass"),
        _gate("tiny", "skip"),
        errors=["data/eval.csv: no such file"],
    )
    lines = gr.annotation_lines(doc)
    assert lines == [
        "::error title=mlops-gates%3A run error::data/eval.csv: no such file",
        "::error title=mlops-gates%3A acc failed::m",
        "::error title=mlops-gates%3A auc could not be evaluated::m",
        "::warning title=mlops-gates%3A dp warning::m",
    ]


def test_annotations_point_at_the_gate_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "models" / "mlops-gates.yaml"
    config.parent.mkdir()
    config.write_text(
        "version: 1\ngates:\n  - id: acc  # overall\n    kind: metric\n  - id: 'dp-sex'\n"
    )
    where = gr.locate_config("models/mlops-gates.yaml", workspace=str(tmp_path), cwd=tmp_path)
    assert where == gr.Location("models/mlops-gates.yaml", {"acc": 3, "dp-sex": 5})
    lines = gr.annotation_lines(_doc(_gate("acc[sex=F]", "fail"), _gate("dp-sex", "warn")), where)
    assert lines[0].startswith("::error file=models/mlops-gates.yaml,line=3,title=")
    assert lines[1].startswith("::warning file=models/mlops-gates.yaml,line=5,title=")


def test_a_config_outside_the_workspace_gets_no_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("gates:\n  - id: acc\n")
    inside = tmp_path / "repo"
    inside.mkdir()
    assert gr.locate_config(str(tmp_path / "c.yaml"), workspace=str(inside)).file is None
    assert gr.locate_config(None).file is None


def test_at_most_ten_of_each_the_last_counts_the_rest() -> None:
    doc = _doc(*[_gate(f"g{i}", "fail") for i in range(25)], _gate("w", "warn", "warn"))
    lines = gr.annotation_lines(doc)
    errors = [x for x in lines if x.startswith("::error")]
    assert len(errors) == gr.MAX_ANNOTATIONS
    assert errors[-1] == (
        "::error title=mlops-gates%3A 16 more errors::16 more errors; the job summary and "
        "the report artifact list them all"
    )
    assert [x for x in lines if x.startswith("::warning")] == [
        "::warning title=mlops-gates%3A w warning::m"
    ]


def test_summary_is_cut_to_githubs_limit() -> None:
    small = "## report\n| a |\n"
    assert gr.summary(small) == small
    big = "".join(f"| row {i} | é |\n" for i in range(200))
    cut = gr.summary(big, limit=1000)
    assert len(cut.encode()) <= 1000
    assert cut.endswith("the rest is in report.md in the report artifact._\n")
    body = cut.split("\n\n_The report")[0]
    assert big.startswith(body) and body.endswith("|\n")  # whole lines only


def test_outputs_are_written_as_github_reads_them(tmp_path: Path) -> None:
    out = tmp_path / "output"
    gr.append_outputs(out, {"status": "pass", "notes": "two\nlines"})
    lines = out.read_text().splitlines()
    assert lines[0] == "status=pass"
    delimiter = lines[1].removeprefix("notes<<")
    assert lines[2:] == ["two", "lines", delimiter]
    doc = {"status": "pass", "context": {"mlflow": {"run_id": "abc123"}}}
    assert gr.step_outputs(doc, "r") == {
        "status": "pass",
        "report-dir": "r",
        "mlflow-run-id": "abc123",
    }
    assert gr.step_outputs({"status": "fail"}, "r")["mlflow-run-id"] == ""
    assert gr.step_outputs(None, "r")["status"] == "error"


@pytest.fixture
def actions_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"summary": tmp_path / "summary.md", "output": tmp_path / "output"}
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("MLOPS_GATES_TRACKING", "off")  # MLflow has its own tests
    monkeypatch.chdir(tmp_path)
    return files


def test_github_report_command(
    make_project: Any, actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import base_config

    gates = [
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.99},
        {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.99, "severity": "warn"},
    ]
    make_project(base_config(gates=gates))
    assert cli.main(["check", "--config", "mlops-gates.yaml", "--report-dir", "out", "-q"]) == 1
    capsys.readouterr()
    assert cli.main(["github-report", "out"]) == 0  # the verdict is check's exit status
    out = capsys.readouterr().out.splitlines()
    lines = Path("mlops-gates.yaml").read_text().splitlines()
    acc, auc = (lines.index(f"- id: {g}") + 1 for g in ("acc", "auc"))
    assert [line.split("::")[1] for line in out] == [
        f"error file=mlops-gates.yaml,line={acc},title=mlops-gates%3A acc failed",
        f"warning file=mlops-gates.yaml,line={auc},title=mlops-gates%3A auc warning",
    ]
    assert actions_env["summary"].read_text() == (Path("out") / "report.md").read_text()
    assert actions_env["output"].read_text() == "status=fail\nreport-dir=out\nmlflow-run-id=\n"


def test_github_report_without_a_report(
    actions_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["github-report", "missing"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("::error title=mlops-gates%3A no report::missing/report.json: no report")
    assert actions_env["summary"].read_text().startswith("## 💥 mlops-gates: no report")
    assert "status=error\n" in actions_env["output"].read_text()


def test_github_report_outside_actions_only_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    report = tmp_path / "r"
    report.mkdir()
    doc = json.loads((FIXTURES / "adult-report.json").read_text())
    (report / "report.json").write_text(json.dumps(doc))
    assert cli.main(["github-report", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 7 and all(line.startswith("::warning ") for line in out)
    assert list(tmp_path.iterdir()) == [report]


# -- promote's outputs ------------------------------------------------------------------


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        monkeypatch.setenv("GITHUB_TOKEN", double.token)
        monkeypatch.setenv("GITHUB_API_URL", double.base_url)
        monkeypatch.setenv("GITHUB_REPOSITORY", double.repo.full_name)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        original = GitHubClient.from_env.__func__  # type: ignore[attr-defined]
        fast = RetryPolicy(total=2, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5)

        def quick(cls: type[GitHubClient], repository: str | None = None, **kw: Any) -> Any:
            return original(cls, repository, retry=fast, throttle=False, **kw)

        monkeypatch.setattr(GitHubClient, "from_env", classmethod(quick))
        yield double
        assert double.violations == [], "\n".join(double.violations)


def test_promote_writes_pr_number_and_url_to_github_output(
    gh: GitHubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report"
    report.mkdir()
    doc = json.loads((FIXTURES / "adult-report.json").read_text())
    (report / "report.json").write_text(json.dumps(doc))
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    argv = ["promote", str(report), "--model", "adult-income", "--model-version", "7"]
    assert cli.main(argv) == 0
    [pr] = gh.open_pulls()
    url = f"{gh.root}/{gh.repo.full_name}/pull/{pr.number}"
    assert output.read_text() == f"pr-number={pr.number}\npr-url={url}\npromotion=opened\n"
    # Promoting the version the base branch already deploys: nothing to open, empty outputs.
    gh.repo.commit(
        "main",
        {"deploy/adult-income.yaml": gh.repo.file(pr.head, "deploy/adult-income.yaml")},
        "merge",
    )
    output.write_text("")
    assert cli.main(argv) == 0
    assert output.read_text() == "pr-number=\npr-url=\npromotion=unchanged\n"


def test_promote_dry_run_and_refusal_write_no_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "report"
    report.mkdir()
    doc = json.loads((FIXTURES / "adult-report.json").read_text())
    (report / "report.json").write_text(json.dumps(doc))
    output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    argv = ["promote", str(report), "--model", "m", "--model-version", "1"]
    assert cli.main([*argv, "--dry-run"]) == 0
    failing = copy.deepcopy(doc)
    failing["status"] = "fail"
    (report / "report.json").write_text(json.dumps(failing))
    assert cli.main(argv) == 1
    assert not output.exists()
