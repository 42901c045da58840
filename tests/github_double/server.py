"""A stateful GitHub REST double on 127.0.0.1, checked against GitHub's OpenAPI description.

Every request is matched to one operation of the pruned description and its parameters and
body are validated before the double acts on it; every response it sends is validated too.
Anything that does not match is recorded in `violations` (and a bad request is answered
with 400), so a test that passes proves the client spoke GitHub's API as published.

    with GitHubDouble() as gh:
        Github(auth=Auth.Token(gh.token), base_url=gh.base_url, ...)
        ...
        assert gh.violations == []

Faults are injected with `fail(...)` (status, headers and body for the next N matching
requests), "landed but lost" with `fail(..., landed=True)` (the write is applied, then the
answer is replaced by the fault: what a 502 from a proxy after GitHub acted looks like), and
concurrent changes with `after(...)` (a callback run after a matching request was
answered).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from .openapi import OpenAPI, Operation, Violation, spec
from .state import (
    Comment,
    Deployment,
    DeploymentStatus,
    Dispatch,
    Event,
    Issue,
    Pull,
    Repo,
    Status,
    blob_sha,
)

DOCS = "https://docs.github.com/rest"
Response = tuple[int, Any, dict[str, str]]


class HTTPError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors
        self.body["status"] = str(status)


_T = TypeVar("_T")


def found(value: _T | None, message: str = "Not Found") -> _T:
    """The thing a request names, or GitHub's 404 when it does not exist."""
    if value is None:
        raise HTTPError(404, message)
    return value


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    hits: int = 0
    landed: bool = False  # apply the request, then answer with the fault


@dataclass
class Hook:
    method: str
    path: re.Pattern[str]
    callback: Callable[[Repo], None]
    times: int


@dataclass
class Meeting:
    method: str
    path: re.Pattern[str]
    barrier: threading.Barrier
    left: int  # requests still to join


@dataclass
class Record:
    method: str
    path: str  # without the API prefix, as sent (percent-encoding kept)
    query: dict[str, list[str]]
    body: Any
    status: int = 0


@dataclass
class GitHubDouble:
    owner: str = "acme"
    repo_name: str = "models"
    token: str = "ghs_double_0123456789abcdef"  # fake; the tests check it never leaks
    # `token` is a workflow's GITHUB_TOKEN: the events it causes start no workflow run and
    # the "Allow GitHub Actions to create ... pull requests" setting applies to it. False
    # models a GitHub App's or a person's token, whose events do start workflows.
    workflow_token: bool = True
    # A person's token (a collaborator's): what pressing the merge button or pushing by
    # hand looks like over the API.
    person: str = "alice"
    person_token: str = "ghp_person_abcdef0123456789"
    prefix: str = "/api/v3"  # GitHub Enterprise style: proves GITHUB_API_URL is used as is
    collaborators: tuple[str, ...] = ("alice", "bob")
    teams: tuple[str, ...] = ("ml-reviewers",)
    # Teams the workflow token cannot see (secret teams; the token has no organisation
    # read access): GitHub answers a review request for one as for a non-collaborator.
    hidden_teams: tuple[str, ...] = ()
    read_only: bool = False  # a token without write permission: writes answer 403
    # The repository setting "Allow GitHub Actions to create and approve pull requests",
    # as a workflow's GITHUB_TOKEN meets it: off, opening a pull request answers 403.
    actions_may_create_pulls: bool = True
    repo: Repo = field(init=False)
    requests: list[Record] = field(default_factory=list, init=False)
    violations: list[str] = field(default_factory=list, init=False)
    faults: list[Fault] = field(default_factory=list, init=False)
    hooks: list[Hook] = field(default_factory=list, init=False)
    meetings: list[Meeting] = field(default_factory=list, init=False)
    _actor: tuple[str, bool] = field(default=("", False), init=False)  # login, workflow token

    def __post_init__(self) -> None:
        self.api: OpenAPI = spec()
        self.repo = Repo(
            self.owner,
            self.repo_name,
            collaborators=set(self.collaborators),
            teams=set(self.teams),
        )
        self.repo.commit("main", {"README.md": b"# models\n"}, "initial commit")
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> GitHubDouble:
        handler = type("Handler", (_Handler,), {"double": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHubDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._server is not None, "start() the double first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return self.root + self.prefix

    # -- test controls -----------------------------------------------------------------
    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        message: str = "injected",
        headers: dict[str, str] | None = None,
        times: int = 1,
        body: Any = None,
        landed: bool = False,
    ) -> Fault:
        """Answer the next `times` requests matching `method` and `path` (a regex searched
        in the path after the API prefix) with `status`. With `landed`, the request is
        carried out first and only its answer is replaced (a write that took effect while
        the client saw a 5xx). `status=0` sends no answer at all: the connection is closed
        (a response lost on the way)."""
        payload = body if body is not None else {"message": message, "documentation_url": DOCS}
        fault = Fault(method, re.compile(path), status, headers or {}, payload, times, 0, landed)
        self.faults.append(fault)
        return fault

    def after(self, method: str, path: str, callback: Callable[[Repo], None]) -> None:
        """Run `callback(repo)` once, right after the first matching request is answered:
        the way to make "someone else changed it meanwhile" happen at a precise moment."""
        self.hooks.append(Hook(method, re.compile(path), callback, 1))

    def rendezvous(self, method: str, path: str, parties: int, *, timeout: float = 60.0) -> None:
        """Hold the answers to the next `parties` matching requests until all of them have
        been carried out: concurrent clients that all read before any of them writes,
        every time, without sleeping. Bounded: after `timeout` s the answers go out."""
        barrier = threading.Barrier(parties, timeout=timeout)
        self.meetings.append(Meeting(method, re.compile(path), barrier, parties))

    def calls(self, method: str | None = None, path: str = "") -> list[Record]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and re.search(path, r.path)
        ]

    def merge(self, number: int) -> str:
        """Merge pull request `number` (as a person pressing the button); the merge SHA.
        Branch protection applies as it does to the button: `HTTPError` 405 when a required
        status check has no `success` on the head."""
        with self._lock:
            self._actor = (self.person, False)
            return self._merge(self.repo.pulls[number])

    def protect(self, branch: str, contexts: list[str]) -> None:
        """Branch protection on `branch`: "Require status checks to pass before merging"
        with these contexts."""
        with self._lock:
            self.repo.required_checks[branch] = list(contexts)

    def status(self, sha: str, context: str) -> Status | None:
        """The latest status of `context` on commit `sha` (what the merge box shows)."""
        with self._lock:
            return self.repo.latest_statuses(sha).get(context.lower())

    def head_sha(self, number: int) -> str:
        p = self.repo.pulls[number]
        return self.repo.refs.get(f"refs/heads/{p.head}", p.head_sha)

    def mergeable(self, number: int) -> bool:
        """Whether branch protection lets pull request `number` be merged now."""
        with self._lock:
            p = self.repo.pulls[number]
            return p.state == "open" and not self.repo.missing_checks(p)

    def workflow_events(self, name: str | None = None) -> list[Event]:
        """The events that would start workflow runs (none caused by the workflow token)."""
        return [e for e in self.repo.events if e.starts_workflows and name in (None, e.name)]

    def review(
        self, number: int, login: str, state: str = "APPROVED", *, team: str | None = None
    ) -> None:
        """`login` submits a review of pull request `number` (for `team`, if given). As on
        GitHub, the answered request leaves `requested_reviewers` / `requested_teams`."""
        with self._lock:
            p = self.repo.pulls[number]
            p.reviews.append((login, state, self.repo.clock.tick()))
            p.reviewers = [u for u in p.reviewers if u != login]
            p.teams = [t for t in p.teams if t != team]

    def deployments(self) -> list[Deployment]:
        return list(self.repo.deployments.values())

    def open_pulls(self) -> list[Pull]:
        return [p for p in self.repo.pulls.values() if p.state == "open"]

    # -- request handling --------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode("utf-8", "replace")
        path = split.path
        record = Record(method, path[len(self.prefix) :], query, body)
        meeting = None
        with self._lock:
            self.requests.append(record)
            status, payload, extra = self._answer(method, path, query, body, headers)
            record.status = status
            for m in self.meetings:
                if m.left > 0 and m.method == method and m.path.search(record.path):
                    m.left -= 1
                    meeting = m
                    break
        if meeting is not None:
            # A party that never comes breaks the barrier: answer anyway, the test will say.
            with contextlib.suppress(threading.BrokenBarrierError):
                meeting.barrier.wait()
        out_headers = {"Content-Type": "application/json; charset=utf-8", **extra}
        data = b"" if payload is None else json.dumps(payload).encode()
        return status, out_headers, data

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        headers: dict[str, str],
    ) -> Response:
        if not path.startswith(self.prefix + "/"):
            self.violations.append(f"{method} {path}: outside the API prefix {self.prefix}")
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        rel = path[len(self.prefix) :]
        try:
            op, params = self.api.match(method, rel)
            content_type = headers.get("content-type")
            self.api.check_request(op, params, query, body, content_type)
        except Violation as exc:
            self.violations.append(str(exc))
            return 400, {"message": f"double: {exc}", "documentation_url": DOCS}, {}

        auth = headers.get("authorization", "")
        scheme, _, presented = auth.partition(" ")
        if scheme not in ("token", "Bearer") or presented not in (self.token, self.person_token):
            return self._checked(op, HTTPError(401, "Bad credentials"))
        by_workflow = presented == self.token and self.workflow_token
        self._actor = (self.repo.login if presented == self.token else self.person, by_workflow)
        landed: Fault | None = None
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path.search(rel):
                fault.times -= 1
                fault.hits += 1
                if not fault.landed:
                    return self._checked(op, (fault.status, fault.body, fault.headers))
                landed = fault
                break
        if self.read_only and method != "GET" and presented == self.token:
            err = HTTPError(403, "Resource not accessible by integration")
            return self._checked(op, err)

        handler = getattr(self, "_op_" + op.op_id.replace("/", "_").replace("-", "_"))
        try:
            result: Response | HTTPError = handler(params, query, body)
        except HTTPError as exc:
            result = exc
        response = self._checked(op, result)
        if landed is not None and response[0] < 400:
            response = self._checked(op, (landed.status, landed.body, landed.headers))
        elif landed is not None:  # it did not land: the fault waits for one that does
            landed.times += 1
            landed.hits -= 1
        for hook in self.hooks:
            if hook.times > 0 and hook.method == method and hook.path.search(rel):
                hook.times -= 1
                hook.callback(self.repo)
        return response

    def _checked(self, op: Operation, result: Response | HTTPError) -> Response:
        if isinstance(result, HTTPError):
            result = (result.status, result.body, {})
        status, payload, extra = result
        if status == 0:  # no answer is sent (see fail()): nothing to check
            return status, payload, extra
        try:
            self.api.check_response(op, status, payload)
        except Violation as exc:
            self.violations.append(str(exc))
        return status, payload, extra

    # -- object builders ---------------------------------------------------------------
    def _obj(self, schema: str, **fields: Any) -> dict[str, Any]:
        obj: dict[str, Any] = self.api.skeleton(self.api.schema(schema), self.base_url)
        obj.update(fields)
        return obj

    @property
    def _repo_url(self) -> str:
        return f"{self.base_url}/repos/{self.repo.full_name}"

    def _user(self, login: str, schema: str = "simple-user") -> dict[str, Any]:
        uid = 100 + sum(map(ord, login))
        return self._obj(
            schema,
            login=login,
            id=uid,
            node_id=f"U_{uid}",
            type="User",
            url=f"{self.base_url}/users/{login}",
            html_url=f"{self.root}/{login}",
        )

    def _team(self, slug: str) -> dict[str, Any]:
        tid = 700 + sum(map(ord, slug))
        return self._obj(
            "team",
            id=tid,
            node_id=f"T_{tid}",
            name=slug,
            slug=slug,
            url=f"{self.base_url}/orgs/{self.repo.owner}/teams/{slug}",
            html_url=f"{self.root}/orgs/{self.repo.owner}/teams/{slug}",
        )

    def _repository(self, schema: str = "repository") -> dict[str, Any]:
        r = self.repo
        return self._obj(
            schema,
            id=4242,
            node_id="R_4242",
            name=r.name,
            full_name=r.full_name,
            owner=self._user(r.owner),
            private=False,
            url=self._repo_url,
            html_url=f"{self.root}/{r.full_name}",
            default_branch=r.default_branch,
        )

    def _ref(self, name: str) -> dict[str, Any]:
        sha = self.repo.refs[name]
        return self._obj(
            "git-ref",
            ref=name,
            node_id=f"REF_{sha[:8]}",
            url=f"{self._repo_url}/git/{name}",
            object={"type": "commit", "sha": sha, "url": f"{self._repo_url}/git/commits/{sha}"},
        )

    def _content(self, path: str, sha: str, ref: str) -> dict[str, Any]:
        data = self.repo.blobs[sha]
        encoded = base64.encodebytes(data).decode()  # GitHub wraps at 60/76 columns too
        url = f"{self._repo_url}/contents/{path}?ref={ref}"
        html = f"{self.root}/{self.repo.full_name}/blob/{ref}/{path}"
        git = f"{self._repo_url}/git/blobs/{sha}"
        return self._obj(
            "content-file",
            type="file",
            encoding="base64",
            size=len(data),
            name=path.rsplit("/", 1)[-1],
            path=path,
            content=encoded,
            sha=sha,
            url=url,
            git_url=git,
            html_url=html,
            download_url=f"{self.root}/{self.repo.full_name}/raw/{ref}/{path}",
            _links={"self": url, "git": git, "html": html},
        )

    def _pull(self, p: Pull, schema: str = "pull-request") -> dict[str, Any]:
        r = self.repo
        head_sha = r.refs.get(f"refs/heads/{p.head}", p.head_sha)
        base_sha = r.refs[f"refs/heads/{p.base}"]
        url = f"{self._repo_url}/pulls/{p.number}"
        issue_url = f"{self._repo_url}/issues/{p.number}"
        html = f"{self.root}/{r.full_name}/pull/{p.number}"

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{r.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self._user(r.owner),
                "repo": self._repository(),
            }

        link = lambda href: {"href": href}  # noqa: E731
        fields: dict[str, Any] = dict(
            url=url,
            id=9000 + p.number,
            node_id=f"PR_{p.number}",
            html_url=html,
            issue_url=issue_url,
            comments_url=f"{issue_url}/comments",
            number=p.number,
            state=p.state,
            locked=False,
            title=p.title,
            user=self._user(p.user),
            body=p.body,
            labels=[self._label(name) for name in p.labels],
            created_at=p.created_at,
            updated_at=p.updated_at,
            closed_at=p.closed_at,
            merged_at=p.merged_at,
            merge_commit_sha=p.merge_commit_sha,
            requested_reviewers=[self._user(u) for u in p.reviewers],
            requested_teams=[self._team(t) for t in p.teams],
            head=side(p.head, head_sha),
            base=side(p.base, base_sha),
            _links={
                "self": link(url),
                "html": link(html),
                "issue": link(issue_url),
                "comments": link(f"{issue_url}/comments"),
                "review_comments": link(f"{url}/comments"),
                "review_comment": link(f"{self._repo_url}/pulls/comments{{/number}}"),
                "commits": link(f"{url}/commits"),
                "statuses": link(f"{self._repo_url}/statuses/{head_sha}"),
            },
            author_association="MEMBER",
            draft=p.draft,
        )
        if schema == "pull-request":
            fields.update(
                merged=p.merged_at is not None,
                mergeable=None,
                mergeable_state="unknown",
                comments=0,
            )
        return self._obj(schema, **fields)

    def _label(self, name: str) -> dict[str, Any]:
        lid = self.repo.label_id(name)
        return self._obj(
            "label",
            id=lid,
            node_id=f"L_{lid}",
            name=name,
            url=f"{self._repo_url}/labels/{name}",
            color="ededed",
            default=False,
        )

    def _comment(self, c: Comment) -> dict[str, Any]:
        return self._obj(
            "issue-comment",
            id=c.id,
            node_id=f"IC_{c.id}",
            url=f"{self._repo_url}/issues/comments/{c.id}",
            html_url=f"{self.root}/{self.repo.full_name}/pull/{c.issue}#issuecomment-{c.id}",
            issue_url=f"{self._repo_url}/issues/{c.issue}",
            body=c.body,
            user=self._user(c.user),
            created_at=c.created_at,
            updated_at=c.updated_at,
            author_association="MEMBER",
        )

    def _page(
        self, items: list[Any], query: dict[str, list[str]], path: str
    ) -> tuple[list[Any], dict[str, str]]:
        """GitHub's pagination: `per_page` / `page` and a Link header the client follows."""
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if page < last:
            keep = {k: v[0] for k, v in query.items() if k not in ("page", "per_page")}
            extra = "".join(f"&{k}={v}" for k, v in keep.items())
            url = f"{self.base_url}{path}?per_page={per_page}{extra}"
            headers["Link"] = (
                f'<{url}&page={page + 1}>; rel="next", <{url}&page={last}>; rel="last"'
            )
        return chunk, headers

    # -- operations --------------------------------------------------------------------
    def _check_repo(self, params: dict[str, str]) -> Repo:
        full = f"{params['owner']}/{params['repo']}".lower()
        if full != self.repo.full_name.lower():
            raise HTTPError(404, "Not Found")
        return self.repo

    def _op_repos_get(self, params: dict[str, str], query: Any, body: Any) -> Response:
        self._check_repo(params)
        full = self._repository("full-repository")
        full.update(network_count=0, subscribers_count=0)
        return 200, full, {}

    def _op_git_get_ref(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        name = "refs/" + params["ref"]
        found(r.refs.get(name))
        return 200, self._ref(name), {}

    def _op_git_create_ref(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise HTTPError(422, f"{ref} is not a valid ref name.")
        if ref in r.refs:
            raise HTTPError(422, "Reference already exists")
        if sha not in r.commits:
            raise HTTPError(422, "Object does not exist")
        r.refs[ref] = sha
        self._pushed(ref.removeprefix("refs/heads/"), sha)
        return 201, self._ref(ref), {"Location": f"{self._repo_url}/git/{ref}"}

    def _op_git_update_ref(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        name = "refs/" + params["ref"]
        if name not in r.refs:
            raise HTTPError(422, "Reference does not exist")
        sha = body["sha"]
        if sha not in r.commits:
            raise HTTPError(422, "Object does not exist")
        if not body.get("force") and not r.is_ancestor(r.refs[name], sha):
            raise HTTPError(422, "Update is not a fast forward")
        r.refs[name] = sha
        self._pushed(name.removeprefix("refs/heads/"), sha)
        return 200, self._ref(name), {}

    def _op_git_delete_ref(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        name = "refs/" + params["ref"]
        if name not in r.refs:
            raise HTTPError(422, "Reference does not exist")
        del r.refs[name]
        return 204, None, {}

    def _op_repos_get_content(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        ref = query.get("ref", [r.default_branch])[0]
        commit = found(r.resolve(ref), f"No commit found for the ref {ref}")
        path = params["path"].strip("/")
        return 200, self._content(path, found(commit.tree.get(path)), ref), {}

    def _op_repos_create_or_update_file_contents(
        self, params: dict[str, str], query: Any, body: dict[str, Any]
    ) -> Response:
        r = self._check_repo(params)
        path = params["path"].strip("/")
        branch = body.get("branch") or r.default_branch
        head = r.resolve(branch)
        if head is None or f"refs/heads/{branch}" not in r.refs:
            raise HTTPError(404, f"Branch {branch} not found")
        current = head.tree.get(path)
        if current is not None and "sha" not in body:
            raise HTTPError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if current is not None and body["sha"] != current:
            raise HTTPError(409, f"{path} does not match {body['sha']}")
        try:
            data = base64.b64decode(body["content"], validate=True)
        except ValueError:
            raise HTTPError(422, "content is not valid Base64") from None
        c = r.commit(branch, {path: data}, body["message"])
        self._pushed(branch, c.sha)
        sha = blob_sha(data)
        content = self._content(path, sha, branch)
        content.pop("content")
        content.pop("encoding")
        commit = self._obj(
            "file-commit",
        )["commit"]
        commit.update(
            sha=c.sha,
            node_id=f"C_{c.sha[:8]}",
            url=f"{self._repo_url}/git/commits/{c.sha}",
            html_url=f"{self.root}/{r.full_name}/commit/{c.sha}",
            message=c.message,
            parents=[
                {"sha": p, "url": f"{self._repo_url}/git/commits/{p}", "html_url": ""}
                for p in c.parents
            ],
        )
        status = 200 if current is not None else 201
        return status, {"content": content, "commit": commit}, {}

    def _op_pulls_list(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        state = query.get("state", ["open"])[0]
        head = query.get("head", [None])[0]
        base = query.get("base", [None])[0]
        pulls = []
        for p in sorted(r.pulls.values(), key=lambda p: -p.number):
            if state != "all" and p.state != state:
                continue
            if head is not None and head not in (f"{r.owner}:{p.head}", p.head):
                continue
            if base is not None and p.base != base:
                continue
            pulls.append(p)
        chunk, headers = self._page(pulls, query, f"/repos/{r.full_name}/pulls")
        return 200, [self._pull(p, "pull-request-simple") for p in chunk], headers

    def _op_pulls_create(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        if not self.actions_may_create_pulls and self._actor[1]:
            raise HTTPError(
                403, "GitHub Actions is not permitted to create or approve pull requests."
            )
        head = body["head"].split(":", 1)[-1]
        base = body["base"]
        invalid = [
            {"resource": "PullRequest", "field": f, "code": "invalid"}
            for f, b in (("base", base), ("head", head))
            if f"refs/heads/{b}" not in r.refs
        ]
        if invalid:
            raise HTTPError(422, "Validation Failed", invalid)
        for p in r.pulls.values():
            if p.state == "open" and p.head == head and p.base == base:
                msg = f"A pull request already exists for {r.owner}:{head}."
                raise HTTPError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "code": "custom", "message": msg}],
                )
        head_sha, base_sha = r.refs[f"refs/heads/{head}"], r.refs[f"refs/heads/{base}"]
        if r.is_ancestor(head_sha, base_sha):
            msg = f"No commits between {base} and {head}"
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "custom", "message": msg}],
            )
        self._check_length(body.get("body"))
        now = r.clock.tick()
        p = Pull(
            number=r.next_issue_number(),
            title=body["title"],
            body=body.get("body"),
            head=head,
            base=base,
            user=r.login,
            draft=bool(body.get("draft", False)),
            created_at=now,
            updated_at=now,
            head_sha=head_sha,
        )
        r.pulls[p.number] = p
        self._event("pull_request", "opened", head, head_sha, p.number)
        return 201, self._pull(p), {"Location": f"{self._repo_url}/pulls/{p.number}"}

    def _get_pull(self, params: dict[str, str]) -> Pull:
        r = self._check_repo(params)
        return found(r.pulls.get(int(params.get("pull_number") or params["issue_number"])))

    def _op_pulls_get(self, params: dict[str, str], query: Any, body: Any) -> Response:
        return 200, self._pull(self._get_pull(params)), {}

    def _op_pulls_update(self, params: dict[str, str], query: Any, body: Any) -> Response:
        p = self._get_pull(params)
        if "body" in body:
            self._check_length(body["body"])
            p.body = body["body"]
        if "title" in body:
            p.title = body["title"]
        p.updated_at = self.repo.clock.tick()
        if body.get("state") == "closed" and p.state == "open":
            p.state, p.closed_at = "closed", p.updated_at
            self._event("pull_request", "closed", p.head, self.head_sha(p.number), p.number)
        elif body.get("state") == "open" and p.state == "closed":
            p.state, p.closed_at = "open", None
            self._event("pull_request", "reopened", p.head, self.head_sha(p.number), p.number)
        return 200, self._pull(p), {}

    def _op_pulls_request_reviewers(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        p = self._get_pull(params)
        users, teams = body.get("reviewers", []), body.get("team_reviewers", [])
        visible = self.repo.teams - (set(self.hidden_teams) if self._actor[1] else set())
        unknown = [u for u in users if u not in self.repo.collaborators] + [
            t for t in teams if t not in visible
        ]
        if unknown:
            raise HTTPError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users "
                f"or teams you specified is not a collaborator of the {self.repo.full_name} "
                "repository.",
            )
        p.reviewers += [u for u in users if u not in p.reviewers]
        p.teams += [t for t in teams if t not in p.teams]
        return 201, self._pull(p, "pull-request-simple"), {}

    def _op_pulls_list_reviews(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        p = self._get_pull(params)
        url = f"{self._repo_url}/pulls/{p.number}"
        html = f"{self.root}/{self.repo.full_name}/pull/{p.number}"
        items = list(enumerate(p.reviews, start=1))
        chunk, headers = self._page(
            items, query, f"/repos/{self.repo.full_name}/pulls/{p.number}/reviews"
        )
        reviews = [
            self._obj(
                "pull-request-review",
                id=p.number * 1000 + i,
                node_id=f"PRR_{p.number}_{i}",
                user=self._user(login),
                body="",
                state=state,
                html_url=f"{html}#pullrequestreview-{p.number * 1000 + i}",
                pull_request_url=url,
                _links={"html": {"href": html}, "pull_request": {"href": url}},
                submitted_at=at,
                commit_id=p.head_sha,
                author_association="COLLABORATOR",
            )
            for i, (login, state, at) in chunk
        ]
        return 200, reviews, headers

    def _op_issues_add_labels(self, params: dict[str, str], query: Any, body: Any) -> Response:
        p = self._get_pull(params)
        names = [x if isinstance(x, str) else x["name"] for x in body["labels"]]
        p.labels += [n for n in names if n not in p.labels]
        return 200, [self._label(n) for n in p.labels], {}

    def _issue_number(self, params: dict[str, str]) -> int:
        """An issue or a pull request: they share numbers and the comments API."""
        r = self._check_repo(params)
        number = int(params["issue_number"])
        if number not in r.pulls and number not in r.issues:
            raise HTTPError(404, "Not Found")
        return number

    def _op_issues_list_comments(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        number = self._issue_number(params)
        items = sorted(
            (c for c in self.repo.comments.values() if c.issue == number), key=lambda c: c.id
        )
        path = f"/repos/{self.repo.full_name}/issues/{number}/comments"
        chunk, headers = self._page(items, query, path)
        return 200, [self._comment(c) for c in chunk], headers

    def _op_issues_create_comment(self, params: dict[str, str], query: Any, body: Any) -> Response:
        number = self._issue_number(params)
        self._check_length(body["body"])
        now = self.repo.clock.tick()
        c = Comment(self.repo.next_comment_id(), number, body["body"], self.repo.login, now, now)
        self.repo.comments[c.id] = c
        return 201, self._comment(c), {"Location": self._comment(c)["url"]}

    def _op_issues_update_comment(self, params: dict[str, str], query: Any, body: Any) -> Response:
        self._check_repo(params)
        c = found(self.repo.comments.get(int(params["comment_id"])))
        self._check_length(body["body"])
        c.body, c.updated_at = body["body"], self.repo.clock.tick()
        return 200, self._comment(c), {}

    def _op_issues_delete_comment(self, params: dict[str, str], query: Any, body: Any) -> Response:
        self._check_repo(params)
        found(self.repo.comments.pop(int(params["comment_id"]), None))
        return 204, None, {}

    # -- events, statuses and merging --------------------------------------------------
    def _event(
        self,
        name: str,
        action: str | None,
        ref: str | None,
        sha: str | None,
        number: int | None = None,
    ) -> None:
        login, by_workflow = self._actor
        # GitHub: "events triggered by the GITHUB_TOKEN ... will not create a new workflow
        # run" (workflow_dispatch and repository_dispatch excepted).
        starts = not by_workflow or name in ("workflow_dispatch", "repository_dispatch")
        self.repo.events.append(Event(name, action, ref, sha, login, by_workflow, starts, number))

    def _pushed(self, branch: str, sha: str) -> None:
        """A push to `branch`: the push event, and `synchronize` on its open pull requests."""
        self._event("push", None, f"refs/heads/{branch}", sha)
        for p in self.repo.pulls.values():
            if p.state == "open" and p.head == branch:
                self._event("pull_request", "synchronize", branch, sha, p.number)

    def _merge(self, p: Pull) -> str:
        if p.state != "open":
            raise HTTPError(405, "Pull Request is not mergeable")
        missing = self.repo.missing_checks(p)
        if missing:
            context, why = missing[0]
            err = HTTPError(405, f'Required status check "{context}" {why}.')
            err.body["documentation_url"] = (
                "https://docs.github.com/articles/about-protected-branches"
            )
            raise err
        head = self.head_sha(p.number)
        merge = self.repo.merge(p)
        self._event("pull_request", "closed", p.head, head, p.number)
        self._event("push", None, f"refs/heads/{p.base}", merge.sha)
        return merge.sha

    def _op_pulls_merge(self, params: dict[str, str], query: Any, body: Any) -> Response:
        p = self._get_pull(params)
        wanted = (body or {}).get("sha")
        if wanted and wanted != self.head_sha(p.number):
            raise HTTPError(409, "Head branch was modified. Review and try the merge again.")
        sha = self._merge(p)
        result = {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        return 200, result, {}

    def _status(self, st: Status) -> dict[str, Any]:
        return self._obj(
            "status",
            url=f"{self._repo_url}/statuses/{st.sha}",
            avatar_url=None,
            id=st.id,
            node_id=f"SC_{st.id}",
            state=st.state,
            description=st.description,
            target_url=st.target_url,
            context=st.context,
            created_at=st.created_at,
            updated_at=st.created_at,
            creator=self._user(st.creator),
        )

    def _op_repos_create_commit_status(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        r = self._check_repo(params)
        sha = params["sha"]
        if sha not in r.commits:
            raise HTTPError(422, f"No commit found for SHA: {sha}")
        description = body.get("description")
        if description is not None and len(description) > 140:
            raise HTTPError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        st = Status(
            id=90000 + len(r.statuses) + 1,
            sha=sha,
            state=body["state"],
            context=body.get("context") or "default",
            description=description,
            target_url=body.get("target_url"),
            creator=self._actor[0],
            created_at=r.clock.tick(),
        )
        r.statuses.append(st)
        self._event("status", None, None, sha)
        return 201, self._status(st), {"Location": f"{self._repo_url}/statuses/{sha}"}

    def _op_repos_get_combined_status_for_ref(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        r = self._check_repo(params)
        commit = found(r.resolve(params["ref"]), f"No commit found for SHA: {params['ref']}")
        latest = sorted(r.latest_statuses(commit.sha).values(), key=lambda s: -s.id)
        states = {s.state for s in latest}
        # GitHub: failure if any is error or failure, pending if none or any pending.
        if states & {"error", "failure"}:
            state = "failure"
        elif not latest or "pending" in states:
            state = "pending"
        else:
            state = "success"
        simple = []
        for st in latest:
            full = self._status(st)
            full.pop("creator")
            simple.append(full)
        combined = {
            "state": state,
            "sha": commit.sha,
            "total_count": len(latest),
            "statuses": simple,
            "repository": self._repository("minimal-repository"),
            "commit_url": f"{self._repo_url}/commits/{commit.sha}",
            "url": f"{self._repo_url}/commits/{commit.sha}/status",
        }
        return 200, combined, {}

    def _op_repos_compare_commits_with_basehead(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        """Three-dot comparison: the files changed on HEAD since its merge base with BASE."""
        r = self._check_repo(params)
        base_ref, sep, head_ref = params["basehead"].partition("...")
        base, head = r.resolve(base_ref), r.resolve(head_ref)
        if not sep or base is None or head is None:
            raise HTTPError(404, "Not Found")
        seen, todo = set(), [base.sha]
        while todo:
            sha = todo.pop()
            if sha not in seen:
                seen.add(sha)
                todo.extend(r.commits[sha].parents)
        todo, merge_base = [head.sha], base
        while todo:
            sha = todo.pop(0)
            if sha in seen:
                merge_base = r.commits[sha]
                break
            todo.extend(r.commits[sha].parents)
        old, new = merge_base.tree, head.tree
        files = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            status = "added" if path not in old else "removed" if path not in new else "modified"
            sha = new.get(path) or old[path]
            files.append(
                self._obj(
                    "diff-entry",
                    sha=sha,
                    filename=path,
                    status=status,
                    additions=0,
                    deletions=0,
                    changes=0,
                    blob_url=f"{self.root}/{r.full_name}/blob/{head.sha}/{path}",
                    raw_url=f"{self.root}/{r.full_name}/raw/{head.sha}/{path}",
                    contents_url=f"{self._repo_url}/contents/{path}?ref={head.sha}",
                )
            )
        url = f"{self._repo_url}/compare/{params['basehead']}"
        html = f"{self.root}/{r.full_name}/compare/{params['basehead']}"
        comparison = self._obj(
            "commit-comparison",
            url=url,
            html_url=html,
            permalink_url=html,
            diff_url=f"{html}.diff",
            patch_url=f"{html}.patch",
            base_commit=self._commit(base.sha),
            merge_base_commit=self._commit(merge_base.sha),
            status="identical" if not files else "ahead",
            ahead_by=0,
            behind_by=0,
            total_commits=0,
            commits=[],
            files=files,
        )
        return 200, comparison, {}

    def _op_repos_list_commits(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        """History from `sha` (default branch) newest first, first parents only; with
        `path`, the commits that changed that file."""
        r = self._check_repo(params)
        start = found(r.resolve(query.get("sha", [None])[0]))
        path = query.get("path", [None])[0]
        history = []
        c: Any = start
        while c is not None:
            parent = r.commits[c.parents[0]] if c.parents else None
            before = parent.tree.get(path) if parent and path else None
            if path is None or c.tree.get(path) != before:
                history.append(c.sha)
            c = parent
        chunk, headers = self._page(history, query, f"/repos/{r.full_name}/commits")
        return 200, [self._commit(sha) for sha in chunk], headers

    def _commit(self, sha: str) -> dict[str, Any]:
        c = self.repo.commits[sha]
        url = f"{self._repo_url}/commits/{sha}"
        obj = self._obj(
            "commit",
            url=url,
            sha=sha,
            node_id=f"C_{sha[:8]}",
            html_url=f"{self.root}/{self.repo.full_name}/commit/{sha}",
            comments_url=f"{url}/comments",
            author=None,
            committer=None,
            parents=[{"sha": p, "url": f"{self._repo_url}/commits/{p}"} for p in c.parents],
        )
        obj["commit"]["message"] = c.message
        return obj

    # -- issues ------------------------------------------------------------------------
    def _issue(self, i: Issue | Pull) -> dict[str, Any]:
        r = self.repo
        url = f"{self._repo_url}/issues/{i.number}"
        kind = "pull" if isinstance(i, Pull) else "issues"
        fields: dict[str, Any] = dict(
            id=3000 + i.number,
            node_id=f"I_{i.number}",
            url=url,
            repository_url=self._repo_url,
            labels_url=f"{url}/labels{{/name}}",
            comments_url=f"{url}/comments",
            events_url=f"{url}/events",
            html_url=f"{self.root}/{r.full_name}/{kind}/{i.number}",
            number=i.number,
            state=i.state,
            title=i.title,
            body=i.body,
            user=self._user(i.user),
            labels=[self._label(n) for n in i.labels],
            assignee=None,
            milestone=None,
            locked=False,
            comments=sum(1 for c in r.comments.values() if c.issue == i.number),
            created_at=i.created_at,
            updated_at=i.updated_at,
            closed_at=i.closed_at,
            author_association="MEMBER",
        )
        if isinstance(i, Issue):
            fields["state_reason"] = i.state_reason
        else:
            pull = f"{self._repo_url}/pulls/{i.number}"
            html = f"{self.root}/{r.full_name}/pull/{i.number}"
            fields["pull_request"] = {
                "url": pull,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": i.merged_at,
            }
        return self._obj("issue", **fields)

    def issues(self, state: str | None = None) -> list[Issue]:
        """The repository's issues (not pull requests), oldest first."""
        return [i for i in self.repo.issues.values() if state in (None, i.state)]

    def _op_issues_list_for_repo(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        state = query.get("state", ["open"])[0]
        wanted = [x for x in query.get("labels", [""])[0].split(",") if x]
        items: list[Issue | Pull] = [*r.issues.values(), *r.pulls.values()]
        items = [
            i
            for i in items
            if state in ("all", i.state) and all(label in i.labels for label in wanted)
        ]
        ascending = query.get("direction", ["desc"])[0] == "asc"
        items.sort(key=lambda i: i.number, reverse=not ascending)
        chunk, headers = self._page(items, query, f"/repos/{r.full_name}/issues")
        return 200, [self._issue(i) for i in chunk], headers

    def _op_issues_create(self, params: dict[str, str], query: Any, body: Any) -> Response:
        r = self._check_repo(params)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise HTTPError(
                422,
                "Validation Failed",
                [{"resource": "Issue", "field": "title", "code": "missing_field"}],
            )
        self._check_length(body.get("body"))
        names = [x if isinstance(x, str) else x["name"] for x in body.get("labels") or []]
        now = r.clock.tick()
        issue = Issue(
            number=r.next_issue_number(),
            title=title,
            body=body.get("body"),
            user=r.login,
            created_at=now,
            updated_at=now,
            labels=list(dict.fromkeys(names)),
        )
        r.issues[issue.number] = issue
        return 201, self._issue(issue), {"Location": f"{self._repo_url}/issues/{issue.number}"}

    def _get_issue(self, params: dict[str, str]) -> Issue:
        r = self._check_repo(params)
        return found(r.issues.get(int(params["issue_number"])))

    def _op_issues_get(self, params: dict[str, str], query: Any, body: Any) -> Response:
        return 200, self._issue(self._get_issue(params)), {}

    def _op_issues_update(self, params: dict[str, str], query: Any, body: Any) -> Response:
        issue = self._get_issue(params)
        if "body" in body:
            self._check_length(body["body"])
            issue.body = body["body"]
        if body.get("title"):
            issue.title = body["title"]
        if "labels" in body:
            issue.labels = [x if isinstance(x, str) else x["name"] for x in body["labels"]]
        issue.updated_at = self.repo.clock.tick()
        state = body.get("state")
        if state == "closed" and issue.state == "open":
            issue.state, issue.closed_at = "closed", issue.updated_at
            issue.state_reason = body.get("state_reason") or "completed"
        elif state == "open" and issue.state == "closed":
            issue.state, issue.closed_at, issue.state_reason = "open", None, "reopened"
        return 200, self._issue(issue), {}

    # -- workflow dispatch -------------------------------------------------------------
    def _op_actions_create_workflow_dispatch(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        r = self._check_repo(params)
        workflow = params["workflow_id"]
        commit = r.resolve(body["ref"])
        if commit is None:
            raise HTTPError(422, f"No ref found for: {body['ref']}")
        # GitHub finds the workflow by file name in .github/workflows at that ref.
        path = f".github/workflows/{workflow}"
        text = r.blobs[found(commit.tree.get(path))].decode()
        if "workflow_dispatch" not in text:
            raise HTTPError(422, "Workflow does not have 'workflow_dispatch' trigger")
        inputs = body.get("inputs") or {}
        declared = _declared_inputs(text)
        unexpected = [k for k in inputs if k not in declared]
        if unexpected:
            raise HTTPError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
        run_id = 600000 + len(r.dispatches) + 1
        name = _run_name(text, inputs) or workflow.rsplit(".", 1)[0]
        r.dispatches.append(
            Dispatch(workflow, body["ref"], commit.sha, inputs, run_id, name, r.clock.tick())
        )
        if body.get("return_run_details"):
            html = f"{self.root}/{r.full_name}/actions/runs/{run_id}"
            details = {
                "workflow_run_id": run_id,
                "run_url": f"{self._repo_url}/actions/runs/{run_id}",
                "html_url": html,
            }
            return 200, details, {}
        return 204, None, {}

    def _op_actions_list_workflow_runs(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        workflow = params["workflow_id"]
        head = r.resolve(None)
        if head is None or f".github/workflows/{workflow}" not in head.tree:
            raise HTTPError(404, "Not Found")
        event = query.get("event", [None])[0]
        branch = query.get("branch", [None])[0]
        since = query.get("created", [""])[0].removeprefix(">=")
        runs = [
            d
            for d in reversed(r.dispatches)
            if d.workflow == workflow
            and event in (None, "workflow_dispatch")
            and branch in (None, d.ref)
            and d.created_at >= since
        ]
        path = f"/repos/{r.full_name}/actions/workflows/{workflow}/runs"
        chunk, headers = self._page(runs, query, path)
        listing = {"total_count": len(runs), "workflow_runs": [self._run(d) for d in chunk]}
        return 200, listing, headers

    def _run(self, d: Dispatch) -> dict[str, Any]:
        url = f"{self._repo_url}/actions/runs/{d.run_id}"
        repo = self._repository("minimal-repository")
        return self._obj(
            "workflow-run",
            id=d.run_id,
            node_id=f"WFR_{d.run_id}",
            name=d.display_title,
            display_title=d.display_title,
            head_branch=d.ref,
            head_sha=d.sha,
            path=f".github/workflows/{d.workflow}",
            run_number=d.run_id - 600000,
            event="workflow_dispatch",
            status="queued",
            conclusion=None,
            workflow_id=1,
            url=url,
            html_url=f"{self.root}/{self.repo.full_name}/actions/runs/{d.run_id}",
            created_at=d.created_at,
            updated_at=d.created_at,
            head_commit=None,
            repository=repo,
            head_repository=repo,
            pull_requests=[],
            jobs_url=f"{url}/jobs",
            logs_url=f"{url}/logs",
            check_suite_url=f"{self._repo_url}/check-suites/1",
            cancel_url=f"{url}/cancel",
            rerun_url=f"{url}/rerun",
            artifacts_url=f"{url}/artifacts",
            workflow_url=f"{self._repo_url}/actions/workflows/1",
        )

    # -- deployments -------------------------------------------------------------------
    def _deployment(self, d: Deployment) -> dict[str, Any]:
        url = f"{self._repo_url}/deployments/{d.id}"
        return self._obj(
            "deployment",
            id=d.id,
            node_id=f"DE_{d.id}",
            sha=d.sha,
            ref=d.ref,
            task="deploy",
            environment=d.environment,
            original_environment=d.environment,
            creator=self._user(self.repo.login),
            payload=d.payload,
            description=d.description,
            statuses_url=f"{url}/statuses",
            repository_url=self._repo_url,
            url=url,
            created_at=d.created_at,
            updated_at=d.statuses[-1].created_at if d.statuses else d.created_at,
            production_environment=d.production,
            transient_environment=False,
        )

    def _deployment_status(self, d: Deployment, st: DeploymentStatus) -> dict[str, Any]:
        url = f"{self._repo_url}/deployments/{d.id}"
        return self._obj(
            "deployment-status",
            id=st.id,
            node_id=f"DES_{st.id}",
            state=st.state,
            creator=self._user(self.repo.login),
            description=st.description,
            environment=st.environment,
            deployment_url=url,
            target_url=st.log_url,
            log_url=st.log_url,
            environment_url="",
            repository_url=self._repo_url,
            url=f"{url}/statuses/{st.id}",
            created_at=st.created_at,
            updated_at=st.created_at,
        )

    def _op_repos_create_deployment(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        r = self._check_repo(params)
        commit = r.resolve(body["ref"])
        if commit is None:
            raise HTTPError(422, f"No ref found for: {body['ref']}")
        if body.get("required_contexts", None) is None or body.get("auto_merge", True):
            # GitHub would wait for checks or merge the default branch in; deploy must not.
            raise HTTPError(409, "double: deploy must send auto_merge=false, required_contexts=[]")
        env = body.get("environment", "production")
        d = Deployment(
            id=7000 + len(r.deployments) + 1,
            sha=commit.sha,
            ref=body["ref"],
            environment=env,
            description=body.get("description"),
            payload=body.get("payload") or {},
            production=body.get("production_environment", env == "production"),
            created_at=r.clock.tick(),
        )
        r.deployments[d.id] = d
        return 201, self._deployment(d), {}

    def _op_repos_list_deployments(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        env = query.get("environment", [None])[0]
        sha = query.get("sha", [None])[0]
        ref = query.get("ref", [None])[0]
        items = [
            d
            for d in reversed(r.deployments.values())
            if env in (None, d.environment) and sha in (None, d.sha) and ref in (None, d.ref)
        ]
        chunk, headers = self._page(items, query, f"/repos/{r.full_name}/deployments")
        return 200, [self._deployment(d) for d in chunk], headers

    def _get_deployment(self, params: dict[str, str]) -> Deployment:
        r = self._check_repo(params)
        return found(r.deployments.get(int(params["deployment_id"])))

    def _op_repos_create_deployment_status(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Response:
        d = self._get_deployment(params)
        st = DeploymentStatus(
            id=8000 + sum(len(x.statuses) for x in self.repo.deployments.values()) + 1,
            state=body["state"],
            description=body.get("description", ""),
            log_url=body.get("log_url") or body.get("target_url") or "",
            environment=body.get("environment") or d.environment,
            created_at=self.repo.clock.tick(),
        )
        if len(st.description) > 140:
            raise HTTPError(422, "description is too long (maximum is 140 characters)")
        if st.state == "success" and body.get("auto_inactive", True):
            # GitHub marks earlier successful deployments to the environment inactive.
            for other in self.repo.deployments.values():
                same_env = other is not d and other.environment == d.environment
                if same_env and other.statuses and other.statuses[-1].state == "success":
                    other.statuses.append(
                        DeploymentStatus(
                            st.id * 10 + other.id % 10,
                            "inactive",
                            "",
                            "",
                            other.environment,
                            st.created_at,
                        )
                    )
        d.statuses.append(st)
        return 201, self._deployment_status(d, st), {}

    def _op_repos_list_deployment_statuses(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        d = self._get_deployment(params)
        items = list(reversed(d.statuses))
        return 200, [self._deployment_status(d, st) for st in items], {}

    def _op_repos_list_pull_requests_associated_with_commit(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> Response:
        r = self._check_repo(params)
        sha = params["commit_sha"]
        pulls = [
            p
            for p in r.pulls.values()
            if sha in (p.merge_commit_sha, p.head_sha)
            or (r.refs.get(f"refs/heads/{p.head}") == sha)
        ]
        return 200, [self._pull(p, "pull-request-simple") for p in pulls], {}

    @staticmethod
    def _check_length(text: str | None) -> None:
        # GitHub's limit on PR bodies and comments (characters, not bytes).
        if text is not None and len(text) > 65536:
            raise HTTPError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Issue",
                        "field": "body",
                        "code": "custom",
                        "message": "body is too long (maximum is 65536 characters)",
                    }
                ],
            )


def _declared_inputs(workflow: str) -> set[str]:
    """Input names under `on.workflow_dispatch.inputs` (GitHub refuses any other input)."""
    import yaml

    doc = yaml.safe_load(workflow) or {}
    on = doc.get("on", doc.get(True)) or {}  # YAML 1.1 reads a bare `on:` key as True
    dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
    inputs = (dispatch or {}).get("inputs") or {}
    return set(inputs)


def _run_name(workflow: str, inputs: dict[str, Any]) -> str:
    """The workflow's `run-name:` with `${{ inputs.NAME }}` filled in, as GitHub shows it."""
    import yaml

    doc = yaml.safe_load(workflow) or {}
    template = str(doc.get("run-name") or "")
    return re.sub(
        r"\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}",
        lambda m: str(inputs.get(m.group(1), "")),
        template,
    )


class _Handler(BaseHTTPRequestHandler):
    double: GitHubDouble
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's connection pool expects
    # Headers and body go out in two writes; without TCP_NODELAY each response waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, data = self.double.handle(self.command, self.path, headers, raw)
        if status == 0:  # an injected lost answer: hang up without a word
            self.close_connection = True
            return
        self.send_response(status)
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass
