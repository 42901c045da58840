"""A transparency log made here, standing in for Rekor v1: its own P-256 key, entries
hashed into an RFC 6962 Merkle tree (written from the RFC's recursive definitions, not
from the verifier's iterative walk), a signed entry timestamp per entry and a checkpoint
in the signed-note format. It writes what a bundle v0.3 `tlogEntries[]` item holds, and
the trusted_root.json naming it next to a test Fulcio CA."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ORIGIN = "rekor.test.local - 1193050959916656506"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 2.1: the Merkle Tree Hash of a list of entries."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return _leaf(leaves[0])
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def audit_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1: PATH(m, D[n]), leaf to root."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*audit_path(m, leaves[:k]), mth(leaves[k:])]
    return [*audit_path(m - k, leaves[k:]), mth(leaves[:k])]


def dsse_body(envelope: dict[str, Any], cert: x509.Certificate) -> bytes:
    """The canonicalised Rekor `dsse` 0.0.1 entry for an envelope signed with `cert`."""
    payload = base64.b64decode(envelope["payload"])
    pem = cert.public_bytes(serialization.Encoding.PEM)
    entry = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {
                "algorithm": "sha256",
                "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest(),
            },
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [
                {"signature": s["sig"], "verifier": b64(pem)} for s in envelope["signatures"]
            ],
        },
    }
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Log:
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    leaves: list[bytes] = field(
        default_factory=lambda: [f"someone else's entry {i}".encode() for i in range(4)]
    )

    @property
    def der(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.der).digest()

    def _sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def checkpoint(self, size: int, root: bytes) -> str:
        note = f"{ORIGIN}\n{size}\n{b64(root)}\n"
        sig = self.key_id[:4] + self._sign(note.encode())
        return f"{note}\n\u2014 {ORIGIN.split(' ')[0]} {b64(sig)}\n"

    def add(self, body: bytes, when: datetime, *, extra_after: int = 1) -> dict[str, Any]:
        """Log `body`, then `extra_after` other entries; the bundle's tlogEntries item."""
        index = len(self.leaves)
        self.leaves.append(body)
        self.leaves += [f"later entry {index + i}".encode() for i in range(extra_after)]
        integrated = int(when.timestamp())
        body64 = b64(body)
        promise = json.dumps(
            {
                "body": body64,
                "integratedTime": integrated,
                "logID": self.key_id.hex(),
                "logIndex": index,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        root = mth(self.leaves)
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.key_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated),
            "inclusionPromise": {"signedEntryTimestamp": b64(self._sign(promise))},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(len(self.leaves)),
                "hashes": [b64(h) for h in audit_path(index, self.leaves)],
                "checkpoint": {"envelope": self.checkpoint(len(self.leaves), root)},
            },
            "canonicalizedBody": body64,
        }


def trusted_root(
    ca: x509.Certificate, log: Log, *, start: str = "2020-01-01T00:00:00Z"
) -> dict[str, Any]:
    """A Sigstore trusted_root.json (v0.1) naming the test CA and the test log."""
    return {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.test.local",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(log.der),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": b64(log.key_id)},
            }
        ],
        "certificateAuthorities": [
            {
                "subject": {"organization": "test", "commonName": "test fulcio root"},
                "uri": "https://fulcio.test.local",
                "certChain": {
                    "certificates": [{"rawBytes": b64(ca.public_bytes(serialization.Encoding.DER))}]
                },
                "validFor": {"start": start},
            }
        ],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
