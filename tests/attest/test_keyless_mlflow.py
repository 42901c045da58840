"""Keyless (Sigstore) attestations end to end against a real `mlflow server`: the bundle
actions/attest would write (signed here by a test CA and logged in a test Rekor, since
GitHub's OIDC, Fulcio and Rekor cannot run offline) is kept with the gates run by `attest
--sigstore-bundle`, and `verify` / `deploy` / `rollback` check it with the pinned trust
root and signer workflow before any alias moves. Each tampering is refused in one line
with the alias untouched; the honest path deploys."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_gates.attest import (
    BUNDLE_NAME,
    DIGEST_TAG,
    IDENTITY_ENV,
    RUN_TAG,
    TRUST_ROOT_ENV,
)
from mlops_gates.cli import main

from .rekor_log import Log, trusted_root
from .sigstore_ca import CA, WORKFLOW, logged_bundle, statement_from_inputs
from .test_attest import one_line
from .test_attest_mlflow import Gated, _replace_model_file, _tag_by_hand
from .test_attest_mlflow import unsigned_gated as unsigned_gated  # the fixture

OTHER_WORKFLOW = WORKFLOW.replace("mlops-train-promote.yml", "anything.yml")


@dataclass
class Keyless:
    g: Gated
    statement: dict[str, Any]
    ca: CA
    log: Log
    root: Path

    def sign(self, *, identity: str = WORKFLOW, log: Log | None = None) -> Path:
        """What actions/attest writes at its `bundle-path`, signed by `identity`."""
        key, cert = self.ca.leaf(identity=identity)
        data = logged_bundle(self.statement, key, cert, log or self.log)
        path = self.g.root / f"bundle-{uuid.uuid4().hex[:6]}.sigstore.json"
        path.write_text(json.dumps(data))
        return path

    def store(self, path: Path) -> int:
        return main(["attest", str(self.g.report_dir), "--sigstore-bundle", str(path)])

    def policy(self) -> list[str]:
        return ["--trust-root", str(self.root), "--certificate-identity", WORKFLOW]

    def verify(self, version: str | None = None) -> int:
        model = f"models:/{self.g.name}/{version or self.g.version}"
        return main(["verify", "--model", model, "--tracking-uri", self.g.url, *self.policy()])

    def deploy(self, version: str | None = None, *extra: str) -> int:
        manifest = self.g.write_manifest(version)
        args = ["deploy", "--tracking-uri", self.g.url, "--manifest", str(manifest)]
        return main([*args, "--no-github", *extra])


@pytest.fixture
def keyless(unsigned_gated: Gated, tmp_path: Path) -> Keyless:
    """The gates run kept with a keyless bundle, as `attest --sigstore-bundle` stores it."""
    g = unsigned_gated
    inputs = tmp_path / "sigstore"
    assert main(["attest", str(g.report_dir), "--sigstore-inputs", str(inputs)]) == 0
    ca, log = CA.make("test fulcio root"), Log()
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(trusted_root(ca.cert, log)))
    k = Keyless(g, statement_from_inputs(inputs), ca, log, root)
    assert k.store(k.sign()) == 0
    return k


def test_the_keyless_bundle_is_kept_like_a_key_signed_one(
    keyless: Keyless, capsys: pytest.CaptureFixture[str]
) -> None:
    g = keyless.g
    local = (g.report_dir / BUNDLE_NAME).read_bytes()
    assert json.loads(local)["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    tags = g.client.get_model_version(g.name, g.version).tags
    assert tags[DIGEST_TAG] == hashlib.sha256(local).hexdigest()
    assert tags[RUN_TAG] == g.run_id
    stored = g.client.download_artifacts(g.run_id, f"attestation/{BUNDLE_NAME}", str(g.root))
    assert Path(stored).read_bytes() == local
    capsys.readouterr()
    assert keyless.verify() == 0
    out = capsys.readouterr().out
    assert f"signed by {WORKFLOW}, logged 2026-12-01T12:00:00Z" in out
    assert "NOT verified" not in out


def test_the_honest_path_deploys(keyless: Keyless, capsys: pytest.CaptureFixture[str]) -> None:
    assert keyless.deploy(None, *keyless.policy()) == 0
    assert "deployed model" in capsys.readouterr().out
    assert keyless.g.alias() == keyless.g.version


def _resigned_by_another_workflow(k: Keyless) -> str:
    # Everything a registry writer with their own workflow can do: sign, store, re-tag.
    assert k.store(k.sign(identity=OTHER_WORKFLOW)) == 0
    return k.g.version


def _logged_elsewhere(k: Keyless) -> str:
    assert k.store(k.sign(log=Log())) == 0
    return k.g.version


def _key_signed_instead(k: Keyless) -> str:
    from .test_attest import make_key

    key, _ = make_key(k.g.root, "mallory")
    assert k.g.attest(key) == 0
    return k.g.version


def _statement_swapped(k: Keyless) -> str:
    path = k.sign()
    data = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(data["dsseEnvelope"]["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    data["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(data))
    assert k.store(path) == 0
    return k.g.version


TAMPERING: list[tuple[str, Callable[[Keyless], str], str]] = [
    ("tagged-pass-by-hand", lambda k: _tag_by_hand(k.g), "has no attestation"),
    ("model-file-replaced", lambda k: _replace_model_file(k.g), "model file 'model.skops'"),
    (
        "signed-by-another-workflow",
        _resigned_by_another_workflow,
        f"signed by workflow {OTHER_WORKFLOW}, not the pinned {WORKFLOW}",
    ),
    ("logged-in-another-log", _logged_elsewhere, "a log the trust root does not name"),
    ("statement-swapped", _statement_swapped, "log entry is for another payload"),
    ("key-signed-instead", _key_signed_instead, "signed with a key, and no verification key"),
]


@pytest.mark.parametrize(
    ("tamper", "expected"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_deploy_refuses_tampering_and_leaves_the_alias(
    keyless: Keyless,
    capsys: pytest.CaptureFixture[str],
    tamper: Callable[[Keyless], str],
    expected: str,
) -> None:
    version = tamper(keyless)
    capsys.readouterr()
    assert keyless.verify(version) == 1
    assert expected in one_line(capsys.readouterr().err)
    assert keyless.deploy(version, *keyless.policy()) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("mlops-gates: error: refusing to deploy: "), line
    assert f"attestation check failed: model '{keyless.g.name}' version {version}" in line
    assert expected in line, line
    assert keyless.g.alias() is None


def test_the_policy_can_come_from_the_environment(
    keyless: Keyless, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _resigned_by_another_workflow(keyless)
    monkeypatch.setenv(TRUST_ROOT_ENV, str(keyless.root))
    monkeypatch.setenv(IDENTITY_ENV, WORKFLOW)
    capsys.readouterr()
    assert keyless.deploy() == 1
    assert "not the pinned" in one_line(capsys.readouterr().err)
    assert keyless.g.alias() is None


def test_a_key_only_deploy_refuses_a_keyless_bundle_in_one_line(
    keyless: Keyless, capsys: pytest.CaptureFixture[str]
) -> None:
    from .test_attest import make_key

    _, pub = make_key(keyless.g.root, "team")
    assert keyless.deploy(None, "--verify-key", str(pub)) == 1
    assert "is a keyless Sigstore bundle; pin who may sign" in one_line(capsys.readouterr().err)
    assert keyless.g.alias() is None


def test_an_identity_without_a_trust_root_is_refused(
    keyless: Keyless, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keyless.deploy(None, "--certificate-identity", WORKFLOW) == 1
    assert "no trust root: pass --trust-root" in one_line(capsys.readouterr().err)
    assert keyless.g.alias() is None


def test_rollback_verifies_its_keyless_target(
    keyless: Keyless, capsys: pytest.CaptureFixture[str]
) -> None:
    g = keyless.g
    assert keyless.deploy(None, *keyless.policy()) == 0
    other = _tag_by_hand(g)
    assert keyless.deploy(other, "--override-gates", "test") == 0
    _replace_model_file(g)
    capsys.readouterr()
    args = ["rollback", "--tracking-uri", g.url, "--model", g.name, "--no-github"]
    assert main([*args, "--reason", "bad", *keyless.policy()]) == 1
    assert "model file 'model.skops' has sha256" in one_line(capsys.readouterr().err)
    assert g.alias() == other


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda k: k.g.report_dir / "report.json", "not a Sigstore bundle"),
        (
            lambda k: _other_report(k),
            "signs another report",
        ),
    ],
    ids=["not-a-bundle", "another-report"],
)
def test_storing_refuses_what_is_not_this_reports_bundle(
    keyless: Keyless,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Keyless], Path],
    says: str,
) -> None:
    capsys.readouterr()
    assert keyless.store(make(keyless)) == 1
    assert says in one_line(capsys.readouterr().err)


def _other_report(k: Keyless) -> Path:
    k.statement["predicate"]["report"]["sha256"] = "f" * 64
    return k.sign()
