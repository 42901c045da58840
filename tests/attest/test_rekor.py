"""The transparency-log entry of a keyless bundle, verified offline against a
trusted_root.json: a log made here (tests/attest/rekor_log.py) stands in for Rekor. The
honest entry verifies (promise, proof, or both); an altered body, another log's key, a
proof for another leaf, a checkpoint by another key, or a log time outside the
certificate's validity are each refused in one line."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mlops_gates.attest.rekor import root_from_proof

from .rekor_log import Log, audit_path, mth, trusted_root
from .sigstore_ca import CA, SIGNED_AT, WORKFLOW, bundle
from .sigstore_ca import logged_bundle as signed_and_logged
from .test_attest import one_line
from .test_sigstore_bundle import World, world

__all__ = ["logged_bundle", "world"]


def logged_bundle(w: World, log: Log, *, when: datetime = SIGNED_AT) -> dict[str, Any]:
    """A bundle whose signature `log` integrated at `when` (default: the signing time)."""
    key, cert = w.ca.leaf()
    return signed_and_logged(w.statement, key, cert, log, when)


@pytest.fixture
def log() -> Log:
    return Log()


def _root(w: World, tmp: Path, log: Log) -> Path:
    path = tmp / "trusted_root.json"
    path.write_text(json.dumps(trusted_root(w.ca.cert, log)))
    return path


def _verify(w: World, tmp: Path, data: dict[str, Any], root: Path) -> int:
    return w.verify(w.write(tmp, data), root=root)


@pytest.mark.parametrize("keep", ["both", "promise", "proof"])
def test_honest_logged_bundle_verifies_with_the_log_time(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log, keep: str
) -> None:
    data = logged_bundle(world, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    if keep == "promise":
        del entry["inclusionProof"]
    if keep == "proof":
        del entry["inclusionPromise"]
    assert _verify(world, tmp_path, data, _root(world, tmp_path, log)) == 0
    out = capsys.readouterr().out
    assert f"signed by {WORKFLOW}, logged 2026-12-01T12:00:00Z" in out
    assert "NOT verified" not in out


def _body_of_another_payload(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    body["spec"]["payloadHash"]["value"] = "0" * 64
    entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return data


def _body_altered_keeping_the_payload(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    body["spec"]["envelopeHash"]["value"] = "0" * 64
    entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return data


def _entry_of_another_signature(w: World, log: Log) -> dict[str, Any]:
    honest = logged_bundle(w, log)
    other = logged_bundle(w, log)  # the same statement, signed again with another leaf
    honest["verificationMaterial"]["tlogEntries"] = other["verificationMaterial"]["tlogEntries"]
    return honest


def _another_log(w: World, log: Log) -> dict[str, Any]:
    return logged_bundle(w, Log())


def _another_key_claiming_the_log(w: World, log: Log) -> dict[str, Any]:
    impostor = Log(key=ec.generate_private_key(ec.SECP256R1()))
    data = logged_bundle(w, impostor)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    entry["logId"]["keyId"] = base64.b64encode(log.key_id).decode()
    return data


def _proof_for_another_leaf(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionPromise"]
    proof = entry["inclusionProof"]
    index = int(proof["logIndex"]) - 1
    proof["hashes"] = [base64.b64encode(h).decode() for h in audit_path(index, log.leaves)]
    return data


def _moved_index(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionPromise"]
    entry["inclusionProof"]["logIndex"] = str(int(entry["logIndex"]) + 1)
    return data


def _checkpoint_by_another_key(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionPromise"]
    proof = entry["inclusionProof"]
    impostor = Log()
    impostor_sig = impostor.checkpoint(int(proof["treeSize"]), mth(log.leaves))
    # Keep the trusted log's key hint: only the signature is wrong.
    note, _, sig_line = impostor_sig.partition("\n\n")
    name, _, sig64 = sig_line.strip().rpartition(" ")
    raw = log.key_id[:4] + base64.b64decode(sig64)[4:]
    proof["checkpoint"]["envelope"] = f"{note}\n\n{name} {base64.b64encode(raw).decode()}\n"
    return data


def _unsigned_root(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionPromise"]
    del entry["inclusionProof"]["checkpoint"]
    return data


def _logged_after_the_certificate_expired(w: World, log: Log) -> dict[str, Any]:
    return logged_bundle(w, log, when=SIGNED_AT + timedelta(hours=1))


def _time_changed_after_logging(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionProof"]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 60)
    return data


def _nothing_logged(w: World, log: Log) -> dict[str, Any]:
    key, cert = w.ca.leaf()
    data = bundle(w.statement, key, cert)
    data["verificationMaterial"]["tlogEntries"] = []
    return data


def _no_promise_no_proof(w: World, log: Log) -> dict[str, Any]:
    data = logged_bundle(w, log)
    entry = data["verificationMaterial"]["tlogEntries"][0]
    del entry["inclusionPromise"]
    del entry["inclusionProof"]
    return data


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_body_of_another_payload, "the log entry is for another payload"),
        (_body_altered_keeping_the_payload, "signed entry timestamp does not verify"),
        (_entry_of_another_signature, "records another signature or certificate"),
        (_another_log, "logged by a log the trust root does not name"),
        (_another_key_claiming_the_log, "signed entry timestamp does not verify"),
        (_proof_for_another_leaf, "inclusion proof does not lead from this entry"),
        (_moved_index, "inclusion proof does not lead from this entry"),
        (_checkpoint_by_another_key, "is not signed by the trusted log key"),
        (_unsigned_root, "no signed checkpoint"),
        (_logged_after_the_certificate_expired, "outside the signing certificate's validity"),
        (_time_changed_after_logging, "signed entry timestamp does not verify"),
        (_nothing_logged, "no transparency-log entry"),
        (_no_promise_no_proof, "neither an inclusion promise nor an inclusion proof"),
    ],
)
def test_each_wrong_log_entry_is_refused_in_one_line(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log: Log,
    make: Callable[[World, Log], dict[str, Any]],
    says: str,
) -> None:
    data = make(world, log)
    assert _verify(world, tmp_path, data, _root(world, tmp_path, log)) == 1
    line = one_line(capsys.readouterr().err)
    assert "refused" in line and says in line, line


def test_a_pem_root_still_says_the_log_was_not_verified(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    """Only certificates pinned: the tampered log entry is not looked at, and the output
    says so instead of implying it was checked."""
    assert world.verify(world.write(tmp_path, _moved_index(world, log))) == 0
    assert "transparency log: NOT verified" in capsys.readouterr().out


def test_the_trusted_roots_certificate_authority_is_the_anchor(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    data = logged_bundle(world, log)
    other = tmp_path / "other_root.json"
    other.write_text(json.dumps(trusted_root(CA.make("test fulcio root").cert, log)))
    assert _verify(world, tmp_path, data, other) == 1
    assert "does not chain to the trust root" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda r: r.update(certificateAuthorities=None), "not a Sigstore trusted root"),
        (lambda r: r.update(tlogs=[]), "names no transparency log"),
        (lambda r: r["tlogs"][0]["publicKey"].update(rawBytes="AAAA"), "not a DER public key"),
        (
            lambda r: r["tlogs"][0]["publicKey"]["validFor"].update(start="soon"),
            "not an RFC 3339 time",
        ),
    ],
)
def test_a_bad_trusted_root_is_a_usage_error_in_one_line(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log: Log,
    spoil: Callable[[dict[str, Any]], Any],
    says: str,
) -> None:
    root = trusted_root(world.ca.cert, log)
    spoil(root)
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(root))
    assert _verify(world, tmp_path, logged_bundle(world, log), path) == 2
    line = one_line(capsys.readouterr().err)
    assert str(path) in line and says in line, line


def test_a_log_key_used_outside_its_validity_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    root = trusted_root(world.ca.cert, log, start="2027-01-01T00:00:00Z")
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(root))
    assert _verify(world, tmp_path, logged_bundle(world, log), path) == 1
    assert "outside the trusted log key's validity" in one_line(capsys.readouterr().err)


def test_audit_paths_agree_with_the_rfc_definitions() -> None:
    """The iterative RFC 9162 walk reaches the recursive RFC 6962 tree hash for every leaf
    of every tree up to 33 leaves, and never from another position or a longer path."""
    for size in range(1, 34):
        leaves = [f"leaf {i}".encode() for i in range(size)]
        root = mth(leaves)
        for m in range(size):
            path = audit_path(m, leaves)
            leaf = mth([leaves[m]])
            assert root_from_proof(leaf, m, size, path) == root, (size, m)
            for other in {0, m - 1, m + 1, size - 1} - {m}:
                if 0 <= other < size:
                    assert root_from_proof(leaf, other, size, path) != root, (size, m, other)
            # (The size alone may not show: leaf 0 of 3 and of 4 walk the same path; the
            # signed checkpoint pins the size.)
            assert root_from_proof(leaf, m, size, [*path, leaf]) != root
    assert root_from_proof(b"x" * 32, 3, 3, []) is None


def test_an_envelope_copied_from_a_logged_bundle_keeps_nothing_of_its_proof(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Log
) -> None:
    """The payload swapped under a valid log entry: the entry names the old payload."""
    data = logged_bundle(world, log)
    tampered = copy.deepcopy(world.statement)
    tampered["predicate"]["candidate"]["version"] = "99"
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(tampered).encode()).decode()
    assert _verify(world, tmp_path, data, _root(world, tmp_path, log)) == 1
    assert "log entry is for another payload" in one_line(capsys.readouterr().err)
