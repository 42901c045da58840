"""Issues and workflow dispatch, for `mlops-gates alert`: the few REST calls it needs, made
through `GitHubClient.request` so they share its retries and error messages.

Creating an issue, commenting and dispatching are POSTs that may land while their answer
is lost (a 5xx from a proxy, a timeout). Each goes through `GitHubClient.write_once`: the
issue is looked for again by its exact title and body, the comment by its exact body, and
the dispatch by its idempotency key (below) before anything is sent a second time.

A dispatch has no "did it land" API of its own. GitHub lists a workflow's runs with their
`display_title`, which is the workflow's `run-name:`; so the dispatch carries the input
`mlops_gates_key` (a key derived from the report, so re-running alert on the same report
finds the run too), and a workflow that shows it in `run-name:` can be found again:

    run-name: "Train and promote ${{ inputs.mlops_gates_key }}"
    on:
      workflow_dispatch:
        inputs:
          mlops_gates_key: {description: "set by mlops-gates alert", required: false}

A workflow without that input is dispatched without the key, at most once: when the answer
is lost, alert stops and says so instead of possibly starting retraining twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from mlops_gates.errors import PromotionError
from mlops_gates.github import AmbiguousWrite, GitHubClient, next_link
from mlops_gates.promote.comment import comments, create_comment

__all__ = [
    "IssueInfo",
    "comment_on_issue",
    "create_issue",
    "dispatch_workflow",
    "open_issues",
    "update_issue",
]

KEY_INPUT = "mlops_gates_key"


@dataclass(frozen=True)
class IssueInfo:
    """The fields of an issue that alert decides on."""

    number: int
    title: str
    body: str
    url: str  # the page people open
    state: str


def _issue_info(data: Mapping[str, Any]) -> IssueInfo:
    return IssueInfo(
        number=int(data["number"]),
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        url=str(data.get("html_url") or ""),
        state=str(data.get("state") or "open"),
    )


def _issues_api(client: GitHubClient) -> str:
    return f"{client.repo.url}/issues"


def open_issues(client: GitHubClient) -> list[IssueInfo]:
    """Every open issue of the repository (pull requests, which the same endpoint lists,
    left out), oldest first."""
    found: list[IssueInfo] = []
    url: str | None = f"{_issues_api(client)}?state=open&sort=created&direction=asc&per_page=100"
    # Pages are followed through the Link header, as GitHub asks clients to.
    while url:
        headers, data = client.request("GET", url, action="listing open issues")
        found += [_issue_info(i) for i in data or [] if "pull_request" not in i]
        url = next_link(headers.get("link", "") or headers.get("Link", ""))
    return found


def create_issue(client: GitHubClient, *, title: str, body: str, labels: list[str]) -> IssueInfo:
    """Open an issue once (after an unclear answer it is looked for by title and body)."""
    payload: dict[str, Any] = {"title": title, "body": body}
    if labels:
        payload["labels"] = labels

    def write() -> IssueInfo:
        url = _issues_api(client)
        _, data = client.request("POST", url, action="opening an issue", body=payload)
        return _issue_info(data)

    def landed() -> IssueInfo | None:
        same = [i for i in open_issues(client) if i.title == title and i.body == body]
        return same[0] if same else None

    return client.write_once("opening an issue", write, landed)


def update_issue(
    client: GitHubClient,
    number: int,
    *,
    title: str | None = None,
    body: str | None = None,
    state: str | None = None,
    state_reason: str | None = None,
) -> IssueInfo:
    """Change an issue's title, body or state (closing it with `state_reason`)."""
    fields = {"title": title, "body": body, "state": state, "state_reason": state_reason}
    payload = {k: v for k, v in fields.items() if v is not None}
    url = f"{_issues_api(client)}/{number}"
    _, data = client.request("PATCH", url, action=f"updating issue #{number}", body=payload)
    return _issue_info(data)


def comment_on_issue(client: GitHubClient, number: int, body: str) -> None:
    """Comment once: a comment with exactly this body is not written a second time."""
    before = comments(client, number)
    if any(c.body == body for c in before):
        return
    create_comment(client, number, body, known={c.id for c in before})


def dispatch_workflow(
    client: GitHubClient,
    workflow: str,
    *,
    ref: str,
    inputs: Mapping[str, str] | None = None,
    key: str | None = None,
) -> tuple[str, str | None]:
    """Start `workflow` (its file name, e.g. mlops-train-promote.yml, or its id) on `ref`,
    once per `key`; (what happened, the run's page when GitHub says). What happened:
    "dispatched"; "found" (a run carrying the key exists already: nothing sent); or
    "dispatched-without-key" (the workflow has no `mlops_gates_key` input)."""
    base = f"{client.repo.url}/actions/workflows/{quote(workflow, safe='')}"
    action = f"dispatching workflow {workflow} on {ref}"

    def write(with_key: bool) -> str | None:
        sent = {**(inputs or {}), **({KEY_INPUT: key} if with_key and key else {})}
        payload: dict[str, Any] = {"ref": ref, "return_run_details": True}
        if sent:
            payload["inputs"] = sent
        _, data = client.request("POST", f"{base}/dispatches", action=action, body=payload)
        return str((data or {}).get("html_url") or "") or None

    if key:
        run = _run_with_key(client, base, ref, key, action)
        if run is not None:
            return "found", run

        def landed() -> str | None:
            return client.look_again(lambda: _run_with_key(client, base, ref, key, action))

        try:
            return "dispatched", client.write_once(action, lambda: write(True), landed)
        except AmbiguousWrite:
            raise
        except PromotionError as exc:
            if KEY_INPUT not in str(exc):  # GitHub's 422 "Unexpected inputs provided"
                raise
    # No key to look for: sent at most once, never re-sent after an unclear answer.
    try:
        return "dispatched-without-key", write(False)
    except AmbiguousWrite as exc:
        raise PromotionError(
            f"{exc}. The dispatch may have started a run: look at the workflow's runs before "
            f"dispatching again. So that alert can check by itself, give {workflow} the input "
            f"`{KEY_INPUT}` and show it in `run-name:` (see docs/monitor.md)"
        ) from None


def _run_with_key(client: GitHubClient, base: str, ref: str, key: str, action: str) -> str | None:
    """The page of a recent workflow_dispatch run on `ref` whose title carries `key`."""
    query = urlencode({"event": "workflow_dispatch", "branch": ref, "per_page": 100})
    doing = f"{action} (looking for a run it started already)"
    _, data = client.request("GET", f"{base}/runs?{query}", action=doing)
    for run in (data or {}).get("workflow_runs") or []:
        title = f"{run.get('display_title') or ''} {run.get('name') or ''}"
        if key in title:
            return str(run.get("html_url") or run.get("id"))
    return None
