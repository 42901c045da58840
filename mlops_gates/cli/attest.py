"""`mlops-gates attest` and `mlops-gates verify`: argument parsing, output and exit codes.

Exit status: 0 signed / verified; 1 refused (the attestation does not match) or MLflow
failed; 2 usage error (options, unreadable key or report).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, add_report_dir, step_outputs
from mlops_gates.cli.common import error as _error

__all__ = ["add_subcommands"]


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `attest` and `verify` on the `mlops-gates` parser."""
    a = subparsers.add_parser(
        "attest",
        help="sign the verdict of a gates run, bound to the model's file digests",
        description="Make an in-toto attestation of a written report (its verdict, its "
        "sha256, the config / data / code digests, candidate and baseline) whose subjects "
        "are the candidate model's files with their sha256, sign it with an Ed25519 key "
        "(DSSE), write it to REPORT_DIR/attestation.dsse.json, and, when the report was "
        "logged to MLflow, store it in the gates run and tag the candidate's model version "
        "with its digest. Exit status: 0 signed; 1 the files are not the model the report "
        "judged, or MLflow failed; 2 usage error.",
    )
    add_report_dir(a)
    a.add_argument(
        "--model",
        metavar="PATH|URI",
        help="the candidate's files: a path, or models:/NAME/VERSION (default: the "
        "candidate the report names)",
    )
    a.add_argument(
        "--key",
        type=Path,
        metavar="PATH",
        help="Ed25519 private key, PEM (default: $MLOPS_GATES_SIGNING_KEY_FILE, else the PEM "
        "text in $MLOPS_GATES_SIGNING_KEY)",
    )
    a.add_argument("--output", type=Path, metavar="PATH", help="bundle file to write")
    a.add_argument(
        "--no-upload", action="store_true", help="write the bundle only; do not touch MLflow"
    )
    a.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI")
    a.add_argument(
        "--sigstore-inputs",
        type=Path,
        metavar="DIR",
        help="sign nothing: write DIR/predicate.json and DIR/subjects.sha256, the same "
        "statement as inputs of GitHub's actions/attest (predicate-path, subject-checksums) "
        "for a keyless Sigstore signature with the workflow's identity",
    )
    a.add_argument(
        "--sigstore-bundle",
        type=Path,
        metavar="PATH",
        help="sign nothing: keep the keyless Sigstore bundle actions/attest made from the "
        "--sigstore-inputs (its bundle-path output) as this report's attestation: written to "
        "REPORT_DIR/attestation.dsse.json, stored in the gates run and tagged on the "
        "candidate's version like a key-signed one (checked at deploy with --trust-root and "
        "--certificate-identity, not here)",
    )
    a.set_defaults(func=_attest)

    b = subparsers.add_parser(
        "ml-bom",
        help="write the gates evidence as a CycloneDX ML-BOM",
        description="Write a CycloneDX 1.6 BOM of a written report: the candidate (and "
        "baseline) as machine-learning-model components with their digests, every gate "
        "number as a model-card performance metric with its slice and interval, and the "
        "report's status and digests. Read from report.json only. Exit status: 0 written; "
        "2 no report or the file cannot be written.",
    )
    add_report_dir(b)
    b.add_argument(
        "--output", type=Path, metavar="PATH", help="where (default: REPORT_DIR/ml-bom.cdx.json)"
    )
    b.set_defaults(func=_ml_bom)

    v = subparsers.add_parser(
        "verify",
        help="check an attestation against model files and a public key or a pinned workflow",
        description="Check that BUNDLE is signed by one of the --key public keys (or, for a "
        "Sigstore bundle from actions/attest, by a certificate chaining to --trust-root whose "
        "identity is --certificate-identity and issuer --certificate-oidc-issuer, and, when "
        "--trust-root is a Sigstore trusted_root.json, whose transparency-log entry verifies "
        "with the pinned Rekor keys; offline), that its "
        "subjects are exactly the files of --model (names and sha256), that the gates "
        "passed, and whatever else is asked (--config-digest, --name, --version, --report). "
        "Without BUNDLE, --model models:/NAME/VERSION is checked the way `deploy "
        "--verify-key` (or `--trust-root`) checks it: the attestation its gates run holds in "
        "MLflow, key-signed or keyless, the version's files, and the report logged with "
        "the run. Exit status: 0 verified; 1 "
        "refused, with one line naming what did not match; 2 usage error.",
    )
    v.add_argument(
        "bundle",
        metavar="BUNDLE",
        nargs="?",
        type=Path,
        help="attestation.dsse.json (default: the one stored with the version in MLflow)",
    )
    v.add_argument(
        "--model",
        required=True,
        metavar="PATH|URI",
        help="model directory or file, or models:/NAME/VERSION (downloaded)",
    )
    v.add_argument(
        "--key",
        action="append",
        type=Path,
        metavar="PATH",
        help="trusted Ed25519 public key, PEM (repeatable; required unless BUNDLE is a "
        "Sigstore bundle)",
    )
    v.add_argument(
        "--trust-root",
        type=Path,
        metavar="FILE",
        help="keyless: the Sigstore trusted_root.json the team pins (Fulcio certificates and "
        "Rekor keys: the log entry is then verified too), or a PEM file of Fulcio "
        "certificates (the log is then NOT verified)",
    )
    who = v.add_mutually_exclusive_group()
    who.add_argument(
        "--certificate-identity",
        metavar="URI",
        help="keyless: the signer workflow, exactly: "
        "https://github.com/OWNER/REPO/.github/workflows/FILE@REF",
    )
    who.add_argument(
        "--certificate-identity-regexp",
        metavar="REGEX",
        help="keyless: a regular expression the signer workflow URI must match in full",
    )
    v.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        default="https://token.actions.githubusercontent.com",
        help="keyless: the OIDC issuer the certificate must name (default: %(default)s)",
    )
    v.add_argument(
        "--at",
        metavar="TIME",
        help="keyless: check the certificates at this time (ISO 8601 or Unix seconds) instead "
        "of the bundle's transparency-log time",
    )
    v.add_argument("--config-digest", metavar="DIGEST", help="expected config digest")
    v.add_argument("--name", metavar="NAME", help="expected registered model name")
    v.add_argument("--version", metavar="VERSION", help="expected model version")
    v.add_argument("--report", type=Path, metavar="PATH", help="report.json that was signed")
    v.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI for models:/")
    v.set_defaults(func=_verify)


def _conn(uri: str | None) -> Any:
    from mlops_gates.sources.mlflow import connection_for

    return connection_for(None, uri=uri)


def _attest(args: argparse.Namespace) -> int:
    from mlops_gates.attest import BUNDLE_NAME, AttestationError
    from mlops_gates.attest.auto import signing_key_path
    from mlops_gates.attest.dsse import load_signer
    from mlops_gates.attest.store import attest_report, model_files, upload_bundle, write_bundle
    from mlops_gates.errors import MlopsGatesError

    report = args.report_dir / "report.json"
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError) as exc:
        return _error(f"{report}: cannot read the report ({exc}); run `mlops-gates check` first")
    # The report's URI has its credentials stripped: the environment's wins over it.
    logged = ((doc.get("context") or {}).get("mlflow") or {}).get("tracking_uri")
    tracking = args.tracking_uri or (None if os.environ.get("MLFLOW_TRACKING_URI") else logged)
    if args.sigstore_bundle is not None:
        if args.sigstore_inputs is not None or args.key is not None:
            return _error("--sigstore-bundle keeps a signed bundle: no --key / --sigstore-inputs")
        return _store_sigstore_bundle(args, doc, tracking)
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    ref = args.model or cand.get("resolved_uri") or cand.get("path")
    if not ref:
        return _error(f"{report}: the report names no candidate model file; pass --model PATH")
    if args.sigstore_inputs is not None:
        return _sigstore_inputs(args, str(ref), tracking)
    try:
        signer = load_signer(args.key or signing_key_path())
    except AttestationError as exc:
        return _error(str(exc))
    output = args.output or args.report_dir / BUNDLE_NAME
    try:
        conn = _conn(tracking)
        with model_files(conn, str(ref)) as files:
            envelope = attest_report(args.report_dir, files, signer)
        sha = write_bundle(envelope, output)
        print(f"attestation: {output} (sha256 {sha[:16]}…, key {signer.keyid[:16]})")
        if not args.no_upload and (doc.get("context") or {}).get("mlflow"):
            print(f"mlflow: {upload_bundle(conn, output, doc, sha)}")
    except MlopsGatesError as exc:
        return _error(str(exc), EXIT_FAIL)
    return EXIT_OK


def _sigstore_inputs(args: argparse.Namespace, ref: str, tracking: str | None) -> int:
    from mlops_gates.attest import PREDICATE_TYPE
    from mlops_gates.attest.store import model_files, report_statement, write_sigstore_inputs
    from mlops_gates.errors import MlopsGatesError

    try:
        with model_files(_conn(tracking), ref) as files:
            statement = report_statement(args.report_dir, files)
        predicate, checksums = write_sigstore_inputs(statement, args.sigstore_inputs)
    except MlopsGatesError as exc:
        return _error(str(exc), EXIT_FAIL)
    except OSError as exc:
        return _error(f"{args.sigstore_inputs}: cannot write ({exc.strerror})")
    print(f"predicate-type: {PREDICATE_TYPE}")
    print(f"predicate-path: {predicate}")
    print(f"subject-checksums: {checksums}")
    # The gates action hands these to actions/attest as they are.
    step_outputs(
        {
            "predicate-type": PREDICATE_TYPE,
            "predicate-path": str(predicate),
            "subject-checksums": str(checksums),
        }
    )
    return EXIT_OK


def _store_sigstore_bundle(args: argparse.Namespace, doc: dict[str, Any], tracking: Any) -> int:
    import hashlib

    from mlops_gates.attest import BUNDLE_NAME
    from mlops_gates.attest.store import sigstore_bundle_for_report, upload_bundle
    from mlops_gates.errors import MlopsGatesError

    try:
        data = sigstore_bundle_for_report(args.sigstore_bundle, args.report_dir)
    except MlopsGatesError as exc:
        return _error(str(exc), EXIT_FAIL)
    output = args.output or args.report_dir / BUNDLE_NAME
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(data)
    except OSError as exc:
        return _error(f"{output}: cannot write ({exc.strerror})")
    sha = hashlib.sha256(data).hexdigest()
    print(f"attestation: {output} (sha256 {sha[:16]}…, keyless Sigstore bundle)")
    step_outputs({"attestation": str(output)})
    if not args.no_upload and (doc.get("context") or {}).get("mlflow"):
        try:
            print(f"mlflow: {upload_bundle(_conn(tracking), output, doc, sha)}")
        except MlopsGatesError as exc:
            return _error(str(exc), EXIT_FAIL)
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from mlops_gates.attest import AttestationError
    from mlops_gates.attest.dsse import load_public_keys
    from mlops_gates.attest.sigstore_bundle import is_sigstore_bundle, unwrap
    from mlops_gates.attest.store import model_files
    from mlops_gates.attest.verify import Expect, read_bundle, verify
    from mlops_gates.errors import MlopsGatesError

    try:
        envelope = None if args.bundle is None else unwrap(read_bundle(args.bundle))
    except AttestationError as exc:
        return _error(str(exc))
    if is_sigstore_bundle(envelope):
        return _verify_keyless(args, envelope)
    if envelope is None:
        return _verify_registered(args)
    if args.trust_root is not None:
        return _error(
            f"{args.bundle}: --trust-root verifies a Sigstore bundle; this is a key-signed "
            "DSSE envelope: pass --key"
        )
    if not args.key:
        return _error("no verification key: pass --key PATH (an Ed25519 public key, PEM)")
    try:
        keys = load_public_keys(args.key)
    except AttestationError as exc:
        return _error(str(exc))
    expect = Expect(args.config_digest, args.name, args.version, args.report)
    try:
        with model_files(_conn(args.tracking_uri), args.model) as files:
            verified = verify(envelope, files, keys, expect, where=str(args.bundle))
    except MlopsGatesError as exc:
        return _error(f"refused: {exc}", EXIT_FAIL)
    print(verified.describe())
    return EXIT_OK


def _verify_keyless(args: argparse.Namespace, bundle: Any) -> int:
    from mlops_gates.attest import AttestationError
    from mlops_gates.attest.sigstore_bundle import (
        NOT_VERIFIED,
        Policy,
        load_trust_root,
        parse_time,
        verify_sigstore,
    )
    from mlops_gates.attest.store import model_files
    from mlops_gates.attest.verify import Expect
    from mlops_gates.errors import MlopsGatesError

    if args.trust_root is None:
        return _error(
            f"{args.bundle}: is a Sigstore (keyless) bundle: pass --trust-root PEM (the Fulcio "
            "certificates to trust) and --certificate-identity"
        )
    if args.certificate_identity is None and args.certificate_identity_regexp is None:
        return _error(
            f"{args.bundle}: pin the signer: pass --certificate-identity "
            "https://github.com/OWNER/REPO/.github/workflows/FILE@REF (or "
            "--certificate-identity-regexp)"
        )
    try:
        root = load_trust_root(args.trust_root)
        at = None if args.at is None else parse_time(args.at)
    except AttestationError as exc:
        return _error(str(exc))
    if args.certificate_identity_regexp is not None:
        try:
            re.compile(args.certificate_identity_regexp)
        except re.error as exc:
            return _error(f"--certificate-identity-regexp: not a regular expression ({exc})")
    policy = Policy(
        args.certificate_identity, args.certificate_identity_regexp, args.certificate_oidc_issuer
    )
    expect = Expect(args.config_digest, args.name, args.version, args.report)
    try:
        with model_files(_conn(args.tracking_uri), args.model) as files:
            verified = verify_sigstore(
                bundle, files, root, policy, expect, at=at, where=str(args.bundle)
            )
    except MlopsGatesError as exc:
        return _error(f"refused: {exc}", EXIT_FAIL)
    print(verified.describe())
    if verified.logged is None:
        print(NOT_VERIFIED)
    return EXIT_OK


def _verify_registered(args: argparse.Namespace) -> int:
    from mlops_gates.attest import AttestationError
    from mlops_gates.attest.dsse import load_public_keys
    from mlops_gates.attest.gate import Keyless
    from mlops_gates.attest.store import verify_version
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.sources.mlflow_models import parse_models_uri

    try:
        ref = parse_models_uri(args.model) if args.model.startswith("models:/") else None
    except MlopsGatesError as exc:
        return _error(str(exc))
    if ref is None or ref.version is None:
        return _error(
            "without BUNDLE, --model must name a registered version: models:/NAME/VERSION"
        )
    policy = Keyless(
        args.trust_root,
        args.certificate_identity,
        args.certificate_identity_regexp,
        args.certificate_oidc_issuer,
    )
    if not args.key and not policy.configured:
        return _error(
            "nothing to verify with: pass --key PATH (an Ed25519 public key, PEM) or, for a "
            "keyless attestation, --trust-root and --certificate-identity"
        )
    try:
        keys = load_public_keys(args.key) if args.key else {}
        keyless = policy.load() if policy.configured else None
    except AttestationError as exc:
        return _error(str(exc))
    try:
        verified = verify_version(
            _conn(args.tracking_uri),
            ref.name,
            ref.version,
            keys,
            config_digest=args.config_digest,
            keyless=keyless,
        )
    except MlopsGatesError as exc:
        return _error(f"refused: {exc}", EXIT_FAIL)
    print(verified.describe())
    if verified.signer is not None and verified.logged is None:
        from mlops_gates.attest.sigstore_bundle import NOT_VERIFIED

        print(NOT_VERIFIED)
    return EXIT_OK


def _ml_bom(args: argparse.Namespace) -> int:
    import hashlib

    from mlops_gates.attest.bom import ml_bom

    report = args.report_dir / "report.json"
    try:
        raw = report.read_bytes()
        doc = json.loads(raw)
    except (OSError, ValueError) as exc:
        return _error(f"{report}: cannot read the report ({exc}); run `mlops-gates check` first")
    output = args.output or args.report_dir / "ml-bom.cdx.json"
    try:
        output.write_text(json.dumps(ml_bom(doc, hashlib.sha256(raw).hexdigest()), indent=2))
    except OSError as exc:
        return _error(f"{output}: cannot write the BOM ({exc.strerror})")
    print(f"ml-bom: {output}")
    return EXIT_OK
