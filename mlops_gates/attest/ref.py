"""The reference to an attestation that the promotion pull request lists and the deploy
manifest records: the bundle's sha256, who signed it, and where it is stored.

The manifest is reviewed and merged; the model version's tags are not. Recording the
bundle's digest there means deploy checks the bundle the reviewer saw, and retagging the
version to point at another (older, differently signed) bundle is refused.

Standard library only: promote reads it without the signing machinery.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from mlops_gates.attest import ARTIFACT_DIR, BUNDLE_NAME

__all__ = ["bundle_reference"]

_SIGSTORE = "application/vnd.dev.sigstore.bundle"


def bundle_reference(
    report_dir: Path, doc: dict[str, Any], report_bytes: bytes
) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest's `attestation` for the bundle next to the report, and a note saying
    why there is none (None, None: the run was not signed). The bundle must be about these
    report bytes: one left over from an earlier run is not listed, and the note says so.
    The signature is not checked here (promote holds no key); deploy checks it."""
    path = report_dir / BUNDLE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot read the attestation ({exc.strerror}); not listed"
    try:
        envelope = json.loads(raw)
        keyless = str(envelope.get("mediaType", "")).startswith(_SIGSTORE)
        if keyless:  # a Sigstore bundle from actions/attest wraps the DSSE envelope
            envelope = envelope["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        signed_report = statement["predicate"]["report"]["sha256"]
        signer = "keyless (Sigstore)" if keyless else str(envelope["signatures"][0]["keyid"])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        return None, f"{path}: not an attestation bundle mlops-gates wrote; not listed"
    if signed_report != hashlib.sha256(report_bytes).hexdigest():
        return None, (
            f"{path}: signs another report (left from an earlier run?); not listed: sign "
            "this one with `mlops-gates attest`, or remove the file"
        )
    run_id = ((doc.get("context") or {}).get("mlflow") or {}).get("run_id")
    return {
        "sha256": "sha256:" + hashlib.sha256(raw).hexdigest(),
        "signer": signer,
        "run_id": run_id,
        "path": f"{ARTIFACT_DIR}/{BUNDLE_NAME}" if run_id else BUNDLE_NAME,
    }, None
