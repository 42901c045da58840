"""Keyless (Sigstore) bundles verified offline: a CA made here stands in for Fulcio, issuing
a leaf certificate the way Fulcio does for a GitHub workflow (SAN URI = the workflow at its
ref, the OIDC issuer extensions, code signing), and the bundle is what actions/attest
writes: a DSSE envelope over the Statement built from `attest --sigstore-inputs`. The
honest bundle verifies; every wrong signer, CA, time or payload is refused in one line."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import binary_frame

from mlops_gates.cli import main

from .sigstore_ca import CA, REPO, SIGNED_AT, WORKFLOW, bundle, statement_from_inputs
from .test_attest import Gated, one_line

OPENSSL = shutil.which("openssl")


def _make(config: dict[str, Any], frame: Any = None, where: Path | None = None) -> Path:
    assert where is not None
    where.mkdir(parents=True, exist_ok=True)
    (binary_frame() if frame is None else frame).to_csv(where / "eval.csv", index=False)
    path = where / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class World:
    gated: Gated
    statement: dict[str, Any]
    ca: CA
    root_pem: Path

    def write(self, tmp: Path, data: dict[str, Any]) -> Path:
        path = tmp / "bundle.sigstore.json"
        path.write_text(json.dumps(data))
        return path

    def verify(
        self, path: Path, *extra: str, identity: str = WORKFLOW, root: Path | None = None
    ) -> int:
        return main(
            [
                "verify",
                str(path),
                "--model",
                str(self.gated.model),
                "--trust-root",
                str(root or self.root_pem),
                *(["--certificate-identity", identity] if identity else []),
                *extra,
            ]
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("sigstore")
    (root / "project").mkdir()
    g = Gated(_make, root / "project")
    assert g.code == 0
    inputs = root / "inputs"
    assert main(["attest", str(g.report_dir), "--sigstore-inputs", str(inputs)]) == 0
    statement = statement_from_inputs(inputs)
    ca = CA.make("test fulcio root")
    pem = root / "fulcio_root.pem"
    pem.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    return World(g, statement, ca, pem)


def test_honest_keyless_bundle_verifies_and_says_what_was_not_checked(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = world.ca.leaf()
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    assert world.verify(path, "--report", str(world.gated.report_dir / "report.json")) == 0
    out = capsys.readouterr().out
    assert "attestation verified" in out and f"signed by {WORKFLOW}" in out
    assert "transparency log: NOT verified" in out


def test_identity_regexp_and_legacy_issuer_extension(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = world.ca.leaf(legacy_issuer=True)
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    pattern = rf"https://github\.com/{REPO}/\.github/workflows/mlops-train-promote\.yml@.*"
    assert world.verify(path, "--certificate-identity-regexp", pattern, identity="") == 0
    capsys.readouterr()
    assert (
        world.verify(path, "--certificate-identity-regexp", "https://github.com/x/.*", identity="")
        == 1
    )
    assert "does not match the pinned pattern" in one_line(capsys.readouterr().err)


def test_a_github_api_record_wrapping_the_bundle_is_read(world: World, tmp_path: Path) -> None:
    key, cert = world.ca.leaf()
    record = {"bundle": bundle(world.statement, key, cert), "repository_id": 1}
    assert world.verify(world.write(tmp_path, record)) == 0


def _tampered(world: World) -> dict[str, Any]:
    key, cert = world.ca.leaf()
    data = bundle(world.statement, key, cert)
    statement = copy.deepcopy(world.statement)
    statement["predicate"]["status"] = "pass"
    statement["predicate"]["summary"]["failed"] = 0
    statement["predicate"]["candidate"]["version"] = "99"
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return data


def _other_model(world: World) -> dict[str, Any]:
    key, cert = world.ca.leaf()
    statement = copy.deepcopy(world.statement)
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    return bundle(statement, key, cert)


def _expired(world: World) -> dict[str, Any]:
    key, cert = world.ca.leaf(valid_from=SIGNED_AT - timedelta(hours=1))
    return bundle(world.statement, key, cert)


def _other_ca(world: World) -> dict[str, Any]:
    key, cert = CA.make("test fulcio root").leaf()  # same name, other key
    return bundle(world.statement, key, cert)


def _other_workflow(world: World) -> dict[str, Any]:
    key, cert = world.ca.leaf(
        identity=f"https://github.com/{REPO}/.github/workflows/anything.yml@refs/heads/main"
    )
    return bundle(world.statement, key, cert)


def _other_issuer(world: World) -> dict[str, Any]:
    key, cert = world.ca.leaf(issuer="https://gitlab.com")
    return bundle(world.statement, key, cert)


def _signed_by_another_key(world: World) -> dict[str, Any]:
    _, cert = world.ca.leaf()
    return bundle(world.statement, ec.generate_private_key(ec.SECP256R1()), cert)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            _other_workflow,
            "signed by workflow https://github.com/acme/churn/.github/workflows/"
            "anything.yml@refs/heads/main, not the pinned",
        ),
        (_other_issuer, "OIDC issuer is https://gitlab.com, not the pinned"),
        (_other_ca, "does not chain to the trust root"),
        (_expired, "signing certificate was not valid at the signing time"),
        (_tampered, "signature does not verify: the statement was changed"),
        (_signed_by_another_key, "signature does not verify"),
        (_other_model, "the file changed after the gates judged it"),
    ],
)
def test_each_wrong_bundle_is_refused_in_one_line(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[World], dict[str, Any]],
    says: str,
) -> None:
    path = world.write(tmp_path, make(world))
    assert world.verify(path) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"error: refused: {path}") or "refused" in line, line
    assert says in line, line


def test_expectations_are_the_key_paths_checks(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = world.ca.leaf()
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    assert world.verify(path, "--name", "someone-else") == 1
    assert "model mismatch" in one_line(capsys.readouterr().err)


def test_explicit_time_overrides_the_log_time(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = world.ca.leaf()
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    later = (SIGNED_AT + timedelta(hours=2)).isoformat()
    assert world.verify(path, "--at", later) == 1
    assert "not valid at the signing time" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--trust-root", "/nonexistent.pem"], "cannot read the trust root"),
        (["--at", "yesterday"], "not a time"),
        (["--certificate-identity-regexp", "("], "not a regular expression"),
    ],
)
def test_usage_errors_are_one_line(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    key, cert = world.ca.leaf()
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    identity = "" if "--certificate-identity-regexp" in args else WORKFLOW
    root = Path(args[1]) if args[0] == "--trust-root" else None
    extra = [] if root else args
    assert world.verify(path, *extra, identity=identity, root=root) == 2
    assert says in one_line(capsys.readouterr().err)


def test_keyless_needs_a_trust_root_and_a_pinned_signer(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = world.ca.leaf()
    path = world.write(tmp_path, bundle(world.statement, key, cert))
    assert main(["verify", str(path), "--model", str(world.gated.model)]) == 2
    assert "--trust-root" in one_line(capsys.readouterr().err)
    assert world.verify(path, identity="") == 2
    assert "pin the signer" in one_line(capsys.readouterr().err)


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize(
    ("make", "ours"),
    [
        (lambda w: w.ca.leaf(), 0),
        (lambda w: CA.make("test fulcio root").leaf(), 1),
        (lambda w: w.ca.leaf(valid_from=SIGNED_AT - timedelta(hours=1)), 1),
    ],
)
def test_chain_and_time_agree_with_openssl(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[World], tuple[ec.EllipticCurvePrivateKey, x509.Certificate]],
    ours: int,
) -> None:
    """OpenSSL (nobody here wrote it) accepts the certificate chain at the signing time
    exactly when we do."""
    assert OPENSSL is not None
    key, cert = make(world)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    theirs = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-CAfile",
            str(world.root_pem),
            "-attime",
            str(int(SIGNED_AT.timestamp())),
            "-purpose",
            "any",
            str(leaf),
        ],
        capture_output=True,
    ).returncode
    assert world.verify(world.write(tmp_path, bundle(world.statement, key, cert))) == ours
    capsys.readouterr()
    assert (theirs == 0) == (ours == 0)


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda b: b.pop("verificationMaterial"), "no verificationMaterial"),
        (
            lambda b: b["verificationMaterial"]["certificate"].update(rawBytes="%%"),
            "not valid base64",
        ),
        (
            lambda b: b["verificationMaterial"]["certificate"].update(rawBytes="AAAA"),
            "not DER X.509",
        ),
        (lambda b: b["verificationMaterial"].update(tlogEntries=7), "pass --at TIME"),
        (lambda b: b.pop("dsseEnvelope"), "no dsseEnvelope"),
    ],
)
def test_malformed_bundles_are_refused_in_one_line(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: Callable[[dict[str, Any]], Any],
    says: str,
) -> None:
    key, cert = world.ca.leaf()
    data = bundle(world.statement, key, cert)
    spoil(data)
    assert world.verify(world.write(tmp_path, data)) == 1
    assert says in one_line(capsys.readouterr().err)
