"""Deployments recorded on GitHub (the Deployments API), so a repository's Environments
page shows which model version each merge deployed, and whether it stuck.

Creating a deployment and adding a status are POSTs: each goes through
`GitHubClient.write_once`, looked for again (by the key in the payload, by the latest status)
before it is sent a second time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from mlops_gates.deploy.target import Provenance, Target
from mlops_gates.github import GitHubClient

__all__ = [
    "GitHubRecorder",
    "create_deployment",
    "deployment_status",
    "pull_request_of",
    "pulls_for_commit",
]

DEPLOYMENT_KEY = "mlops_gates_key"  # in a deployment's payload: which deploy command made it


def create_deployment(
    client: GitHubClient,
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
        _, data = client.request("POST", f"{client.repo.url}/deployments", action=action, body=body)
        return int(data["id"])

    def landed() -> int | None:
        query = urlencode({"ref": ref, "environment": environment})
        url = f"{client.repo.url}/deployments?{query}"
        _, data = client.request("GET", url, action=f"listing deployments to {environment}")
        for dep in data or []:
            carried = dep.get("payload")
            if isinstance(carried, dict) and carried.get(DEPLOYMENT_KEY) == key:
                return int(dep["id"])
        return None

    found = landed()  # a re-run of the same command reuses its record
    return found if found is not None else client.write_once(action, write, landed)


def deployment_status(
    client: GitHubClient,
    deployment_id: int,
    state: str,
    *,
    description: str,
    log_url: str | None,
) -> None:
    """Add status `state` (in_progress, success, failure ...) to a deployment, once."""
    body: dict[str, Any] = {"state": state, "description": description[:140]}
    if log_url:
        body["log_url"] = log_url
    url = f"{client.repo.url}/deployments/{deployment_id}/statuses"
    action = f"adding status '{state}' to deployment {deployment_id}"

    def write() -> bool:
        client.request("POST", url, action=action, body=body)
        return True

    def landed() -> bool | None:
        _, data = client.request("GET", url, action=f"reading deployment {deployment_id}")
        latest = (data or [None])[0]  # newest first
        if not isinstance(latest, dict):
            return None
        same = (latest.get("state"), latest.get("description")) == (state, body["description"])
        return True if same else None

    client.write_once(action, write, landed)


def pulls_for_commit(client: GitHubClient, sha: str) -> list[int]:
    """Numbers of the merged pull requests that produced commit `sha` (a merge)."""
    with client.api(f"finding the pull request of commit {sha[:12]}"):
        _, data = client.requester.requestJsonAndCheck(
            "GET", f"{client.repo.url}/commits/{sha}/pulls"
        )
    return [int(p["number"]) for p in data or [] if p.get("merged_at")]


@dataclass
class GitHubRecorder:
    """One deployment per deploy / rollback command; statuses follow its progress. The
    command's key rides in the deployment's payload, so a create whose answer was lost is
    found again instead of recorded twice."""

    client: GitHubClient
    provenance: Provenance
    environment: str | None = None  # default: the alias (production, canary ...)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    _id: int | None = field(default=None, init=False)

    def start(self, target: Target, description: str) -> None:
        """Record the deployment of `target` before the registry is changed."""
        ref = self.provenance.sha or self.client.default_branch
        self._id = create_deployment(
            self.client,
            ref=ref,
            environment=self.environment or target.alias,
            description=description[:140],
            payload={
                "model": target.model,
                "version": target.version,
                "alias": target.alias,
                "uri": target.uri,
                "pr": self.provenance.pr,
            },
            key=self.key,
        )

    def status(self, state: str, description: str) -> None:
        """Add a status to the recorded deployment (nothing when none was started)."""
        if self._id is None:
            return
        deployment_status(
            self.client, self._id, state, description=description, log_url=self.provenance.run_url
        )


def pull_request_of(client: GitHubClient, sha: str | None) -> int | None:
    """The merged pull request behind commit `sha` (the promotion PR), if there is one."""
    if not sha:
        return None
    numbers = pulls_for_commit(client, sha)
    return numbers[0] if numbers else None
