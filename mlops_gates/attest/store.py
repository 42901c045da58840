"""Make a bundle from a written report, keep it with the gates run, and check a registered
version against it.

Where things live in MLflow:

- the bundle: artifact `attestation/attestation.dsse.json` of the gates run (the run the
  report was logged as, `context.mlflow.run_id`): a DSSE envelope signed with a key, or a
  keyless Sigstore bundle from GitHub's actions/attest (`store_sigstore_bundle`), told
  apart by the bundle's mediaType;
- model-version tags `mlops_gates.attestation_sha256` (the bundle's sha256) and
  `mlops_gates.attestation_run_id` (the run holding it): pointers, never the proof. A
  person with registry write access can change them; they cannot make a signature.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlops_gates.attest import (
    ARTIFACT_DIR,
    BUNDLE_NAME,
    DIGEST_TAG,
    RUN_TAG,
    AttestationError,
)
from mlops_gates.attest.dsse import Signer, sign_envelope
from mlops_gates.attest.rekor import TrustedRoot
from mlops_gates.attest.sigstore_bundle import Policy, is_sigstore_bundle, unwrap, verify_sigstore
from mlops_gates.attest.statement import (
    build_statement,
    file_subjects,
    model_digest,
    sha256_file,
)
from mlops_gates.attest.verify import Expect, Verified, read_bundle, verify
from mlops_gates.sources.mlflow import MlflowConnection, client, describe_failure, mlflow_session
from mlops_gates.sources.mlflow_models import parse_models_uri

__all__ = [
    "attest_report",
    "model_files",
    "report_statement",
    "sigstore_bundle_for_report",
    "upload_bundle",
    "verify_version",
    "version_files",
    "write_bundle",
    "write_sigstore_inputs",
]


def attest_report(report_dir: Path, model: Path, signer: Signer) -> dict[str, Any]:
    """The signed envelope for the report in `report_dir` about the model files at `model`.

    Refuses files that are not the model the report judged (their digest differs from the
    candidate digest the report recorded when it loaded the model)."""
    return sign_envelope(report_statement(report_dir, model), signer)


def write_sigstore_inputs(statement: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """The statement split the way GitHub's `actions/attest` takes it for a keyless
    (Sigstore) signature: `predicate.json` (predicate-path) and `subjects.sha256`
    (subject-checksums, in `sha256sum` format). Returns both paths."""
    odd = [s["name"] for s in statement["subject"] if any(c in s["name"] for c in "\n\r\\")]
    if odd:
        raise AttestationError(
            f"model file {odd[0]!r}: a newline or backslash in a file name cannot be written "
            "to a checksums file; rename it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    predicate, checksums = folder / "predicate.json", folder / "subjects.sha256"
    predicate.write_text(json.dumps(statement["predicate"], indent=2, sort_keys=True) + "\n")
    lines = [f"{s['digest']['sha256']}  {s['name']}\n" for s in statement["subject"]]
    checksums.write_text("".join(lines))
    return predicate, checksums


def sigstore_bundle_for_report(bundle_path: Path, report_dir: Path) -> bytes:
    """The bytes of the keyless bundle at `bundle_path` (actions/attest's `bundle-path`), as
    the gates run will store them, once it is a Sigstore bundle about the report in
    `report_dir` (its statement names the report's sha256). The signature is not checked
    here: that needs the trust root and the pinned signer, and is deploy's job."""
    import base64
    import binascii

    from mlops_gates.attest import PREDICATE_TYPE

    data = read_bundle(bundle_path)
    bundle = unwrap(data)
    if not is_sigstore_bundle(bundle):
        raise AttestationError(
            f"{bundle_path}: not a Sigstore bundle (no application/vnd.dev.sigstore.bundle "
            "mediaType); pass the bundle-path output of actions/attest"
        )
    try:
        statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
        predicate_type = statement["predicateType"]
        signed_report = statement["predicate"]["report"]["sha256"]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise AttestationError(
            f"{bundle_path}: its DSSE payload is not an mlops-gates statement (made from "
            "`mlops-gates attest --sigstore-inputs`)"
        ) from None
    if predicate_type != PREDICATE_TYPE:
        raise AttestationError(
            f"{bundle_path}: predicateType is {predicate_type!r}, not {PREDICATE_TYPE!r}: "
            "pass predicate-type to actions/attest as `attest --sigstore-inputs` prints it"
        )
    report = report_dir / "report.json"
    try:
        digest = sha256_file(report)
    except OSError as exc:
        raise AttestationError(f"{report}: cannot read the report ({exc.strerror})") from None
    if signed_report != digest:
        raise AttestationError(
            f"{bundle_path}: signs another report (sha256 {str(signed_report)[:16]}…) than "
            f"{report} ({digest[:16]}…): make the sigstore inputs from this report"
        )
    return (json.dumps(bundle, indent=2) + "\n").encode()


def report_statement(report_dir: Path, model: Path) -> dict[str, Any]:
    """The unsigned in-toto Statement for the report in `report_dir` about the files at
    `model` (refused like `attest_report`)."""
    path = report_dir / "report.json"
    try:
        raw = path.read_bytes()
        doc = json.loads(raw)
    except OSError as exc:
        raise AttestationError(f"{path}: cannot read the report ({exc.strerror})") from None
    except ValueError:
        raise AttestationError(f"{path}: not JSON; was the gates run interrupted?") from None
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    judged = cand.get("digest") or ((doc.get("fingerprint") or {}).get("models") or {}).get(
        "candidate"
    )
    subjects = file_subjects(model)
    if not judged:
        raise AttestationError(
            f"{path}: the report records no candidate model digest (predictions came from a "
            "column?); only a gates run that loaded the model can attest its files"
        )
    actual = model_digest(model)
    if actual != judged:
        raise AttestationError(
            f"{model}: digest {actual[:19]}… is not the candidate the report judged "
            f"({judged[:19]}…); attest the same files the gates loaded"
        )
    return build_statement(doc, hashlib.sha256(raw).hexdigest(), subjects)


def write_bundle(envelope: dict[str, Any], path: Path) -> str:
    """Write the envelope as JSON; returns its sha256 (hex)."""
    data = (json.dumps(envelope, indent=2) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="mlops-gates-attest-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def version_files(conn: MlflowConnection, name: str, version: str) -> Iterator[Path]:
    """The files of a registered model version, downloaded to a folder removed afterwards."""
    with _scratch() as folder, mlflow_session(conn) as mlflow:
        import mlflow.artifacts

        try:
            storage = client(conn).get_model_version_download_uri(name, version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=storage, dst_path=str(folder), tracking_uri=conn.tracking_uri
            )
        except Exception as exc:
            raise AttestationError(
                f"downloading model '{name}' version {version}: {describe_failure(exc, conn)}"
            ) from None
        yield Path(local)


@contextmanager
def model_files(conn: MlflowConnection, ref: str) -> Iterator[Path]:
    """A local path as is, or `models:/name/version` downloaded."""
    if not ref.startswith("models:/"):
        if ":/" in ref and not Path(ref).exists():
            raise AttestationError(
                f"{ref}: attest a registered version (models:/NAME/VERSION) or local files "
                "(--model PATH); other model URIs are not downloaded here"
            )
        yield Path(ref)
        return
    parsed = parse_models_uri(ref)
    if parsed.version is None:
        raise AttestationError(
            f"{ref}: name the version (models:/{parsed.name}/3): an alias can move between "
            "attesting and checking"
        )
    with version_files(conn, parsed.name, parsed.version) as path:
        yield path


def upload_bundle(conn: MlflowConnection, bundle: Path, doc: dict[str, Any], sha256: str) -> str:
    """Log the bundle to the report's gates run and tag the candidate's version with its
    digest; returns what was done, in words."""
    run_id = ((doc.get("context") or {}).get("mlflow") or {}).get("run_id")
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    if not run_id:
        raise AttestationError(
            "the report was not logged to MLflow (no context.mlflow.run_id): log it with "
            "`mlops-gates log`, then attest again, or pass --no-upload"
        )
    with mlflow_session(conn):
        c = client(conn)
        try:
            with _scratch() as folder:
                named = folder / BUNDLE_NAME
                shutil.copyfile(bundle, named)
                c.log_artifact(run_id, str(named), ARTIFACT_DIR)
            if cand.get("source") == "mlflow" and cand.get("name") and cand.get("version"):
                name, version = str(cand["name"]), str(cand["version"])
                c.set_model_version_tag(name, version, DIGEST_TAG, sha256)
                c.set_model_version_tag(name, version, RUN_TAG, str(run_id))
                return f"stored in MLflow run {run_id}; tagged model '{name}' version {version}"
        except Exception as exc:
            raise AttestationError(
                f"storing the attestation in MLflow run {run_id}: {describe_failure(exc, conn)}"
            ) from None
    return f"stored in MLflow run {run_id}"


def _download_run_file(conn: MlflowConnection, run_id: str, path: str, dest: Path) -> Path | None:
    try:
        return Path(client(conn).download_artifacts(run_id, path, str(dest)))
    except Exception:
        return None


def verify_version(
    conn: MlflowConnection,
    name: str,
    version: str,
    keys: dict[str, Any],
    *,
    config_digest: str | None,
    gates_run_id: str | None = None,
    bundle_sha256: str | None = None,
    keyless: tuple[TrustedRoot, Policy] | None = None,
) -> Verified:
    """Verify registered `name` `version` against the attestation its gates run holds: the
    bundle's digest tag, the signature, the files, pass, the config digest, the version,
    and the report as logged. The bundle is read from `gates_run_id` when the (reviewed)
    manifest names it, else from the run the version's tag points to; `bundle_sha256` (the
    manifest's reference) then wins over the version's digest tag. AttestationError (one
    line) otherwise. `keyless`: the trust root and pinned signer a keyless (Sigstore) bundle
    is checked against; a bundle of the kind nobody configured is refused."""
    where = f"model '{name}' version {version}"
    with mlflow_session(conn):
        c = client(conn)
        try:
            tags = dict(c.get_model_version(name, version).tags or {})
        except Exception as exc:
            raise AttestationError(f"reading {where}: {describe_failure(exc, conn)}") from None
        run_id = gates_run_id or tags.get(RUN_TAG)
        digest = bundle_sha256 or tags.get(DIGEST_TAG)
        pinned = "the manifest records" if bundle_sha256 else f"tagged ({DIGEST_TAG})"
        if not run_id or not (digest or gates_run_id):
            raise AttestationError(
                f"{where} has no attestation (tags {DIGEST_TAG} / {RUN_TAG}): sign its gates "
                "run with `mlops-gates attest`; a status tag alone is not evidence"
            )
        with _scratch() as folder:
            local = _download_run_file(conn, run_id, f"{ARTIFACT_DIR}/{BUNDLE_NAME}", folder)
            if local is None:
                raise AttestationError(
                    f"{where}: MLflow run {run_id} holds no {BUNDLE_NAME} (or cannot be read)"
                )
            actual = hashlib.sha256(local.read_bytes()).hexdigest()
            if digest and actual != digest:
                raise AttestationError(
                    f"{where}: the attestation in run {run_id} (sha256 {actual[:16]}…) is "
                    f"not the one {pinned}; it was replaced after signing"
                )
            envelope = read_bundle(local)
            report = _download_run_file(conn, run_id, "report.json", folder / "report")
            expect = Expect(config_digest=config_digest, model=name, version=version)
            with version_files(conn, name, version) as files:
                verified = _verify_either(envelope, files, keys, keyless, expect, where)
            ml = verified.predicate.get("mlflow") or {}
            if ml.get("run_id") != run_id:
                raise AttestationError(
                    f"{where}: the attestation names gates run {ml.get('run_id')}, but it is "
                    f"stored in run {run_id}"
                )
            if report is None:
                raise AttestationError(f"{where}: gates run {run_id} holds no report.json")
            _check_report(verified, report, where)
    return verified


def _verify_either(
    envelope: Any,
    files: Path,
    keys: dict[str, Any],
    keyless: tuple[TrustedRoot, Policy] | None,
    expect: Expect,
    where: str,
) -> Verified:
    """A key-signed envelope against `keys`, a Sigstore bundle against `keyless`."""
    if is_sigstore_bundle(unwrap(envelope)):
        if keyless is None:
            raise AttestationError(
                f"{where}: its attestation is a keyless Sigstore bundle; pin who may sign: "
                "--trust-root and --certificate-identity (deploy action: trust-root, "
                "certificate-identity)"
            )
        return verify_sigstore(envelope, files, keyless[0], keyless[1], expect, where=where)
    if not keys:
        raise AttestationError(
            f"{where}: its attestation is signed with a key, and no verification key is "
            "configured: pass --verify-key (deploy action: verify-key)"
        )
    return verify(envelope, files, keys, expect, where=where)


def _check_report(verified: Verified, report: Path, where: str) -> None:
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    signed = verified.predicate["report"]["sha256"]
    if digest != signed:
        raise AttestationError(
            f"{where}: report digest mismatch: the gates run's report.json has sha256 "
            f"{digest[:16]}…, the signed one {signed[:16]}…: it was edited after signing"
        )
