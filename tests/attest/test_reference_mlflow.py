"""Against a real `mlflow server`: `check` with a key configured signs, stores and tags
without an `attest` step; deploy verifies the bundle the reviewed manifest records, not
whichever one the version's tags point to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gates.attest import DIGEST_TAG, RUN_TAG, SIGNING_KEY_ENV, SIGNING_KEY_FILE_ENV
from mlops_gates.attest.ref import bundle_reference
from mlops_gates.cli import main
from mlops_gates.promote.manifest import build_manifest, dump_manifest

from .test_attest import make_key, one_line
from .test_attest_mlflow import Gated, gated, unsigned_gated  # noqa: F401  (the fixtures)


def test_check_with_a_key_signs_stores_and_tags(
    gated: Gated,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(gated.key))
    again = gated.root / "again"
    capsys.readouterr()
    assert main(["check", "--config", str(gated.config), "--report-dir", str(again)]) == 0
    out = capsys.readouterr().out
    run_id = json.loads((again / "report.json").read_text())["context"]["mlflow"]["run_id"]
    assert run_id != gated.run_id, "a new gates run"
    assert f"stored in MLflow run {run_id}; tagged model '{gated.name}'" in out
    tags = gated.client.get_model_version(gated.name, gated.version).tags
    assert tags[RUN_TAG] == run_id
    assert gated.verify() == 0, "verified from what check alone stored"


def _manifest(g: Gated, reference: dict | None) -> Path:
    manifest = build_manifest(
        g.doc,
        model=g.name,
        version=g.version,
        uri=f"models:/{g.name}/{g.version}",
        promoted_at="2026-12-06T00:00:00Z",
        gates_run_id=g.run_id,
        attestation=reference,
    )
    g.manifest.parent.mkdir(parents=True, exist_ok=True)
    g.manifest.write_text(dump_manifest(manifest))
    return g.manifest


def _deploy(g: Gated, manifest: Path, *keys: Path) -> int:
    flags = [x for k in keys for x in ("--verify-key", str(k))]
    return main(
        ["deploy", "--tracking-uri", g.url, "--manifest", str(manifest), "--no-github", *flags]
    )


def test_deploy_checks_the_bundle_the_manifest_records(
    gated: Gated,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    raw = (gated.report_dir / "report.json").read_bytes()
    reference, note = bundle_reference(gated.report_dir, gated.doc, raw)
    assert note is None and reference is not None
    assert reference["run_id"] == gated.run_id
    assert reference["path"] == "attestation/attestation.dsse.json"
    pinned = _manifest(gated, reference)
    # A second key the deploy also trusts (a rotation in progress) re-signs the same run:
    # the bundle in the run and the version's digest tag both change.
    rotated, rotated_pub = make_key(gated.root, "rotated")
    assert gated.attest(rotated) == 0
    tags = gated.client.get_model_version(gated.name, gated.version).tags
    assert "sha256:" + tags[DIGEST_TAG] != reference["sha256"]
    capsys.readouterr()
    assert _deploy(gated, pinned, gated.pub, rotated_pub) == 1
    line = one_line(capsys.readouterr().err)
    assert "is not the one the manifest records; it was replaced after signing" in line
    assert gated.alias() is None
    # The same bundle through a manifest that records none: the tags are all there is.
    assert _deploy(gated, _manifest(gated, None), gated.pub, rotated_pub) == 0
    assert gated.alias() == gated.version
