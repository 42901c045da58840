"""`mlops-gates alert` against the GitHub double over real HTTP: one issue per monitor,
opened, updated, closed; retraining dispatched; errors a person can act on. Every request
and response is checked against GitHub's OpenAPI description by the double."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_double import GitHubDouble
from github_double.state import Issue, Repo

from mlops_gates.alerts.alert import AlertOptions, alert, dispatch_key, marker, retrain_verdict
from mlops_gates.cli import main
from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient, RetryPolicy

FIXTURES = Path(__file__).parents[1] / "fixtures"
FAST = RetryPolicy(
    total=3, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5, lookup_waits=(0.0,)
)
TRAIN = ".github/workflows/mlops-train-promote.yml"


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
        assert double.violations == [], "\n".join(double.violations)


def _report(retrain: bool, reasons: list[str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / "adult-report.json").read_text()))
    doc["status"] = "fail" if retrain else "pass"
    doc["context"]["monitor"] = {
        "window_start": "2026-11-16T00:00:00Z",
        "window_end": "2026-11-23T00:00:00Z",
        "rows": 1200,
        "labeled_rows": 800,
        "retrain": retrain,
        "reasons": reasons if reasons is not None else (["drift: age PSI 0.31"] if retrain else []),
    }
    return doc


def _client(gh: GitHubDouble, **kw: Any) -> GitHubClient:
    args: dict[str, Any] = dict(token=gh.token, base_url=gh.base_url, retry=FAST, throttle=False)
    args.update(kw)
    return GitHubClient(gh.repo.full_name, **args)


def _run(gh: GitHubDouble, doc: dict[str, Any], **options: Any) -> Any:
    client = _client(gh)
    try:
        return alert(client, doc, "## mlops-gates: FAIL\n\nthe report\n", AlertOptions(**options))
    finally:
        client.close()


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    d = tmp_path / "report"
    d.mkdir(exist_ok=True)
    (d / "report.json").write_text(json.dumps(doc))
    (d / "report.md").write_text(f"## mlops-gates: {doc['status'].upper()}\n")
    return d


def _env(monkeypatch: pytest.MonkeyPatch, gh: GitHubDouble, tmp_path: Path) -> Path:
    outputs = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_TOKEN", gh.token)
    monkeypatch.setenv("GITHUB_API_URL", gh.base_url)
    monkeypatch.setenv("GITHUB_REPOSITORY", gh.repo.full_name)
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)
    return outputs


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_retraining_warranted_opens_one_issue_and_a_rerun_changes_nothing(
    gh: GitHubDouble,
) -> None:
    first = _run(gh, _report(True), labels=("model-monitoring",))
    assert first.issue_action == "opened" and first.retrain
    [issue] = gh.issues()
    assert issue.state == "open" and issue.labels == ["model-monitoring"]
    assert issue.body is not None and issue.body.startswith(marker("default"))
    assert "drift: age PSI 0.31" in issue.body and "2026-11-16T00:00:00Z" in issue.body
    assert first.issue.number == issue.number and first.issue.url.endswith(f"/{issue.number}")

    again = _run(gh, _report(True), labels=("model-monitoring",))
    assert again.issue_action == "unchanged"
    assert len(gh.issues()) == 1
    assert gh.calls("PATCH") == [] and len(gh.calls("POST", r"/issues$")) == 1

    worse = _run(gh, _report(True, ["drift: age PSI 0.52"]))
    assert worse.issue_action == "updated"
    [issue] = gh.issues()
    assert issue.body is not None and "PSI 0.52" in issue.body


def test_healthy_again_comments_and_closes_the_issue(gh: GitHubDouble) -> None:
    opened = _run(gh, _report(True)).issue
    healthy = _run(gh, _report(False), run_url="https://ci.example/runs/9")
    assert healthy.issue_action == "closed" and not healthy.retrain
    [issue] = gh.issues()
    assert issue.number == opened.number
    assert issue.state == "closed" and issue.state_reason == "completed"
    [comment] = [c for c in gh.repo.comments.values() if c.issue == issue.number]
    assert "healthy again" in comment.body and "https://ci.example/runs/9" in comment.body
    # Drifting again later opens a fresh issue rather than reviving the closed one.
    assert _run(gh, _report(True)).issue_action == "opened"
    assert [i.state for i in gh.issues()] == ["closed", "open"]


def test_healthy_without_an_issue_writes_nothing(gh: GitHubDouble) -> None:
    result = _run(gh, _report(False), dispatch_workflow="mlops-train-promote.yml")
    assert result.issue_action == "none" and result.dispatched is None
    assert [r.method for r in gh.requests] == ["GET", "GET"]  # the repository, the issues
    assert gh.repo.dispatches == []


def test_keep_open_leaves_the_issue(gh: GitHubDouble) -> None:
    _run(gh, _report(True))
    assert _run(gh, _report(False), close_when_healthy=False).issue_action == "none"
    assert [i.state for i in gh.issues()] == ["open"]


def test_other_issues_and_pull_requests_are_left_alone(gh: GitHubDouble) -> None:
    r = gh.repo
    now = r.clock.tick()
    # Someone else's issue, and one quoting our marker further down (not its first line).
    for body in ("the model looks off", f"see:\n{marker('default')}"):
        n = r.next_issue_number()
        r.issues[n] = Issue(n, "question", body, "alice", now, now)
    # Another monitor's issue (its own key), and enough issues to need a second page.
    _run(gh, _report(True), key="fraud")
    for _ in range(120):
        n = r.next_issue_number()
        r.issues[n] = Issue(n, "noise", None, "bob", now, now)
    result = _run(gh, _report(True))
    assert result.issue_action == "opened"
    ours = [i for i in gh.issues() if (i.body or "").startswith(marker("default"))]
    assert [i.number for i in ours] == [result.issue.number]
    assert len(gh.issues("open")) == 2 + 1 + 120 + 1
    # 124 issues: the listing followed the Link header to a second page of 100.
    assert ["2"] in [c.query.get("page") for c in gh.calls("GET", r"/issues$")]


def test_duplicates_from_a_retried_create_are_closed(gh: GitHubDouble) -> None:
    """A POST that landed but whose answer was lost is re-sent by the retry: two issues.
    The next run keeps the oldest and closes the other as its duplicate."""
    r = gh.repo
    body = "\n".join([marker("default"), "", "old"])
    now = r.clock.tick()
    for _ in range(2):
        n = r.next_issue_number()
        r.issues[n] = Issue(n, "Model monitoring: retraining warranted", body, r.login, now, now)
    result = _run(gh, _report(True))
    assert result.issue_action == "updated" and result.issue.number == 1
    assert result.duplicates_closed == [2]
    assert [(i.number, i.state, i.state_reason) for i in gh.issues()] == [
        (1, "open", None),
        (2, "closed", "duplicate"),
    ]


def test_an_issue_opened_concurrently_is_closed_right_away(gh: GitHubDouble) -> None:
    """Two runs racing (or a create that landed before its answer was lost): the run that
    sees two issues keeps the oldest."""

    def another_run_opens_one(repo: Repo) -> None:
        now = repo.clock.tick()
        n = repo.next_issue_number()
        body = f"{marker('default')}\n\nfrom the other run"
        repo.issues[n] = Issue(n, "Model monitoring: retraining warranted", body, "x", now, now)

    gh.after("POST", r"/issues$", another_run_opens_one)
    result = _run(gh, _report(True))
    assert result.issue_action == "opened" and result.issue.number == 1
    assert result.duplicates_closed == [2]
    assert [i.state for i in gh.issues()] == ["open", "closed"]


def test_server_errors_are_retried(gh: GitHubDouble) -> None:
    gh.fail("GET", r"/issues$", 502, times=1)
    gh.fail("POST", r"/issues$", 503, times=2)
    result = _run(gh, _report(True))
    assert result.issue_action == "opened"
    assert len(gh.issues()) == 1
    assert len(gh.calls("POST", r"/issues$")) == 3


KEYED_WORKFLOW = b"""run-name: "Train and promote ${{ inputs.mlops_gates_key }}"
on:
  workflow_dispatch:
    inputs:
      reason: {required: false}
      mlops_gates_key: {required: false}
"""


def test_dispatches_retraining_once_per_report(gh: GitHubDouble) -> None:
    gh.repo.commit("main", {TRAIN: KEYED_WORKFLOW}, "add the workflow")
    options: dict[str, Any] = dict(
        issue=False,
        dispatch_workflow="mlops-train-promote.yml",
        dispatch_inputs={"reason": "drift"},
    )
    result = _run(gh, _report(True), **options)
    assert result.dispatched == "mlops-train-promote.yml" and result.issue is None
    [d] = gh.repo.dispatches
    key = dispatch_key(_report(True), "default")
    assert (d.workflow, d.ref, d.inputs) == (
        "mlops-train-promote.yml",
        "main",
        {"reason": "drift", "mlops_gates_key": key},
    )
    assert result.dispatch_run and result.dispatch_run.endswith(f"/actions/runs/{d.run_id}")
    assert gh.issues() == []
    # The same report again (a re-run of the monitor job): the run is found, not restarted.
    again = _run(gh, _report(True), **options)
    assert len(gh.repo.dispatches) == 1 and again.dispatch_note
    assert "already started" in again.dispatch_note
    # Healthy: nothing is dispatched.
    _run(gh, _report(False), issue=False, dispatch_workflow="mlops-train-promote.yml")
    assert len(gh.repo.dispatches) == 1


def test_a_dispatch_that_landed_but_answered_502_is_not_sent_again(gh: GitHubDouble) -> None:
    gh.repo.commit("main", {TRAIN: KEYED_WORKFLOW}, "add the workflow")
    gh.fail("POST", "/dispatches$", 502, landed=True)
    result = _run(gh, _report(True), issue=False, dispatch_workflow="mlops-train-promote.yml")
    assert len(gh.repo.dispatches) == 1, "the retraining workflow was dispatched twice"
    assert [r.status for r in gh.calls("POST", "/dispatches$")] == [502]
    assert result.dispatch_run and str(gh.repo.dispatches[0].run_id) in result.dispatch_run


def test_a_dispatch_that_did_not_land_is_sent_again(gh: GitHubDouble) -> None:
    gh.repo.commit("main", {TRAIN: KEYED_WORKFLOW}, "add the workflow")
    gh.fail("POST", "/dispatches$", 502)
    _run(gh, _report(True), issue=False, dispatch_workflow="mlops-train-promote.yml")
    assert len(gh.repo.dispatches) == 1
    assert [r.status for r in gh.calls("POST", "/dispatches$")] == [502, 200]


def test_a_workflow_without_the_key_input_is_dispatched_at_most_once(gh: GitHubDouble) -> None:
    gh.repo.commit("main", {TRAIN: b"on:\n  workflow_dispatch:\n"}, "add the workflow")
    result = _run(gh, _report(True), issue=False, dispatch_workflow="mlops-train-promote.yml")
    [d] = gh.repo.dispatches
    assert d.inputs == {} and result.dispatch_note and "mlops_gates_key" in result.dispatch_note
    # Its answer lost: alert cannot tell, so it stops and says so instead of sending again.
    gh.fail("POST", "/dispatches$", 502, landed=True, times=2)
    with pytest.raises(PromotionError) as info:
        _run(gh, _report(True), issue=False, dispatch_workflow="mlops-train-promote.yml")
    assert len(gh.repo.dispatches) == 2, "one dispatch per alert run, never a blind resend"
    message = str(info.value)
    assert "may have started a run" in message and "mlops_gates_key" in message


def test_an_issue_that_landed_but_answered_502_is_opened_once(gh: GitHubDouble) -> None:
    gh.fail("POST", r"/issues$", 502, landed=True)
    result = _run(gh, _report(True))
    assert result.issue_action == "opened"
    assert len(gh.issues()) == 1, "a lost answer opened the issue twice"
    assert [r.status for r in gh.calls("POST", r"/issues$")] == [502]
    assert result.duplicates_closed == []


def test_a_closing_comment_that_landed_but_answered_502_is_written_once(
    gh: GitHubDouble,
) -> None:
    opened = _run(gh, _report(True)).issue
    gh.fail("POST", r"/issues/\d+/comments$", 502, landed=True)
    assert _run(gh, _report(False)).issue_action == "closed"
    notes = [c for c in gh.repo.comments.values() if c.issue == opened.number]
    assert len(notes) == 1 and "healthy again" in notes[0].body


def test_plain_check_report_warrants_retraining_unless_it_passed() -> None:
    doc = _report(True)
    del doc["context"]["monitor"]
    doc["gates"][0]["status"] = "fail"
    assert retrain_verdict(doc) == (True, ["gate schema failed"])
    doc["status"] = "pass"
    assert retrain_verdict(doc) == (False, [])


# -- the command line -------------------------------------------------------------------


def test_cli_opens_the_issue_and_writes_outputs(
    gh: GitHubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outputs = _env(monkeypatch, gh, tmp_path)
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.root)
    gh.repo.commit("main", {TRAIN: b"on:\n  workflow_dispatch:\n"}, "add the workflow")
    report = _write(tmp_path, _report(True))
    args = [
        "alert",
        str(report),
        "--label",
        "drift",
        "--dispatch-workflow",
        "mlops-train-promote.yml",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    [issue] = gh.issues()
    assert f"opened issue #{issue.number}" in out and "dispatched mlops-train-promote.yml" in out
    assert issue.body is not None and "/acme/models/actions/runs/42" in issue.body
    assert "## mlops-gates: FAIL" in issue.body  # report.md, as written by the run
    got = _outputs(outputs)
    assert got["retrain"] == "true" and got["issue-action"] == "opened"
    assert got["issue-number"] == str(issue.number) and got["dispatched"] == "true"

    assert main(args) == 0
    assert len(gh.issues()) == 1 and "unchanged issue" in capsys.readouterr().out


def test_cli_bad_token_names_the_variable_never_the_value(
    gh: GitHubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, gh, tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrong_token_value_123456")
    assert main(["alert", str(_write(tmp_path, _report(True)))]) == 1
    err = capsys.readouterr().err
    assert "rejected the token" in err and "GITHUB_TOKEN" in err
    assert "ghp_wrong_token_value_123456" not in err
    assert gh.issues() == []


def test_cli_read_only_token_is_told_which_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with GitHubDouble(read_only=True) as gh:
        _env(monkeypatch, gh, tmp_path)
        assert main(["alert", str(_write(tmp_path, _report(True)))]) == 1
        assert gh.violations == []
    err = capsys.readouterr().err
    assert "403" in err and "issues: write" in err


def test_cli_dispatch_of_a_missing_workflow(
    gh: GitHubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _env(monkeypatch, gh, tmp_path)
    report = _write(tmp_path, _report(True))
    assert main(["alert", str(report), "--no-issue", "--dispatch-workflow", "nope.yml"]) == 1
    assert "dispatching workflow nope.yml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "a b"], "--key"),
        (["--dispatch-input", "novalue"], "NAME=VALUE"),
        (["--no-issue"], "does nothing"),
    ],
)
def test_cli_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    report = _write(tmp_path, _report(True))
    assert main(["alert", str(report), *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_without_a_report_or_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alert", str(tmp_path / "missing")]) == 2
    assert "no report here" in capsys.readouterr().err
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main(["alert", str(_write(tmp_path, _report(True)))]) == 2
    err = capsys.readouterr().err
    assert "GITHUB_TOKEN is not set" in err and "issues: write" in err


def test_cli_errors_are_printed_like_every_commands(
    gh: GitHubDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """alert prints through the CLI's one error printer: a value quoted from the command
    line (here a workflow name) cannot rewrite the terminal."""
    _env(monkeypatch, gh, tmp_path)
    report = _write(tmp_path, _report(True))
    name = "nope\x1b[2J.yml"
    assert main(["alert", str(report), "--no-issue", "--dispatch-workflow", name]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlops-gates: error: ") and "dispatching workflow nope" in err
    assert "\x1b" not in err, "a raw escape sequence reached the terminal"
    assert "nope\\x1b[2J.yml" in err, "the escape is shown, not dropped"


def test_the_issue_lists_window_run_and_mlflow_as_separate_items() -> None:
    """GitHub runs consecutive lines into one paragraph; the facts are a list instead."""
    cmarkgfm = pytest.importorskip("cmarkgfm")
    from mlops_gates.alerts.alert import issue_body

    doc = _report(True)
    body = issue_body(
        doc, "## report", ["drift: age PSI 0.31"], AlertOptions(run_url="https://ci/run/1")
    )
    html = cmarkgfm.github_flavored_markdown_to_html(body)
    assert (
        "<li>Window: 2026-11-16T00:00:00Z to 2026-11-23T00:00:00Z (1200 rows, 800 labeled).</li>"
        in html
    )
    assert '<li>Run: <a href="https://ci/run/1">https://ci/run/1</a></li>' in html or (
        "<li>Run: https://ci/run/1</li>" in html
    )
