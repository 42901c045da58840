"""The attestation in the promotion: `promote` lists the signed bundle (digest, signer, where
it is stored) in the pull request body and records it in the deploy manifest, which
validates against the shipped schema. A bundle of another report, or not a bundle at all,
is not listed, and a warning says why."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import Project

from mlops_gates.attest import BUNDLE_NAME, SIGNING_KEY_ENV, SIGNING_KEY_FILE_ENV
from mlops_gates.attest.dsse import load_public_keys
from mlops_gates.attest.ref import bundle_reference
from mlops_gates.cli import main
from mlops_gates.promote.manifest import manifest_schema

from .test_attest import Gated


@pytest.fixture
def signed(make_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Gated:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(tmp_path / "gates.key"))
    g = Gated(make_project, tmp_path)
    assert g.code == 0 and g.bundle.is_file()
    monkeypatch.delenv(SIGNING_KEY_FILE_ENV)
    return g


def _dry_run(g: Gated, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str, str]:
    code = main(["promote", str(g.report_dir), "--model", "m", "--model-version", "3", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    manifest_text, _, body = out.partition("# pull request:")
    manifest = yaml.safe_load(manifest_text)
    return manifest, body, err


def test_the_manifest_records_the_bundle_and_the_body_lists_it(
    signed: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    manifest, body, err = _dry_run(signed, capsys)
    sha = "sha256:" + hashlib.sha256(signed.bundle.read_bytes()).hexdigest()
    (signer,) = load_public_keys([signed.pub])  # the key id, computed from the public key
    assert manifest["attestation"] == {
        "sha256": sha,
        "signer": signer,
        "run_id": None,  # tracking is off in this test: the bundle is next to the report
        "path": BUNDLE_NAME,
    }
    jsonschema.validate(manifest, manifest_schema())
    line = next(x for x in body.splitlines() if x.startswith("- **Attestation:**"))
    assert f"`{sha}`" in line and f"`{signer}`" in line
    assert "next to the report only" in line
    assert err == ""


def test_an_unsigned_run_has_no_attestation_and_no_warning(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    g = Gated(make_project, tmp_path)
    capsys.readouterr()
    manifest, body, err = _dry_run(g, capsys)
    assert "attestation" not in manifest
    assert "**Attestation:**" not in body
    assert err == ""


def test_a_bundle_of_another_report_is_not_listed(
    signed: Gated, capsys: pytest.CaptureFixture[str]
) -> None:
    report = signed.report_dir / "report.json"
    doc = json.loads(report.read_text())
    doc["started_at"] = "2030-01-01T00:00:00+00:00"  # a later run wrote the report again
    report.write_text(json.dumps(doc))
    capsys.readouterr()
    manifest, body, err = _dry_run(signed, capsys)
    assert "attestation" not in manifest
    assert "**Attestation:**" not in body
    assert err.strip() == (
        f"mlops-gates: warning: {signed.bundle}: signs another report (left from an earlier "
        "run?); not listed: sign this one with `mlops-gates attest`, or remove the file"
    )


@pytest.mark.parametrize("text", ["not json", '{"payload": "!!"}', "[]"])
def test_a_file_that_is_no_bundle_is_named(tmp_path: Path, text: str) -> None:
    (tmp_path / BUNDLE_NAME).write_text(text)
    ref, note = bundle_reference(tmp_path, {}, b"{}")
    assert ref is None
    assert (
        note == f"{tmp_path / BUNDLE_NAME}: not an attestation bundle mlops-gates wrote; not listed"
    )


def test_the_schema_refuses_a_malformed_reference(signed: Gated) -> None:
    from mlops_gates.errors import PromotionError
    from mlops_gates.promote.manifest import build_manifest

    ref, _ = bundle_reference(
        signed.report_dir, signed.report, (signed.report_dir / "report.json").read_bytes()
    )
    assert ref is not None
    with pytest.raises(PromotionError, match=r"attestation\.sha256: .* is not allowed"):
        build_manifest(
            signed.report,
            model="m",
            version="3",
            uri="models:/m/3",
            promoted_at="2026-12-06T00:00:00Z",
            attestation={**ref, "sha256": "md5:abc"},
        )
