"""DSSE envelopes signed offline with Ed25519 keys (PEM files or an environment variable).

DSSE (github.com/secure-systems-lab/dsse, protocol v1) signs the pre-authentication
encoding PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, so a
signature over one payload type can never be replayed as another. A key's id is the hex
sha256 of its raw 32-byte public key: stable, and computable by anyone holding the key.

Sigstore keyless signing is a second `Signer` behind the same envelope (see
docs/attestations.md); it needs the network and an OIDC identity, so it is not here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlops_gates.attest import (
    PAYLOAD_TYPE,
    SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
    AttestationError,
    decode_base64,
)

__all__ = [
    "KeySigner",
    "Signer",
    "keyid",
    "load_public_keys",
    "load_signer",
    "open_envelope",
    "pae",
    "sign_envelope",
]


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of `body` under `payload_type`."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def keyid(public: Ed25519PublicKey) -> str:
    """Hex sha256 of the raw public key bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


class Signer(Protocol):
    """Something that signs PAE bytes: an Ed25519 key here; Sigstore would be another."""

    @property
    def keyid(self) -> str:
        """The id verifiers look the key up by."""

    def sign(self, data: bytes) -> bytes:
        """The signature of `data`."""


@dataclass(frozen=True)
class KeySigner:
    """An Ed25519 private key."""

    key: Ed25519PrivateKey
    keyid: str

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of `data`."""
        return self.key.sign(data)


def load_signer(path: Path | None) -> KeySigner:
    """The private key from `path`, else from $MLOPS_GATES_SIGNING_KEY (PEM text). The key's
    text is never echoed, not even in an error."""
    if path is not None:
        try:
            pem, where = path.read_bytes(), str(path)
        except OSError as exc:
            raise AttestationError(
                f"{path}: cannot read the signing key ({exc.strerror})"
            ) from None
    elif os.environ.get(SIGNING_KEY_ENV):
        pem, where = os.environ[SIGNING_KEY_ENV].encode(), f"${SIGNING_KEY_ENV}"
    else:
        raise AttestationError(
            f"no signing key: pass --key PATH (an Ed25519 private key in PEM), set "
            f"{SIGNING_KEY_ENV} to its PEM text or {SIGNING_KEY_FILE_ENV} to its path; make "
            "one with `openssl genpkey -algorithm ed25519 -out gates.key`"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise AttestationError(
            f"{where}: not an unencrypted PEM private key (expected the output of "
            "`openssl genpkey -algorithm ed25519`)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AttestationError(f"{where}: is {_kind(key)}; an Ed25519 key is required")
    return KeySigner(key, keyid(key.public_key()))


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Verification keys by key id, from PEM public key files."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise AttestationError(
                f"{path}: cannot read the verification key ({exc.strerror})"
            ) from None
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError):
            raise AttestationError(
                f"{path}: not a PEM public key (make one with `openssl pkey -in gates.key "
                "-pubout -out gates.pub`)"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise AttestationError(f"{path}: is {_kind(key)}; an Ed25519 key is required")
        keys[keyid(key)] = key
    if not keys:
        raise AttestationError("no verification key given")
    return keys


def _kind(key: object) -> str:
    name = type(key).__name__.removesuffix("PrivateKey").removesuffix("PublicKey").lstrip("_")
    return f"an {name} key" if name[:1] in "AEIORU" else f"a {name} key"


def sign_envelope(statement: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The DSSE envelope of `statement` signed by `signer`."""
    body = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    signature = signer.sign(pae(PAYLOAD_TYPE, body))
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": signer.keyid, "sig": base64.b64encode(signature).decode()}],
    }


def open_envelope(
    envelope: Any, keys: dict[str, Ed25519PublicKey], *, where: str = "attestation bundle"
) -> tuple[dict[str, Any], str]:
    """The Statement inside a DSSE envelope and the id of the key that signed it; an
    AttestationError with one line when no trusted key's signature verifies."""
    if not isinstance(envelope, dict) or "payload" not in envelope:
        raise AttestationError(f"{where}: not a DSSE envelope (no payload)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise AttestationError(
            f"{where}: payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}"
        )
    body = decode_base64(envelope["payload"], "payload", where)
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise AttestationError(f"{where}: has no signature")
    message = pae(PAYLOAD_TYPE, body)
    known = False
    for entry in signatures:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("keyid")
        candidates = [keys[kid]] if kid in keys else ([] if kid else list(keys.values()))
        known = known or bool(candidates)
        sig = decode_base64(entry.get("sig"), "signature", where)
        for key in candidates:
            try:
                key.verify(sig, message)
            except InvalidSignature:
                continue
            try:
                statement = json.loads(body)
            except ValueError:
                raise AttestationError(f"{where}: the signed payload is not JSON") from None
            if not isinstance(statement, dict):
                raise AttestationError(f"{where}: the signed payload is not a JSON object")
            return statement, keyid(key)
    if not known:
        ids = ", ".join(str(s.get("keyid"))[:16] for s in signatures if isinstance(s, dict))
        raise AttestationError(
            f"{where}: signed by key {ids or '(no key id)'}, which is none of the "
            f"{len(keys)} trusted verification key(s)"
        )
    raise AttestationError(
        f"{where}: signature does not verify: the statement was changed after it was signed"
    )
