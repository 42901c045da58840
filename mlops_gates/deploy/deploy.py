"""`mlops-gates deploy` and `rollback`: carry out what the manifest on the default branch says.

Deploy = verify that the manifest's model version passed its gates under the config the
manifest names (the version's gates record must come from the gates run the manifest
names, and that run must have passed), move the alias (optionally a canary alias first),
run the user's smoke command, and move the alias back if that command fails or times out.
Success is reported only after checking that the alias still points where this deploy put
it (see `registry.py` on fencing). A manifest that is already live changes nothing. Every
move is recorded in the registry (see `registry.py`) and, when a recorder is given, as a
GitHub deployment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_gates.deploy.registry import (
    DeployConflict,
    Lease,
    Move,
    Registry,
    describe_version,
    now_iso,
    version_tag,
)

# The data and the checks live in their own modules; their names stay importable from here.
from mlops_gates.deploy.smoke import Bake, Smoke, run_bake, run_smoke, smoke_environment
from mlops_gates.deploy.target import (
    GATE_RUN_TAG,
    NoRecorder,
    Outcome,
    Provenance,
    Recorder,
    Status,
    Target,
    gate_problems,
    run_problems,
)
from mlops_gates.errors import PromotionError

if TYPE_CHECKING:
    from mlops_gates.attest.gate import Keyless

__all__ = [
    "Bake",
    "Deployer",
    "Outcome",
    "Provenance",
    "Recorder",
    "Smoke",
    "Status",
    "Target",
    "gate_problems",
    "run_bake",
    "run_problems",
    "run_smoke",
    "smoke_environment",
]


@dataclass
class Deployer:
    """Moves registry aliases to the versions manifests name, and back: gate evidence
    checked, one mover at a time (a lease), smoke-tested, recorded."""

    registry: Registry
    provenance: Provenance = field(default_factory=Provenance)
    recorder: Recorder = field(default_factory=NoRecorder)
    tracking_uri: str | None = None  # handed to the smoke command as MLFLOW_TRACKING_URI
    verify_keys: tuple[Path, ...] = ()  # attestation keys; none: $MLOPS_GATES_VERIFY_KEY or off
    keyless: Keyless | None = None  # keyless signer policy; none: $MLOPS_GATES_TRUST_ROOT… or off

    def deploy(
        self,
        target: Target,
        *,
        smoke: Smoke | None = None,
        canary: str | None = None,
        override: str | None = None,
        bake: Bake | None = None,
    ) -> Outcome:
        """Point `target.alias` at `target.version` once its gates passed (or `override`
        says why not), optionally through a `canary` alias, smoke-tested, and held there
        for a `bake` whose judge decides between promoting and rolling the canary back."""
        if bake is not None and canary is None:
            raise PromotionError("a bake holds the canary: name the canary alias (--canary-alias)")
        reg = self.registry
        live = reg.alias(target.alias)
        if live == target.version:
            if canary is not None:
                # A revert (or an auto-rollback) put production back: the canary follows.
                self._sync_canary(canary, target.version, f"{target.alias} serves it")
            return Outcome(
                "unchanged",
                f"model '{target.model}' version {target.version} is already live on alias "
                f"'{target.alias}': nothing to do",
                target,
                previous=live,
                live=live,
            )
        mv = reg.version(target.version)
        tags = dict(mv.tags or {})
        problems = gate_problems(tags, target)
        if not problems:
            gates_run = reg.run(target.gates_run_id) if target.gates_run_id else None
            problems = run_problems(gates_run, target.gates_run_id, tags, target)
        problems += self._evidence(target)
        if problems and not override:
            message = (
                "refusing to deploy: "
                + "; ".join(problems)
                + (
                    ". To deploy anyway, pass --override-gates 'REASON' "
                    "(recorded with the deployment)"
                )
            )
            self._record_safely("error", message[:140], target, start=True)
            return Outcome("refused", message, target, previous=live, live=live)
        outcome = Outcome("deployed", "", target, previous=live)
        self._record_safely(
            "in_progress", f"{target.model} v{target.version} -> {target.alias}", target, start=True
        )
        try:
            with reg.lease(target.alias, self._holder(target)) as lease:
                live = reg.alias(target.alias)
                outcome.previous = live
                if live == target.version:  # another deploy did it while we waited
                    outcome.status, outcome.live = "unchanged", live
                    outcome.message = (
                        f"model '{target.model}' version {target.version} is already live on "
                        f"alias '{target.alias}': nothing to do"
                    )
                    self._record_safely("success", "already live", target)
                    return outcome
                stages = [a for a in (canary, target.alias) if a]
                for alias in stages:
                    lease.check(f"about to move alias '{alias}'")
                    before = reg.alias(alias)
                    failed = self._move_and_smoke(target, alias, smoke, override, outcome)
                    if failed:
                        return outcome
                    if bake is not None and alias == canary:
                        answer, why, looks = run_bake(
                            bake, renew=lambda: lease.renew("baking the canary")
                        )
                        promote = answer == "pass" or (
                            answer == "bake" and bake.on_inconclusive == "promote"
                        )
                        if not promote:
                            what = (
                                f"canary bake failed after {looks} look(s): {why}"
                                if answer == "fail"
                                else f"canary bake ended undecided after {looks} look(s) "
                                f"({why}); pass --if-inconclusive promote to promote then"
                            )
                            lease.check("baking the canary")
                            self._undo(target, alias, before, what, outcome)
                            return outcome
                        outcome.warnings.append(
                            f"canary bake: {answer} after {looks} look(s): {why}"
                        )
                self._verify(target, lease, "smoke-testing" if smoke else "recording")
        except DeployConflict as exc:
            outcome.status, outcome.message = "conflict", str(exc)
            outcome.live = self._alias_or_none(target.alias)
            self._record_safely("failure", "conflict with another deploy", target)
            return outcome
        except PromotionError as exc:
            # MLflow failed mid-way: the GitHub record must not stay "in progress".
            self._record_safely("error", str(exc)[:140], target)
            raise
        outcome.live = target.version
        via = f" (canary alias '{canary}' first)" if canary else ""
        outcome.message = (
            f"deployed model '{target.model}' version {target.version} to alias "
            f"'{target.alias}'{via}; it replaced {describe_version(outcome.previous)}"
            + ("; smoke command passed" if smoke else "")
        )
        if override:
            outcome.message += f"; gates check overridden: {override}"
        self._record_safely("success", f"v{target.version} live on {target.alias}", target)
        return outcome

    def _move_and_smoke(
        self,
        target: Target,
        alias: str,
        smoke: Smoke | None,
        override: str | None,
        outcome: Outcome,
    ) -> bool:
        """Move one alias to the target and smoke it; True when the deploy must stop."""
        reg = self.registry
        before = reg.alias(alias)
        if before != target.version:  # a canary may already be there: still smoke it
            reg.move_alias(alias, target.version, expect=before)
        move = self._move("deploy", target.version, before, override=override)
        reg.record(alias, move)
        reg.tag_version(
            target.version,
            {
                version_tag(alias, "deployed_at"): move.at,
                version_tag(alias, "git_sha"): move.sha,
                version_tag(alias, "pr"): None if move.pr is None else str(move.pr),
                version_tag(alias, "previous_version"): before or "",
                version_tag(alias, "run_url"): self.provenance.run_url,
                version_tag(alias, "override_reason"): override,
            },
        )
        if smoke is None:
            return False
        print(
            f"mlops-gates: smoke-testing model '{target.model}' version {target.version} "
            f"on alias '{alias}': {smoke.command}",
            flush=True,
        )
        passed, what = run_smoke(smoke, self._smoke_env(target, alias))
        if passed:
            return False
        self._undo(target, alias, before, what, outcome)
        return True

    def _undo(
        self, target: Target, alias: str, before: str | None, what: str, outcome: Outcome
    ) -> None:
        """Move `alias` back to `before` after `what` went wrong, only while it still holds
        the target; `outcome` says how that went."""
        reg = self.registry
        # Undo: only while the alias still holds what we put there.
        outcome.status = "rolled_back"
        restored_to = before
        try:
            reg.move_alias(alias, before, expect=target.version)
            reg.record(alias, self._move("auto-rollback", before, target.version, reason=what))
            reg.tag_version(
                target.version, {version_tag(alias, "rolled_back"): f"{now_iso()} {what}"}
            )
        except PromotionError as exc:
            outcome.status = "failed"
            restored_to = reg.alias(alias) if not isinstance(exc, DeployConflict) else None
            outcome.message = (
                f"{what} for model '{target.model}' version {target.version} on alias "
                f"'{alias}', and moving the alias back to {describe_version(before)} failed: "
                f"{exc}"
            )
            outcome.live = self._alias_or_none(target.alias)
            self._record_safely("failure", f"{what}; rollback failed"[:140], target)
            return
        # A failed canary leaves production untouched; a failed production smoke leaves
        # a canary (if any) on the new version, which the next deploy or rollback moves.
        outcome.message = (
            f"{what}: model '{target.model}' version {target.version} was rolled back on "
            f"alias '{alias}' to {describe_version(restored_to)}"
        )
        if alias != target.alias:
            outcome.message += f"; alias '{target.alias}' was not touched"
        outcome.live = self._alias_or_none(target.alias)
        self._record_safely("failure", f"{what}; rolled back to {restored_to}"[:140], target)

    def _sync_canary(
        self, canary: str, version: str, why: str, *, only_from: str | None = None
    ) -> None:
        """Point the `canary` alias at `version` too (when it exists and, with `only_from`,
        only when it serves that version): production went back, the canary follows."""
        reg = self.registry
        held = reg.alias(canary)
        if held is None or held == version or (only_from is not None and held != only_from):
            return
        reg.move_alias(canary, version, expect=held)
        reg.record(canary, self._move("rollback", version, held, reason=why))
        print(f"mlops-gates: alias '{canary}' moved from version {held} to {version} ({why})")

    def rollback(
        self,
        model: str,
        alias: str,
        *,
        to: str | None,
        reason: str,
        override: str | None = None,
        canary: str | None = None,
    ) -> Outcome:
        """Move `alias` back to `to` (default: the version it held before), recording `reason`;
        a `canary` alias serving the version rolled back from moves with it."""
        reg = self.registry
        with reg.lease(alias, f"rollback by {self.provenance.actor or 'unknown'}"):
            live = reg.alias(alias)
            history = reg.history(alias)
            target_version = to or _previous(history, live)
            target = Target(model, target_version or "", alias, f"models:/{model}/{target_version}")
            if target_version is None:
                raise PromotionError(
                    f"no earlier version of model '{model}' is recorded for alias '{alias}' "
                    f"(it points to {describe_version(live)}); pass --to VERSION"
                )
            if target_version == live:
                return Outcome(
                    "unchanged",
                    f"alias '{alias}' of model '{model}' already points to version {live}",
                    target,
                    previous=live,
                    live=live,
                )
            mv = reg.version(target_version)
            deployed_before = any(m.version == target_version for m in history)
            problems = [] if deployed_before else gate_problems(dict(mv.tags or {}), target)
            if not deployed_before and not problems:
                # No manifest here: the version's own gates run must have passed.
                run_id = dict(mv.tags or {}).get(GATE_RUN_TAG)
                run = reg.run(run_id) if run_id else None
                problems = run_problems(run, run_id, dict(mv.tags or {}), target, manifest=False)
            problems += self._evidence(target)  # files can change after a version was live
            if problems and not override:
                return Outcome(
                    "refused",
                    "refusing to roll back: "
                    + "; ".join(problems)
                    + ". Pass --override-gates 'REASON' to move the alias anyway",
                    target,
                    previous=live,
                    live=live,
                )
            self._record_safely("in_progress", f"rollback to v{target_version}", target, start=True)
            reg.move_alias(alias, target_version, expect=live)
            move = self._move("rollback", target_version, live, reason=reason, override=override)
            reg.record(alias, move)
            reg.tag_version(
                target_version,
                {
                    version_tag(alias, "deployed_at"): move.at,
                    version_tag(alias, "previous_version"): live or "",
                    version_tag(alias, "rollback_reason"): reason,
                    version_tag(alias, "override_reason"): override,
                },
            )
            if live is not None:
                reg.tag_version(live, {version_tag(alias, "rolled_back"): f"{move.at} {reason}"})
            if canary is not None and canary != alias and live is not None:
                self._sync_canary(canary, target_version, reason, only_from=live)
        self._record_safely("success", f"rolled back to v{target_version}: {reason}"[:140], target)
        return Outcome(
            "deployed",
            f"rolled back alias '{alias}' of model '{model}' from {describe_version(live)} to "
            f"version {target_version} ({reason})",
            target,
            previous=live,
            live=target_version,
        )

    # -- helpers ---------------------------------------------------------------------------
    def _move(
        self,
        action: str,
        version: str | None,
        previous: str | None,
        *,
        reason: str | None = None,
        override: str | None = None,
    ) -> Move:
        """An alias move by this deployer, stamped now with who and what asked for it."""
        p = self.provenance
        return Move(
            action, version, previous, now_iso(), sha=p.sha, pr=p.pr, actor=p.actor,
            reason=reason, override=override,
        )  # fmt: skip

    def _verify(self, target: Target, lease: Lease, doing: str) -> None:
        """Before reporting success: the alias still holds this deploy's version, and no
        other deploy took the lease (a late write) meanwhile. DeployConflict otherwise."""
        reg = self.registry
        now = reg.alias(target.alias)
        if now != target.version:
            raise DeployConflict(
                f"model '{target.model}' version {target.version} went live on alias "
                f"'{target.alias}', but while this deploy was {doing} the alias was moved to "
                f"{describe_version(now)} by {self._last_mover(target.alias, now)}. This "
                "deploy did not stick and reports failure; check `mlops-gates status`"
            )
        lease.check(doing)

    def _last_mover(self, alias: str, version: str | None) -> str:
        """Who put `alias` on `version`, from the alias history (best effort)."""
        try:
            history = self.registry.history(alias)
        except PromotionError:
            history = []
        for move in reversed(history):
            if move.version == version:
                parts = [f"{move.action} by {move.actor or 'unknown'} at {move.at}"]
                if move.sha:
                    parts.append(f"commit {move.sha[:12]}")
                if move.pr is not None:
                    parts.append(f"PR #{move.pr}")
                return ", ".join(parts)
        return "someone outside mlops-gates (no deploy recorded it)"

    def _evidence(self, target: Target) -> list[str]:
        from mlops_gates.attest.gate import attestation_problems

        t, conn = target, self.registry.conn
        return attestation_problems(
            conn,
            t.model,
            t.version,
            t.config_digest,
            self.verify_keys,
            t.gates_run_id,
            reference=t.attestation,
            keyless=self.keyless,
        )

    def _holder(self, target: Target) -> str:
        who = self.provenance.actor or "unknown"
        where = f" run {self.provenance.run_url}" if self.provenance.run_url else ""
        return f"deploy of v{target.version} by {who}{where}"

    def _smoke_env(self, target: Target, alias: str) -> dict[str, str]:
        env = {
            "MODEL_NAME": target.model,
            "MODEL_VERSION": target.version,
            "MODEL_ALIAS": alias,
            "MODEL_URI": f"models:/{target.model}/{target.version}",
            "MODEL_ALIAS_URI": f"models:/{target.model}@{alias}",
        }
        if self.tracking_uri:
            env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        return env

    def _alias_or_none(self, alias: str) -> str | None:
        try:
            return self.registry.alias(alias)
        except PromotionError:
            return None

    def _record_safely(
        self, state: str, description: str, target: Target, *, start: bool = False
    ) -> None:
        # The registry is the deployment; a GitHub record that fails is a warning.
        try:
            if start:
                self.recorder.start(target, description)
            self.recorder.status(state, description)
        except PromotionError as exc:
            print(f"mlops-gates: warning: GitHub deployment record: {exc}", file=sys.stderr)


def _previous(history: list[Move], live: str | None) -> str | None:
    """The version the alias held before its current one, from the recorded moves."""
    for move in reversed(history):
        if move.version == live and move.action in ("deploy", "rollback"):
            return move.previous
    return None
