"""Sigstore (keyless) bundles verified offline, pinning the workflow that signed.

`actions/attest` and `gh attestation` produce a Sigstore bundle
(application/vnd.dev.sigstore.bundle.v0.3+json): a DSSE envelope over the same in-toto
Statement `attest` makes, and the short-lived X.509 certificate Fulcio issued to the
workflow's OIDC identity. Verified here, with no network:

1. the certificate chains to a certificate of the trust root file the team pins (the
   Fulcio root and intermediate, PEM), every link valid at the signing time;
2. the leaf is a code-signing certificate whose SAN URI is the pinned workflow
   (`https://github.com/OWNER/REPO/.github/workflows/FILE@REF`) and whose OIDC issuer
   extension is the pinned issuer;
3. the DSSE signature verifies with the leaf's ECDSA key;
4. then the same subject / verdict checks as a key-signed bundle (`verify.check_statement`).

With a Sigstore trusted_root.json as the trust root, the transparency-log entry is checked
too (`rekor.py`: the entry is this signature, the log's signed entry timestamp and/or its
inclusion proof with a signed checkpoint verify with a pinned log key) and the signing
time is the log's verified `integratedTime`. With a PEM file of certificates only, the log
is NOT verified: the signing time is then the bundle's own claim (or the caller's), and a
signature that was never logged is accepted; the CLI says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from mlops_gates.attest import PAYLOAD_TYPE, AttestationError, decode_base64
from mlops_gates.attest.dsse import pae
from mlops_gates.attest.rekor import TrustedRoot, load_trusted_root, verify_entry
from mlops_gates.attest.verify import Expect, Verified, check_statement

__all__ = [
    "GITHUB_ISSUER",
    "NOT_VERIFIED",
    "Policy",
    "TrustedRoot",
    "is_sigstore_bundle",
    "load_trust_root",
    "parse_time",
    "unwrap",
    "verify_sigstore",
]

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
NOT_VERIFIED = (
    "transparency log: NOT verified (the trust root is PEM certificates only, no log keys): "
    "Rekor inclusion is not checked and the signing time is the bundle's own claim; pass a "
    "Sigstore trusted_root.json as --trust-root to check it"
)
_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle"
# Fulcio's OIDC issuer: .1.8 is a DER UTF8String; .1.1 (deprecated) the raw string.
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_MAX_CHAIN = 8


@dataclass(frozen=True)
class Policy:
    """Who must have signed: the certificate's SAN URI (exactly, or matching a regular
    expression in full) and its OIDC issuer."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str = GITHUB_ISSUER


def is_sigstore_bundle(data: Any) -> bool:
    """True when `data` (parsed JSON) is a Sigstore bundle rather than a bare DSSE envelope."""
    return isinstance(data, dict) and str(data.get("mediaType", "")).startswith(_MEDIA_TYPE)


def unwrap(data: Any) -> Any:
    """The bundle itself when `data` is GitHub's API record `{"bundle": {...}, ...}`."""
    if (
        isinstance(data, dict)
        and "mediaType" not in data
        and is_sigstore_bundle(data.get("bundle"))
    ):
        return data["bundle"]
    return data


def load_trust_root(path: Path) -> TrustedRoot:
    """The trust root: a Sigstore trusted_root.json (certificate authorities and the
    transparency logs' keys), or a PEM file of Fulcio certificates (no log keys: the log is
    then not verified)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AttestationError(f"{path}: cannot read the trust root ({exc.strerror})") from None
    if raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise AttestationError(f"{path}: the trusted root is not valid JSON") from None
        return load_trusted_root(path, data)
    try:
        certs = x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise AttestationError(
            f"{path}: neither a Sigstore trusted_root.json nor PEM certificates (expected "
            "the Fulcio root/intermediate certificates, -----BEGIN CERTIFICATE-----)"
        ) from None
    return TrustedRoot(certs, {})


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone) or Unix seconds."""
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise AttestationError(
            f"--at {text!r}: not a time (ISO 8601, e.g. 2026-12-06T18:00:00Z, or Unix seconds)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _certificates(material: dict[str, Any], where: str) -> list[x509.Certificate]:
    """The leaf first, then whatever chain the bundle carries (untrusted intermediates)."""
    if isinstance(material.get("certificate"), dict):  # bundle v0.3
        raws = [material["certificate"].get("rawBytes")]
    elif isinstance(material.get("x509CertificateChain"), dict):  # v0.1 / v0.2
        raws = [
            c.get("rawBytes")
            for c in material["x509CertificateChain"].get("certificates") or []
            if isinstance(c, dict)
        ]
    else:
        raise AttestationError(
            f"{where}: verificationMaterial holds no X.509 certificate (a bundle signed with "
            "a public key is not keyless; verify it with --key)"
        )
    if not raws:
        raise AttestationError(f"{where}: the certificate chain is empty")
    certs = []
    for i, raw in enumerate(raws):
        try:
            certs.append(
                x509.load_der_x509_certificate(decode_base64(raw, "certificate rawBytes", where))
            )
        except ValueError:
            raise AttestationError(f"{where}: certificate {i} is not DER X.509") from None
    return certs


def _signing_time(
    material: dict[str, Any],
    envelope: Any,
    leaf: x509.Certificate,
    root: TrustedRoot,
    at: datetime | None,
    where: str,
) -> datetime:
    """When the bundle was signed: the log's verified integration time when the trust root
    pins logs (every entry must verify), else `at`, else the bundle's unverified claim."""
    entries = material.get("tlogEntries")
    entries = entries if isinstance(entries, list) else []
    if root.logs:
        if not isinstance(envelope, dict):
            raise AttestationError(f"{where}: no dsseEnvelope (only DSSE bundles are supported)")
        if not entries:
            raise AttestationError(
                f"{where}: the bundle has no transparency-log entry, and the trust root "
                "requires one: nothing shows the signature was logged"
            )
        times = [verify_entry(e, envelope, leaf, root, where=where) for e in entries]
        return at if at is not None else times[0]
    if at is not None:
        return at
    for entry in entries:
        if isinstance(entry, dict) and str(entry.get("integratedTime", "")).isdigit():
            return datetime.fromtimestamp(int(entry["integratedTime"]), UTC)
    raise AttestationError(
        f"{where}: no transparency-log entry gives the signing time; pass --at TIME (when "
        "the workflow signed)"
    )


def _valid_at(cert: x509.Certificate, when: datetime, what: str, where: str) -> None:
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise AttestationError(
            f"{where}: the {what} certificate was not valid at the signing time "
            f"{when:%Y-%m-%dT%H:%M:%SZ} (valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ})"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return _is_ca(issuer)


def _check_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    when: datetime,
    where: str,
) -> None:
    """Walk from the leaf to a trusted certificate, each link signed by a CA valid at `when`."""
    trusted = {c.fingerprint(hashes.SHA256()) for c in anchors}
    cert, what = leaf, "signing"
    for _ in range(_MAX_CHAIN):
        _valid_at(cert, when, what, where)
        if cert is not leaf and cert.fingerprint(hashes.SHA256()) in trusted:
            return
        issuer = next((c for c in anchors if _issued_by(cert, c)), None)
        if issuer is None:
            issuer = next((c for c in intermediates if _issued_by(cert, c)), None)
        if issuer is None:
            raise AttestationError(
                f"{where}: the {what} certificate (issuer {cert.issuer.rfc4514_string() or '-'}) "
                "does not chain to the trust root: it was issued by another CA"
            )
        cert, what = issuer, "issuing CA"
    raise AttestationError(f"{where}: the certificate chain is longer than {_MAX_CHAIN}")


def _der_utf8(raw: bytes) -> str | None:
    """The text of a DER UTF8String (tag 12), else None."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    size, start = raw[1], 2
    if size & 0x80:
        n = size & 0x7F
        size, start = int.from_bytes(raw[2 : 2 + n], "big"), 2 + n
    body = raw[start : start + size]
    return body.decode("utf-8", "replace") if len(body) == size else None


def _issuer(leaf: x509.Certificate) -> str | None:
    for oid, decode in (
        (_ISSUER_V2, _der_utf8),
        (_ISSUER_V1, lambda b: b.decode("utf-8", "replace")),
    ):
        try:
            value = leaf.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        if isinstance(value, x509.UnrecognizedExtension):
            return decode(value.value)
    return None


def _check_identity(leaf: x509.Certificate, policy: Policy, where: str) -> str:
    """The leaf's SAN URI when it and the OIDC issuer are the pinned ones."""
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise AttestationError(f"{where}: the signing certificate is not for code signing")
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if not uris:
        raise AttestationError(f"{where}: the signing certificate names no workflow (no SAN URI)")
    uri = uris[0]
    if policy.identity is not None and uri != policy.identity:
        raise AttestationError(
            f"{where}: signed by workflow {uri}, not the pinned {policy.identity}"
        )
    if policy.identity_regexp is not None and not re.fullmatch(policy.identity_regexp, uri):
        raise AttestationError(
            f"{where}: signed by workflow {uri}, which does not match the pinned pattern "
            f"{policy.identity_regexp!r}"
        )
    issuer = _issuer(leaf)
    if issuer != policy.issuer:
        raise AttestationError(
            f"{where}: the certificate's OIDC issuer is {issuer or '(none)'}, not the pinned "
            f"{policy.issuer}"
        )
    return uri


def _open_dsse(envelope: Any, leaf: x509.Certificate, where: str) -> dict[str, Any]:
    if not isinstance(envelope, dict):
        raise AttestationError(f"{where}: no dsseEnvelope (only DSSE bundles are supported)")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise AttestationError(
            f"{where}: payloadType is {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE!r}"
        )
    body = decode_base64(envelope.get("payload"), "payload", where)
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
        raise AttestationError(f"{where}: a keyless bundle carries exactly one signature")
    sig = decode_base64(sigs[0].get("sig"), "signature", where)
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AttestationError(f"{where}: the signing certificate's key is not ECDSA")
    digest = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
    try:
        key.verify(sig, pae(PAYLOAD_TYPE, body), ec.ECDSA(digest))
    except InvalidSignature:
        raise AttestationError(
            f"{where}: signature does not verify: the statement was changed after it was signed"
        ) from None
    try:
        statement = json.loads(body)
    except ValueError:
        raise AttestationError(f"{where}: the signed payload is not JSON") from None
    if not isinstance(statement, dict):
        raise AttestationError(f"{where}: the signed payload is not a JSON object")
    return statement


def verify_sigstore(
    bundle: Any,
    model: Path,
    root: TrustedRoot,
    policy: Policy,
    expect: Expect,
    *,
    at: datetime | None = None,
    where: str = "sigstore bundle",
) -> Verified:
    """Verify a Sigstore bundle for the files at `model` against the trust `root` and the
    signer `policy`, offline (the log only when `root` pins log keys: module docstring);
    AttestationError with one line naming the first thing that did not match."""
    bundle = unwrap(bundle)
    if not is_sigstore_bundle(bundle):
        raise AttestationError(f"{where}: not a Sigstore bundle (no {_MEDIA_TYPE} mediaType)")
    if policy.identity is None and policy.identity_regexp is None:
        raise AttestationError(
            "a keyless bundle needs the signer pinned: pass --certificate-identity "
            "https://github.com/OWNER/REPO/.github/workflows/FILE@REF (or "
            "--certificate-identity-regexp)"
        )
    material = bundle.get("verificationMaterial")
    if not isinstance(material, dict):
        raise AttestationError(f"{where}: no verificationMaterial")
    leaf, *chain = _certificates(material, where)
    when = _signing_time(material, bundle.get("dsseEnvelope"), leaf, root, at, where)
    _check_chain(leaf, chain, root.anchors, when, where)
    signer = _check_identity(leaf, policy, where)
    statement = _open_dsse(bundle.get("dsseEnvelope"), leaf, where)
    kid = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    verified = check_statement(statement, model, expect, where=where, keyid=kid, signer=signer)
    return replace(verified, logged=when if root.logs else None)
