"""Attestations stored with the gates run in a real `mlflow server`, and checked before an
alias moves. Each tampering an attacker with registry (or artifact store) write access can
do is refused with one line, and the alias stays where it was; the honest path deploys."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from mlflow_server import MlflowServer, model_frame, register_models

from mlops_gates.attest import (
    BUNDLE_NAME,
    DIGEST_TAG,
    IDENTITY_ENV,
    RUN_TAG,
    TRUST_ROOT_ENV,
    VERIFY_KEY_ENV,
)
from mlops_gates.cli import main
from mlops_gates.promote.manifest import build_manifest, dump_manifest

from .test_attest import make_key, one_line

FRAME = model_frame()


class Gated:
    """Two registered models, gated by `mlops-gates check` with tracking on, signed by
    `mlops-gates attest`; a deploy manifest for the candidate."""

    def __init__(self, server: MlflowServer, make_project: Project, root: Path) -> None:
        from mlflow import MlflowClient

        self.server, self.url, self.root = server, server.url, root
        self.reg = register_models(self.url, f"attested-{uuid.uuid4().hex[:8]}", FRAME)
        self.name = self.reg.name
        self.version = self.reg.versions["candidate"]
        self.client = MlflowClient(self.url, self.url)
        cfg = {
            "version": 1,
            "data": {"path": "eval.parquet"},
            "task": {"type": "binary", "label": "y"},
            "candidate": {"model": f"models:/{self.name}@challenger"},
            "baseline": {"model": f"models:/{self.name}@champion"},
            "tracking": {"uri": self.url},
            "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.6}],
        }
        self.config = make_project(cfg, FRAME, data_name="eval.parquet", where=root)
        self.report_dir = root / "report"
        assert (
            main(["check", "--config", str(self.config), "--report-dir", str(self.report_dir)]) == 0
        )
        self.doc = json.loads((self.report_dir / "report.json").read_text())
        self.run_id = self.doc["context"]["mlflow"]["run_id"]
        self.key, self.pub = make_key(root, "gates")
        self.manifest = root / "deploy" / f"{self.name}.yaml"

    def attest(self, key: Path | None = None) -> int:
        return main(["attest", str(self.report_dir), "--key", str(key or self.key)])

    def write_manifest(self, version: str | None = None) -> Path:
        manifest = build_manifest(
            self.doc,
            model=self.name,
            version=version or self.version,
            uri=f"models:/{self.name}/{version or self.version}",
            promoted_at="2026-12-06T00:00:00Z",
            # promote names the gates run of the version it promotes; nothing else does.
            gates_run_id=self.run_id if version in (None, self.version) else None,
        )
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(dump_manifest(manifest))
        return self.manifest

    def verify(self, version: str | None = None) -> int:
        return main(
            [
                "verify",
                "--model",
                f"models:/{self.name}/{version or self.version}",
                "--key",
                str(self.pub),
                "--tracking-uri",
                self.url,
                "--config-digest",
                self.doc["fingerprint"]["config"],
            ]
        )

    def artifact_dir(self, uri: str) -> Path:
        """Where the server keeps an `mlflow-artifacts:/` location on disk."""
        assert uri.startswith("mlflow-artifacts:/"), uri
        return self.server.root / "artifacts" / uri.removeprefix("mlflow-artifacts:/")

    def model_dir(self, version: str | None = None) -> Path:
        uri = self.client.get_model_version_download_uri(self.name, version or self.version)
        return self.artifact_dir(uri)

    def alias(self, alias: str = "production") -> str | None:
        value = self.client.get_registered_model(self.name).aliases.get(alias)
        return None if value is None else str(value)


@pytest.fixture
def unsigned_gated(
    mlflow_server: MlflowServer,
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Gated:
    """A gates run nobody signed yet, in an environment that names no tracking server,
    CI run or verification policy: each test says what it signs with and checks against."""
    monkeypatch.chdir(tmp_path)
    for name in ("MLOPS_GATES_TRACKING", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GITHUB_ACTIONS", "GITHUB_SHA", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    for name in (VERIFY_KEY_ENV, TRUST_ROOT_ENV, IDENTITY_ENV):
        monkeypatch.delenv(name, raising=False)
    return Gated(mlflow_server, make_project, tmp_path)


@pytest.fixture
def gated(unsigned_gated: Gated) -> Gated:
    """The gates run signed with a key by `mlops-gates attest`."""
    assert unsigned_gated.attest() == 0
    return unsigned_gated


def test_attest_stores_the_bundle_with_the_gates_run_and_tags_the_version(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    tags = gated.client.get_model_version(gated.name, gated.version).tags
    local = (gated.report_dir / BUNDLE_NAME).read_bytes()
    assert tags[DIGEST_TAG] == hashlib.sha256(local).hexdigest()
    assert tags[RUN_TAG] == gated.run_id
    stored = gated.client.download_artifacts(
        gated.run_id, f"attestation/{BUNDLE_NAME}", str(gated.root)
    )
    assert Path(stored).read_bytes() == local
    capsys.readouterr()
    assert gated.verify() == 0
    out = capsys.readouterr().out
    assert out.startswith(f"attestation verified: model '{gated.name}' version {gated.version}")


def _tag_by_hand(g: Gated) -> str:
    """A new version of the same bytes, tagged `pass` by hand: no gates run ever saw it."""
    mv = g.client.get_model_version(g.name, g.version)
    # The logged model (models:/m-<id>) a training run made: the server checks the source
    # belongs to the model id given.
    model_id = str(mv.source).removeprefix("models:/")
    new = g.client.create_model_version(g.name, mv.source, run_id=mv.run_id, model_id=model_id)
    for key in ("mlops_gates.status", "mlops_gates.config_digest"):
        g.client.set_model_version_tag(g.name, new.version, key, mv.tags[key])
    return str(new.version)


def _other_versions_attestation(g: Gated) -> str:
    """The same bytes again, pointing at the attestation of the version that was gated."""
    version = _tag_by_hand(g)
    tags = g.client.get_model_version(g.name, g.version).tags
    for key in (DIGEST_TAG, RUN_TAG):
        g.client.set_model_version_tag(g.name, version, key, tags[key])
    return version


def _replace_model_file(g: Gated) -> str:
    (g.model_dir() / "model.skops").write_bytes(b"not the model that was gated")
    return g.version


def _edit_report(g: Gated) -> str:
    edited = g.root / "edited" / "report.json"
    edited.parent.mkdir()
    edited.write_text((g.report_dir / "report.json").read_text().replace('"pass"', '"pass" '))
    g.client.log_artifact(g.run_id, str(edited))  # overwrites the run's report.json
    return g.version


def _another_key(g: Gated) -> str:
    mallory, _ = make_key(g.root, "mallory")
    assert g.attest(mallory) == 0  # re-signed and re-tagged: everything a registry writer can do
    return g.version


def _swap_bundle(g: Gated) -> str:
    other = g.root / "swap" / BUNDLE_NAME
    other.parent.mkdir()
    shutil.copy(g.report_dir / BUNDLE_NAME, other)
    other.write_text(other.read_text() + " ")
    g.client.log_artifact(g.run_id, str(other), "attestation")
    return g.version


TAMPERING: list[tuple[str, Any, str]] = [
    (
        "tagged-pass-by-hand",
        _tag_by_hand,
        "has no attestation (tags mlops_gates.attestation_sha256",
    ),
    ("model-file-replaced", _replace_model_file, "model file 'model.skops' has sha256"),
    ("report-edited", _edit_report, "report digest mismatch"),
    ("signed-by-another-key", _another_key, "which is none of the 1 trusted verification key(s)"),
    (
        "attestation-of-another-version",
        _other_versions_attestation,
        "version mismatch: the attestation is for version 1",
    ),
    ("bundle-swapped", _swap_bundle, "is not the one tagged"),
]


@pytest.mark.parametrize(
    ("tamper", "expected"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_verify_refuses_tampering_in_the_registry(
    gated: Gated, capsys: pytest.CaptureFixture[str], tamper: Any, expected: str
) -> None:
    version = tamper(gated)
    capsys.readouterr()
    assert gated.verify(version) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"mlops-gates: error: refused: model '{gated.name}' version {version}")
    assert expected in line


# -- deploy ------------------------------------------------------------------------------


def deploy(g: Gated, version: str | None = None, *extra: str) -> int:
    manifest = g.write_manifest(version)
    return main(
        ["deploy", "--tracking-uri", g.url, "--manifest", str(manifest), "--no-github", *extra]
    )


def test_the_honest_path_deploys(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(gated, None, "--verify-key", str(gated.pub)) == 0
    assert "deployed model" in capsys.readouterr().out
    assert gated.alias() == gated.version


def test_the_key_can_come_from_the_environment(
    gated: Gated, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _replace_model_file(gated)
    assert deploy(gated) == 0, "no key configured: the check is off, as before"
    gated.client.delete_registered_model_alias(gated.name, "production")
    monkeypatch.setenv(VERIFY_KEY_ENV, str(gated.pub))
    capsys.readouterr()
    assert deploy(gated) == 1
    assert "model file 'model.skops' has sha256" in one_line(capsys.readouterr().err)
    assert gated.alias() is None


@pytest.mark.parametrize(
    ("tamper", "expected"), [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_deploy_refuses_tampering_and_leaves_the_alias(
    gated: Gated, capsys: pytest.CaptureFixture[str], tamper: Any, expected: str
) -> None:
    version = tamper(gated)
    capsys.readouterr()
    assert deploy(gated, version, "--verify-key", str(gated.pub)) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("mlops-gates: error: refusing to deploy: ")
    assert f"attestation check failed: model '{gated.name}' version {version}" in line
    assert expected in line
    assert gated.alias() is None
    assert not any(
        k.startswith("mlops_gates.deploy.")
        for k in gated.client.get_model_version(gated.name, version).tags
    )


def test_override_is_the_recorded_escape(gated: Gated) -> None:
    _replace_model_file(gated)
    reason = "INC-7: hotfix weights, checked by hand"
    assert deploy(gated, None, "--verify-key", str(gated.pub), "--override-gates", reason) == 0
    assert gated.alias() == gated.version
    tags = gated.client.get_model_version(gated.name, gated.version).tags
    assert tags["mlops_gates.deploy.production.override_reason"] == reason


def test_rollback_verifies_its_target(gated: Gated, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(gated, None, "--verify-key", str(gated.pub)) == 0
    honest = gated.version
    other = _tag_by_hand(gated)  # a second version, live without evidence (override)
    assert deploy(gated, other, "--override-gates", "test") == 0
    _replace_model_file(gated)  # the earlier version's files change while it is not live
    capsys.readouterr()
    args = ["rollback", "--tracking-uri", gated.url, "--model", gated.name, "--no-github"]
    assert main([*args, "--reason", "bad", "--verify-key", str(gated.pub)]) == 1
    assert "model file 'model.skops' has sha256" in one_line(capsys.readouterr().err)
    assert gated.alias() == other
    assert honest != other


def test_a_manifest_naming_its_gates_run_is_read_there_not_where_tags_point(
    gated: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    # A registry writer re-points the version's run tag; the reviewed manifest wins.
    gated.client.set_model_version_tag(gated.name, gated.version, RUN_TAG, "0" * 32)
    capsys.readouterr()
    assert gated.verify() == 1  # without a manifest, the tag is all there is
    assert "holds no attestation.dsse.json" in one_line(capsys.readouterr().err)
    assert deploy(gated, None, "--verify-key", str(gated.pub)) == 0
    assert gated.alias() == gated.version
