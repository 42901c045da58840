"""What a deploy is about and what came of it: the manifest's target, who asked for the move
(provenance), the outcome, where moves are also recorded, and whether the version's gates
record vouches for it (`gate_problems`, `run_problems`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "GATE_CONFIG_TAG",
    "GATE_RUN_TAG",
    "GATE_STATUS_TAG",
    "NoRecorder",
    "Outcome",
    "Provenance",
    "Recorder",
    "Status",
    "Target",
    "gate_problems",
    "run_problems",
]

Status = Literal["deployed", "unchanged", "refused", "rolled_back", "failed", "conflict"]
# Tags `mlops_gates.tracking` writes on the candidate's model version after a gates run.
GATE_STATUS_TAG = "mlops_gates.status"
GATE_CONFIG_TAG = "mlops_gates.config_digest"
GATE_RUN_TAG = "mlops_gates.report_run_id"


@dataclass(frozen=True)
class Target:
    """What a manifest asks for."""

    model: str
    version: str
    alias: str
    uri: str
    config_digest: str | None = None
    gates_run_id: str | None = None
    attestation: dict[str, Any] | None = None  # the manifest's reference to the signed bundle

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Target:
        """The target a deploy manifest names."""
        m = manifest["model"]
        return cls(
            model=str(m["name"]),
            version=str(m["version"]),
            alias=str(manifest["alias"]),
            uri=str(m["uri"]),
            config_digest=(manifest.get("digests") or {}).get("config"),
            gates_run_id=(manifest.get("mlflow") or {}).get("gates_run_id"),
            attestation=manifest.get("attestation"),
        )


@dataclass(frozen=True)
class Provenance:
    """Who and what asked for this move (from GitHub Actions' environment when there)."""

    sha: str | None = None
    pr: int | None = None
    actor: str | None = None
    run_url: str | None = None

    @classmethod
    def from_env(cls, *, sha: str | None = None, pr: int | None = None) -> Provenance:
        """Who and what from GitHub Actions' environment (actor, commit, run page), when there."""
        env = os.environ
        run_url = None
        if (
            env.get("GITHUB_SERVER_URL")
            and env.get("GITHUB_REPOSITORY")
            and env.get("GITHUB_RUN_ID")
        ):
            run_url = (
                f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/"
                f"{env['GITHUB_RUN_ID']}"
            )
        actor = env.get("GITHUB_ACTOR") or env.get("USER") or None
        return cls(sha=sha or env.get("GITHUB_SHA") or None, pr=pr, actor=actor, run_url=run_url)


@dataclass
class Outcome:
    """What a deploy or rollback came to: its status, one sentence, and the alias before
    and after."""

    status: Status
    message: str
    target: Target
    previous: str | None = None
    live: str | None = None  # where the alias is when the command ends
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the alias now serves the target (deployed, or it already did)."""
        return self.status in ("deployed", "unchanged")


class Recorder(Protocol):
    """Somewhere deployments are also recorded (GitHub's Deployments API)."""

    def start(self, target: Target, description: str) -> None:
        """Create the deployment record of `target`."""

    def status(self, state: str, description: str) -> None:
        """Add a status to the record `start` created."""


class NoRecorder:
    """Records nothing: the registry alone is the deployment."""

    def start(self, target: Target, description: str) -> None:
        """Nothing to create."""

    def status(self, state: str, description: str) -> None:
        """Nothing to add."""


def gate_problems(tags: dict[str, str], target: Target) -> list[str]:
    """Why this version may not be deployed (empty: its gates passed under the same config)."""
    status = tags.get(GATE_STATUS_TAG)
    where = f"model '{target.model}' version {target.version}"
    if status is None:
        return [
            f"{where} has no gates record (tag {GATE_STATUS_TAG}): run the gates on it with "
            "MLflow tracking on (`mlops-gates check` or `pytest --mlops-gates`) before deploying"
        ]
    problems = []
    if status != "pass":
        problems.append(f"{where}: its last gates run ended '{status}', not 'pass'")
    recorded = tags.get(GATE_CONFIG_TAG)
    if target.config_digest and recorded != target.config_digest:
        problems.append(
            f"{where} passed its gates under config digest {str(recorded)[:19]}, but the "
            f"manifest was promoted with {target.config_digest[:19]}: the gates that passed "
            "are not the ones the pull request showed; re-run the gates and promote again"
        )
    return problems


def run_problems(
    run: Any | None,
    run_id: str | None,
    tags: dict[str, str],
    target: Target,
    *,
    manifest: bool = True,
) -> list[str]:
    """Why the gates run behind a version does not vouch for it: the version's record must
    name the run the manifest names, and that run must have finished with `pass` for this
    model version. (A tag on the version is easy to set by hand; the run is the record.)"""
    where = f"model '{target.model}' version {target.version}"
    recorded = tags.get(GATE_RUN_TAG)
    if not run_id and manifest is False:
        return [f"{where} names no gates run (tag {GATE_RUN_TAG}): its gates were not logged"]
    if not run_id:
        return [
            f"the manifest names no gates run (mlflow.gates_run_id), so deploy cannot check "
            f"that {where} passed its gates: log the report to MLflow (`mlops-gates log`) "
            "and promote again"
        ]
    if run is None:
        return [f"the manifest's gates run {run_id} does not exist in MLflow"]
    run_tags = dict(run.data.tags or {})
    named = (
        run_tags.get("mlops_gates.candidate.name"),
        run_tags.get("mlops_gates.candidate.version"),
    )
    if recorded != run_id and named != (target.model, target.version):
        # A later gates run of the same version (the PR workflow gating the promotion pull
        # request again) moves the version's tag on; the manifest's run still vouches when
        # it names this very version, and the checks below hold it to having passed.
        return [
            f"{where}'s gates record comes from MLflow run {recorded or 'none'} (tag "
            f"{GATE_RUN_TAG}), but the manifest was promoted from run {run_id}, which "
            "does not name this version: the gates that passed are not the ones the pull "
            "request showed; re-run the gates and promote again"
        ]
    problems = []
    ended = run_tags.get(GATE_STATUS_TAG)
    if ended != "pass" or str(run.info.status) != "FINISHED":
        problems.append(
            f"the gates run {run_id} behind {where} ended '{ended}' "
            f"(run {str(run.info.status).lower()}), not 'pass'"
        )
    if named != (None, None) and named != (target.model, target.version):
        problems.append(
            f"the gates run {run_id} judged model '{named[0]}' version {named[1]}, not {where}"
        )
    return problems


# What the smoke command inherits from the deploy's environment (docs/deploy.md): enough
# to run a program and reach the registry, never the tokens of the step that deploys
