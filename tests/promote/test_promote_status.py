"""The promotion pull request carries its verdict: `promote` sets the commit status
`mlops-gates/promotion` on the head, and with "Require status checks to pass" on, a pull
request opened by the workflow token merges only through it, and only when the report
passed. Against the GitHub double over real HTTP, every request checked against GitHub's
OpenAPI description."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github import GithubException
from github_double import GitHubDouble, HTTPError

from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient, RetryPolicy
from mlops_gates.promote.manifest import dump_manifest, parse_manifest
from mlops_gates.promote.plan import PromoteOptions, make_plan
from mlops_gates.promote.pr import mark_refused, promote
from mlops_gates.promote.status import (
    DEFAULT_CONTEXT,
    DESCRIPTION_LIMIT,
    judge_commit,
    run_url_from_env,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
PATH = "deploy/adult-income.yaml"
CONTEXT = "mlops-gates/promotion"
FAST = RetryPolicy(
    total=3, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5, lookup_waits=(0.0,)
)


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        double.protect("main", [CONTEXT])
        yield double
        assert double.violations == [], "\n".join(double.violations)


@pytest.fixture
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "adult-report.json").read_text())
    return data


def failing(doc: dict[str, Any]) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    bad["status"] = "fail"
    bad["gates"][1].update(status="fail")  # accuracy, blocking
    return bad


def client(gh: GitHubDouble, token: str | None = None) -> GitHubClient:
    return GitHubClient(
        gh.repo.full_name,
        token=token or gh.token,
        base_url=gh.base_url,
        retry=FAST,
        throttle=False,
    )


def plan_of(doc: dict[str, Any], **options: Any) -> Any:
    opts = PromoteOptions(model="adult-income", version="7", **options)
    return make_plan(doc, opts, now="2026-11-23T10:00:00Z")


def merge_as_person(gh: GitHubDouble, number: int) -> str:
    """Press the merge button over the API with a collaborator's token; GitHub's answer."""
    person = client(gh, gh.person_token)
    try:
        person.repo.get_pull(number).merge()
        return "merged"
    except GithubException as exc:
        return f"{exc.status} {exc.data['message']}"
    finally:
        person.close()


def test_the_workflow_tokens_pull_request_merges_only_through_promotes_status(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    # Without promote's status (what promote did before): opened, and stuck.
    silent = promote(client(gh), plan_of(doc, status_context=None))
    number = silent.number
    assert silent.status is None
    [opened] = [e for e in gh.repo.events if e.name == "pull_request"]
    assert (opened.action, opened.number, opened.by_workflow_token) == ("opened", number, True)
    assert gh.workflow_events() == [], "the token's events start no gates workflow"
    assert merge_as_person(gh, number) == (f'405 Required status check "{CONTEXT}" is expected.')
    assert gh.repo.pulls[number].state == "open"

    # promote (same candidate, re-run) judges the head and sets the status: mergeable.
    result = promote(client(gh), plan_of(doc))
    assert (result.action, result.number) == ("updated", number)
    head = gh.head_sha(number)
    st = gh.status(head, CONTEXT)
    assert st is not None and st.state == "success"
    assert st.description == (
        f"gates passed for adult-income 7 (36 pass, 7 warn); {PATH} matches the report"
    )
    assert result.status is not None and result.status.sha == head and result.status.posted
    assert gh.mergeable(number)
    assert merge_as_person(gh, number) == "merged"
    # A person's merge starts the deploy workflow (push to main), unlike a token's.
    pushes = gh.workflow_events("push")
    assert [(e.ref, e.actor) for e in pushes] == [("refs/heads/main", gh.person)]
    assert parse_manifest(gh.repo.file("main", PATH).decode())["model"]["version"] == "7"  # type: ignore[union-attr]


def test_a_failing_report_leaves_the_pull_request_blocked(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    number = promote(client(gh), plan_of(doc)).number
    assert number is not None and gh.mergeable(number)
    head = gh.head_sha(number)

    # The candidate is judged again on new data and fails: its open promotion turns red.
    marked = mark_refused(client(gh), plan_of(failing(doc)))
    assert marked is not None and marked.number == number
    st = gh.status(head, CONTEXT)
    assert st is not None and st.state == "failure"
    assert st.description == "adult-income 7: gates run ended 'fail'; blocking: accuracy"
    assert not gh.mergeable(number)
    assert merge_as_person(gh, number) == f'405 Required status check "{CONTEXT}" is failing.'
    # Statuses are append-only; the latest per context is the one that counts.
    assert [s.state for s in gh.repo.statuses if s.sha == head] == ["success", "failure"]
    assert gh.repo.file("main", PATH) is None


def test_a_failing_report_with_no_open_promotion_opens_nothing(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    assert mark_refused(client(gh), plan_of(failing(doc))) is None
    assert gh.repo.pulls == {} and gh.repo.statuses == []
    assert [r.method for r in gh.requests if r.method != "GET"] == []


def test_a_pushed_edit_of_the_manifest_has_no_verdict_until_promote_judges_it(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    first = promote(client(gh), plan_of(doc))
    number = first.number
    assert number is not None
    edited = parse_manifest(gh.repo.file(first.branch, PATH).decode())  # type: ignore[union-attr]
    edited["model"]["version"] = "6"
    with gh._lock:  # a person pushes to the promotion branch
        gh._actor = (gh.person, False)
        commit = gh.repo.commit(first.branch, {PATH: dump_manifest(edited).encode()}, "pin v6")
        gh._pushed(first.branch, commit.sha)
    assert gh.status(commit.sha, CONTEXT) is None and not gh.mergeable(number)
    # A person's push does start workflows (pull_request synchronize).
    assert [e.action for e in gh.workflow_events("pull_request")] == ["synchronize"]

    # The manifest at this commit no longer matches the report: judged red, not green.
    text = gh.repo.file(first.branch, PATH).decode()  # type: ignore[union-attr]
    verdict = judge_commit(plan_of(doc), text)
    assert verdict.state == "failure"
    assert verdict.description == (
        f"{PATH} promotes adult-income 6, but the report judged adult-income 7"
    )
    # promote --force rebuilds the branch from the report; the new head is green.
    again = promote(client(gh), plan_of(doc, force=True))
    assert again.committed and again.status is not None
    assert again.status.sha == gh.head_sha(number) != commit.sha
    assert again.status.verdict.state == "success" and gh.mergeable(number)


def test_rerunning_promote_posts_no_duplicate_status(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    url = "https://github.example/acme/models/actions/runs/42"
    promote(client(gh), plan_of(doc, status_url=url))
    again = promote(client(gh), plan_of(doc, status_url=url))
    assert again.status is not None and not again.status.posted
    assert len(gh.calls("POST", "/statuses/")) == 1
    [st] = gh.repo.statuses
    assert (st.target_url, st.creator) == (url, gh.repo.login)


def test_a_token_without_statuses_write_is_told_so(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    gh.fail("POST", "/statuses/", 403, message="Resource not accessible by integration")
    with pytest.raises(PromotionError) as info:
        promote(client(gh), plan_of(doc))
    assert str(info.value) == (
        f"GitHub refused setting the {CONTEXT} status (403 Resource not accessible by "
        "integration): the token needs `statuses: write` (in a workflow: add it to the "
        f"job's `permissions:`). Pull request #1 is open but carries no {CONTEXT} status, "
        "so branch protection keeps it blocked; run promote again once that is fixed."
    )
    assert not gh.mergeable(1)
    assert promote(client(gh), plan_of(doc)).status is not None and gh.mergeable(1)


def test_the_context_is_configurable_and_can_be_turned_off(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.protect("main", ["models/promotion"])
    result = promote(client(gh), plan_of(doc, status_context="models/promotion"))
    assert result.number is not None and gh.mergeable(result.number)
    assert DEFAULT_CONTEXT == CONTEXT == PromoteOptions(model="m").status_context


def test_the_verdict_needs_the_reports_evidence_in_the_manifest(doc: dict[str, Any]) -> None:
    plan = plan_of(doc)
    text = dump_manifest(plan.manifest)
    assert judge_commit(plan, text).state == "success"
    other = copy.deepcopy(plan.manifest)
    other["digests"]["data"] = "sha256:" + "0" * 64
    other["digests"]["models"]["candidate"] = "sha256:" + "1" * 64
    verdict = judge_commit(plan, dump_manifest(other))
    assert (verdict.state, verdict.description) == (
        "failure",
        f"{PATH}: data, models digest(s) differ from the report's fingerprint",
    )
    assert judge_commit(plan, None).description == f"{PATH} is missing at this commit"
    assert judge_commit(plan, "model: [").state == "failure"
    unjudged = copy.deepcopy(doc)
    for g in unjudged["gates"]:
        g["status"] = "skip"
    assert judge_commit(plan_of(unjudged), text).description == (
        "adult-income 7: the gates run passed without judging anything"
    )


def test_the_description_fits_githubs_limit(doc: dict[str, Any]) -> None:
    bad = failing(doc)
    for i, g in enumerate(bad["gates"]):
        g.update(status="fail", id=f"accuracy-by-slice[occupation=Very-long-name-{i}]")
    verdict = judge_commit(plan_of(bad), None)
    assert len(verdict.description) == DESCRIPTION_LIMIT
    assert verdict.description.endswith("…")


def test_the_details_link_is_the_actions_run() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_RUN_ID": "1234",
    }
    assert run_url_from_env(env) == "https://github.com/acme/models/actions/runs/1234"
    assert run_url_from_env({**env, "GITHUB_RUN_ID": ""}) is None
    assert run_url_from_env({}) is None


def test_the_doubles_merge_button_obeys_branch_protection(gh: GitHubDouble) -> None:
    with gh._lock:
        gh.repo.commit("topic", {"x.txt": b"x"}, "x")
    person = client(gh, gh.person_token)
    try:
        pr = person.repo.create_pull(base="main", head="topic", title="t", body="")
    finally:
        person.close()
    with pytest.raises(HTTPError) as info:
        gh.merge(pr.number)
    assert info.value.status == 405
    assert info.value.body["message"] == f'Required status check "{CONTEXT}" is expected.'
    # A person's pull request starts workflows; the Actions setting does not apply to them.
    assert [e.action for e in gh.workflow_events("pull_request")] == ["opened"]


def test_a_team_the_workflow_token_cannot_see_is_a_warning(doc: dict[str, Any]) -> None:
    with GitHubDouble(teams=("ml-reviewers", "secret-ml"), hidden_teams=("secret-ml",)) as gh:
        plan = plan_of(doc, team_reviewers=("ml-reviewers", "secret-ml"))
        result = promote(client(gh), plan)
        [pr] = gh.open_pulls()
        assert pr.teams == ["ml-reviewers"]
        [warning] = result.warnings
        assert warning.startswith(f"requesting a review from secret-ml on #{pr.number} failed")
        # A person (or an App token with organisation read access) sees the team.
        person = client(gh, gh.person_token)
        try:
            person.repo.get_pull(pr.number).create_review_request(team_reviewers=["secret-ml"])
        finally:
            person.close()
        assert gh.repo.pulls[pr.number].teams == ["ml-reviewers", "secret-ml"]
        assert gh.violations == []
