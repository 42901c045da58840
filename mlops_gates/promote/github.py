"""A small GitHub client over PyGithub: the dozen calls promotion needs, retries, and errors
a person can act on.

Retries (measured on PyGithub 2.10, whose default `GithubRetry` retries 5xx at once with no
backoff, never retries PATCH, and retries 429 only when it carries `Retry-After`):

- 5xx and 429 are retried with exponential backoff on GET, PUT, PATCH and DELETE, which
  GitHub applies idempotently (the same PUT or PATCH twice leaves one effect);
- a POST creates something, and a 5xx or a lost answer does not say whether it did (a proxy
  answers 502 after GitHub acted). Such a POST is never re-sent blindly: `write_once` looks
  the object up again (by a marker or idempotency key the caller chooses) and sends the
  POST again only when it did not land. A POST refused by a rate limit did nothing and is
  retried like any other request;
- secondary rate limits (403 / 429 with a rate-limit message) wait `Retry-After` when given,
  else `secondary_rate_wait`; primary ones wait for `X-RateLimit-Reset`;
- no wait ever exceeds `max_wait`: past it the run stops with a clear message instead of
  blocking a CI job for an hour.

The token is read from the environment, handed to PyGithub and never put in a message.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import github
import requests
from github import Auth, Github, GithubException, GithubRetry

from mlops_gates.errors import PromotionError

DEFAULT_API_URL = "https://api.github.com"
DEPLOYMENT_KEY = "mlops_gates_key"  # in a deployment's payload: which deploy command made it
TOKEN_ENV, API_URL_ENV, REPOSITORY_ENV = "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_REPOSITORY"
PERMISSIONS_HINT = (
    "the token needs `contents: write` and `pull-requests: write` on the repository "
    "(in a workflow: `permissions:` with both)"
)
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
T = TypeVar("T")


class AmbiguousWrite(PromotionError):
    """GitHub answered 5xx, or no answer came: the request may or may not have taken effect."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; the defaults suit a CI job."""

    total: int = 6  # retries after the first attempt
    backoff_factor: float = 1.0  # 0, 2, 4, 8, 16, 32 s between consecutive 5xx retries
    secondary_rate_wait: float = 60.0  # GitHub asks for at least a minute
    max_wait: float = 600.0  # longest single wait for a rate limit
    # After an unclear answer to a POST, when to look for what it would have created
    # (seconds after the answer): GitHub lists a dispatched run a few seconds later.
    lookup_waits: tuple[float, ...] = (0.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class PullInfo:
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


@dataclass(frozen=True)
class FileInfo:
    text: str
    sha: str  # blob SHA: what the contents API compares on update


@dataclass(frozen=True)
class CommentInfo:
    id: int
    body: str


def retry_after_seconds(value: str | None) -> float | None:
    """What a Retry-After header asks for, in seconds (delta or HTTP date), uncapped:
    urllib3 silently caps it at 21600 s, and a message must say the number GitHub sent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _retry(policy: RetryPolicy) -> GithubRetry:
    class CappedRetry(GithubRetry):
        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            # A POST answered 5xx may have landed; `write_once` looks before re-sending.
            if method.upper() == "POST" and status_code >= 500:
                return False
            return bool(super().is_retry(method, status_code, has_retry_after))

        def increment(self, method: str | None = None, *args: Any, **kwargs: Any) -> Any:
            error = kwargs.get("error", args[2] if len(args) > 2 else None)
            # A POST that was sent and then lost its answer (read timeout, reset) is just
            # as ambiguous as a 5xx: hand it to the caller instead of re-sending it.
            if (
                error is not None
                and (method or "").upper() == "POST"
                and self._is_read_error(error)
            ):
                raise error
            return super().increment(method, *args, **kwargs)

        # urllib3 sleeps whatever Retry-After says; a runaway value must not stall a job.
        def get_retry_after(self, response: Any) -> float | None:
            seconds: float | None = super().get_retry_after(response)
            if seconds is not None:
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                seconds = max(seconds, asked or 0.0)
            if seconds is not None and seconds > policy.max_wait:
                raise github.RateLimitExceededExceedsMaxWait(
                    response.status,
                    {"message": f"Retry-After asks for {seconds:g} s"},
                    dict(response.headers),
                    wait=seconds,
                )
            return seconds

    return CappedRetry(
        total=policy.total,
        backoff_factor=policy.backoff_factor,
        backoff_max=60,
        status_forcelist=[429, 500, 502, 503, 504],
        allowed_methods={"GET", "POST", "PUT", "PATCH", "DELETE"},
        secondary_rate_wait=policy.secondary_rate_wait,
        max_rate_limit_wait=policy.max_wait,
        # Out of retries, hand back GitHub's last answer (its message is the useful part)
        # instead of urllib3's bare "too many 502 error responses".
        raise_on_status=False,
    )


class GitHubClient:
    """One repository on one GitHub (github.com or Enterprise)."""

    def __init__(
        self,
        repository: str,
        *,
        token: str,
        base_url: str = DEFAULT_API_URL,
        retry: RetryPolicy | None = RetryPolicy(),
        throttle: bool = True,
        timeout: int = 30,
    ) -> None:
        if not _REPO.match(repository):
            raise PromotionError(
                f"repository {repository!r} is not `owner/name`: pass --repo owner/name "
                f"or set {REPOSITORY_ENV}"
            )
        self.repository = repository
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._policy = retry
        self._attempts = 1 + (retry.total if retry else 0)
        extra: dict[str, Any] = {}
        if not throttle:
            # PyGithub spaces requests (0.25 s) and writes (1 s) by default, which is polite
            # to github.com; tests against a local double turn it off.
            extra = {"seconds_between_requests": 0, "seconds_between_writes": 0}
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=self.base_url,
            timeout=timeout,
            per_page=100,
            retry=_retry(retry) if retry else None,
            **extra,
        )
        self._repo: Any = None
        self._pulls: dict[int, Any] = {}

    @classmethod
    def from_env(
        cls,
        repository: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> GitHubClient:
        """Token from GITHUB_TOKEN, API URL from GITHUB_API_URL (GitHub Enterprise:
        `https://HOST/api/v3`, used as is), repository from the argument or
        GITHUB_REPOSITORY."""
        env = os.environ if environ is None else environ
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            raise PromotionError(
                f"{TOKEN_ENV} is not set: export a token that can write to the repository "
                f"({PERMISSIONS_HINT}); in GitHub Actions pass `${{{{ github.token }}}}`"
            )
        repo = repository or env.get(REPOSITORY_ENV, "").strip()
        if not repo:
            raise PromotionError(
                f"which repository? pass --repo owner/name or set {REPOSITORY_ENV}"
            )
        base_url = env.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
        return cls(repo, token=token, base_url=base_url, **kwargs)

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._gh.close()

    # -- error handling ----------------------------------------------------------------
    @contextmanager
    def _api(self, action: str) -> Iterator[None]:
        try:
            yield
        except GithubException as exc:
            kind = AmbiguousWrite if exc.status >= 500 else PromotionError
            raise kind(self._scrub(self._explain(action, exc))) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise AmbiguousWrite(
                self._scrub(
                    f"cannot reach GitHub at {self.base_url} while {action} "
                    f"({type(exc).__name__}); check {API_URL_ENV} and the network"
                )
            ) from None
        except AssertionError:
            # PyGithub asserts that URLs in responses live under base_url.
            raise PromotionError(
                f"GitHub at {self.base_url} answered with links to another host while "
                f"{action}; {API_URL_ENV} must be the API root (GitHub Enterprise: "
                "https://HOST/api/v3)"
            ) from None

    def _explain(self, action: str, exc: GithubException) -> str:
        status = exc.status
        data = exc.data if isinstance(exc.data, dict) else {}
        message = str(data.get("message") or exc.message or "").strip() or "no message"
        details = []
        for err in data.get("errors") or []:
            if isinstance(err, dict):
                text = err.get("message") or " ".join(
                    str(err[k]) for k in ("resource", "field", "code") if err.get(k)
                )
                details.append(str(text))
            else:
                details.append(str(err))
        what = message + (f": {'; '.join(details)}" if details else "")
        repo = self.repository
        if status == 401:
            return (
                f"GitHub rejected the token while {action} (401 {what}): {TOKEN_ENV} is "
                "missing, mistyped, expired or revoked"
            )
        if isinstance(exc, github.RateLimitExceededException) or _is_rate_limit(message):
            wait = getattr(exc, "wait", None)
            waited = f" it asked to wait {wait:g} s, more than the" if wait else " past the"
            return (
                f"GitHub's rate limit stopped {action} ({status} {what});{waited} "
                "longest wait allowed. Try again later, or use a token with its own limit "
                "(a GitHub App installation token rather than a shared one)"
            )
        if status == 403 and "not permitted to create" in what.lower():
            # No `permissions:` key grants this: it is a repository/organisation setting.
            return (
                f"GitHub refused {action} (403 {what}): the repository does not allow GitHub "
                'Actions to open pull requests. Turn on "Allow GitHub Actions to create and '
                f"approve pull requests\" in {repo}'s Settings > Actions > General (an "
                "organisation's setting can override it), or promote with a GitHub App token"
            )
        if status == 403:
            return f"GitHub refused {action} (403 {what}): {PERMISSIONS_HINT} {repo}"
        if status == 404:
            return (
                f"GitHub answered 404 Not Found while {action}: {repo} does not exist at "
                f"{self.base_url}, or the token cannot see it (GitHub answers 404, not 403, "
                f"for repositories a token has no access to). Check --repo / {REPOSITORY_ENV}, "
                f"{API_URL_ENV} and the token's repository access"
            )
        if status == 422:
            return f"GitHub refused {action} (422 {what})"
        if status >= 500:
            return (
                f"GitHub failed while {action} ({status} {what}) after {self._attempts} "
                "attempts; try again later"
            )
        return f"GitHub answered {status} while {action}: {what}"

    def _scrub(self, text: str) -> str:
        # Belt and braces: messages are built from GitHub's answers, which never echo the
        # token; should one ever do, it is masked (real tokens are 40+ characters).
        return text.replace(self._token, "***") if len(self._token) >= 8 else text

    # -- writes that must land once ----------------------------------------------------
    def write_once(self, action: str, write: Callable[[], T], landed: Callable[[], T | None]) -> T:
        """Send a write GitHub cannot repeat safely (a POST that creates something) so that
        it takes effect once: when the answer is a 5xx or is lost, `landed()` looks for
        what the write would have made (by its marker or idempotency key) and the write is
        sent again only when it is not there. Callers look before the first attempt too."""
        failure: AmbiguousWrite | None = None
        for attempt in range(self._attempts):
            try:
                return write()
            except AmbiguousWrite as exc:
                failure = exc
            found = landed()
            if found is not None:
                return found
            if attempt + 1 < self._attempts and self._policy is not None:
                time.sleep(min(60.0, self._policy.backoff_factor * 2**attempt))
        assert failure is not None
        raise failure

    def look_again(self, find: Callable[[], T | None]) -> T | None:
        """`find()` at the policy's lookup times, for objects GitHub lists with a delay."""
        waits = self._policy.lookup_waits if self._policy is not None else (0.0,)
        for wait in waits:
            time.sleep(wait)
            found = find()
            if found is not None:
                return found
        return None

    def get_all(self, url: str, *, action: str) -> list[Any]:
        """Every item of a paginated list endpoint (absolute `url`), following Link."""
        items: list[Any] = []
        sep = "&" if "?" in url else "?"
        next_url: str | None = f"{url}{sep}per_page=100"
        while next_url:
            headers, data = self.request("GET", next_url, action=action)
            items += data if isinstance(data, list) else []
            next_url = next_link(headers.get("link", "") or headers.get("Link", ""))
        return items

    # -- repository and refs -----------------------------------------------------------
    @property
    def repo(self) -> Any:
        if self._repo is None:
            with self._api(f"reading repository {self.repository}"):
                self._repo = self._gh.get_repo(self.repository)
        return self._repo

    @property
    def default_branch(self) -> str:
        return str(self.repo.default_branch)

    def branch_sha(self, branch: str) -> str | None:
        """The commit a branch points at, or None when there is no such branch."""
        with self._api(f"reading branch {branch}"):
            try:
                return str(self.repo.get_git_ref(f"heads/{branch}").object.sha)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise

    def create_branch(self, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when it already exists (nothing changed)."""

        def write() -> bool:
            with self._api(f"creating branch {branch}"):
                try:
                    self.repo.create_git_ref(f"refs/heads/{branch}", sha)
                except GithubException as exc:
                    if exc.status == 422 and "already exists" in _text(exc):
                        return False
                    raise
            return True

        def landed() -> bool | None:
            return True if self.branch_sha(branch) == sha else None

        return self.write_once(f"creating branch {branch}", write, landed)

    def reset_branch(self, branch: str, sha: str) -> None:
        """Point `branch` at `sha`, discarding what it held (our own promotion branch)."""
        with self._api(f"resetting branch {branch}"):
            self.repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)

    def delete_branch(self, branch: str) -> None:
        with self._api(f"deleting branch {branch}"):
            try:
                self.repo.get_git_ref(f"heads/{branch}").delete()
            except GithubException as exc:
                if exc.status not in (404, 422):  # already gone is what we wanted
                    raise

    # -- files -------------------------------------------------------------------------
    def file(self, path: str, ref: str) -> FileInfo | None:
        """A text file at a branch or commit, or None when it does not exist there."""
        with self._api(f"reading {path} at {ref}"):
            try:
                content = self.repo.get_contents(path, ref=ref)
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise
        if isinstance(content, list) or content.type != "file":
            raise PromotionError(f"{path} at {ref} is a directory, not a manifest file")
        # A file that is not UTF-8 is no manifest; it compares unequal and gets replaced.
        text = content.decoded_content.decode("utf-8", errors="replace")
        return FileInfo(text, str(content.sha))

    def put_file(self, path: str, *, branch: str, text: str, message: str, sha: str | None) -> None:
        """Commit `text` to `path` on `branch`. `sha` is the blob being replaced (None for a
        new file): GitHub refuses with 409 when the branch holds something else."""
        with self._api(f"committing {path} to {branch}"):
            try:
                if sha is None:
                    self.repo.create_file(path, message, text, branch=branch)
                else:
                    self.repo.update_file(path, message, text, sha, branch=branch)
                return
            except GithubException as exc:
                if exc.status not in (409, 422):
                    raise
                conflict = exc
        # A retried PUT whose first attempt did land reports a conflict with itself.
        now = self.file(path, branch)
        if now is not None and now.text == text:
            return
        raise PromotionError(
            f"{path} on branch {branch} changed while promote was writing it "
            f"({conflict.status} {_text(conflict)}); someone else is pushing to the "
            "promotion branch. Re-run promote once they are done."
        )

    # -- pull requests -----------------------------------------------------------------
    def _info(self, pr: Any) -> PullInfo:
        self._pulls[int(pr.number)] = pr
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

    def _pull(self, number: int) -> Any:
        if number not in self._pulls:
            with self._api(f"reading pull request #{number}"):
                self._pulls[number] = self.repo.get_pull(number)
        return self._pulls[number]

    def open_pulls(self, *, base: str, head_prefix: str = "") -> list[PullInfo]:
        """Open pull requests into `base` from branches of this repository whose name
        starts with `head_prefix`, newest first."""
        with self._api(f"listing open pull requests into {base}"):
            pulls = [
                self._info(pr)
                for pr in self.repo.get_pulls(state="open", base=base, sort="created")
            ]
        mine = [
            p
            for p in pulls
            if p.head_ref.startswith(head_prefix)
            and (p.head_repo or "").lower() == self.repository.lower()
        ]
        return sorted(mine, key=lambda p: -p.number)

    def get_pull(self, number: int) -> PullInfo:
        return self._info(self._pull(number))

    def create_pull(
        self, *, base: str, head: str, title: str, body: str, draft: bool
    ) -> PullInfo | None:
        """Open a pull request; None when one is already open for `head` (a concurrent or
        retried run opened it), so the caller can look it up and update it."""

        def write() -> PullInfo | None:
            with self._api(f"opening a pull request from {head} into {base}"):
                try:
                    pr = self.repo.create_pull(
                        base=base, head=head, title=title, body=body, draft=draft
                    )
                except GithubException as exc:
                    if exc.status == 422 and "already exists" in _text(exc):
                        return None
                    raise
            return self._info(pr)

        def landed() -> PullInfo | None:
            return next((p for p in self.open_pulls(base=base) if p.head_ref == head), None)

        return self.write_once(f"opening a pull request from {head}", write, landed)

    def update_pull(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> None:
        fields = {k: v for k, v in (("title", title), ("body", body), ("state", state)) if v}
        with self._api(f"updating pull request #{number}"):
            self._pull(number).edit(**fields)

    def add_labels(self, number: int, labels: list[str]) -> None:
        if not labels:
            return

        def write() -> bool:
            with self._api(f"labelling pull request #{number}"):
                # PullRequest.add_to_labels() sends a bare JSON array, which GitHub accepts
                # but its published API description does not; send the documented object.
                self._gh.requester.requestJsonAndCheck(
                    "POST",
                    f"{self._pull(number).issue_url}/labels",
                    input={"labels": labels},
                )
            return True

        # Adding labels that are there already changes nothing: sending it again is safe.
        self.write_once(f"labelling pull request #{number}", write, lambda: None)

    def review_state(self, number: int) -> ReviewState:
        """Who is asked to review pull request `number` now, and who has reviewed it (read
        fresh: a review answers its request, which then leaves the requested lists)."""
        action = f"reading the reviews of pull request #{number}"
        _, pull = self.request("GET", f"{self.repo.url}/pulls/{number}", action=action)
        reviews = self.get_all(f"{self.repo.url}/pulls/{number}/reviews", action=action)
        pull = pull if isinstance(pull, dict) else {}

        def logins(items: Any, key: str) -> frozenset[str]:
            found = (i.get(key) for i in items or () if isinstance(i, dict))
            return frozenset(str(x).lower() for x in found if x)

        return ReviewState(
            users=logins(pull.get("requested_reviewers"), "login"),
            teams=logins(pull.get("requested_teams"), "slug"),
            reviewed=logins([r.get("user") for r in reviews if isinstance(r, dict)], "login"),
        )

    def request_reviewers(self, number: int, users: list[str], teams: list[str]) -> None:
        if not users and not teams:
            return

        def write() -> bool:
            with self._api(f"requesting reviews on pull request #{number}"):
                self._pull(number).create_review_request(reviewers=users, team_reviewers=teams)
            return True

        # Requesting a review that is pending already changes nothing.
        self.write_once(f"requesting reviews on #{number}", write, lambda: None)

    # -- comments ----------------------------------------------------------------------
    def comments(self, number: int) -> list[CommentInfo]:
        """Comments of an issue or pull request, oldest first."""
        url = f"{self.repo.url}/issues/{number}/comments"
        found = self.get_all(url, action=f"reading comments of #{number}")
        return sorted(
            (CommentInfo(int(c["id"]), str(c.get("body") or "")) for c in found),
            key=lambda c: c.id,
        )

    def create_comment(self, number: int, body: str, *, known: Collection[int] = ()) -> CommentInfo:
        """Comment on an issue or pull request once. `known`: ids of the comments that were
        there before (a comment with this exact body among the others is ours, landed)."""

        def write() -> CommentInfo:
            url = f"{self.repo.url}/issues/{number}/comments"
            _, data = self.request(
                "POST", url, action=f"commenting on #{number}", body={"body": body}
            )
            return CommentInfo(int(data["id"]), str(data.get("body") or ""))

        def landed() -> CommentInfo | None:
            mine = [c for c in self.comments(number) if c.body == body and c.id not in known]
            return mine[0] if mine else None

        return self.write_once(f"commenting on #{number}", write, landed)

    def delete_comment(self, comment_id: int) -> None:
        """Delete a comment; one that is gone already is what was wanted."""
        url = f"{self.repo.url}/issues/comments/{comment_id}"
        with self._api(f"deleting comment {comment_id}"):
            try:
                self._gh.requester.requestJsonAndCheck("DELETE", url)
            except GithubException as exc:
                if exc.status != 404:
                    raise

    def update_comment(self, comment_id: int, body: str) -> None:
        with self._api(f"updating comment {comment_id}"):
            # Build the comment from its id instead of fetching it: one request, not two.
            url = f"{self.repo.url}/issues/comments/{comment_id}"
            self._gh.requester.requestJsonAndCheck("PATCH", url, input={"body": body})

    # -- raw calls -----------------------------------------------------------------------
    def request(
        self, method: str, url: str, *, action: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """One REST call (absolute `url`) under this client's retries and error messages;
        (response headers, decoded JSON). For endpoints PyGithub has no object for."""
        with self._api(action):
            headers, data = self._gh.requester.requestJsonAndCheck(method, url, input=body)
        return dict(headers), data

    # -- deployments -------------------------------------------------------------------
    def create_deployment(
        self,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: dict[str, Any],
        key: str,
    ) -> int:
        """Record a deployment of `ref`; its id. The merge decided the deploy, so GitHub
        is told not to wait for status checks or merge the default branch in. `key` goes
        into the payload: a deployment carrying it is this one, landed."""
        body: dict[str, Any] = {
            "ref": ref,
            "auto_merge": False,
            "required_contexts": [],
            "payload": {**payload, DEPLOYMENT_KEY: key},
            "environment": environment,
            "description": description,
            "production_environment": environment == "production",
        }
        action = f"creating a deployment to {environment}"

        def write() -> int:
            _, data = self.request("POST", f"{self.repo.url}/deployments", action=action, body=body)
            return int(data["id"])

        def landed() -> int | None:
            query = urlencode({"ref": ref, "environment": environment})
            url = f"{self.repo.url}/deployments?{query}"
            _, data = self.request("GET", url, action=f"listing deployments to {environment}")
            for dep in data or []:
                carried = dep.get("payload")
                if isinstance(carried, dict) and carried.get(DEPLOYMENT_KEY) == key:
                    return int(dep["id"])
            return None

        found = landed()  # a re-run of the same command reuses its record
        return found if found is not None else self.write_once(action, write, landed)

    def deployment_status(
        self, deployment_id: int, state: str, *, description: str, log_url: str | None
    ) -> None:
        body: dict[str, Any] = {"state": state, "description": description[:140]}
        if log_url:
            body["log_url"] = log_url
        url = f"{self.repo.url}/deployments/{deployment_id}/statuses"
        action = f"adding status '{state}' to deployment {deployment_id}"

        def write() -> bool:
            self.request("POST", url, action=action, body=body)
            return True

        def landed() -> bool | None:
            _, data = self.request("GET", url, action=f"reading deployment {deployment_id}")
            latest = (data or [None])[0]  # newest first
            if not isinstance(latest, dict):
                return None
            same = (latest.get("state"), latest.get("description")) == (state, body["description"])
            return True if same else None

        self.write_once(action, write, landed)

    def pulls_for_commit(self, sha: str) -> list[int]:
        """Numbers of the merged pull requests that produced commit `sha` (a merge)."""
        with self._api(f"finding the pull request of commit {sha[:12]}"):
            _, data = self._gh.requester.requestJsonAndCheck(
                "GET", f"{self.repo.url}/commits/{sha}/pulls"
            )
        return [int(p["number"]) for p in data or [] if p.get("merged_at")]


def next_link(link: str) -> str | None:
    """The `rel="next"` URL of a Link header, if any."""
    m = re.search(r'<([^>]+)>;\s*rel="next"', link)
    return m.group(1) if m else None


def _text(exc: GithubException) -> str:
    return str(exc.data) if exc.data is not None else str(exc.message or "")


def _is_rate_limit(message: str) -> bool:
    m = message.lower()
    return "rate limit" in m or m.endswith("please wait a few minutes before you try again.")
