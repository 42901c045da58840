"""Deployments recorded on GitHub (the Deployments API), so a repository's Environments
page shows which model version each merge deployed, and whether it stuck."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from mlops_gates.promote.deploy import Provenance, Target
from mlops_gates.promote.github import GitHubClient


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
        ref = self.provenance.sha or self.client.default_branch
        self._id = self.client.create_deployment(
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
        if self._id is None:
            return
        self.client.deployment_status(
            self._id, state, description=description, log_url=self.provenance.run_url
        )


def pull_request_of(client: GitHubClient, sha: str | None) -> int | None:
    """The merged pull request behind commit `sha` (the promotion PR), if there is one."""
    if not sha:
        return None
    numbers = client.pulls_for_commit(sha)
    return numbers[0] if numbers else None
