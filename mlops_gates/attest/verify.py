"""Check an attestation against the files about to be served and what the manifest says.

The order is the order of trust: the signature first (nothing unsigned is read as
evidence), then the statement's form, then that its subjects are exactly these files,
then what the verdict says. The first thing that does not match is the one line refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlops_gates.attest import AttestationError
from mlops_gates.attest.dsse import open_envelope
from mlops_gates.attest.statement import file_subjects, sha256_file, validate_statement

__all__ = [
    "Expect",
    "Verified",
    "check_statement",
    "read_bundle",
    "subject_problem",
    "verify",
]


@dataclass(frozen=True)
class Expect:
    """What the attestation must say besides naming these files (None: not checked)."""

    config_digest: str | None = None
    model: str | None = None
    version: str | None = None
    report: Path | None = None  # report.json whose bytes the predicate must name


@dataclass(frozen=True)
class Verified:
    """What a verified attestation proved: its statement, the key that signed it and how many model
    files matched their digests."""

    statement: dict[str, Any]
    keyid: str
    files: int
    signer: str | None = None  # who signed, when not a key (a Sigstore certificate identity)
    logged: datetime | None = None  # the transparency log's verified integration time

    @property
    def predicate(self) -> dict[str, Any]:
        """The statement's predicate: the gates verdict the signature vouches for."""
        return dict(self.statement["predicate"])

    def describe(self) -> str:
        """One line for the log: which model, how many files matched, the gates' status and which
        key signed."""
        cand = self.predicate.get("candidate") or {}
        what = (
            f"model '{cand.get('name')}' version {cand.get('version')}"
            if cand.get("version")
            else "the model"
        )
        by = self.signer if self.signer is not None else f"key {self.keyid[:16]}"
        logged = "" if self.logged is None else f", logged {self.logged:%Y-%m-%dT%H:%M:%SZ}"
        return (
            f"attestation verified: {what}, {self.files} file(s) match, gates "
            f"{self.predicate['status']}, signed by {by}{logged}"
        )


def read_bundle(path: Path) -> Any:
    """A bundle file's JSON; one AttestationError when it is missing or not JSON."""
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise AttestationError(f"{path}: cannot read the attestation ({exc.strerror})") from None
    except ValueError:
        raise AttestationError(f"{path}: not a JSON attestation bundle") from None


def subject_problem(attested: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str | None:
    """Why the attested files are not these files (None: the same names and digests)."""
    want = {str(s["name"]): s["digest"]["sha256"] for s in attested}
    have = {str(s["name"]): s["digest"]["sha256"] for s in actual}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
    if changed:
        n = changed[0]
        return (
            f"model file {n!r} has sha256 {have[n][:16]}…, the attestation says "
            f"{want[n][:16]}…: the file changed after the gates judged it"
        )
    if missing:
        return f"model file {missing[0]!r} is attested but missing ({len(missing)} missing)"
    if extra:
        return f"model file {extra[0]!r} is not in the attestation ({len(extra)} extra)"
    return None


def verify(
    envelope: Any,
    model: Path,
    keys: dict[str, Ed25519PublicKey],
    expect: Expect,
    *,
    where: str = "attestation",
) -> Verified:
    """Verify `envelope` (a parsed DSSE envelope) for the files at `model`; AttestationError
    with one line naming the first thing that did not match."""
    statement, kid = open_envelope(envelope, keys, where=where)
    return check_statement(statement, model, expect, where=where, keyid=kid)


def check_statement(
    statement: dict[str, Any],
    model: Path,
    expect: Expect,
    *,
    where: str,
    keyid: str,
    signer: str | None = None,
) -> Verified:
    """Check a Statement whose signature was already verified (by a key or a Sigstore
    certificate) against the files at `model` and `expect`; AttestationError with one line."""
    validate_statement(statement)
    pred = statement["predicate"]
    actual = file_subjects(model)
    problem = subject_problem(statement["subject"], actual)
    if problem:
        raise AttestationError(f"{where}: {problem}")
    if pred["status"] != "pass":
        raise AttestationError(
            f"{where}: the attested gates run ended '{pred['status']}', not 'pass'"
        )
    recorded = pred["fingerprint"].get("config")
    if expect.config_digest is not None and recorded != expect.config_digest:
        raise AttestationError(
            f"{where}: config digest mismatch: the gates ran under {str(recorded)[:19]}…, "
            f"expected {expect.config_digest[:19]}…"
        )
    cand = pred.get("candidate") or {}
    if expect.model is not None and cand.get("name") != expect.model:
        raise AttestationError(
            f"{where}: model mismatch: the attestation is for model {cand.get('name')!r}, "
            f"not {expect.model!r}"
        )
    if expect.version is not None and str(cand.get("version")) != str(expect.version):
        raise AttestationError(
            f"{where}: version mismatch: the attestation is for version "
            f"{cand.get('version')}, not {expect.version}"
        )
    if expect.report is not None:
        try:
            digest = sha256_file(expect.report)
        except OSError as exc:
            raise AttestationError(f"{expect.report}: cannot read ({exc.strerror})") from None
        if digest != pred["report"]["sha256"]:
            raise AttestationError(
                f"{where}: report digest mismatch: {expect.report} has sha256 {digest[:16]}…, "
                f"the signed report had {pred['report']['sha256'][:16]}…: it was edited "
                "after signing"
            )
    return Verified(statement, keyid, len(actual), signer)
