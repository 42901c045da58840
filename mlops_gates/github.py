"""The one GitHub client of mlops-gates: a PyGithub connection to one repository, retries,
and errors a person can act on. Shared by `promote/`, `deploy/` and `alerts/`, which keep
the calls on GitHub's objects (branches, pull requests, comments, deployments, issues)
they need in their own modules and make them through `GitHubClient.api` /
`GitHubClient.request`, so every call shares these retries and messages.

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
Cheap to import: PyGithub (0.4-0.6 s) loads when a client is made.
"""

from __future__ import annotations

import email.utils
import os
import re
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_gates.errors import PromotionError

if TYPE_CHECKING:
    from github import GithubException, GithubRetry

__all__ = [
    "AmbiguousWrite",
    "GitHubClient",
    "RetryPolicy",
    "error_text",
    "next_link",
    "retry_after_seconds",
]

DEFAULT_API_URL = "https://api.github.com"
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
    import github
    from github import GithubRetry

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
        from github import Auth, Github

        self._gh = Github(
            auth=Auth.Token(token),
            base_url=self.base_url,
            timeout=timeout,
            per_page=100,
            retry=_retry(retry) if retry else None,
            **extra,
        )
        self._repo: Any = None
        # PyGithub objects read once and reused by the callers' modules (a pull request
        # read to update it is not read again), keyed by what they are.
        self.cache: dict[Hashable, Any] = {}

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
    def api(self, action: str) -> Iterator[None]:
        """Run PyGithub calls made while `action` ('reading branch main'): GitHub's refusals
        become a `PromotionError` that says what to do, a 5xx or a lost answer an
        `AmbiguousWrite`."""
        import requests
        from github import GithubException

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
        from github import RateLimitExceededException

        if isinstance(exc, RateLimitExceededException) or _is_rate_limit(message):
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

    # -- the repository ----------------------------------------------------------------
    @property
    def repo(self) -> Any:
        """PyGithub's Repository, read once (the first call reports a missing repository)."""
        if self._repo is None:
            with self.api(f"reading repository {self.repository}"):
                self._repo = self._gh.get_repo(self.repository)
        return self._repo

    @property
    def default_branch(self) -> str:
        """The repository's default branch (where promotions and dispatches go by default)."""
        return str(self.repo.default_branch)

    @property
    def requester(self) -> Any:
        """PyGithub's requester, for REST calls that must see GitHub's exception itself
        (a 404 that means "already gone"); make them inside `api(...)`."""
        return self._gh.requester

    # -- raw calls -----------------------------------------------------------------------
    def request(
        self, method: str, url: str, *, action: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """One REST call (absolute `url`) under this client's retries and error messages;
        (response headers, decoded JSON). For endpoints PyGithub has no object for."""
        with self.api(action):
            headers, data = self._gh.requester.requestJsonAndCheck(method, url, input=body)
        return dict(headers), data


def next_link(link: str) -> str | None:
    """The `rel="next"` URL of a Link header, if any."""
    m = re.search(r'<([^>]+)>;\s*rel="next"', link)
    return m.group(1) if m else None


def error_text(exc: GithubException) -> str:
    """What GitHub said in a refusal (its JSON body, else the message): callers match on it."""
    return str(exc.data) if exc.data is not None else str(exc.message or "")


def _is_rate_limit(message: str) -> bool:
    m = message.lower()
    return "rate limit" in m or m.endswith("please wait a few minutes before you try again.")
