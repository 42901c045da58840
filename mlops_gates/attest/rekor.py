"""A Sigstore bundle's transparency-log entry verified offline against the Rekor keys a
team pins (the `tlogs[]` of a Sigstore trusted_root.json).

What a bundle v0.3 `tlogEntries[i]` proves, and how it is checked here:

- `canonicalizedBody` is the Rekor entry (kind `dsse`, version 0.0.1): it must name this
  envelope's payload (sha256) and exactly its signature with this signing certificate, so an
  entry logged for something else proves nothing about this bundle;
- `inclusionPromise.signedEntryTimestamp`: the log's signature over the canonical JSON
  `{"body", "integratedTime", "logID", "logIndex"}` (a promise to include the entry);
- `inclusionProof`: the RFC 6962 audit path from the entry's leaf hash to `rootHash`, and
  the `checkpoint`, a signed note ("origin / size / root", then `— name base64(keyhint ||
  signature)`) by the same log over that root and size;
- `logId.keyId` (sha256 of the log's public key, DER) names a log of the trust root, and
  `integratedTime` falls inside that key's validity and the signing certificate's.

At least one of the promise and the proof must be present; whichever is present must
verify. Not handled: Rekor v2 entries (`dsse` 0.0.2, no promise) and RFC 3161 timestamps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlops_gates.attest import AttestationError, decode_base64

__all__ = [
    "LogKey",
    "TrustedRoot",
    "load_trusted_root",
    "root_from_proof",
    "verify_entry",
]

_NOTE_DASH = "\u2014 "  # a signed note's signature lines start with an em dash and a space


@dataclass(frozen=True)
class LogKey:
    """One transparency log the team trusts: its key and when that key was in service."""

    key_id: bytes  # sha256 of the public key's DER SubjectPublicKeyInfo
    key: Any  # an ECDSA or Ed25519 public key
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class TrustedRoot:
    """The certificates a signing certificate must chain to, and the logs it must be in."""

    anchors: list[x509.Certificate]
    logs: dict[bytes, LogKey]


def _when(text: Any, what: str, where: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise AttestationError(f"{where}: {what} {text!r} is not an RFC 3339 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_trusted_root(path: Path, data: Any) -> TrustedRoot:
    """A Sigstore trusted_root.json (already parsed): the certificate authorities' chains
    become trust anchors, the `tlogs[]` public keys the logs an entry may come from."""
    where = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("certificateAuthorities"), list):
        raise AttestationError(
            f"{where}: not a Sigstore trusted root (no certificateAuthorities); pass the "
            "trusted_root.json of your Sigstore instance or a PEM file of Fulcio certificates"
        )
    anchors: list[x509.Certificate] = []
    for i, ca in enumerate(data["certificateAuthorities"]):
        chain = ((ca or {}).get("certChain") or {}).get("certificates") or []
        for j, cert in enumerate(chain):
            raw = decode_base64(
                (cert or {}).get("rawBytes"), f"certificateAuthorities[{i}] cert {j}", where
            )
            try:
                anchors.append(x509.load_der_x509_certificate(raw))
            except ValueError:
                raise AttestationError(
                    f"{where}: certificateAuthorities[{i}] certificate {j} is not DER X.509"
                ) from None
    if not anchors:
        raise AttestationError(f"{where}: the trusted root names no certificate authority")
    logs: dict[bytes, LogKey] = {}
    for i, tlog in enumerate(data.get("tlogs") or []):
        what = f"tlogs[{i}].publicKey"
        pk = (tlog or {}).get("publicKey") or {}
        raw = decode_base64(pk.get("rawBytes"), f"{what}.rawBytes", where)
        try:
            key = serialization.load_der_public_key(raw)
        except (ValueError, UnsupportedAlgorithm):
            raise AttestationError(f"{where}: {what} is not a DER public key") from None
        if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise AttestationError(f"{where}: {what} is neither ECDSA nor Ed25519")
        valid = pk.get("validFor") or {}
        key_id = hashlib.sha256(raw).digest()
        logs[key_id] = LogKey(
            key_id,
            key,
            _when(valid.get("start"), f"{what}.validFor.start", where),
            _when(valid.get("end"), f"{what}.validFor.end", where),
        )
    if not logs:
        raise AttestationError(
            f"{where}: the trusted root names no transparency log (tlogs[] is empty); the "
            "bundle's log entry cannot be checked"
        )
    return TrustedRoot(anchors, logs)


def _verify_sig(key: Any, sig: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _int(value: Any, what: str, where: str) -> int:
    text = str(value) if isinstance(value, int | str) else ""
    if not text.isdigit():
        raise AttestationError(f"{where}: {what} is missing or not a whole number")
    return int(text)


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_proof(leaf_hash: bytes, index: int, size: int, path: list[bytes]) -> bytes | None:
    """The tree root an RFC 6962 audit path leads to (RFC 9162, 2.1.3.2), or None when the
    path cannot belong to leaf `index` of a tree of `size` leaves."""
    if index >= size:
        return None
    fn, sn, node = index, size - 1, leaf_hash
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = _hash_children(sibling, node)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = _hash_children(node, sibling)
        fn, sn = fn >> 1, sn >> 1
    return node if sn == 0 else None


def _check_body(body: bytes, envelope: dict[str, Any], leaf: x509.Certificate, where: str) -> None:
    """The logged entry must be this envelope's payload and signature, by this certificate."""
    try:
        entry = json.loads(body)
        spec = entry["spec"]
        payload_hash = spec["payloadHash"]
        logged = spec["signatures"]
    except (ValueError, KeyError, TypeError):
        raise AttestationError(
            f"{where}: the log entry body is not a Rekor dsse entry (spec.payloadHash, "
            "spec.signatures)"
        ) from None
    if entry.get("kind") != "dsse" or entry.get("apiVersion") != "0.0.1":
        raise AttestationError(
            f"{where}: the log entry is a {entry.get('kind')} {entry.get('apiVersion')} entry; "
            "only Rekor dsse 0.0.1 entries are supported"
        )
    payload = decode_base64(envelope.get("payload"), "payload", where)
    if payload_hash != {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}:
        raise AttestationError(
            f"{where}: the log entry is for another payload (its payloadHash is not this "
            "statement's sha256): the bundle's log entry was taken from another signature"
        )
    sigs = [
        decode_base64(s.get("sig"), "signature", where) for s in envelope.get("signatures") or []
    ]
    try:
        have = [
            (
                base64.b64decode(s["signature"]),
                x509.load_pem_x509_certificate(base64.b64decode(s["verifier"])),
            )
            for s in logged
        ]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise AttestationError(
            f"{where}: the log entry's signatures are not (signature, PEM certificate) pairs"
        ) from None
    if have != [(sig, leaf) for sig in sigs]:
        raise AttestationError(
            f"{where}: the log entry records another signature or certificate than the "
            "bundle's: the bundle's log entry was taken from another signature"
        )


def _canonical(obj: dict[str, Any]) -> bytes:
    # RFC 8785 for this object: ASCII keys sorted, integers, no spaces.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_promise(
    entry: dict[str, Any], log: LogKey, index: int, integrated: int, where: str
) -> None:
    sig = decode_base64(
        (entry.get("inclusionPromise") or {}).get("signedEntryTimestamp"),
        "inclusionPromise.signedEntryTimestamp",
        where,
    )
    signed = _canonical(
        {
            "body": entry.get("canonicalizedBody"),
            "integratedTime": integrated,
            "logID": log.key_id.hex(),
            "logIndex": index,
        }
    )
    if not _verify_sig(log.key, sig, signed):
        raise AttestationError(
            f"{where}: the log's signed entry timestamp does not verify with the trusted log "
            "key: the entry, its time or its index was changed, or another log signed it"
        )


def _check_checkpoint(text: Any, log: LogKey, size: int, root: bytes, where: str) -> None:
    if not isinstance(text, str) or "\n\n" not in text:
        raise AttestationError(
            f"{where}: the inclusion proof has no signed checkpoint: an unsigned root proves "
            "nothing"
        )
    note, _, sig_lines = text.partition("\n\n")
    lines = note.split("\n")
    if len(lines) < 3:
        raise AttestationError(f"{where}: the checkpoint is not 'origin / size / root hash'")
    try:
        ok = int(lines[1]) == size and base64.b64decode(lines[2], validate=True) == root
    except (ValueError, binascii.Error):
        ok = False
    if not ok:
        raise AttestationError(
            f"{where}: the checkpoint's tree size and root hash are not the inclusion proof's"
        )
    signed = (note + "\n").encode()
    for line in sig_lines.split("\n"):
        if not line.startswith(_NOTE_DASH):
            continue
        b64 = line[len(_NOTE_DASH) :].rpartition(" ")[2]
        try:
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            continue
        # The 4-byte key hint (the start of the log id) picks the line; the signature over
        # the note is what counts, not the name before it.
        if raw[:4] == log.key_id[:4] and _verify_sig(log.key, raw[4:], signed):
            return
    raise AttestationError(
        f"{where}: the checkpoint for tree size {size} is not signed by the trusted log key"
    )


def _check_proof(entry: dict[str, Any], log: LogKey, body: bytes, index: int, where: str) -> None:
    proof = entry.get("inclusionProof") or {}
    size = _int(proof.get("treeSize"), "inclusionProof.treeSize", where)
    proof_index = _int(proof.get("logIndex"), "inclusionProof.logIndex", where)
    root = decode_base64(proof.get("rootHash"), "inclusionProof.rootHash", where)
    hashes_ = proof.get("hashes")
    if not isinstance(hashes_, list):
        raise AttestationError(f"{where}: inclusionProof.hashes is missing")
    path = [decode_base64(h, "inclusionProof.hashes[]", where) for h in hashes_]
    del index  # the proof's own index is the leaf's position in this (sharded) tree
    leaf_hash = hashlib.sha256(b"\x00" + body).digest()
    if root_from_proof(leaf_hash, proof_index, size, path) != root:
        raise AttestationError(
            f"{where}: the inclusion proof does not lead from this entry to the root hash "
            f"{root.hex()[:16]}… (tree size {size}): the entry is not the one the log holds "
            "at that index"
        )
    _check_checkpoint((proof.get("checkpoint") or {}).get("envelope"), log, size, root, where)


def _in_window(when: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or start <= when) and (end is None or when <= end)


def verify_entry(
    entry: Any,
    envelope: dict[str, Any],
    leaf: x509.Certificate,
    root: TrustedRoot,
    *,
    where: str,
) -> datetime:
    """Verify one `tlogEntries[]` item of a bundle for `envelope` signed with `leaf`; returns
    the verified integration time. AttestationError (one line) otherwise."""
    if not isinstance(entry, dict):
        raise AttestationError(f"{where}: a tlogEntries item is not an object")
    kind = entry.get("kindVersion") or {}
    if (kind.get("kind"), kind.get("version")) != ("dsse", "0.0.1"):
        raise AttestationError(
            f"{where}: log entry kind {kind.get('kind')} {kind.get('version')} is not "
            "supported (only Rekor v1 dsse 0.0.1)"
        )
    key_id = decode_base64((entry.get("logId") or {}).get("keyId"), "logId.keyId", where)
    log = root.logs.get(key_id)
    if log is None:
        raise AttestationError(
            f"{where}: the entry was logged by a log the trust root does not name (log id "
            f"{key_id.hex()[:16]}…)"
        )
    index = _int(entry.get("logIndex"), "logIndex", where)
    integrated = _int(entry.get("integratedTime"), "integratedTime", where)
    when = datetime.fromtimestamp(integrated, UTC)
    body = decode_base64(entry.get("canonicalizedBody"), "canonicalizedBody", where)
    _check_body(body, envelope, leaf, where)
    if not entry.get("inclusionPromise") and not entry.get("inclusionProof"):
        raise AttestationError(
            f"{where}: the log entry carries neither an inclusion promise nor an inclusion "
            "proof: nothing shows the signature was logged"
        )
    if entry.get("inclusionPromise"):
        _check_promise(entry, log, index, integrated, where)
    if entry.get("inclusionProof"):
        _check_proof(entry, log, body, index, where)
    if not _in_window(when, log.start, log.end):
        raise AttestationError(
            f"{where}: the log integrated the entry at {when:%Y-%m-%dT%H:%M:%SZ}, outside the "
            "trusted log key's validity"
        )
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        raise AttestationError(
            f"{where}: the log integrated the entry at {when:%Y-%m-%dT%H:%M:%SZ}, outside the "
            f"signing certificate's validity ({leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"to {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}): it was not signed while the "
            "certificate was valid"
        )
    return when
