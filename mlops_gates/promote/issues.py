"""Issues and workflow dispatch, for `mlops-gates alert`: the few REST calls it needs, made
through `GitHubClient.request` so they share its retries and error messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_gates.promote.github import GitHubClient


@dataclass(frozen=True)
class IssueInfo:
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
        url = _next_link(headers.get("link", "") or headers.get("Link", ""))
    return found


def create_issue(client: GitHubClient, *, title: str, body: str, labels: list[str]) -> IssueInfo:
    payload: dict[str, Any] = {"title": title, "body": body}
    if labels:
        payload["labels"] = labels
    _, data = client.request("POST", _issues_api(client), action="opening an issue", body=payload)
    return _issue_info(data)


def update_issue(
    client: GitHubClient,
    number: int,
    *,
    title: str | None = None,
    body: str | None = None,
    state: str | None = None,
    state_reason: str | None = None,
) -> IssueInfo:
    fields = {"title": title, "body": body, "state": state, "state_reason": state_reason}
    payload = {k: v for k, v in fields.items() if v is not None}
    url = f"{_issues_api(client)}/{number}"
    _, data = client.request("PATCH", url, action=f"updating issue #{number}", body=payload)
    return _issue_info(data)


def comment_on_issue(client: GitHubClient, number: int, body: str) -> None:
    url = f"{_issues_api(client)}/{number}/comments"
    client.request("POST", url, action=f"commenting on issue #{number}", body={"body": body})


def dispatch_workflow(
    client: GitHubClient, workflow: str, *, ref: str, inputs: Mapping[str, str] | None = None
) -> None:
    """Start `workflow` (its file name, e.g. mlops-train-promote.yml, or its id) on `ref`.
    GitHub answers 204 and no run id: the run shows up in the Actions tab."""
    payload: dict[str, Any] = {"ref": ref}
    if inputs:
        payload["inputs"] = dict(inputs)
    url = f"{client.repo.url}/actions/workflows/{workflow}/dispatches"
    client.request("POST", url, action=f"dispatching workflow {workflow} on {ref}", body=payload)


def _next_link(link: str) -> str | None:
    m = re.search(r'<([^>]+)>;\s*rel="next"', link)
    return m.group(1) if m else None
