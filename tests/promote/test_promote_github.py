"""Promotion against a GitHub double over real HTTP (127.0.0.1), every request and response
checked against GitHub's OpenAPI description; outcomes asserted on the double's state."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github_double import GitHubDouble
from github_double.state import Repo, blob_sha

from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient, RetryPolicy
from mlops_gates.promote.body import REPORT_MARKER, parse_marker, report_marker
from mlops_gates.promote.comment import create_comment, default_comment_key, upsert_comment
from mlops_gates.promote.manifest import dump_manifest, parse_manifest
from mlops_gates.promote.plan import PromoteOptions, make_plan
from mlops_gates.promote.pr import SUPERSEDED_MARKER, promote

FIXTURES = Path(__file__).parents[1] / "fixtures"
PATH = "deploy/adult-income.yaml"
# Real backoff shapes, test-sized waits; PyGithub's politeness throttle off (tests only).
FAST = RetryPolicy(
    total=3, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5, lookup_waits=(0.0,)
)
SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
        assert double.violations == [], "\n".join(double.violations)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "adult-report.json").read_text())
    return data


def client(gh: GitHubDouble, **kw: Any) -> GitHubClient:
    args: dict[str, Any] = dict(token=gh.token, base_url=gh.base_url, retry=FAST, throttle=False)
    args.update(kw)
    return GitHubClient(gh.repo.full_name, **args)


def run(
    gh: GitHubDouble,
    doc: dict[str, Any],
    version: str = "7",
    now: str = "2026-11-23T10:00:00Z",
    **options: Any,
) -> Any:
    plan = make_plan(doc, PromoteOptions(model="adult-income", version=version, **options), now=now)
    return promote(client(gh), plan)


def branch_manifest(repo: Repo, branch: str) -> dict[str, Any]:
    data = repo.file(branch, PATH)
    assert data is not None, f"{PATH} is not on {branch}"
    return parse_manifest(data.decode())


# -- the happy paths --------------------------------------------------------------------
def test_first_promotion_opens_one_pull_request(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    result = run(
        gh,
        doc,
        labels=("model-promotion",),
        reviewers=("alice",),
        team_reviewers=("ml-reviewers",),
        draft=True,
    )
    assert result.action == "opened" and result.committed
    [pr] = gh.open_pulls()
    assert (pr.number, pr.head, pr.base) == (
        result.number,
        "mlops-gates/promote/adult-income/7",
        "main",
    )
    assert pr.title == "Promote adult-income 7 to production"
    assert pr.draft and pr.labels == ["model-promotion"]
    assert (pr.reviewers, pr.teams) == (["alice"], ["ml-reviewers"])
    assert result.url == f"{gh.root}/acme/models/pull/{pr.number}"
    assert parse_marker(pr.body or "") == {
        "model": "adult-income",
        "version": "7",
        "base-blob": "none",
    }
    m = branch_manifest(gh.repo, pr.head)
    assert m["model"]["version"] == "7" and m["gates"]["status"] == "pass"
    assert gh.repo.file("main", PATH) is None  # main changes only when the PR is merged


def test_promoting_twice_updates_the_one_pull_request(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    first = run(gh, doc, now="2026-11-23T10:00:00Z")
    puts = len(gh.calls("PUT", "/contents/"))
    second = run(
        gh, doc, now="2026-11-23T11:00:00Z", labels=("model-promotion",), reviewers=("bob",)
    )
    assert (second.action, second.number) == ("updated", first.number)
    assert not second.committed, "same candidate: the manifest commit is kept"
    assert len(gh.calls("PUT", "/contents/")) == puts
    assert len(gh.repo.pulls) == 1 and len(gh.open_pulls()) == 1
    assert gh.repo.pulls[first.number].labels == ["model-promotion"]
    # bob was added to the workflow after the first run: asked now, and only once.
    assert [r.body for r in gh.calls("POST", "/requested_reviewers")] == [
        {"reviewers": ["bob"], "team_reviewers": []}
    ]
    run(gh, doc, now="2026-11-23T12:00:00Z", reviewers=("bob",))
    assert len(gh.calls("POST", "/requested_reviewers")) == 1, "no re-request when present"
    # A new timestamp alone is not a reason for a new commit.
    assert branch_manifest(gh.repo, first.branch)["promoted_at"] == "2026-11-23T10:00:00Z"


def test_new_evidence_for_the_same_candidate_rewrites_its_manifest(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    first = run(gh, doc)
    newer = copy.deepcopy(doc)
    newer["fingerprint"]["data"] = "sha256:" + "f" * 64
    newer["started_at"] = "2026-11-24T00:00:00+00:00"
    second = run(gh, newer, now="2026-11-24T01:00:00Z")
    assert (second.action, second.number, second.committed) == ("updated", first.number, True)
    assert len(gh.repo.pulls) == 1
    m = branch_manifest(gh.repo, first.branch)
    assert m["digests"]["data"] == "sha256:" + "f" * 64
    # One commit on top of main: the branch was rebuilt, not stacked.
    head = gh.repo.resolve(first.branch)
    assert head is not None and head.parents == [gh.repo.refs["refs/heads/main"]]


def test_a_newer_candidate_supersedes_the_older_pull_requests(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    v6 = run(gh, doc, version="6")
    v7 = run(gh, doc, version="7")
    # Another model's promotion is none of this run's business.
    other = make_plan(doc, PromoteOptions(model="churn", version="3"), now="2026-11-23T10:00:00Z")
    churn = promote(client(gh), other)
    v8 = run(gh, doc, version="8")

    assert v8.action == "opened" and v8.superseded == [v7.number]
    assert v7.superseded == [v6.number]
    open_heads = sorted(p.head for p in gh.open_pulls())
    assert open_heads == ["mlops-gates/promote/adult-income/8", "mlops-gates/promote/churn/3"]
    closed = gh.repo.pulls[v7.number]
    assert closed.state == "closed"
    [note] = [c for c in gh.repo.comments.values() if c.issue == v7.number]
    assert note.body.startswith(f"{SUPERSEDED_MARKER}\nSuperseded by #{v8.number} (adult-income 8)")
    assert "refs/heads/mlops-gates/promote/adult-income/7" not in gh.repo.refs
    assert gh.repo.pulls[churn.number].state == "open"


def test_nothing_to_do_when_the_base_already_deploys_the_candidate(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    plan = make_plan(
        doc, PromoteOptions(model="adult-income", version="7"), now="2026-01-01T00:00:00Z"
    )
    gh.repo.commit("main", {PATH: dump_manifest(plan.manifest).encode()}, "deploy 7")
    result = run(gh, doc, version="7")
    assert result.action == "unchanged" and "already promotes adult-income 7" in result.message
    assert gh.repo.pulls == {}


def test_promotion_replaces_an_existing_manifest(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    plan6 = make_plan(
        doc, PromoteOptions(model="adult-income", version="6"), now="2026-01-01T00:00:00Z"
    )
    text6 = dump_manifest(plan6.manifest).encode()
    gh.repo.commit("main", {PATH: text6}, "deploy 6")
    result = run(gh, doc, version="7")
    [put] = gh.calls("PUT", "/contents/")
    assert put.body["sha"] == blob_sha(text6), "the update names the blob it replaces"
    pr = gh.repo.pulls[result.number]
    assert parse_marker(pr.body or "")["base-blob"] == blob_sha(text6)


# -- the base branch changes under us -----------------------------------------------------
def test_manifest_edited_on_base_since_the_pr_is_not_overwritten(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    first = run(gh, doc)
    body_before = gh.repo.pulls[first.number].body
    hotfix = b"# rolled back by hand\n"
    gh.repo.commit("main", {PATH: hotfix}, "hotfix: roll back")

    with pytest.raises(PromotionError) as info:
        run(gh, doc)
    message = str(info.value)
    assert f"{PATH} changed on main since pull request #{first.number}" in message
    assert f"none -> {blob_sha(hotfix)[:10]}" in message and "--force" in message
    assert gh.repo.pulls[first.number].body == body_before

    forced = run(gh, doc, force=True)
    assert (forced.action, forced.number, forced.committed) == ("updated", first.number, True)
    put = gh.calls("PUT", "/contents/")[-1]
    assert put.body["sha"] == blob_sha(hotfix)
    assert parse_marker(gh.repo.pulls[first.number].body or "")["base-blob"] == blob_sha(hotfix)


def test_manifest_changed_on_base_while_promoting_stops_before_the_pr(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    def someone_pushes(repo: Repo) -> None:
        repo.commit("main", {PATH: b"# edited meanwhile\n"}, "concurrent edit")

    gh.after("PUT", "/contents/deploy/", someone_pushes)
    with pytest.raises(PromotionError, match=f"{PATH} changed on main while promote was running"):
        run(gh, doc)
    assert gh.repo.pulls == {}, "no pull request may carry a manifest built on the old base"
    assert gh.repo.file("main", PATH) == b"# edited meanwhile\n"


def test_a_pr_whose_marker_was_removed_is_not_rebuilt_blindly(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    first = run(gh, doc)
    gh.repo.pulls[first.number].body = "edited by a person"
    with pytest.raises(PromotionError, match="lost its mlops-gates marker"):
        run(gh, doc)
    assert run(gh, doc, force=True).number == first.number


# -- GitHub says "already exists" -------------------------------------------------------------
def test_a_leftover_branch_is_reused(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    branch = "mlops-gates/promote/adult-income/7"
    gh.repo.refs[f"refs/heads/{branch}"] = gh.repo.refs["refs/heads/main"]
    gh.repo.commit(branch, {"junk.txt": b"from an interrupted run"}, "junk")
    result = run(gh, doc)
    assert [r.status for r in gh.calls("POST", "/git/refs$")] == [422]
    assert [r.body["force"] for r in gh.calls("PATCH", "/git/refs/")] == [True]
    assert result.action == "opened"
    assert gh.repo.file(branch, "junk.txt") is None
    assert branch_manifest(gh.repo, branch)["model"]["version"] == "7"


def test_a_pr_opened_concurrently_is_updated_not_duplicated(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    branch = "mlops-gates/promote/adult-income/7"

    def another_run_opens_it(repo: Repo) -> None:
        from github_double.state import Pull

        now = repo.clock.tick()
        head = repo.refs[f"refs/heads/{branch}"]
        repo.pulls[50] = Pull(50, "racing", "", branch, "main", "mlops-bot", False, now, now, head)

    gh.after("PUT", "/contents/", another_run_opens_it)
    result = run(gh, doc)
    assert [r.status for r in gh.calls("POST", "/pulls$")] == [422]
    assert (result.action, result.number) == ("updated", 50)
    assert len(gh.open_pulls()) == 1
    assert parse_marker(gh.repo.pulls[50].body or "") is not None


# -- faults: rate limits and outages ------------------------------------------------------
def test_secondary_rate_limit_with_retry_after_is_waited_out(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.fail("POST", "/pulls$", 403, message=SECONDARY, headers={"Retry-After": "1"})
    started = time.monotonic()
    result = run(gh, doc)
    assert time.monotonic() - started >= 1.0, "Retry-After: 1 was not honoured"
    assert [r.status for r in gh.calls("POST", "/pulls$")] == [403, 201]
    assert result.action == "opened" and len(gh.repo.pulls) == 1


def test_429_on_a_patch_is_retried(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    first = run(gh, doc)
    gh.fail("PATCH", "/pulls/", 429, message=SECONDARY, headers={"Retry-After": "0"})
    gh.fail("PATCH", "/pulls/", 429, message=SECONDARY)  # no Retry-After: backoff
    second = run(gh, doc)
    assert [r.status for r in gh.calls("PATCH", "/pulls/")] == [429, 429, 200]
    assert second.number == first.number


def test_secondary_rate_limit_without_retry_after_waits_the_policy(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.fail("GET", "/git/ref/heads/main", 403, message=SECONDARY)
    assert run(gh, doc).action == "opened"
    assert [r.status for r in gh.calls("GET", "/git/ref/heads/main")] == [403, 200]


def test_server_errors_are_retried_on_reads_and_writes(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.fail("GET", f"/contents/{PATH}", 502, times=2)
    gh.fail("PUT", "/contents/", 503)
    gh.fail("POST", "/git/refs$", 500)
    result = run(gh, doc)
    assert result.action == "opened" and len(gh.repo.pulls) == 1
    assert [r.status for r in gh.calls("PUT", "/contents/")] == [503, 201]


def test_a_write_that_landed_before_a_5xx_is_not_a_conflict(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    # The first PUT commits, then the connection "fails": the retry sends the old blob SHA
    # and GitHub answers 409; the file already holds what we wanted, so that is success.
    original = gh._op_repos_create_or_update_file_contents
    calls = {"n": 0}

    def flaky(params: Any, query: Any, body: Any) -> Any:
        calls["n"] += 1
        status, payload, headers = original(params, query, body)
        if calls["n"] == 1:
            return 502, {"message": "Bad gateway", "documentation_url": "x"}, {}
        return status, payload, headers

    gh._op_repos_create_or_update_file_contents = flaky  # type: ignore[method-assign]
    plan6 = make_plan(
        doc, PromoteOptions(model="adult-income", version="6"), now="2026-01-01T00:00:00Z"
    )
    gh.repo.commit("main", {PATH: dump_manifest(plan6.manifest).encode()}, "deploy 6")
    result = run(gh, doc)
    assert [r.status for r in gh.calls("PUT", "/contents/")] == [502, 409]
    assert result.action == "opened"


def test_persistent_outage_gives_up_with_a_clear_message(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.fail("GET", "/git/ref/heads/main", 502, times=10)
    with pytest.raises(PromotionError) as info:
        run(gh, doc)
    assert str(info.value) == (
        "GitHub failed while reading branch main (502 injected) after 4 attempts; try again later"
    )
    assert len(gh.calls("GET", "/git/ref/heads/main")) == 4


def test_a_rate_limit_longer_than_allowed_is_not_waited(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.fail("GET", "/git/ref/heads/main", 429, message=SECONDARY, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(PromotionError, match="GitHub's rate limit stopped reading branch main"):
        run(gh, doc)
    assert time.monotonic() - started < 5


# -- errors a person can act on -----------------------------------------------------------
def test_bad_token_names_the_variable_never_the_value(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    secret = "ghp_wrong_but_secret_123"
    plan = make_plan(doc, PromoteOptions(model="adult-income", version="7"))
    with pytest.raises(PromotionError) as info:
        promote(client(gh, token=secret), plan)
    message = str(info.value)
    assert "401 Bad credentials" in message and "GITHUB_TOKEN" in message
    assert secret not in message and gh.token not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_actions_not_allowed_to_open_pull_requests_names_the_setting(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    """GitHub's 403 here is a repository setting, not a missing `permissions:` key: the
    advice must say which setting, and not send people to edit their workflow."""
    gh.actions_may_create_pulls = False
    with pytest.raises(PromotionError) as info:
        run(gh, doc)
    message = str(info.value)
    assert "403 GitHub Actions is not permitted to create or approve pull requests" in message
    assert (
        '"Allow GitHub Actions to create and approve pull requests" in acme/models\'s '
        "Settings > Actions > General"
    ) in message
    assert "permissions:" not in message and gh.token not in message
    assert gh.open_pulls() == []
    gh.actions_may_create_pulls = True  # turned on: the next run opens it
    assert run(gh, doc).action == "opened"


def test_read_only_token_is_told_which_permissions(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    gh.read_only = True
    with pytest.raises(PromotionError) as info:
        run(gh, doc)
    message = str(info.value)
    assert "GitHub refused creating branch mlops-gates/promote/adult-income/7 (403" in message
    assert "`contents: write` and `pull-requests: write`" in message
    assert gh.token not in message


def test_unknown_repository(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    plan = make_plan(doc, PromoteOptions(model="adult-income", version="7"))
    c = GitHubClient("acme/nope", token=gh.token, base_url=gh.base_url, retry=FAST, throttle=False)
    with pytest.raises(PromotionError, match=r"404 Not Found while reading repository acme/nope"):
        promote(c, plan)


def test_422_carries_githubs_reason(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    result = run(gh, doc, reviewers=("mallory",))
    assert result.action == "opened", (
        "the pull request exists: a review request is no reason to fail"
    )
    [warning] = result.warnings
    assert warning.startswith("requesting a review from mallory on #1 failed: ")
    assert "GitHub refused requesting reviews on pull request #1 (422 Reviews may only be" in (
        warning
    )
    assert warning.endswith("the next promote run asks again.")


# -- review requests converge ------------------------------------------------------------
def test_review_requests_converge_over_runs(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    """A failed request is asked again on the next run, one unknown login does not keep
    the others from being asked, and someone who already reviewed is not re-notified."""
    gh.fail("POST", r"/requested_reviewers$", 500, times=10)  # outlasts the retries
    first = run(gh, doc, reviewers=("alice",), team_reviewers=("ml-reviewers",))
    assert first.action == "opened"
    [warning] = first.warnings
    assert "from alice, ml-reviewers on #1 failed" in warning and "500" in warning
    pr = gh.repo.pulls[first.number]
    assert (pr.reviewers, pr.teams) == ([], [])
    gh.faults.clear()

    # Same evidence, run again: the missing requests are made; mallory cannot be asked.
    again = run(gh, doc, reviewers=("alice", "mallory"), team_reviewers=("ml-reviewers",))
    assert (again.action, again.committed) == ("updated", False)
    assert (pr.reviewers, pr.teams) == (["alice"], ["ml-reviewers"])
    [warning] = again.warnings
    assert "from mallory on #1 failed" in warning and "422" in warning

    # alice approves for the team; a re-run with the same evidence leaves her alone ...
    gh.review(first.number, "alice", team="ml-reviewers")
    asked = len(gh.calls("POST", r"/requested_reviewers$"))
    quiet = run(gh, doc, reviewers=("alice", "bob"), team_reviewers=("ml-reviewers",))
    assert quiet.warnings == []
    assert [r.body for r in gh.calls("POST", r"/requested_reviewers$")[asked:]] == [
        {"reviewers": ["bob"], "team_reviewers": []}
    ]
    assert (pr.reviewers, pr.teams) == (["bob"], [])

    # ... and new evidence (another config digest) asks everyone to look again.
    changed = copy.deepcopy(doc)
    changed["fingerprint"]["data"] = "sha256:" + "e" * 64
    fresh = run(gh, changed, reviewers=("alice", "bob"), team_reviewers=("ml-reviewers",))
    assert fresh.committed and fresh.warnings == []
    assert (sorted(pr.reviewers), pr.teams) == (["alice", "bob"], ["ml-reviewers"])


def test_missing_base_branch(gh: GitHubDouble, doc: dict[str, Any]) -> None:
    with pytest.raises(PromotionError, match="base branch 'release' not found in acme/models"):
        run(gh, doc, base="release")


def test_from_env_uses_the_enterprise_url_as_given(gh: GitHubDouble) -> None:
    env = {
        "GITHUB_TOKEN": gh.token,
        "GITHUB_API_URL": gh.base_url,
        "GITHUB_REPOSITORY": "acme/models",
    }
    c = GitHubClient.from_env(environ=env, retry=FAST, throttle=False)
    assert c.base_url == gh.base_url and gh.base_url.endswith("/api/v3")
    assert c.default_branch == "main"
    assert all(r.path.startswith("/repos/") for r in gh.requests)
    with pytest.raises(PromotionError, match="GITHUB_TOKEN is not set"):
        GitHubClient.from_env(environ={"GITHUB_REPOSITORY": "acme/models"})
    with pytest.raises(PromotionError, match="pass --repo owner/name or set GITHUB_REPOSITORY"):
        GitHubClient.from_env(environ={"GITHUB_TOKEN": "x"})
    with pytest.raises(PromotionError, match="is not `owner/name`"):
        GitHubClient.from_env("just-a-name", environ={"GITHUB_TOKEN": "x"})


def test_unreachable_github(doc: dict[str, Any]) -> None:
    with GitHubDouble() as stopped:
        url = stopped.base_url
    c = GitHubClient(
        "acme/models", token="ghs_" + "x" * 36, base_url=url, retry=None, throttle=False, timeout=2
    )
    with pytest.raises(PromotionError, match=f"cannot reach GitHub at {url}"):
        _ = c.default_branch


# -- the sticky comment -------------------------------------------------------------------
def test_sticky_comment_is_created_then_updated_in_place(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    number = run(gh, doc).number
    c = client(gh)
    for i in range(105):  # the marker comment must be found past the first page
        create_comment(c, number, f"chatter {i}")
    assert upsert_comment(c, number, "## run 1\n") == "created"
    assert upsert_comment(client(gh), number, "## run 2\n") == "updated"
    assert upsert_comment(client(gh), number, "## run 2\n") == "unchanged"
    sticky = [x for x in gh.repo.comments.values() if x.body.startswith(REPORT_MARKER)]
    assert len(sticky) == 1 and "## run 2" in sticky[0].body
    assert len(gh.calls("GET", "/comments")) >= 4, "pagination was followed"


def test_two_keys_keep_two_comments_and_the_unkeyed_one_is_taken_over(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    """Two models gated on one pull request: each config's report keeps its own comment.
    A comment an older release posted without a key is reused for the default key."""
    number = run(gh, doc).number
    c = client(gh)
    old = create_comment(c, number, f"{REPORT_MARKER}\nreport of an older release")
    a, b = "models/a/mlops-gates.yaml", "models/b/mlops-gates.yaml"
    assert upsert_comment(c, number, "## model a, run 1\n", key=a, adopt_unkeyed=True) == (
        "updated"
    )
    assert upsert_comment(c, number, "## model b, run 1\n", key=b, adopt_unkeyed=True) == (
        "created"
    )
    assert upsert_comment(c, number, "## model a, run 2\n", key=a, adopt_unkeyed=True) == (
        "updated"
    )
    bodies = {x.id: x.body for x in gh.repo.comments.values() if x.issue == number}
    assert len(bodies) == 2, "one comment per key, the old one reused"
    assert bodies[old.id].startswith(report_marker(a) + "\n") and "model a, run 2" in bodies[old.id]
    [other] = [body for i, body in bodies.items() if i != old.id]
    assert other.startswith(report_marker(b) + "\n") and "model b, run 1" in other
    # An explicit key never takes over another report's comment.
    create_comment(c, number, f"{REPORT_MARKER}\nunkeyed again")
    assert upsert_comment(c, number, "## nightly\n", key="nightly") == "created"
    assert sum(x.body.startswith(REPORT_MARKER) for x in gh.repo.comments.values()) == 1


def test_a_key_cannot_end_the_hidden_marker() -> None:
    marker = report_marker("a --> <b>\nc")
    assert marker.startswith("<!-- mlops-gates:report key=") and marker.endswith(" -->")
    assert marker.count(">") == 1 and "\n" not in marker and "<b" not in marker
    assert report_marker("a") != report_marker("ab") and report_marker(None) == REPORT_MARKER


def test_the_default_key_is_the_config_path_relative_to_the_workspace(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    assert default_comment_key(doc) == "examples/adult/mlops-gates.yaml"
    absolute = copy.deepcopy(doc)
    absolute["context"]["config_path"] = str(tmp_path / "models" / "a.yaml")
    assert default_comment_key(absolute, workspace=str(tmp_path)) == "models/a.yaml"
    assert default_comment_key({"context": {}}) is None


def test_comment_on_a_missing_pull_request(gh: GitHubDouble) -> None:
    with pytest.raises(PromotionError, match="pull request #99 not found in acme/models"):
        upsert_comment(client(gh), 99, "report")


# -- every write lands once ---------------------------------------------------------------
def _sticky(gh: GitHubDouble, number: int) -> list[Any]:
    return sorted(
        (
            c
            for c in gh.repo.comments.values()
            if c.issue == number and c.body.startswith(REPORT_MARKER)
        ),
        key=lambda c: c.id,
    )


def test_a_sticky_comment_that_landed_but_answered_502_is_created_once(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    number = run(gh, doc).number
    gh.fail("POST", r"/issues/\d+/comments$", 502, landed=True)
    assert upsert_comment(client(gh), number, "## run 1\n") == "created"
    assert len(_sticky(gh, number)) == 1, "the lost answer made a second sticky comment"
    assert [r.status for r in gh.calls("POST", r"/comments$")] == [502]


def test_duplicate_sticky_comments_from_earlier_runs_are_removed(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    number = run(gh, doc).number
    c = client(gh)
    first = create_comment(c, number, f"{REPORT_MARKER}\nold run")
    create_comment(c, number, f"{REPORT_MARKER}\nold run, sent twice")
    assert upsert_comment(c, number, "## run 2\n") == "updated"
    [kept] = _sticky(gh, number)
    assert kept.id == first.id and "## run 2" in kept.body


def test_three_concurrent_comment_runs_leave_one_comment(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    number = run(gh, doc).number
    # All three read the comments before any of them writes: each creates one.
    gh.rendezvous("GET", r"/issues/\d+/comments", 3)
    errors: list[BaseException] = []

    def comment(i: int) -> None:
        try:
            upsert_comment(client(gh), number, f"## run {i}\n")
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=comment, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert len(gh.calls("POST", r"/comments$")) == 3, "the three runs did race"
    [kept] = _sticky(gh, number)
    created = [r for r in gh.calls("POST", r"/comments$")]
    assert len(created) == 3 and all(r.status == 201 for r in created)
    assert kept.body.startswith(REPORT_MARKER) and "## run " in kept.body


def test_writes_that_landed_but_answered_502_happen_once(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    old = run(gh, doc, version="6")
    for method, path in (
        ("POST", r"/git/refs$"),
        ("POST", r"/pulls$"),
        ("POST", r"/labels$"),
        ("POST", r"/requested_reviewers$"),
        ("POST", r"/issues/\d+/comments$"),  # the supersede note on #old
    ):
        gh.fail(method, path, 502, landed=True)
    new = run(gh, doc, version="7", labels=("model-promotion",), reviewers=("alice",))
    assert new.action == "opened" and new.superseded == [old.number]
    assert [p.number for p in gh.open_pulls()] == [new.number]
    assert len(gh.repo.pulls) == 2, "a lost answer opened the pull request twice"
    notes = [c for c in gh.repo.comments.values() if c.issue == old.number]
    assert len(notes) == 1 and notes[0].body.startswith(SUPERSEDED_MARKER)
    pr = gh.repo.pulls[new.number]
    assert (pr.labels, pr.reviewers) == (["model-promotion"], ["alice"])
    assert all(f.times == 0 for f in gh.faults), "every fault was hit"


# -- concurrent promotes of different versions ----------------------------------------------
def _open_promotion(repo: Repo, version: str, doc: dict[str, Any]) -> None:
    """What another promote run does: its branch with the manifest, and its pull request."""
    from github_double.state import Pull

    branch = f"mlops-gates/promote/adult-income/{version}"
    plan = make_plan(
        doc, PromoteOptions(model="adult-income", version=version), now="2026-01-01T00:00:00Z"
    )
    repo.refs[f"refs/heads/{branch}"] = repo.refs["refs/heads/main"]
    head = repo.commit(branch, {PATH: dump_manifest(plan.manifest).encode()}, "promote").sha
    now = repo.clock.tick()
    number = repo.next_issue_number()
    body = plan.body("main", None)
    repo.pulls[number] = Pull(number, plan.title, body, branch, "main", "x", False, now, now, head)


@pytest.mark.parametrize(("mine", "theirs"), [("4", "3"), ("3", "4")], ids=["v4-sees", "v3-sees"])
def test_promotes_racing_leave_only_the_newest_open(
    gh: GitHubDouble, doc: dict[str, Any], mine: str, theirs: str
) -> None:
    """The other run opens its pull request right after this run listed the open ones:
    whichever version this run is, only v4 stays open, and v3 is closed with one note."""
    gh.after("GET", r"/pulls$", lambda repo: _open_promotion(repo, theirs, doc))
    result = run(gh, doc, version=mine)
    [survivor] = gh.open_pulls()
    assert survivor.head == "mlops-gates/promote/adult-income/4"
    [v3] = [p for p in gh.repo.pulls.values() if p.head.endswith("/3")]
    assert v3.state == "closed"
    [note] = [c for c in gh.repo.comments.values() if c.issue == v3.number]
    assert f"Superseded by #{survivor.number} (adult-income 4)" in note.body
    assert result.action == ("superseded" if mine == "3" else "opened")


def test_promotes_of_two_versions_at_once_leave_the_newest(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    gh.rendezvous("GET", r"/pulls$", 2)  # both list before either opens its pull request
    results: dict[str, Any] = {}

    def promote_version(v: str) -> None:
        try:
            results[v] = run(gh, doc, version=v)
        except BaseException as exc:
            results[v] = exc

    threads = [threading.Thread(target=promote_version, args=(v,)) for v in ("3", "4")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(isinstance(r, BaseException) for r in results.values()), results
    [survivor] = gh.open_pulls()
    assert survivor.head.endswith("/4")
    assert results["3"].action == "superseded" or results["4"].superseded


def test_an_older_candidate_never_closes_a_newer_pull_request(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    v8 = run(gh, doc, version="8")
    late = run(gh, doc, version="7")  # a slow training run finishing after a newer one
    assert late.action == "superseded" and late.number == v8.number
    assert "newer than 7" in late.message
    assert [p.number for p in gh.open_pulls()] == [v8.number]
    assert not any(p.head.endswith("/7") for p in gh.repo.pulls.values())


@pytest.mark.parametrize("asked", ["86400", "3600"])
def test_a_long_retry_after_is_reported_as_sent(
    gh: GitHubDouble, doc: dict[str, Any], asked: str
) -> None:
    """urllib3 caps Retry-After at 21600 s; the message must say what GitHub asked for."""
    gh.fail("GET", "/git/ref/heads/main", 429, message=SECONDARY, headers={"Retry-After": asked})
    with pytest.raises(PromotionError) as info:
        run(gh, doc)
    assert f"asked to wait {asked} s" in str(info.value)
    assert "21600" not in str(info.value)


def test_a_comment_whose_answer_never_came_is_not_posted_twice(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    """The connection drops after GitHub acted: urllib3 would re-send the POST as a read
    error; it must be looked up instead."""
    number = run(gh, doc).number
    gh.fail("POST", r"/issues/\d+/comments$", 0, landed=True)
    assert upsert_comment(client(gh), number, "## run 1\n") == "created"
    assert len(_sticky(gh, number)) == 1
    assert len(gh.calls("POST", r"/comments$")) == 1


def test_the_pr_body_says_which_live_version_it_replaces(
    gh: GitHubDouble, doc: dict[str, Any]
) -> None:
    """The base branch's manifest names what is live; the body's first lines say so, and
    warn when the baseline the gates compared with is another version."""
    plan6 = make_plan(
        doc, PromoteOptions(model="adult-income", version="6"), now="2026-11-30T00:00:00Z"
    )
    gh.repo.commit("main", {PATH: dump_manifest(plan6.manifest).encode()}, "deploy 6")
    serving = copy.deepcopy(doc)
    serving["context"]["models"]["baseline"] = {
        "source": "mlflow",
        "uri": "models:/adult-income@production",
        "name": "adult-income",
        "version": "6",
        "aliases": ["production"],
        "deployed": {"production": {"at": "2026-12-01T08:30:00Z", "pr": "12"}},
    }
    result = run(gh, serving, version="7")
    head = (gh.repo.pulls[result.number].body or "").split("### Needs a reviewer")[0]
    assert (
        "- **Replaces:** `adult-income` version `6`, live since 2026-12-01 (deployed in #12)."
        in head
    )
    assert "the live version." in head and "[!WARNING]" not in head

    stale = copy.deepcopy(serving)
    stale["context"]["models"]["baseline"].update(
        uri="models:/adult-income@champion", version="5", aliases=["champion"], deployed={}
    )
    result = run(gh, stale, version="7")
    head = (gh.repo.pulls[result.number].body or "").split("### Needs a reviewer")[0]
    assert "- **Replaces:** `adult-income` version `6`" in head
    assert "not the live version (`6`)" in head and "[!WARNING]" in head
