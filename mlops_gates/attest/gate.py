"""The attestation check deploy and rollback run before an alias moves.

On when a verification key is configured (`--verify-key PATH`, else the paths in
$MLOPS_GATES_VERIFY_KEY separated by the platform's path separator) or a keyless policy is
(`--trust-root` with `--certificate-identity[-regexp]`, else $MLOPS_GATES_TRUST_ROOT and
$MLOPS_GATES_CERTIFICATE_IDENTITY[_REGEXP]); off otherwise, so teams that have set up
neither deploy as before. Once on, a version without a valid
attestation is refused like one without a passing gates record, and `--override-gates
REASON` remains the one recorded way past it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.attest import (
    IDENTITY_ENV,
    IDENTITY_REGEXP_ENV,
    ISSUER_ENV,
    TRUST_ROOT_ENV,
    VERIFY_KEY_ENV,
    AttestationError,
)

if TYPE_CHECKING:
    from mlops_gates.attest.rekor import TrustedRoot
    from mlops_gates.attest.sigstore_bundle import Policy
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = [
    "Keyless",
    "attestation_problems",
    "verify_key_paths",
]

_GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


@dataclass(frozen=True)
class Keyless:
    """Who may sign a keyless (Sigstore) attestation: the trust root file and the pinned
    signer workflow (exactly, or a pattern) and OIDC issuer. Unset fields come from
    $MLOPS_GATES_TRUST_ROOT, $MLOPS_GATES_CERTIFICATE_IDENTITY[_REGEXP] and
    $MLOPS_GATES_CERTIFICATE_OIDC_ISSUER."""

    trust_root: Path | None = None
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None

    def resolved(self) -> Keyless:
        """These settings, the environment filling what was not given."""
        root = self.trust_root or (Path(r) if (r := _env(TRUST_ROOT_ENV)) else None)
        given = self.identity is not None or self.identity_regexp is not None
        return Keyless(
            root,
            self.identity if given else _env(IDENTITY_ENV),
            self.identity_regexp if given else _env(IDENTITY_REGEXP_ENV),
            self.issuer or _env(ISSUER_ENV) or _GITHUB_ISSUER,
        )

    @property
    def configured(self) -> bool:
        """Any keyless setting is given (then all it needs must be)."""
        return any(v is not None for v in (self.trust_root, self.identity, self.identity_regexp))

    def load(self) -> tuple[TrustedRoot, Policy]:
        """The trust root read and the policy checked; AttestationError (one line) when a
        part is missing or unreadable."""
        from mlops_gates.attest.sigstore_bundle import Policy, load_trust_root

        if self.trust_root is None:
            raise AttestationError(
                f"a certificate identity is pinned but no trust root: pass --trust-root "
                f"(trusted_root.json) or set {TRUST_ROOT_ENV}"
            )
        if self.identity is None and self.identity_regexp is None:
            raise AttestationError(
                f"{self.trust_root}: a keyless trust root needs the signer pinned: pass "
                "--certificate-identity https://github.com/OWNER/REPO/.github/workflows/"
                f"FILE@REF (or --certificate-identity-regexp), or set {IDENTITY_ENV}"
            )
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise AttestationError(
                    f"certificate identity pattern {self.identity_regexp!r} is not a regular "
                    f"expression ({exc})"
                ) from None
        issuer = self.issuer or _GITHUB_ISSUER
        return load_trust_root(self.trust_root), Policy(self.identity, self.identity_regexp, issuer)


def verify_key_paths(given: Sequence[Path] = ()) -> list[Path]:
    """The configured verification keys: the given paths, else $MLOPS_GATES_VERIFY_KEY."""
    if given:
        return list(given)
    raw = os.environ.get(VERIFY_KEY_ENV, "")
    return [Path(p) for p in raw.split(os.pathsep) if p.strip()]


def attestation_problems(
    conn: MlflowConnection,
    model: str,
    version: str,
    config_digest: str | None,
    keys: Sequence[Path] = (),
    gates_run_id: str | None = None,
    *,
    reference: dict[str, Any] | None = None,
    keyless: Keyless | None = None,
) -> list[str]:
    """Why `model` `version` may not go live on the evidence (empty: verified, or neither a
    key nor a keyless policy configured). `gates_run_id`: the run the manifest names, the
    only place then looked in; `reference`: the manifest's `attestation` (attest.ref),
    whose bundle digest and run then win over the version's tags. Each problem is one sentence."""
    paths = verify_key_paths(keys)
    policy = (keyless or Keyless()).resolved()
    if not paths and not policy.configured:
        return []
    from mlops_gates.attest.dsse import load_public_keys
    from mlops_gates.attest.store import verify_version

    try:
        trusted = load_public_keys(paths) if paths else {}
        pinned = policy.load() if policy.configured else None
        ref = reference or {}
        sha = str(ref.get("sha256") or "").removeprefix("sha256:") or None
        verify_version(
            conn,
            model,
            version,
            trusted,
            config_digest=config_digest,
            gates_run_id=ref.get("run_id") or gates_run_id,
            bundle_sha256=sha,
            keyless=pinned,
        )
    except AttestationError as exc:
        return [f"attestation check failed: {exc}"]
    return []
