"""Truth from outside: sigstore-python (Sigstore's own Python client, nobody here wrote it)
verifies the same keyless bundles as `mlops-gates verify`, against the same
trusted_root.json, and the two must agree: the honest bundle passes both, each tampered
log entry fails both.

sigstore-python also checks what our verifier does not (the certificate's embedded SCT
from a CT log), so the CA here issues Fulcio-shaped certificates: webpki extensions and an
SCT signed by a CT log key the trusted root names. Skipped when `sigstore` is not
installed (it is not a dependency of the package)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mlops_gates.cli import main

from .rekor_log import Log, b64, trusted_root
from .sigstore_ca import CA, ISSUER, SIGNED_AT, WORKFLOW, logged_bundle, spki
from .test_sigstore_bundle import World
from .test_sigstore_bundle import world as world  # the fixture

sigstore_models = pytest.importorskip("sigstore.models")
sigstore_verifier = pytest.importorskip("sigstore.verify.verifier")
sigstore_policy = pytest.importorskip("sigstore.verify.policy")

_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _der_octets(body: bytes) -> bytes:
    size = len(body)
    head = bytes([size]) if size < 128 else bytes([0x82]) + size.to_bytes(2, "big")
    return b"\x04" + head + body


@dataclass
class Fulcio:
    """A CA shaped like Fulcio's (webpki extensions) with a CT log for embedded SCTs."""

    ca: CA
    ct: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls) -> Fulcio:
        ca = CA.make("oracle fulcio root", webpki=True)
        return cls(ca, ec.generate_private_key(ec.SECP256R1()))

    def leaf(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = self.ca.leaf_builder(key.public_key(), webpki=True)
        precert = builder.sign(self.ca.key, hashes.SHA384())
        # RFC 6962 3.2: the CT log signs the TBS without the SCT list, bound to the issuer.
        millis = int(SIGNED_AT.timestamp() * 1000)
        tbs = precert.tbs_certificate_bytes
        signed = (
            struct.pack("!BBQH", 0, 0, millis, 1)
            + hashlib.sha256(spki(self.ca.key.public_key())).digest()
            + len(tbs).to_bytes(3, "big")
            + tbs
            + struct.pack("!H", 0)
        )
        sig = self.ct.sign(signed, ec.ECDSA(hashes.SHA256()))
        log_id = hashlib.sha256(spki(self.ct.public_key())).digest()
        sct = (
            b"\x00"
            + log_id
            + struct.pack("!QH", millis, 0)
            + bytes([4, 3])
            + struct.pack("!H", len(sig))
            + sig
        )
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        cert = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_OID, _der_octets(sct_list)), critical=False
        ).sign(self.ca.key, hashes.SHA384())
        assert cert.tbs_precertificate_bytes == tbs
        return key, cert

    def trusted_root(self, log: Log) -> dict[str, Any]:
        root = trusted_root(self.ca.cert, log)
        root["ctlogs"] = [
            {
                "baseUrl": "https://ctfe.test.local",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki(self.ct.public_key())),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64(hashlib.sha256(spki(self.ct.public_key())).digest())},
            }
        ]
        return root


def _honest(entry: dict[str, Any]) -> None:
    pass


def _altered_time(entry: dict[str, Any]) -> None:
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 60)


def _altered_body(entry: dict[str, Any]) -> None:
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    body["spec"]["payloadHash"]["value"] = "0" * 64
    entry["canonicalizedBody"] = b64(json.dumps(body).encode())


def _moved_index(entry: dict[str, Any]) -> None:
    entry["inclusionProof"]["logIndex"] = str(int(entry["inclusionProof"]["logIndex"]) - 1)


def _other_root(entry: dict[str, Any]) -> None:
    entry["inclusionProof"]["rootHash"] = b64(hashlib.sha256(b"another tree").digest())


def _other_log(entry: dict[str, Any]) -> None:
    entry["logId"]["keyId"] = b64(hashlib.sha256(b"another log").digest())


@pytest.mark.parametrize(
    "spoil",
    [_honest, _altered_time, _altered_body, _moved_index, _other_root, _other_log],
    ids=lambda f: f.__name__.strip("_"),
)
def test_sigstore_python_agrees(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[dict[str, Any]], None],
) -> None:
    fulcio, log = Fulcio.make(), Log()
    key, cert = fulcio.leaf()
    data = logged_bundle(world.statement, key, cert, log)
    spoil(data["verificationMaterial"]["tlogEntries"][0])
    path = world.write(tmp_path, data)
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(fulcio.trusted_root(log)))

    ours = main(["verify", str(path), "--model", str(world.gated.model), "--trust-root",
                 str(root), "--certificate-identity", WORKFLOW])  # fmt: skip
    capsys.readouterr()
    verifier = sigstore_verifier.Verifier(
        trusted_root=sigstore_models.TrustedRoot.from_file(str(root))
    )
    policy = sigstore_policy.Identity(identity=WORKFLOW, issuer=ISSUER)
    try:
        kind, payload = verifier.verify_dsse(
            sigstore_models.Bundle.from_json(path.read_text()), policy
        )
    except Exception as exc:  # sigstore raises several error types; any is a refusal
        theirs, why = False, repr(exc)
    else:
        theirs, why = True, ""
        assert kind == "application/vnd.in-toto+json"
        assert json.loads(payload) == world.statement
    assert (ours == 0) == theirs, (spoil.__name__, ours, why)
    assert theirs is (spoil is _honest), why
