"""Signing as part of every gates run, when a key is configured: no extra step to forget.

`mlops-gates check` and `pytest --mlops-gates` end in `runs.finish`; when
$MLOPS_GATES_SIGNING_KEY (PEM text) or $MLOPS_GATES_SIGNING_KEY_FILE (a path) is set, the
report just written (and logged) is attested exactly as `mlops-gates attest` would: the
bundle goes next to the report, into the gates run, and its digest onto the candidate's
model version. A configured key that cannot sign fails the run: the team asked for
evidence, and a run that silently produced none would be refused at deploy much later,
far from the cause.

Standard library only at import: `runs.finish` asks `signing_configured()` on every run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.attest import BUNDLE_NAME, SIGNING_KEY_ENV, SIGNING_KEY_FILE_ENV

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = ["AutoSigned", "sign_run", "signing_configured", "signing_key_path"]


@dataclass(frozen=True)
class AutoSigned:
    """What automatic signing came to: a line to print, or the one error that fails the run."""

    line: str | None = None
    error: str | None = None


def signing_key_path() -> Path | None:
    """$MLOPS_GATES_SIGNING_KEY_FILE as a path (None when unset or blank)."""
    raw = os.environ.get(SIGNING_KEY_FILE_ENV, "").strip()
    return Path(raw) if raw else None


def signing_configured() -> bool:
    """A signing key is configured: the PEM text or a key file in the environment."""
    return bool(os.environ.get(SIGNING_KEY_ENV, "").strip()) or signing_key_path() is not None


def sign_run(report_dir: Path, doc: dict[str, Any], config: Config) -> AutoSigned:
    """Attest the report in `report_dir` (`doc` is it as recorded, with its MLflow run) with
    the configured key; never raises for a problem it can name."""
    from mlops_gates.attest.dsse import load_signer
    from mlops_gates.attest.store import attest_report, model_files, upload_bundle, write_bundle
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.sources.mlflow import connection_for

    where = "signing the gates run (a signing key is configured)"
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    ref = cand.get("resolved_uri") or cand.get("path")
    if not ref:
        return AutoSigned(
            error=f"{where}: the report names no candidate model file (predictions came from "
            f"a column?); attestations cover model files. Unset {SIGNING_KEY_ENV} / "
            f"{SIGNING_KEY_FILE_ENV} for this run, or load the model with `candidate.model`"
        )
    output = report_dir / BUNDLE_NAME
    try:
        signer = load_signer(signing_key_path())
        conn = connection_for(config)
        with model_files(conn, str(ref)) as files:
            envelope = attest_report(report_dir, files, signer)
        sha = write_bundle(envelope, output)
        line = f"attestation: {output} (sha256 {sha[:16]}…, key {signer.keyid[:16]})"
        if (doc.get("context") or {}).get("mlflow"):
            line += f"; {upload_bundle(conn, output, doc, sha)}"
    except MlopsGatesError as exc:
        return AutoSigned(error=f"{where}: {exc}")
    return AutoSigned(line=line)
