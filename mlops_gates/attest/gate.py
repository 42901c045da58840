"""The attestation check deploy and rollback run before an alias moves.

On when a verification key is configured (`--verify-key PATH`, else the paths in
$MLOPS_GATES_VERIFY_KEY separated by the platform's path separator); off otherwise, so
teams that have not made keys deploy as before. Once on, a version without a valid
attestation is refused like one without a passing gates record, and `--override-gates
REASON` remains the one recorded way past it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.attest import VERIFY_KEY_ENV, AttestationError

if TYPE_CHECKING:
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = [
    "attestation_problems",
    "verify_key_paths",
]


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
) -> list[str]:
    """Why `model` `version` may not go live on the evidence (empty: verified, or no key
    configured). `gates_run_id`: the run the manifest names, the only place then looked in;
    `reference`: the manifest's `attestation` (attest.ref), whose bundle digest and run then
    win over the version's tags. Each problem is one sentence."""
    paths = verify_key_paths(keys)
    if not paths:
        return []
    from mlops_gates.attest.dsse import load_public_keys
    from mlops_gates.attest.store import verify_version

    try:
        trusted = load_public_keys(paths)
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
        )
    except AttestationError as exc:
        return [f"attestation check failed: {exc}"]
    return []
