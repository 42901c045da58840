"""The double's memory: one repository with git objects, refs, pull requests and comments.

Blob SHAs are computed as git computes them, so a test can compare them with `git
hash-object`; commit SHAs only need to be unique and stable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    tree: dict[str, str]  # path -> blob sha
    parents: list[str]
    message: str


@dataclass
class Pull:
    number: int
    title: str
    body: str | None
    head: str  # branch name
    base: str
    user: str
    draft: bool
    created_at: str
    updated_at: str
    head_sha: str  # the head's commit when the branch is gone
    state: str = "open"
    closed_at: str | None = None
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)  # pending review requests
    teams: list[str] = field(default_factory=list)
    reviews: list[tuple[str, str, str]] = field(default_factory=list)  # login, state, time


@dataclass
class DeploymentStatus:
    id: int
    state: str
    description: str
    log_url: str
    environment: str
    created_at: str


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    environment: str
    description: str | None
    payload: dict[str, object]
    production: bool
    created_at: str
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    user: str
    created_at: str
    updated_at: str
    state: str = "open"
    state_reason: str | None = None
    closed_at: str | None = None
    labels: list[str] = field(default_factory=list)


@dataclass
class Dispatch:
    """A workflow_dispatch request: GitHub starts a run; the double records the run (named
    by the workflow's `run-name:` with `${{ inputs.X }}` filled in) without running it."""

    workflow: str
    ref: str
    sha: str
    inputs: dict[str, object]
    run_id: int = 0
    display_title: str = ""
    created_at: str = ""


@dataclass
class Status:
    """One commit status. GitHub keeps every one (append-only); for a context the latest
    wins, and that is what required status checks and the combined status read."""

    id: int
    sha: str
    state: str  # error | failure | pending | success
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str


@dataclass
class Event:
    """A webhook event the repository would deliver, with what caused it. GitHub starts no
    workflow run for an event caused by a workflow's GITHUB_TOKEN (apart from
    workflow_dispatch and repository_dispatch), so `starts_workflows` is False for those."""

    name: str  # pull_request, push, status, ...
    action: str | None  # opened, closed, synchronize; None where GitHub sends none
    ref: str | None
    sha: str | None
    actor: str
    by_workflow_token: bool
    starts_workflows: bool
    number: int | None = None  # the pull request, for pull_request events


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str
    created_at: str
    updated_at: str


class Clock:
    """Deterministic time: every write is one second after the previous one."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def tick(self) -> str:
        self._now += timedelta(seconds=1)
        return self._now.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str = "main"
    login: str = "mlops-bot"  # whose token the tests use
    collaborators: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    blobs: dict[str, bytes] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # name -> id
    deployments: dict[int, Deployment] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)  # pull requests are in `pulls`
    dispatches: list[Dispatch] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)  # oldest first, never removed
    # Branch protection: branch -> contexts that need a `success` on a pull request's head
    # before it may be merged into that branch ("Require status checks to pass").
    required_checks: dict[str, list[str]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    _next_issue: int = 1
    _next_comment: int = 1000

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    # -- git -------------------------------------------------------------------------
    def commit(self, branch: str, files: dict[str, bytes | None], message: str) -> Commit:
        """Commit on `branch` (created from nothing if missing); None deletes a file."""
        ref = f"refs/heads/{branch}"
        parent = self.refs.get(ref)
        tree = dict(self.commits[parent].tree) if parent else {}
        for path, data in files.items():
            if data is None:
                tree.pop(path, None)
            else:
                sha = blob_sha(data)
                self.blobs[sha] = data
                tree[path] = sha
        seed = f"{parent}\n{sorted(tree.items())}\n{message}\n{len(self.commits)}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        c = Commit(sha, tree, [parent] if parent else [], message)
        self.commits[sha] = c
        self.refs[ref] = sha
        return c

    def resolve(self, ref: str | None) -> Commit | None:
        """A branch name, `heads/x`, `refs/heads/x` or a commit sha."""
        name = ref or self.default_branch
        for candidate in (f"refs/heads/{name}", f"refs/{name}", name):
            if candidate in self.refs:
                return self.commits[self.refs[candidate]]
        return self.commits.get(name)

    def file(self, branch: str, path: str) -> bytes | None:
        c = self.resolve(branch)
        if c is None or path not in c.tree:
            return None
        return self.blobs[c.tree[path]]

    def is_ancestor(self, old: str, new: str) -> bool:
        todo = [new]
        while todo:
            sha = todo.pop()
            if sha == old:
                return True
            todo.extend(self.commits[sha].parents)
        return False

    def merge(self, pull: Pull) -> Commit:
        """Merge a pull request the way the merge button does: a merge commit on the base
        holding the head's files, the pull request closed and marked merged."""
        head = self.resolve(pull.head) or self.commits[pull.head_sha]
        base_sha = self.refs[f"refs/heads/{pull.base}"]
        base = self.commits[base_sha]
        changed = {p: self.blobs[b] for p, b in head.tree.items() if base.tree.get(p) != b}
        gone: dict[str, bytes | None] = {p: None for p in base.tree if p not in head.tree}
        merge = self.commit(
            pull.base,
            {**changed, **gone},
            f"Merge pull request #{pull.number} from {self.owner}/{pull.head}",
        )
        merge.parents.append(head.sha)
        stamp = self.clock.tick()
        pull.state, pull.closed_at, pull.merged_at, pull.updated_at = "closed", stamp, stamp, stamp
        pull.merge_commit_sha = merge.sha
        return merge

    # -- statuses ------------------------------------------------------------------------
    def latest_statuses(self, sha: str) -> dict[str, Status]:
        """The latest status per context on commit `sha` (contexts compare case-insensitively,
        as on GitHub; the first spelling is kept)."""
        latest: dict[str, Status] = {}
        for st in self.statuses:
            if st.sha == sha:
                latest[st.context.lower()] = st
        return latest

    def missing_checks(self, pull: Pull) -> list[tuple[str, str]]:
        """The required contexts of `pull`'s base that its head lacks a `success` for, each
        with GitHub's 405 wording ("is expected" when absent or pending, "is failing")."""
        head = self.refs.get(f"refs/heads/{pull.head}", pull.head_sha)
        latest = self.latest_statuses(head)
        missing = []
        for context in self.required_checks.get(pull.base, []):
            st = latest.get(context.lower())
            if st is None or st.state == "pending":
                missing.append((context, "is expected"))
            elif st.state != "success":
                missing.append((context, "is failing"))
        return missing

    # -- issues ----------------------------------------------------------------------
    def next_issue_number(self) -> int:
        n = self._next_issue
        self._next_issue += 1
        return n

    def next_comment_id(self) -> int:
        self._next_comment += 1
        return self._next_comment

    def label_id(self, name: str) -> int:
        return self.labels.setdefault(name, 5000 + len(self.labels))
