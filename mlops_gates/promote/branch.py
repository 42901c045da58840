"""The promotion branch on GitHub: where it points, creating, resetting and deleting it, and
the manifest file read from and committed to it. Calls go through `GitHubClient.api`, so
they share its retries and messages; creating a branch is a write GitHub cannot repeat
safely and goes through `GitHubClient.write_once`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient, error_text

__all__ = [
    "FileInfo",
    "branch_sha",
    "create_branch",
    "delete_branch",
    "put_file",
    "read_file",
    "reset_branch",
]


@dataclass(frozen=True)
class FileInfo:
    """A text file on a branch, with the blob SHA GitHub compares on update."""

    text: str
    sha: str  # blob SHA: what the contents API compares on update


def branch_sha(client: GitHubClient, branch: str) -> str | None:
    """The commit a branch points at, or None when there is no such branch."""
    from github import GithubException  # PyGithub loads with the client

    with client.api(f"reading branch {branch}"):
        try:
            return str(client.repo.get_git_ref(f"heads/{branch}").object.sha)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise


def create_branch(client: GitHubClient, branch: str, sha: str) -> bool:
    """Create `branch` at `sha`; False when it already exists (nothing changed)."""
    from github import GithubException  # PyGithub loads with the client

    def write() -> bool:
        with client.api(f"creating branch {branch}"):
            try:
                client.repo.create_git_ref(f"refs/heads/{branch}", sha)
            except GithubException as exc:
                if exc.status == 422 and "already exists" in error_text(exc):
                    return False
                raise
        return True

    def landed() -> bool | None:
        return True if branch_sha(client, branch) == sha else None

    return client.write_once(f"creating branch {branch}", write, landed)


def reset_branch(client: GitHubClient, branch: str, sha: str) -> None:
    """Point `branch` at `sha`, discarding what it held (our own promotion branch)."""
    with client.api(f"resetting branch {branch}"):
        client.repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)


def delete_branch(client: GitHubClient, branch: str) -> None:
    """Delete `branch`; one that is gone already is what was wanted."""
    from github import GithubException  # PyGithub loads with the client

    with client.api(f"deleting branch {branch}"):
        try:
            client.repo.get_git_ref(f"heads/{branch}").delete()
        except GithubException as exc:
            if exc.status not in (404, 422):  # already gone is what we wanted
                raise


def read_file(client: GitHubClient, path: str, ref: str) -> FileInfo | None:
    """A text file at a branch or commit, or None when it does not exist there."""
    from github import GithubException  # PyGithub loads with the client

    with client.api(f"reading {path} at {ref}"):
        try:
            content = client.repo.get_contents(path, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise
    if isinstance(content, list) or content.type != "file":
        raise PromotionError(f"{path} at {ref} is a directory, not a manifest file")
    # A file that is not UTF-8 is no manifest; it compares unequal and gets replaced.
    text = content.decoded_content.decode("utf-8", errors="replace")
    return FileInfo(text, str(content.sha))


def put_file(
    client: GitHubClient, path: str, *, branch: str, text: str, message: str, sha: str | None
) -> None:
    """Commit `text` to `path` on `branch`. `sha` is the blob being replaced (None for a
    new file): GitHub refuses with 409 when the branch holds something else."""
    from github import GithubException  # PyGithub loads with the client

    with client.api(f"committing {path} to {branch}"):
        try:
            if sha is None:
                client.repo.create_file(path, message, text, branch=branch)
            else:
                client.repo.update_file(path, message, text, sha, branch=branch)
            return
        except GithubException as exc:
            if exc.status not in (409, 422):
                raise
            conflict = exc
    # A retried PUT whose first attempt did land reports a conflict with itself.
    now = read_file(client, path, branch)
    if now is not None and now.text == text:
        return
    raise PromotionError(
        f"{path} on branch {branch} changed while promote was writing it "
        f"({conflict.status} {error_text(conflict)}); someone else is pushing to the "
        "promotion branch. Re-run promote once they are done."
    )
