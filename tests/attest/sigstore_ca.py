"""A test CA standing in for Fulcio, and the Sigstore bundles actions/attest writes.

The CA issues leaf certificates the way Fulcio does for a GitHub workflow (SAN URI = the
workflow at its ref, the OIDC issuer extensions, code signing); `webpki=True` adds the key
identifiers and key usage Fulcio's real certificates carry, which sigstore-python insists
on. A bundle is a DSSE envelope over an in-toto Statement built from what `mlops-gates
attest --sigstore-inputs` writes. Shared by the attest tests, the act stand-in for
actions/attest (tests/act_standins/attest/sign.py) and bench/attest.py, so this module
imports no pytest."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mlops_gates.attest import PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE
from mlops_gates.attest.dsse import pae

from .rekor_log import Log, dsse_body

REPO = "acme/churn"
WORKFLOW = f"https://github.com/{REPO}/.github/workflows/mlops-train-promote.yml@refs/heads/main"
ISSUER = "https://token.actions.githubusercontent.com"
SIGNED_AT = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
# Fulcio's OIDC issuer extensions: the legacy one holds raw bytes, the current one DER.
LEGACY_ISSUER_OID = "1.3.6.1.4.1.57264.1.1"
ISSUER_OID = "1.3.6.1.4.1.57264.1.8"


def der_utf8(text: str) -> bytes:
    """DER UTF8String, as Fulcio encodes extension 1.3.6.1.4.1.57264.1.8 (short form only)."""
    body = text.encode()
    assert len(body) < 128
    return bytes([0x0C, len(body)]) + body


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a public key (what key ids are hashes of)."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _extension(oid: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value)


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, cn: str, *, webpki: bool = False) -> CA:
        """A self-signed P-384 root valid a year either side of the signing time."""
        key = ec.generate_private_key(ec.SECP384R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(SIGNED_AT - timedelta(days=365))
            .not_valid_after(SIGNED_AT + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
        )
        if webpki:
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        return cls(key, builder.sign(key, hashes.SHA384()))

    def leaf_builder(
        self,
        public_key: ec.EllipticCurvePublicKey,
        *,
        identity: str = WORKFLOW,
        issuer: str = ISSUER,
        legacy_issuer: bool = False,
        valid_from: datetime = SIGNED_AT - timedelta(minutes=1),
        webpki: bool = False,
    ) -> x509.CertificateBuilder:
        """A 10-minute leaf for `identity`, unsigned so a caller can add to it. It carries
        the current issuer extension, the legacy one instead (`legacy_issuer`), or both
        plus key usage and key identifiers (`webpki`, as Fulcio issues them today)."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_from + timedelta(minutes=10))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        )
        if legacy_issuer or webpki:
            builder = builder.add_extension(
                _extension(LEGACY_ISSUER_OID, issuer.encode()), critical=False
            )
        if not legacy_issuer or webpki:
            builder = builder.add_extension(
                _extension(ISSUER_OID, der_utf8(issuer)), critical=False
            )
        if webpki:
            builder = (
                builder.add_extension(
                    x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                    critical=True,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                    critical=False,
                )
            )
        return builder

    def leaf(
        self,
        *,
        identity: str = WORKFLOW,
        issuer: str = ISSUER,
        legacy_issuer: bool = False,
        valid_from: datetime = SIGNED_AT - timedelta(minutes=1),
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """An ephemeral P-256 key and its 10-minute certificate, as Fulcio issues them."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self.leaf_builder(
            key.public_key(),
            identity=identity,
            issuer=issuer,
            legacy_issuer=legacy_issuer,
            valid_from=valid_from,
        )
        return key, builder.sign(self.key, hashes.SHA384())


def statement(
    subjects: str, predicate: dict[str, Any], predicate_type: str = PREDICATE_TYPE
) -> dict[str, Any]:
    """The in-toto Statement actions/attest builds from a `sha256sum`-style subjects list
    (a `*` before a name marks binary mode) and a predicate."""
    subject = []
    for line in subjects.splitlines():
        digest, file = line.split(maxsplit=1)
        subject.append({"name": file.lstrip("*"), "digest": {"sha256": digest}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def statement_from_inputs(inputs: Path) -> dict[str, Any]:
    """The Statement for the folder `mlops-gates attest --sigstore-inputs` wrote."""
    predicate = json.loads((inputs / "predicate.json").read_text())
    return statement((inputs / "subjects.sha256").read_text(), predicate)


def bundle(
    statement: dict[str, Any], key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> dict[str, Any]:
    """A bundle v0.3 laid out as actions/attest writes it (no log entry proof)."""
    body = json.dumps(statement).encode()
    sig = key.sign(pae(PAYLOAD_TYPE, body), ec.ECDSA(hashes.SHA256()))
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [
                {
                    "logIndex": "1",
                    "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                    "integratedTime": str(int(SIGNED_AT.timestamp())),
                }
            ],
        },
        "dsseEnvelope": {
            "payload": b64(body),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": b64(sig), "keyid": ""}],
        },
    }


def logged_bundle(
    statement: dict[str, Any],
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    log: Log,
    when: datetime = SIGNED_AT,
) -> dict[str, Any]:
    """A bundle whose signature `log` integrated at `when`, with its inclusion proof."""
    data = bundle(statement, key, cert)
    entry = log.add(dsse_body(data["dsseEnvelope"], cert), when)
    data["verificationMaterial"]["tlogEntries"] = [entry]
    return data
