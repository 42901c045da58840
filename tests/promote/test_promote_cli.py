"""`mlops-gates promote` and `mlops-gates comment` through their argparse wiring."""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_double import GitHubDouble

from mlops_gates.cli import promote as cli
from mlops_gates.github import GitHubClient, RetryPolicy
from mlops_gates.promote.manifest import parse_manifest

FIXTURES = Path(__file__).parents[1] / "fixtures"
FAST = RetryPolicy(total=2, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5)


def parser() -> argparse.ArgumentParser:
    """What mlops_gates.cli does with these subcommands."""
    p = argparse.ArgumentParser(prog="mlops-gates")
    cli.add_subcommands(p.add_subparsers(dest="command", metavar="COMMAND"))
    return p


def main(*argv: str) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    out = tmp_path / "mlops-gates-report"
    out.mkdir()
    (out / "report.json").write_text((FIXTURES / "adult-report.json").read_text())
    (out / "report.md").write_text("## ✅ mlops-gates: PASS\n")
    return out


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        monkeypatch.setenv("GITHUB_TOKEN", double.token)
        monkeypatch.setenv("GITHUB_API_URL", double.base_url)
        monkeypatch.setenv("GITHUB_REPOSITORY", double.repo.full_name)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        original = GitHubClient.from_env.__func__  # type: ignore[attr-defined]

        def fast(cls: type[GitHubClient], repository: str | None = None, **kw: Any) -> Any:
            # Tests only: no politeness throttle, short waits.
            return original(cls, repository, retry=FAST, throttle=False, **kw)

        monkeypatch.setattr(GitHubClient, "from_env", classmethod(fast))
        yield double
        assert double.violations == [], "\n".join(double.violations)


@pytest.mark.parametrize("command", ["promote", "comment", "promotion-status"])
def test_every_subcommand_answers_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(command, "--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "GITHUB_TOKEN" in out and "Exit status" in out
    assert "--repo" in out


def test_promote_opens_then_updates(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["promote", str(report_dir), "--model", "adult-income", "--model-version", "7"]
    assert main(*args, "--label", "model-promotion", "--reviewer", "alice") == 0
    assert "opened pull request #1: http://127.0.0.1:" in capsys.readouterr().out
    assert main(*args) == 0
    out = capsys.readouterr().out
    assert "updated pull request #1" in out and "was already current" in out
    [pr] = gh.open_pulls()
    assert pr.labels == ["model-promotion"] and pr.reviewers == ["alice"]
    manifest = gh.repo.file(pr.head, "deploy/adult-income.yaml")
    assert manifest is not None and parse_manifest(manifest.decode())["alias"] == "production"


def test_an_older_candidate_is_not_promoted_over_a_newer_one(
    gh: GitHubDouble,
    report_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A slower training run finishing late opens nothing, says so, and tells a workflow
    through the step output `promotion` (its exit status stays 0: nothing went wrong)."""
    outputs = tmp_path / "github-output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    args = ["promote", str(report_dir), "--model", "adult-income", "--model-version"]
    assert main(*args, "8") == 0
    assert "promotion=opened" in outputs.read_text()
    outputs.write_text("")
    capsys.readouterr()
    assert main(*args, "7") == 0
    out = capsys.readouterr().out
    assert "pull request #1 already promotes adult-income 8, newer than 7" in out
    assert [p.head for p in gh.open_pulls()] == ["mlops-gates/promote/adult-income/8"]
    assert "promotion=superseded" in outputs.read_text()
    assert "pr-number=1" in outputs.read_text()


def test_promote_refuses_a_report_that_did_not_pass(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((report_dir / "report.json").read_text())
    failing = copy.deepcopy(doc)
    failing["status"] = "fail"
    failing["gates"][1].update(status="fail")
    (report_dir / "report.json").write_text(json.dumps(failing))
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 1
    err = capsys.readouterr().err
    assert "the gates run ended 'fail': blocking gates accuracy." in err
    assert "Only a passing candidate is promoted" in err
    # It looks for an open promotion of that candidate to mark failing; there is none,
    # so it writes nothing and opens nothing.
    assert [r.method for r in gh.requests if r.method != "GET"] == []
    assert gh.repo.pulls == {}


def test_a_refused_report_marks_the_open_promotion_failing(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["promote", str(report_dir), "--model", "adult-income", "--model-version", "7"]
    assert main(*args) == 0
    out = capsys.readouterr().out
    head = gh.head_sha(1)
    assert f"mlops-gates/promotion set success on {head[:10]}: gates passed for" in out
    failing = json.loads((report_dir / "report.json").read_text())
    failing["status"] = "fail"
    failing["gates"][1].update(status="fail")
    (report_dir / "report.json").write_text(json.dumps(failing))
    assert main(*args) == 1
    captured = capsys.readouterr()
    assert "the gates run ended 'fail'" in captured.err
    assert "pull request #1 (" in captured.out and "is marked failing" in captured.out
    st = gh.status(head, "mlops-gates/promotion")
    assert st is not None and st.state == "failure"
    assert st.description == "adult-income 7: gates run ended 'fail'; blocking: accuracy"


def _event(tmp_path: Path, name: str, payload: dict[str, Any]) -> dict[str, str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(payload))
    return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}


def test_promotion_status_passes_changes_that_promote_nothing_and_carries_merge_groups(
    gh: GitHubDouble,
    report_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = "mlops-gates/promotion"
    base = gh.repo.refs["refs/heads/main"]
    gh.repo.refs["refs/heads/feature"] = base
    code = gh.repo.commit("feature", {"train.py": b"print(1)\n"}, "a better model")
    env = _event(
        tmp_path,
        "pull_request",
        {"pull_request": {"head": {"sha": code.sha}, "base": {"sha": base}}},
    )
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main("promotion-status") == 0
    st = gh.status(code.sha, context)
    assert st is not None and (st.state, st.description) == (
        "success",
        "no model promotion: deploy/ unchanged",
    )

    # A promotion pull request: nothing set on its head by the PR workflow...
    assert main("promote", str(report_dir), "--model", "adult-income", "--model-version", "7") == 0
    pr_head = gh.head_sha(1)
    capsys.readouterr()
    assert main("promotion-status", "--sha", pr_head, "--base", base) == 0
    assert "nothing set" in capsys.readouterr().out
    assert [s.context for s in gh.repo.statuses if s.sha == pr_head] == [context]
    # ...and in the merge queue its verdict is carried to the merge-group commit.
    with gh._lock:
        gh.repo.refs[f"refs/heads/gh-readonly-queue/main/pr-1-{pr_head}"] = base
        group = gh.repo.commit(
            "gh-readonly-queue/main/pr-1-" + pr_head,
            {"deploy/adult-income.yaml": gh.repo.file(pr_head, "deploy/adult-income.yaml")},
            "merge group",
        )
    ref = f"refs/heads/gh-readonly-queue/main/pr-1-{pr_head}"
    payload = {"merge_group": {"head_sha": group.sha, "base_sha": base, "head_ref": ref}}
    for k, v in _event(tmp_path, "merge_group", payload).items():
        monkeypatch.setenv(k, v)
    assert main("promotion-status") == 0
    st = gh.status(group.sha, context)
    assert st is not None and st.state == "success"
    assert st.description.startswith("from #1: gates passed for adult-income 7")

    # The same merge group with a different manifest is refused.
    edited = gh.repo.file(pr_head, "deploy/adult-income.yaml").replace(b"7", b"8")  # type: ignore[union-attr]
    with gh._lock:
        other = gh.repo.commit(
            ref.removeprefix("refs/heads/"), {"deploy/adult-income.yaml": edited}, "x"
        )
    assert main("promotion-status", "--sha", other.sha, "--base", base, "--queued-pr", "1") == 0
    st = gh.status(other.sha, context)
    assert st is not None and (st.state, st.description) == (
        "failure",
        "deploy/adult-income.yaml in the merge group differs from #1's judged head",
    )


def test_a_merge_queue_of_two_promotions_judges_each_group_on_its_own_changes(
    gh: GitHubDouble, report_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitHub's `merge_group.base_sha` is "the SHA of the merge group's parent commit":
    the target branch for the first group in the queue, the previous group's head for the
    next. So the second group's own changes are its pull request's manifest only, and that
    pull request's verdict is carried over. Compared with the target branch instead, the
    second group would also change the first promotion's manifest, which its pull request
    never judged."""
    from mlops_gates.promote.status import StatusVerdict, post_status

    context = "mlops-gates/promotion"
    base = gh.repo.refs["refs/heads/main"]
    assert main("promote", str(report_dir), "--model", "adult-income", "--model-version", "7") == 0
    head1 = gh.head_sha(1)
    # A second promotion, of another model, opened and judged as promote would.
    with gh._lock:
        gh.repo.refs["refs/heads/promote/churn"] = base
        head2 = gh.repo.commit(
            "promote/churn", {"deploy/churn.yaml": b"model: {name: churn, version: '3'}\n"}, "p"
        ).sha
    client = GitHubClient.from_env()
    try:
        url = f"{client.base_url}/repos/{client.repository}/pulls"
        body = {"title": "Promote churn 3", "head": "promote/churn", "base": "main"}
        _, pull = client.request("POST", url, action="opening", body=body)
        post_status(client, head2, StatusVerdict("success", "gates passed for churn 3"))
    finally:
        client.close()
    assert pull["number"] == 2
    # The queue: group 1 on main, group 2 on group 1 (GitHub's gh-readonly-queue refs).
    refs = [f"refs/heads/gh-readonly-queue/main/pr-{n}-{h}" for n, h in ((1, head1), (2, head2))]
    manifests = {
        path: gh.repo.file(head, path)
        for path, head in (("deploy/adult-income.yaml", head1), ("deploy/churn.yaml", head2))
    }
    with gh._lock:
        gh.repo.refs[refs[0]] = base
        group1 = gh.repo.commit(
            refs[0].removeprefix("refs/heads/"), dict(list(manifests.items())[:1]), "g1"
        )
        gh.repo.refs[refs[1]] = group1.sha
        group2 = gh.repo.commit(
            refs[1].removeprefix("refs/heads/"), dict(list(manifests.items())[1:]), "g2"
        )
    for group, parent, ref in ((group1, base, refs[0]), (group2, group1.sha, refs[1])):
        payload = {"merge_group": {"head_sha": group.sha, "base_sha": parent, "head_ref": ref}}
        for k, v in _event(tmp_path, "merge_group", payload).items():
            monkeypatch.setenv(k, v)
        assert main("promotion-status") == 0
    st1, st2 = gh.status(group1.sha, context), gh.status(group2.sha, context)
    assert st1 is not None and st1.state == "success" and st1.description.startswith("from #1")
    assert st2 is not None and (st2.state, st2.description) == (
        "success",
        "from #2: gates passed for churn 3",
    )
    # What base_sha is not: measured from the target branch, group 2 also changes #1's
    # manifest, which #2's head does not hold.
    assert main("promotion-status", "--sha", group2.sha, "--base", base, "--queued-pr", "2") == 0
    st = gh.status(group2.sha, context)
    assert st is not None and st.state == "failure"
    assert (
        st.description
        == "deploy/adult-income.yaml in the merge group differs from #2's judged head"
    )


def test_promotion_status_passes_a_revert_of_a_promotion(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "deploy/adult-income.yaml"
    with gh._lock:
        v6 = gh.repo.commit("main", {path: b"model: {name: adult-income, version: '6'}\n"}, "v6")
        gh.repo.commit("main", {path: b"model: {name: adult-income, version: '7'}\n"}, "v7")
        base = gh.repo.refs["refs/heads/main"]
        gh.repo.refs["refs/heads/revert-7"] = gh.repo.refs["refs/heads/hand"] = base
        revert = gh.repo.commit("revert-7", {path: gh.repo.file(v6.sha, path)}, "Revert v7")
        hand = gh.repo.commit("hand", {path: b"model: {name: adult-income, version: '5'}\n"}, "")
    assert main("promotion-status", "--sha", revert.sha, "--base", base) == 0
    st = gh.status(revert.sha, "mlops-gates/promotion")
    assert st is not None and (st.state, st.description) == (
        "success",
        f"rollback: restores {path} as of {v6.sha[:7]}",
    )
    assert main("promotion-status", "--sha", hand.sha, "--base", base) == 0
    assert gh.status(hand.sha, "mlops-gates/promotion") is None


def test_promotion_status_without_an_event_is_a_usage_error(
    gh: GitHubDouble, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_EVENT_NAME", raising=False)
    assert main("promotion-status") == 2
    assert "pass --sha and --base" in capsys.readouterr().err
    assert main("promotion-status", "--sha", "abc") == 2
    assert gh.requests == []


def test_promote_without_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main("promote", str(tmp_path), "--model", "m", "--model-version", "1") == 1
    assert "no report here; run `mlops-gates check` first" in capsys.readouterr().err


def test_auto_merge_is_refused_not_ignored(
    report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["promote", str(report_dir), "--model", "m", "--model-version", "1", "--auto-merge"]
    assert main(*argv) == 2
    err = capsys.readouterr().err
    assert "--auto-merge is not supported" in err
    assert "a merge made by the workflow's GITHUB_TOKEN starts no deploy" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "which model version? pass --model-version"),
        (["--model-version", "1", "--alias", "latest"], 'alias: "latest" is not allowed'),
        (["--model-version", "1", "--mlflow-url", "ftp://x"], "is not an http(s) URL"),
        (["--model-version", "1..2"], "cannot be part of a branch name"),
    ],
    ids=["no-version", "reserved-alias", "bad-mlflow-url", "bad-version"],
)
def test_usage_errors_exit_2(
    report_dir: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main("promote", str(report_dir), "--model", "m", *extra) == 2
    assert message in capsys.readouterr().err


def test_missing_token_is_a_usage_error(
    report_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 2
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err


def test_dry_run_prints_manifest_and_body(
    report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["promote", str(report_dir), "--model", "adult-income", "--model-version", "7"]
    assert main(*argv, "--dry-run", "--mlflow-url", "https://user:secret@mlflow.example") == 0
    out = capsys.readouterr().out
    assert out.startswith("# deploy/adult-income.yaml on branch mlops-gates/promote/adult-income/7")
    assert "model:\n  name: adult-income\n  version: '7'" in out
    assert "**✅ Ready to promote:**" in out
    assert "https://mlflow.example/#/models/adult-income/versions/7" in out
    assert "secret" not in out, "credentials in a tracking URI are never published"


def test_github_failure_exits_1(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.read_only = True
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 1
    err = capsys.readouterr().err
    assert "403" in err and gh.token not in err


def test_comment_is_sticky(
    gh: GitHubDouble, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 0
    assert main("comment", "--pr", "1", str(report_dir)) == 0
    assert main("comment", "--pr", "1", str(report_dir)) == 0
    (report_dir / "report.md").unlink()  # rendered from report.json when report.md is gone
    assert main("comment", "--pr", "1", str(report_dir)) == 0
    out = capsys.readouterr().out
    assert "created the report comment on #1" in out
    assert "unchanged the report comment on #1" in out and "updated the report comment" in out
    [comment] = gh.repo.comments.values()
    assert "mlops-gates: PASS" in comment.body
    assert main("comment", "--pr", "7", str(report_dir)) == 1
    assert "pull request #7 not found" in capsys.readouterr().err


def test_two_configs_on_one_pull_request_keep_two_comments(
    gh: GitHubDouble, report_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 0
    other = tmp_path / "other-report"
    other.mkdir()
    doc = json.loads((report_dir / "report.json").read_text())
    doc["context"]["config_path"] = "models/other/mlops-gates.yaml"
    (other / "report.json").write_text(json.dumps(doc))
    (other / "report.md").write_text("## ❌ mlops-gates: FAIL\n")
    assert main("comment", "--pr", "1", str(report_dir)) == 0
    assert main("comment", "--pr", "1", str(other)) == 0
    assert main("comment", "--pr", "1", str(report_dir)) == 0
    assert main("comment", "--pr", "1", "--key", "nightly", str(other)) == 0
    out = capsys.readouterr().out
    assert out.count("created the report comment on #1") == 3
    bodies = sorted(c.body for c in gh.repo.comments.values())
    assert len(bodies) == 3
    assert [b.split("\n", 1)[0] for b in bodies] == [
        "<!-- mlops-gates:report key=examples/adult/mlops-gates.yaml -->",
        "<!-- mlops-gates:report key=models/other/mlops-gates.yaml -->",
        "<!-- mlops-gates:report key=nightly -->",
    ]
    assert "PASS" in bodies[0] and "FAIL" in bodies[1] and "FAIL" in bodies[2]


def test_a_failed_review_request_warns_and_the_rerun_asks_again(
    gh: GitHubDouble,
    report_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    args = (str(report_dir), "--model", "m", "--model-version", "1", "--reviewer", "alice")
    gh.fail("POST", r"/requested_reviewers$", 503, times=10)
    assert main("promote", *args) == 0, "the pull request is open: exit 0, with a warning"
    out, err = capsys.readouterr()
    assert "opened pull request #1" in out
    assert "::warning title=mlops-gates::requesting a review from alice on #1 failed" in out
    assert "mlops-gates: warning: requesting a review from alice on #1 failed" in err
    assert gh.repo.pulls[1].reviewers == []
    gh.faults.clear()
    assert main("promote", *args) == 0
    out, err = capsys.readouterr()
    assert "updated pull request #1" in out and "warning" not in out + err
    assert gh.repo.pulls[1].reviewers == ["alice"]


def test_importing_the_commands_loads_nothing_heavy() -> None:
    code = (
        "import sys, mlops_gates.cli.promote, mlops_gates.promote, mlops_gates.promote.pr,"
        " mlops_gates.promote.comment, mlops_gates.github, mlops_gates.cli.alerts;"
        "heavy = {'github', 'jinja2', 'yaml', 'jsonschema', 'requests', 'pandas', 'numpy'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docs_list_every_option_and_no_other() -> None:
    import re

    page = (Path(__file__).parents[2] / "docs" / "promotion.md").read_text()
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", page))
    sub = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    actual = {
        opt
        for command in ("promote", "comment", "promotion-status")
        for action in sub[command]._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }
    assert actual <= documented, f"undocumented: {sorted(actual - documented)}"
    others = {"--report-dir", "--auto"}  # of `mlops-gates check` and `gh pr merge`
    assert documented <= actual | others, sorted(documented - actual)


def test_a_report_of_an_unknown_format_is_refused(
    report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((report_dir / "report.json").read_text())
    doc["schema_version"] = 2
    (report_dir / "report.json").write_text(json.dumps(doc))
    assert main("promote", str(report_dir), "--model", "m", "--model-version", "1") == 1
    assert "report schema_version 2 is not one this mlops-gates reads" in capsys.readouterr().err
