"""The MLflow registry as deploy sees it: aliases moved with check-and-set, a lease per
alias, the deployment history, and the gate tags a version must carry.

State lives in the registry itself, so every runner (a laptop, two CI jobs) sees the same:

- registered-model tag ``mlops_gates.alias.<alias>.history``: JSON list of the latest
  moves of that alias (deploy, rollback, auto-rollback), newest last;
- registered-model tag ``mlops_gates.alias.<alias>.lease``: who is moving the alias now;
- model-version tags ``mlops_gates.deploy.<alias>.*``: when, from which commit and pull
  request that version went live, and what it replaced.

MLflow has no compare-and-swap, and a write can take any time to land (a slow proxy, a
retry): a deploy that read "no lease" may overwrite another's lease seconds later. So the
lease (write, wait, re-read) only makes races rare; correctness comes from fencing: the
lease's random token is re-read before every alias move, and after the smoke test the
deploy checks that the alias still points where it put it and the lease is still its own
before it reports success. If not, it reports a conflict naming who moved the alias (from
the alias history), and never moves an alias back unless it still holds this deploy's
version. So a race ends with at most one deploy reporting success, and that one is live.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops_gates.errors import PromotionError
from mlops_gates.sources.mlflow import MlflowConnection, describe_failure, is_missing

__all__ = [
    "DeployConflict",
    "Lease",
    "Move",
    "Registry",
    "describe_version",
    "history_tag",
    "lease_tag",
    "now_iso",
    "version_tag",
]

HISTORY_KEEP = 20  # entries per alias; older ones fall off (the tag value is bounded)
_TAG_VALUE_MAX = 5000
LEASE_SECONDS = 3600.0  # a lease not renewed for this long belongs to a deploy that died
# A long hold (a canary bake) renews its lease at least this often: well inside its life,
# so a slow MLflow request or two cannot let it lapse.
RENEW_SECONDS = LEASE_SECONDS / 6


class DeployConflict(PromotionError):
    """Another deploy or a person moved the alias (or holds its lease) meanwhile."""


def history_tag(alias: str) -> str:
    """The registered-model tag holding `alias`'s history of moves."""
    return f"mlops_gates.alias.{alias}.history"


def lease_tag(alias: str) -> str:
    """The registered-model tag holding the lease of whoever is moving `alias`."""
    return f"mlops_gates.alias.{alias}.lease"


def version_tag(alias: str, field_name: str) -> str:
    """A model-version tag about its deployment on `alias` (deployed_at, git_sha ...)."""
    return f"mlops_gates.deploy.{alias}.{field_name}"


def now_iso() -> str:
    """The current UTC time as tags hold it (seconds, `Z`)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Move:
    """One entry of an alias's history."""

    action: str  # deploy | rollback | auto-rollback
    version: str | None  # where the alias went (None: removed)
    previous: str | None  # where it was
    at: str
    sha: str | None = None
    pr: int | None = None
    actor: str | None = None
    reason: str | None = None
    override: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Move:
        """A move read back from the history tag (missing fields as None)."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        pr = data.get("pr")
        return cls(
            action=str(data.get("action") or "deploy"),
            version=text("version"),
            previous=text("previous"),
            at=str(data.get("at") or ""),
            sha=text("sha"),
            pr=pr if isinstance(pr, int) else None,
            actor=text("actor"),
            reason=text("reason"),
            override=text("override"),
        )


@dataclass(frozen=True)
class Lease:
    """A held deploy lease; its token fences every move made under it."""

    registry: Registry
    alias: str
    token: str
    holder: str
    taken_at: str = ""

    def check(self, doing: str) -> None:
        """DeployConflict unless the lease still carries this deploy's token."""
        held = self.registry._read_lease(lease_tag(self.alias))
        if held and held.get("token") == self.token:
            return
        who = (held or {}).get("holder") or "nobody (it was removed)"
        raise DeployConflict(
            f"the deploy lease on alias '{self.alias}' of model '{self.registry.model}' was "
            f"taken over by {who} while this deploy was {doing}: another deploy wrote its "
            "lease late (a slow or retried request). This deploy stops; check "
            "`mlops-gates status` and retry once the other one finishes"
        )

    def renew(self, doing: str) -> None:
        """Restart the lease's life (a hold may outlast LEASE_SECONDS); DeployConflict when
        it is no longer this deploy's, as for `check`."""
        self.check(doing)
        reg = self.registry
        value = reg._lease_value(self.token, self.holder, self.taken_at)
        with reg._call(f"renewing the deploy lease on alias '{self.alias}' while {doing}"):
            reg._client.set_registered_model_tag(reg.model, lease_tag(self.alias), value)


@dataclass
class Registry:
    """Alias and tag operations for one registered model, every failure explained."""

    conn: MlflowConnection
    model: str
    # Lease: time for a concurrent writer's tag to land. It makes races rare, nothing more:
    # fencing (Lease.check and the deploy's final check) is what keeps them safe.
    settle_seconds: float = 0.5
    # Wall-clock seconds that date a lease (injectable: tests age a lease without waiting).
    clock: Callable[[], float] = time.time
    _client: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from mlops_gates.sources.mlflow import client

        self._client = client(self.conn)

    @contextmanager
    def _call(self, doing: str) -> Iterator[None]:
        try:
            yield
        except PromotionError:
            raise
        except Exception as exc:  # MLflow raises many kinds; all become one sentence
            raise PromotionError(f"{doing}: {describe_failure(exc, self.conn)}") from None

    # -- reading ------------------------------------------------------------------------
    def version(self, version: str) -> Any:
        """The ModelVersion, or a PromotionError saying it does not exist."""
        try:
            return self._client.get_model_version(self.model, version)
        except Exception as exc:
            if is_missing(exc):
                raise PromotionError(
                    f"model '{self.model}' version {version} does not exist in the registry "
                    f"at {self.conn.display_uri}; is the manifest's model.version right, "
                    "and MLFLOW_TRACKING_URI the registry it was registered in?"
                ) from None
            raise PromotionError(
                f"reading model '{self.model}' version {version}: "
                f"{describe_failure(exc, self.conn)}"
            ) from None

    def alias(self, alias: str) -> str | None:
        """The version an alias points to, or None when it does not exist."""
        try:
            mv = self._client.get_model_version_by_alias(self.model, alias)
        except Exception as exc:
            if is_missing(exc):
                return None
            raise PromotionError(
                f"reading alias '{alias}' of model '{self.model}': "
                f"{describe_failure(exc, self.conn)}"
            ) from None
        return str(mv.version)

    def model_tags(self) -> dict[str, str]:
        """The registered model's tags."""
        with self._call(f"reading registered model '{self.model}'"):
            try:
                rm = self._client.get_registered_model(self.model)
            except Exception as exc:
                if is_missing(exc):
                    raise PromotionError(
                        f"model '{self.model}' is not registered at {self.conn.display_uri}"
                    ) from None
                raise
        return dict(rm.tags or {})

    def aliases(self) -> dict[str, str]:
        """Alias -> version of the registered model."""
        with self._call(f"reading registered model '{self.model}'"):
            rm = self._client.get_registered_model(self.model)
        return {str(k): str(v) for k, v in (rm.aliases or {}).items()}

    def run(self, run_id: str) -> Any | None:
        """The MLflow run `run_id`, or None when it does not exist."""
        try:
            return self._client.get_run(run_id)
        except Exception as exc:
            if is_missing(exc):
                return None
            raise PromotionError(
                f"reading MLflow run {run_id}: {describe_failure(exc, self.conn)}"
            ) from None

    def history(self, alias: str) -> list[Move]:
        """The recorded moves of `alias`, oldest first."""
        raw = self.model_tags().get(history_tag(alias))
        if not raw:
            return []
        try:
            entries = json.loads(raw)
        except ValueError:
            return []  # a hand-edited tag must not block a deploy; it is rewritten below
        return [Move.from_dict(e) for e in entries if isinstance(e, dict)]

    # -- writing ------------------------------------------------------------------------
    def move_alias(self, alias: str, version: str | None, *, expect: str | None) -> None:
        """Point `alias` at `version` (None removes it) if it still points at `expect`;
        re-read afterwards. DeployConflict when anyone else moved it."""
        current = self.alias(alias)
        if current != expect:
            raise DeployConflict(
                f"alias '{alias}' of model '{self.model}' now points to "
                f"{describe_version(current)}, not {describe_version(expect)} as read a moment "
                "ago: another deploy or a person moved it; nothing was changed. Check "
                "`mlops-gates status` and retry"
            )
        doing = f"moving alias '{alias}' of model '{self.model}' to {describe_version(version)}"
        with self._call(doing):
            if version is None:
                self._client.delete_registered_model_alias(self.model, alias)
            else:
                self._client.set_registered_model_alias(self.model, alias, version)
        after = self.alias(alias)
        if after != version:
            raise DeployConflict(
                f"alias '{alias}' of model '{self.model}' points to {describe_version(after)} "
                f"right after this deploy moved it to {describe_version(version)}: another "
                "deploy moved it at the same moment. This deploy stops here; check "
                "`mlops-gates status` and retry"
            )

    def tag_version(self, version: str, tags: dict[str, str | None]) -> None:
        """Set (or, for None, delete) tags on model version `version`."""
        with self._call(f"tagging model '{self.model}' version {version}"):
            for key, value in tags.items():
                if value is not None:
                    self._client.set_model_version_tag(
                        self.model, version, key, value[:_TAG_VALUE_MAX]
                    )

    def record(self, alias: str, move: Move) -> None:
        """Append `move` to the alias history (bounded in entries and in size)."""
        entries = [asdict(m) for m in self.history(alias)] + [asdict(move)]
        entries = entries[-HISTORY_KEEP:]
        text = json.dumps(entries, separators=(",", ":"))
        while len(text) > _TAG_VALUE_MAX and len(entries) > 1:
            entries = entries[1:]
            text = json.dumps(entries, separators=(",", ":"))
        with self._call(f"recording the deployment on model '{self.model}'"):
            self._client.set_registered_model_tag(self.model, history_tag(alias), text)

    @contextmanager
    def lease(self, alias: str, holder: str) -> Iterator[Lease]:
        """Hold the alias's lease for the block; DeployConflict when someone else holds it."""
        key = lease_tag(alias)
        token = f"{holder}#{uuid.uuid4().hex[:12]}"
        held = self._read_lease(key)
        if held and held.get("token") != token and not self._expired(held):
            raise DeployConflict(
                f"alias '{alias}' of model '{self.model}' is being moved by another deploy "
                f"({held.get('holder')}, since {held.get('at')}); wait for it to finish and "
                f"retry. A deploy that died leaves this lease; it expires "
                f"{LEASE_SECONDS / 60:.0f} minutes after it was taken or last renewed"
            )
        taken_at = now_iso()
        value = self._lease_value(token, holder, taken_at)
        doing = f"taking the deploy lease on alias '{alias}' of model '{self.model}'"
        try:
            self._client.set_registered_model_tag(self.model, key, value)
        except Exception as exc:
            # Two deploys writing a new lease at the same instant: MLflow's SQL store inserts
            # the tag without a lock, and its unique key refuses the second writer
            # (IntegrityError, as BAD_REQUEST). That writer lost the race, like one whose
            # tag was overwritten; anything else is a real failure.
            time.sleep(self.settle_seconds)
            with self._call(doing):
                other = self._read_lease(key)
            if not other or other.get("token") == token or self._expired(other):
                raise PromotionError(f"{doing}: {describe_failure(exc, self.conn)}") from None
            raise self._lost(alias, other) from None
        time.sleep(self.settle_seconds)
        again = self._read_lease(key)
        if not again or again.get("token") != token:
            raise self._lost(alias, again)
        try:
            yield Lease(self, alias, token, holder, taken_at)
        finally:
            # Give the lease back only if it is still ours (it may have expired and moved on).
            try:
                current = self._read_lease(key)
                if current and current.get("token") == token:
                    self._client.delete_registered_model_tag(self.model, key)
            except Exception:
                pass

    def _lost(self, alias: str, winner: dict[str, Any] | None) -> DeployConflict:
        return DeployConflict(
            f"another deploy of alias '{alias}' of model '{self.model}' started at the "
            f"same moment ({(winner or {}).get('holder')}) and holds it; this one stops "
            "without changing anything. Retry after it finishes"
        )

    def _lease_value(self, token: str, holder: str, taken_at: str) -> str:
        # `at`: when it was taken, for people; `t`: when it was written, for expiry.
        return json.dumps({"token": token, "holder": holder, "at": taken_at, "t": self.clock()})

    def _expired(self, lease: dict[str, Any]) -> bool:
        try:
            return self.clock() - float(lease.get("t", 0)) > LEASE_SECONDS
        except (TypeError, ValueError):
            return True

    def _read_lease(self, key: str) -> dict[str, Any] | None:
        raw = self.model_tags().get(key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def describe_version(version: str | None) -> str:
    """ "version 7", or what an absent alias is called in messages."""
    return "no version (alias absent)" if version is None else f"version {version}"
