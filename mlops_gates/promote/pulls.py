"""Pull requests on GitHub, as promotion uses them: listing the open promotions, opening,
updating, labelling, and asking for reviews. PyGithub's pull request objects are kept in
`GitHubClient.cache`, so a pull request read once is not read again to update it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_gates.github import GitHubClient, error_text

__all__ = [
    "PullInfo",
    "ReviewState",
    "add_labels",
    "create_pull",
    "get_pull",
    "open_pulls",
    "request_reviewers",
    "review_state",
    "update_pull",
]


@dataclass(frozen=True)
class PullInfo:
    """The fields of a pull request that promotion decides on."""

    number: int
    title: str
    body: str
    url: str  # the page people open
    head_ref: str
    head_repo: str | None  # "owner/name"; None when the fork is gone
    base_ref: str
    draft: bool


@dataclass(frozen=True)
class ReviewState:
    """A pull request's pending review requests and who reviewed it (logins and team slugs,
    lower case: GitHub compares them case-insensitively)."""

    users: frozenset[str]
    teams: frozenset[str]
    reviewed: frozenset[str]


def _info(client: GitHubClient, pr: Any) -> PullInfo:
    client.cache[("pull", int(pr.number))] = pr
    head_repo = pr.head.repo.full_name if pr.head.repo is not None else None
    return PullInfo(
        number=int(pr.number),
        title=str(pr.title or ""),
        body=str(pr.body or ""),
        url=str(pr.html_url),
        head_ref=str(pr.head.ref),
        head_repo=head_repo,
        base_ref=str(pr.base.ref),
        draft=bool(pr.draft),
    )


def _pull(client: GitHubClient, number: int) -> Any:
    key = ("pull", number)
    if key not in client.cache:
        with client.api(f"reading pull request #{number}"):
            client.cache[key] = client.repo.get_pull(number)
    return client.cache[key]


def open_pulls(client: GitHubClient, *, base: str, head_prefix: str = "") -> list[PullInfo]:
    """Open pull requests into `base` from branches of this repository whose name
    starts with `head_prefix`, newest first."""
    with client.api(f"listing open pull requests into {base}"):
        pulls = [
            _info(client, pr)
            for pr in client.repo.get_pulls(state="open", base=base, sort="created")
        ]
    mine = [
        p
        for p in pulls
        if p.head_ref.startswith(head_prefix)
        and (p.head_repo or "").lower() == client.repository.lower()
    ]
    return sorted(mine, key=lambda p: -p.number)


def get_pull(client: GitHubClient, number: int) -> PullInfo:
    """Pull request `number` (a missing one is a `PromotionError` naming 404)."""
    return _info(client, _pull(client, number))


def create_pull(
    client: GitHubClient, *, base: str, head: str, title: str, body: str, draft: bool
) -> PullInfo | None:
    """Open a pull request; None when one is already open for `head` (a concurrent or
    retried run opened it), so the caller can look it up and update it."""
    from github import GithubException  # PyGithub loads with the client

    def write() -> PullInfo | None:
        with client.api(f"opening a pull request from {head} into {base}"):
            try:
                pr = client.repo.create_pull(
                    base=base, head=head, title=title, body=body, draft=draft
                )
            except GithubException as exc:
                if exc.status == 422 and "already exists" in error_text(exc):
                    return None
                raise
        return _info(client, pr)

    def landed() -> PullInfo | None:
        return next((p for p in open_pulls(client, base=base) if p.head_ref == head), None)

    return client.write_once(f"opening a pull request from {head}", write, landed)


def update_pull(
    client: GitHubClient,
    number: int,
    *,
    title: str | None = None,
    body: str | None = None,
    state: str | None = None,
) -> None:
    """Change the title, body or state ("closed") of pull request `number`."""
    fields = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v}
    with client.api(f"updating pull request #{number}"):
        _pull(client, number).edit(**fields)


def add_labels(client: GitHubClient, number: int, labels: list[str]) -> None:
    """Add `labels` to pull request `number` (labels it has already stay as they are)."""
    if not labels:
        return

    def write() -> bool:
        with client.api(f"labelling pull request #{number}"):
            # PullRequest.add_to_labels() sends a bare JSON array, which GitHub accepts
            # but its published API description does not; send the documented object.
            client.requester.requestJsonAndCheck(
                "POST",
                f"{_pull(client, number).issue_url}/labels",
                input={"labels": labels},
            )
        return True

    # Adding labels that are there already changes nothing: sending it again is safe.
    client.write_once(f"labelling pull request #{number}", write, lambda: None)


def review_state(client: GitHubClient, number: int) -> ReviewState:
    """Who is asked to review pull request `number` now, and who has reviewed it (read
    fresh: a review answers its request, which then leaves the requested lists)."""
    action = f"reading the reviews of pull request #{number}"
    _, pull = client.request("GET", f"{client.repo.url}/pulls/{number}", action=action)
    reviews = client.get_all(f"{client.repo.url}/pulls/{number}/reviews", action=action)
    pull = pull if isinstance(pull, dict) else {}

    def logins(items: Any, key: str) -> frozenset[str]:
        found = (i.get(key) for i in items or () if isinstance(i, dict))
        return frozenset(str(x).lower() for x in found if x)

    return ReviewState(
        users=logins(pull.get("requested_reviewers"), "login"),
        teams=logins(pull.get("requested_teams"), "slug"),
        reviewed=logins([r.get("user") for r in reviews if isinstance(r, dict)], "login"),
    )


def request_reviewers(
    client: GitHubClient, number: int, users: list[str], teams: list[str]
) -> None:
    """Ask `users` and `teams` to review pull request `number`."""
    if not users and not teams:
        return

    def write() -> bool:
        with client.api(f"requesting reviews on pull request #{number}"):
            _pull(client, number).create_review_request(reviewers=users, team_reviewers=teams)
        return True

    # Requesting a review that is pending already changes nothing.
    client.write_once(f"requesting reviews on #{number}", write, lambda: None)
