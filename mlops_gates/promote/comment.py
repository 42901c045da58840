"""The comments mlops-gates keeps on pull requests and issues: the sticky report comment
(found again by `<!-- mlops-gates:report -->`, one per key), and comments that must exist
exactly once however many runs write them at the same moment (`converge_comment`).

Concurrent `comment` runs (or a create whose answer was lost) can each create one; every
run lists again after creating and deletes all but the oldest, so they converge on one.
Pull request comments are issue comments on GitHub: `alerts/` comments on issues with the
same calls.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient
from mlops_gates.promote.body import REPORT_MARKER, render_comment, report_marker
from mlops_gates.promote.pulls import get_pull

__all__ = [
    "CommentInfo",
    "comments",
    "converge_comment",
    "create_comment",
    "default_comment_key",
    "delete_comment",
    "report_markdown",
    "update_comment",
    "upsert_comment",
]


@dataclass(frozen=True)
class CommentInfo:
    """A comment on an issue or pull request."""

    id: int
    body: str


def comments(client: GitHubClient, number: int) -> list[CommentInfo]:
    """Comments of an issue or pull request, oldest first."""
    url = f"{client.repo.url}/issues/{number}/comments"
    found = client.get_all(url, action=f"reading comments of #{number}")
    return sorted(
        (CommentInfo(int(c["id"]), str(c.get("body") or "")) for c in found),
        key=lambda c: c.id,
    )


def create_comment(
    client: GitHubClient, number: int, body: str, *, known: Collection[int] = ()
) -> CommentInfo:
    """Comment on an issue or pull request once. `known`: ids of the comments that were
    there before (a comment with this exact body among the others is ours, landed)."""

    def write() -> CommentInfo:
        url = f"{client.repo.url}/issues/{number}/comments"
        _, data = client.request(
            "POST", url, action=f"commenting on #{number}", body={"body": body}
        )
        return CommentInfo(int(data["id"]), str(data.get("body") or ""))

    def landed() -> CommentInfo | None:
        mine = [c for c in comments(client, number) if c.body == body and c.id not in known]
        return mine[0] if mine else None

    return client.write_once(f"commenting on #{number}", write, landed)


def delete_comment(client: GitHubClient, comment_id: int) -> None:
    """Delete a comment; one that is gone already is what was wanted."""
    from github import GithubException  # PyGithub loads with the client

    url = f"{client.repo.url}/issues/comments/{comment_id}"
    with client.api(f"deleting comment {comment_id}"):
        try:
            client.requester.requestJsonAndCheck("DELETE", url)
        except GithubException as exc:
            if exc.status != 404:
                raise


def update_comment(client: GitHubClient, comment_id: int, body: str) -> None:
    """Replace the body of comment `comment_id`."""
    with client.api(f"updating comment {comment_id}"):
        # Build the comment from its id instead of fetching it: one request, not two.
        url = f"{client.repo.url}/issues/comments/{comment_id}"
        client.requester.requestJsonAndCheck("PATCH", url, input={"body": body})


# -- the sticky comment -----------------------------------------------------------------
def upsert_comment(
    client: GitHubClient,
    number: int,
    markdown: str,
    *,
    key: str | None = None,
    adopt_unkeyed: bool = False,
) -> Literal["created", "updated", "unchanged"]:
    """Create the report comment for `key` on pull request `number`, or update it in place.

    `adopt_unkeyed`: with no comment for `key` yet, take over a comment an older release
    posted without a key (for the default key, so upgrading leaves no stale comment).
    """
    body = render_comment(markdown, key=key)
    _ = client.repo  # a missing repository is reported as such, not as a missing PR
    try:
        get_pull(client, number)
    except PromotionError as exc:
        if "404" in str(exc):
            raise PromotionError(
                f"pull request #{number} not found in {client.repository}"
            ) from None
        raise
    marker = report_marker(key)
    legacy = REPORT_MARKER if adopt_unkeyed and marker != REPORT_MARKER else None
    action, _ = converge_comment(client, number, marker, body, update=True, legacy=legacy)
    return action


def default_comment_key(doc: dict[str, Any], *, workspace: str | None = None) -> str | None:
    """The sticky comment's key when `--key` is not given: the config path in report.json,
    relative to the workspace (absolute paths differ between runners), else None."""
    context = doc.get("context")
    raw = context.get("config_path") if isinstance(context, dict) else None
    if not isinstance(raw, str) or not raw:
        return None
    path = Path(raw)
    if path.is_absolute():
        for root in (workspace, str(Path.cwd())):
            if root:
                try:
                    return path.relative_to(root).as_posix()
                except ValueError:
                    continue
    return path.as_posix()


def converge_comment(
    client: GitHubClient,
    number: int,
    marker: str,
    body: str,
    *,
    update: bool,
    legacy: str | None = None,
) -> tuple[Literal["created", "updated", "unchanged"], CommentInfo]:
    """Make exactly one comment starting with `marker` on #`number` hold `body` (with
    `update`; else leave an existing one as it is). Runs at the same moment may each
    create one, so after creating the comments are listed again and all but the oldest
    deleted: every run agrees on the oldest, which nobody deletes, so they converge.
    `legacy`: a first line that also counts as ours when no comment has `marker`."""
    before = comments(client, number)
    mine = [c for c in before if c.body.startswith(marker)]
    if not mine and legacy is not None:
        mine = [c for c in before if c.body.split("\n", 1)[0] == legacy]
    action: Literal["created", "updated", "unchanged"] = "unchanged"
    created = None
    if not mine:
        created = create_comment(client, number, body, known={c.id for c in before})
        action = "created"
        mine = [c for c in comments(client, number) if c.body.startswith(marker)] or [created]
    keep, extra = mine[0], mine[1:]
    for dup in extra:
        delete_comment(client, dup.id)
    if update and keep.body != body:
        update_comment(client, keep.id, body)
        keep = replace(keep, body=body)
    if created is not None and keep.id != created.id:
        action = "updated"  # another run's comment is the one kept; it now holds ours
    elif created is None and (extra or keep.body != mine[0].body):
        action = "updated"
    return action, keep


def report_markdown(report_dir: Path) -> str:
    """report.md of a report directory, rendered from report.json when it is missing."""
    md = report_dir / "report.md"
    if md.is_file():
        return md.read_text(encoding="utf-8")
    from mlops_gates.report.markdown import render_markdown
    from mlops_gates.report.writer import read_report

    return render_markdown(read_report(report_dir))
