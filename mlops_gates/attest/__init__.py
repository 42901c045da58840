"""Signed gate attestations: evidence bound to the bytes of the model that will be served.

A gates run that decides a promotion is turned into an in-toto Statement (v1) whose
subjects are the model's files with their sha256 and whose predicate is the verdict
(`statement.py`), signed offline with an Ed25519 key into a DSSE envelope (`dsse.py`),
stored with the gates run in MLflow (`store.py`), and checked before an alias moves
(`verify.py`). Registry tags stay conveniences; the signature over the file digests is the
proof. See docs/attestations.md.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mlops_gates.errors import MlopsGatesError

__all__ = [
    "ARTIFACT_DIR",
    "BUNDLE_NAME",
    "DIGEST_TAG",
    "IDENTITY_ENV",
    "IDENTITY_REGEXP_ENV",
    "ISSUER_ENV",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "RUN_TAG",
    "SIGNING_KEY_ENV",
    "SIGNING_KEY_FILE_ENV",
    "STATEMENT_TYPE",
    "TRUST_ROOT_ENV",
    "VERIFY_KEY_ENV",
    "AttestationError",
    "decode_base64",
]


STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlops-gates.dev/attestation/gates/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_NAME = "attestation.dsse.json"  # in the report directory and the gates run
ARTIFACT_DIR = "attestation"  # folder of the gates run's artifacts holding the bundle
DIGEST_TAG = "mlops_gates.attestation_sha256"  # model-version tag: sha256 of the bundle
RUN_TAG = "mlops_gates.attestation_run_id"  # model-version tag: the run holding it
SIGNING_KEY_ENV = "MLOPS_GATES_SIGNING_KEY"  # PEM text of the private key
SIGNING_KEY_FILE_ENV = "MLOPS_GATES_SIGNING_KEY_FILE"  # path of the private key (PEM)
VERIFY_KEY_ENV = "MLOPS_GATES_VERIFY_KEY"  # path(s) of public keys, os.pathsep-separated
# Keyless (Sigstore) verification at deploy: the trust root and the pinned signer.
TRUST_ROOT_ENV = "MLOPS_GATES_TRUST_ROOT"  # trusted_root.json (or Fulcio PEM)
IDENTITY_ENV = "MLOPS_GATES_CERTIFICATE_IDENTITY"  # the signer workflow URI, exactly
IDENTITY_REGEXP_ENV = "MLOPS_GATES_CERTIFICATE_IDENTITY_REGEXP"  # or a pattern it matches
ISSUER_ENV = "MLOPS_GATES_CERTIFICATE_OIDC_ISSUER"  # default: GitHub Actions' issuer


class AttestationError(MlopsGatesError):
    """An attestation could not be made, or was refused: one line saying what did not match."""


def decode_base64(text: Any, what: str, where: str) -> bytes:
    """`text`, a field of a bundle or log entry, decoded from base64 (the standard or the
    URL-safe alphabet); an AttestationError naming `what` in `where` when it is missing,
    empty, not text or not base64."""
    if not isinstance(text, str) or not text:
        raise AttestationError(f"{where}: {what} is missing or not a base64 string")
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError(f"{where}: {what} is not valid base64") from None
