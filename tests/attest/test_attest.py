"""Signed gate attestations, offline: a real gates run on a model file, signed with keys made
by OpenSSL, checked by `mlops-gates verify`; DSSE cross-checked with securesystemslib (the
reference implementation's authors), and every kind of tampering refused in one line."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import skops.io as sio
from conftest import Project
from helpers import base_config, binary_frame

from mlops_gates.attest import PREDICATE_TYPE, SIGNING_KEY_ENV, AttestationError, decode_base64
from mlops_gates.attest.dsse import load_public_keys, load_signer, open_envelope, pae
from mlops_gates.attest.statement import file_subjects, statement_schema
from mlops_gates.cli import main

OPENSSL = shutil.which("openssl")


def make_key(folder: Path, name: str) -> tuple[Path, Path]:
    """An Ed25519 key pair as PEM files, made by OpenSSL when there (an implementation
    nobody here wrote), else by `cryptography`."""
    private, public = folder / f"{name}.key", folder / f"{name}.pub"
    if OPENSSL:
        subprocess.run([OPENSSL, "genpkey", "-algorithm", "ed25519", "-out", private], check=True)
        subprocess.run([OPENSSL, "pkey", "-in", private, "-pubout", "-out", public], check=True)
        return private, public
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


class Gated:
    """A project whose candidate is a model file, gated by `mlops-gates check`."""

    def __init__(self, make_project: Project, root: Path, *, min_accuracy: float = 0.5) -> None:
        from sklearn.linear_model import LogisticRegression

        df = binary_frame()
        df["x1"] = df["score_c"]
        self.model = root / "model.skops"
        sio.dump(LogisticRegression().fit(df[["x1"]], df["y"]), self.model)
        cfg = base_config(
            candidate={"model": self.model.name},
            gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": min_accuracy}],
        )
        self.config = make_project(cfg, df, where=root)
        self.report_dir = root / "report"
        self.key, self.pub = make_key(root, "gates")
        self.code = main(
            ["check", "--config", str(self.config), "--report-dir", str(self.report_dir)]
        )
        self.report = json.loads((self.report_dir / "report.json").read_text())
        self.bundle = self.report_dir / "attestation.dsse.json"

    def attest(self, *extra: str) -> int:
        return main(["attest", str(self.report_dir), "--key", str(self.key), *extra])

    def verify(self, *extra: str, bundle: Path | None = None, pub: Path | None = None) -> int:
        return main(
            [
                "verify",
                str(bundle or self.bundle),
                "--model",
                str(self.model),
                "--key",
                str(pub or self.pub),
                *extra,
            ]
        )


@pytest.fixture
def gated(make_project: Project, tmp_path: Path) -> Gated:
    g = Gated(make_project, tmp_path)
    assert g.code == 0, "the honest gates run passes"
    return g


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in err
    return lines[0]


# -- DSSE, checked against its spec and an independent implementation ---------------------


def test_pae_is_the_dsse_spec_encoding() -> None:
    # The worked example of the DSSE protocol document (protocol.md, "Test Vectors").
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths are of bytes, not characters.
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 " + "é".encode()


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\xfb\xff\xfe", bytes(range(256))])
def test_bundle_fields_decode_from_either_base64_alphabet_as_the_standard_library_does(
    raw: bytes,
) -> None:
    # DSSE and Sigstore bundles may carry the standard or the URL-safe alphabet.
    for text in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        if text:
            assert decode_base64(text.decode(), "payload", "bundle.json") == raw
    for bad, says in [
        (None, "missing"),
        ("", "missing"),
        (3, "not a base64 string"),
        ("a*b=", "not valid base64"),
        ("abc", "not valid base64"),
    ]:
        with pytest.raises(AttestationError, match=f"^bundle.json: sig .*{says}"):
            decode_base64(bad, "sig", "bundle.json")


def test_envelope_verifies_with_securesystemslib_and_back(gated: Gated) -> None:
    """securesystemslib's DSSE (used by in-toto and python-tuf) accepts what we sign."""
    sslib_dsse = pytest.importorskip("securesystemslib.dsse")
    sslib_signer = pytest.importorskip("securesystemslib.signer")
    from cryptography.hazmat.primitives import serialization

    assert gated.attest("--no-upload") == 0
    envelope = json.loads(gated.bundle.read_text())
    public = serialization.load_pem_public_key(gated.pub.read_bytes())
    keyid = envelope["signatures"][0]["keyid"]
    sslib_key = sslib_signer.SSlibKey.from_crypto(public, keyid=keyid)
    theirs = sslib_dsse.Envelope.from_dict(envelope)
    accepted = theirs.verify([sslib_key], 1)
    assert list(accepted) == [keyid]
    # And what securesystemslib signs over the same payload, we accept.
    private = serialization.load_pem_private_key(gated.key.read_bytes(), password=None)
    signer = sslib_signer.CryptoSigner(private, sslib_key)
    their_env = sslib_dsse.Envelope(theirs.payload, theirs.payload_type, {})
    their_env.sign(signer)
    statement, kid = open_envelope(their_env.to_dict(), load_public_keys([gated.pub]))
    assert kid == keyid == hashlib.sha256(_raw(gated.pub)).hexdigest()
    assert statement["predicateType"] == PREDICATE_TYPE


def _raw(pub: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pub.read_bytes())
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# -- the statement -----------------------------------------------------------------------


def test_subjects_are_every_regular_file_by_relative_posix_path(tmp_path: Path) -> None:
    root = tmp_path / "model"
    (root / "data" / "deep").mkdir(parents=True)
    files = {"MLmodel": b"flavors: {}\n", "data/deep/w.bin": b"\x00\x01", "a.txt": b""}
    for name, data in files.items():
        (root / name).write_bytes(data)
    assert file_subjects(root) == [
        {"name": n, "digest": {"sha256": hashlib.sha256(files[n]).hexdigest()}}
        for n in sorted(files)
    ]
    (root / "link").symlink_to(root / "a.txt")
    with pytest.raises(AttestationError, match="symbolic link"):
        file_subjects(root)


def test_statement_is_in_toto_v1_and_valid_against_the_shipped_schema(gated: Gated) -> None:
    assert gated.attest("--no-upload") == 0
    envelope = json.loads(gated.bundle.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    jsonschema.Draft202012Validator.check_schema(statement_schema())
    jsonschema.validate(statement, statement_schema(), cls=jsonschema.Draft202012Validator)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [
        {
            "name": "model.skops",
            "digest": {"sha256": hashlib.sha256(gated.model.read_bytes()).hexdigest()},
        }
    ]
    pred = statement["predicate"]
    raw = (gated.report_dir / "report.json").read_bytes()
    assert pred["report"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert pred["status"] == "pass"
    fp = gated.report["fingerprint"]
    assert pred["fingerprint"]["config"] == fp["config"]
    assert pred["fingerprint"]["data"] == fp["data"]
    assert pred["candidate"]["path"] == str(gated.model)
    assert pred["mlflow"] is None  # tracking is off in this test
    # A predicate the schema does not know is refused, not signed.
    statement["predicate"]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(statement, statement_schema())


# -- sign and verify ---------------------------------------------------------------------


def test_honest_path_verifies(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    assert gated.attest() == 0
    assert "attestation:" in capsys.readouterr().out
    digest = gated.report["fingerprint"]["config"]
    assert (
        gated.verify("--config-digest", digest, "--report", str(gated.report_dir / "report.json"))
        == 0
    )
    assert capsys.readouterr().out.startswith("attestation verified: the model, 1 file(s) match")


def test_signing_key_from_the_environment_is_never_printed(
    gated: Gated, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = gated.key.read_text()
    monkeypatch.setenv(SIGNING_KEY_ENV, pem)
    assert main(["attest", str(gated.report_dir)]) == 0
    assert gated.verify() == 0
    monkeypatch.setenv(SIGNING_KEY_ENV, pem.replace("A", "B", 3))
    assert main(["attest", str(gated.report_dir)]) == 2
    out, err = capsys.readouterr()
    body = "".join(pem.splitlines()[1:-1])
    assert body[:20] not in out + err
    assert one_line(err).startswith(f"mlops-gates: error: ${SIGNING_KEY_ENV}: not an unencrypted")


def _tamper_model(g: Gated) -> None:
    g.model.write_bytes(g.model.read_bytes() + b"\0")


def _edit_report(g: Gated) -> None:
    path = g.report_dir / "report.json"
    path.write_text(path.read_text().replace('"fail": 0', '"fail": 0 '))


def _payload(g: Gated, change: Any) -> None:
    env = json.loads(g.bundle.read_text())
    statement = json.loads(base64.b64decode(env["payload"]))
    change(statement)
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    g.bundle.write_text(json.dumps(env))


def _extra_file(g: Gated) -> None:
    _payload(
        g, lambda s: s["subject"].append({"name": "weights.bin", "digest": {"sha256": "0" * 64}})
    )


TAMPERING = [
    ("model-replaced", _tamper_model, (), "model file 'model.skops' has sha256"),
    (
        "statement-edited",
        lambda g: _payload(g, lambda s: s["predicate"]["fingerprint"].update(config="x")),
        (),
        "signature does not verify: the statement was changed after it was signed",
    ),
    ("subject-added", _extra_file, (), "signature does not verify"),
    ("report-edited", _edit_report, ("--report", "{report}"), "report digest mismatch"),
    (
        "config-digest",
        lambda g: None,
        ("--config-digest", "sha256:" + "b" * 64),
        "config digest mismatch",
    ),
    (
        "version",
        lambda g: None,
        ("--version", "7"),
        "version mismatch: the attestation is for version None, not 7",
    ),
]


@pytest.mark.parametrize(
    ("change", "extra", "expected"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_tampering_is_refused_in_one_line(
    gated: Gated,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    extra: tuple[str, ...],
    expected: str,
) -> None:
    assert gated.attest() == 0
    change(gated)
    capsys.readouterr()
    args = [a.format(report=gated.report_dir / "report.json") for a in extra]
    assert gated.verify(*args) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("mlops-gates: error: refused: ")
    assert expected in line


def test_another_key_is_refused(
    gated: Gated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, other_pub = make_key(tmp_path, "other")
    other_key, _ = make_key(tmp_path, "mallory")
    assert main(["attest", str(gated.report_dir), "--key", str(other_key)]) == 0
    capsys.readouterr()
    assert gated.verify() == 1
    assert "which is none of the 1 trusted verification key(s)" in one_line(capsys.readouterr().err)
    # Trusting both keys: the right one is found among them.
    assert gated.attest() == 0
    assert (
        main(
            [
                "verify",
                str(gated.bundle),
                "--model",
                str(gated.model),
                "--key",
                str(other_pub),
                "--key",
                str(gated.pub),
            ]
        )
        == 0
    )


def test_model_files_missing_or_extra(
    gated: Gated, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gated.attest() == 0
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copy(gated.model, folder / "other-name.skops")
    capsys.readouterr()
    assert main(["verify", str(gated.bundle), "--model", str(folder), "--key", str(gated.pub)]) == 1
    assert "'model.skops' is attested but missing" in one_line(capsys.readouterr().err)
    shutil.copy(gated.model, folder / "model.skops")
    assert main(["verify", str(gated.bundle), "--model", str(folder), "--key", str(gated.pub)]) == 1
    assert "'other-name.skops' is not in the attestation (1 extra)" in one_line(
        capsys.readouterr().err
    )


def test_a_failed_gates_run_can_be_attested_but_never_verifies(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    g = Gated(make_project, tmp_path, min_accuracy=0.999)
    assert g.code == 1
    assert g.attest() == 0
    capsys.readouterr()
    assert g.verify() == 1
    assert "the attested gates run ended 'fail', not 'pass'" in one_line(capsys.readouterr().err)


def test_attest_refuses_files_the_report_did_not_judge(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    _tamper_model(gated)
    assert gated.attest() == 1
    assert "is not the candidate the report judged" in one_line(capsys.readouterr().err)
    assert not gated.bundle.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--key", "missing.pub"], "missing.pub: cannot read the verification key"),
        (["--key", "{model}"], "not a PEM public key"),
    ],
    ids=["missing-key", "not-a-key"],
)
def test_bad_verification_keys_are_usage_errors(
    gated: Gated, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert gated.attest() == 0
    capsys.readouterr()
    args = [a.format(model=gated.model) for a in args]
    assert main(["verify", str(gated.bundle), "--model", str(gated.model), *args]) == 2
    assert expected in one_line(capsys.readouterr().err)


def test_a_signing_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = tmp_path / "p256.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(
        AttestationError, match=r"p256\.key: is an EC key; an Ed25519 key is required"
    ):
        load_signer(path)


# -- CycloneDX ML-BOM ----------------------------------------------------------------------


def test_ml_bom_is_valid_cyclonedx_with_every_gate_number(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validated by cyclonedx-python-lib's strict JSON validator (CycloneDX's own schema)."""
    validation = pytest.importorskip("cyclonedx.validation.json")
    schema = pytest.importorskip("cyclonedx.schema")
    g = Gated(make_project, tmp_path)
    cfg = base_config(
        candidate={"model": g.model.name},
        gates=[
            {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["sex"]}
        ],
    )
    g.config.write_text(json.dumps(cfg))
    assert main(["check", "--config", str(g.config), "--report-dir", str(g.report_dir)]) == 0
    assert main(["ml-bom", str(g.report_dir)]) == 0
    text = (g.report_dir / "ml-bom.cdx.json").read_text()
    error = validation.JsonStrictValidator(schema.SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    bom = json.loads(text)
    report = json.loads((g.report_dir / "report.json").read_text())
    (model,) = bom["components"]
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(g.model.read_bytes()).hexdigest()}
    ]
    metrics = model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    by_slice = {m.get("slice"): m for m in metrics}
    gates = {g_["id"]: g_ for g_ in report["gates"]}
    assert set(by_slice) == {None, "sex=F", "sex=M"}
    female = gates["acc[sex=F]"]
    assert float(by_slice["sex=F"]["value"]) == female["observed"]
    assert [
        float(by_slice["sex=F"]["confidenceInterval"][k]) for k in ("lowerBound", "upperBound")
    ] == female["ci"]
    raw = (g.report_dir / "report.json").read_bytes()
    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["mlops-gates:report-sha256"] == hashlib.sha256(raw).hexdigest()
    assert props["mlops-gates:status"] == "pass"
