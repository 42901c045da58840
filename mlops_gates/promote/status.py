"""The promotion pull request's verdict as a commit status on its head commit.

A promotion pull request is opened with the workflow's GITHUB_TOKEN, and GitHub starts no
workflow for events that token causes: no gates workflow ever reports on it, so with
required status checks it could never be merged. `promote` therefore reports the verdict
itself, as the commit status `mlops-gates/promotion` (the check to require in branch
protection):

- `success` only when the report passed (`plan.check_passed`) and the manifest *at that very
  commit* promotes the report's candidate with the report's evidence (model name and
  version, config / data / code / model digests, gates status). A push to the branch makes
  a new head without the status, so an edited manifest is blocked until promote judges it;
- `failure` otherwise, with a one-line reason (GitHub keeps 140 characters).

GitHub keeps every status (append-only) and the latest per context wins; promote reads the
commit's combined status first and posts only when the verdict changed, so re-runs do not
pile up identical statuses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from mlops_gates._text import clean
from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient
from mlops_gates.promote.branch import branch_sha, read_file
from mlops_gates.promote.manifest import parse_manifest
from mlops_gates.promote.plan import STATUS_CONTEXT, Plan, check_passed

__all__ = [
    "DEFAULT_CONTEXT",
    "DESCRIPTION_LIMIT",
    "StatusResult",
    "StatusVerdict",
    "judge_commit",
    "latest_status",
    "post_status",
    "run_url_from_env",
    "set_promotion_status",
]

DEFAULT_CONTEXT = STATUS_CONTEXT
DESCRIPTION_LIMIT = 140  # GitHub refuses longer status descriptions (422)
_DIGESTS = ("config", "data", "code", "models")


@dataclass(frozen=True)
class StatusVerdict:
    """What the commit status says: its state and one line of why."""

    state: Literal["success", "failure"]
    description: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "description", clean(self.description, DESCRIPTION_LIMIT))


def judge_commit(plan: Plan, manifest_text: str | None) -> StatusVerdict:
    """The verdict for a commit whose manifest (at `plan.path`) reads `manifest_text`
    (None: the file is not there): success only when the report passed and the manifest
    promotes exactly what the report judged."""
    doc, path = plan.doc, plan.path
    what = f"{plan.ctx.model} {plan.ctx.version}"
    try:
        check_passed(doc)
    except PromotionError:
        return StatusVerdict("failure", f"{what}: {_not_passed(doc)}")
    if manifest_text is None:
        return StatusVerdict("failure", f"{path} is missing at this commit")
    try:
        manifest = parse_manifest(manifest_text, source=path)
    except PromotionError:
        return StatusVerdict("failure", f"{path} at this commit is not a valid manifest")
    model = manifest.get("model") or {}
    named = (str(model.get("name")), str(model.get("version")))
    if named != (plan.ctx.model, plan.ctx.version):
        return StatusVerdict(
            "failure", f"{path} promotes {named[0]} {named[1]}, but the report judged {what}"
        )
    fingerprint = doc.get("fingerprint") or {}
    digests = manifest.get("digests") or {}
    differ = [k for k in _DIGESTS if (digests.get(k) or None) != (fingerprint.get(k) or None)]
    if differ:
        return StatusVerdict(
            "failure",
            f"{path}: {', '.join(differ)} digest(s) differ from the report's fingerprint",
        )
    if (manifest.get("gates") or {}).get("status") != "pass":
        return StatusVerdict("failure", f"{path} records a gates run that did not pass")
    counts = ", ".join(f"{v} {k}" for k, v in (doc.get("summary") or {}).items() if v)
    return StatusVerdict(
        "success", f"gates passed for {what} ({counts}); {path} matches the report"
    )


def _not_passed(doc: dict[str, Any]) -> str:
    """The short reason a report is not promotable (check_passed's message is too long)."""
    status = doc.get("status")
    if status == "pass":
        if doc.get("schema_version") != 1:
            return f"report schema_version {doc.get('schema_version')!r} is not 1"
        return "the gates run passed without judging anything"
    blocking = [
        str(g.get("id", "?"))
        for g in doc.get("gates") or []
        if g.get("severity") == "block" and g.get("status") in ("fail", "error")
    ]
    why = f"gates run ended {status!r}"
    return why + (f"; blocking: {', '.join(blocking)}" if blocking else "")


def run_url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The GitHub Actions run this is part of (where the status's Details link goes)."""
    env = os.environ if environ is None else environ
    server, repo, run = (
        env.get(k, "").strip() for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server.startswith(("http://", "https://")) and repo and run.isdigit()):
        return None
    return f"{server.rstrip('/')}/{quote(repo, safe='/')}/actions/runs/{run}"


def latest_status(client: GitHubClient, sha: str, context: str) -> dict[str, Any] | None:
    """The latest status of `context` on `sha` (contexts compare case-insensitively)."""
    url = f"{client.base_url}/repos/{client.repository}/commits/{sha}/status"
    _, data = client.request("GET", url, action=f"reading the statuses of commit {sha[:10]}")
    for st in (data or {}).get("statuses") or []:
        if str(st.get("context", "")).lower() == context.lower():
            return dict(st)
    return None


def post_status(
    client: GitHubClient,
    sha: str,
    verdict: StatusVerdict,
    *,
    context: str = DEFAULT_CONTEXT,
    target_url: str | None = None,
) -> bool:
    """Set `context` on commit `sha` to `verdict`; False when it already said exactly that.

    A status is a POST that creates a record; when the answer is lost, `write_once` looks at
    the commit's statuses before sending it again."""

    def same() -> dict[str, Any] | None:
        st = latest_status(client, sha, context)
        wanted = (verdict.state, verdict.description, target_url or None)
        if (
            st is not None
            and (st.get("state"), st.get("description"), st.get("target_url") or None) == wanted
        ):
            return st
        return None

    if same() is not None:
        return False
    body: dict[str, Any] = {
        "state": verdict.state,
        "description": verdict.description,
        "context": context,
    }
    if target_url:
        body["target_url"] = target_url
    url = f"{client.base_url}/repos/{client.repository}/statuses/{sha}"
    action = f"setting the {context} status on commit {sha[:10]}"
    client.write_once(
        action,
        lambda: client.request("POST", url, action=action, body=body)[1],
        same,
    )
    return True


@dataclass(frozen=True)
class StatusResult:
    """The status promote left on a pull request's head."""

    sha: str
    verdict: StatusVerdict
    posted: bool  # False: the commit already carried this verdict


def set_promotion_status(
    client: GitHubClient,
    plan: Plan,
    *,
    context: str = DEFAULT_CONTEXT,
    target_url: str | None = None,
) -> StatusResult | None:
    """Judge the head of the promotion branch of `plan` and set its status; None when the
    branch does not exist (nothing to mark). The manifest is read at the head commit itself,
    so a push that lands meanwhile gets no status from this run."""
    sha = branch_sha(client, plan.branch)
    if sha is None:
        return None
    found = read_file(client, plan.path, sha)
    verdict = judge_commit(plan, None if found is None else found.text)
    posted = post_status(client, sha, verdict, context=context, target_url=target_url)
    return StatusResult(sha, verdict, posted)
