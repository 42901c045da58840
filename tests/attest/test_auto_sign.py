"""Signing without an extra step: with a key configured in the environment, `mlops-gates
check` and `pytest --mlops-gates` sign the run they just ended; the bundle verifies with
`mlops-gates verify` exactly like one `mlops-gates attest` made. A key that cannot sign fails
the run in one line; without a key nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io as sio
from conftest import Project
from helpers import base_config, binary_frame

from mlops_gates.attest import BUNDLE_NAME, SIGNING_KEY_ENV, SIGNING_KEY_FILE_ENV
from mlops_gates.cli import main

from .test_attest import Gated, make_key, one_line

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (SIGNING_KEY_ENV, SIGNING_KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def _verify(g: Gated) -> int:
    return main(
        [
            "verify",
            str(g.bundle),
            "--model",
            str(g.model),
            "--key",
            str(g.pub),
            "--report",
            str(g.report_dir / "report.json"),
            "--config-digest",
            g.report["fingerprint"]["config"],
        ]
    )


def test_check_signs_when_a_key_file_is_configured(
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Gated makes its key pair at tmp_path/gates.key before it runs `check`.
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(tmp_path / "gates.key"))
    g = Gated(make_project, tmp_path)
    out = capsys.readouterr().out
    assert g.code == 0
    assert f"attestation: {g.bundle}" in out
    assert g.bundle.is_file()
    assert _verify(g) == 0
    assert capsys.readouterr().out.startswith("attestation verified: the model, 1 file(s) match")


def test_check_signs_with_the_pem_text_and_a_failed_run_is_signed_but_never_verifies(
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, _ = make_key(tmp_path, "env")
    monkeypatch.setenv(SIGNING_KEY_ENV, key.read_text())
    (tmp_path / "p").mkdir()
    g = Gated(make_project, tmp_path / "p", min_accuracy=0.99)
    assert g.code == 1
    assert g.bundle.is_file(), "a failing verdict is evidence too"
    capsys.readouterr()
    env_pub = tmp_path / "env.pub"
    assert main(["verify", str(g.bundle), "--model", str(g.model), "--key", str(env_pub)]) == 1
    assert "the attested gates run ended 'fail', not 'pass'" in one_line(capsys.readouterr().err)


def test_without_a_key_check_signs_nothing(make_project: Project, tmp_path: Path) -> None:
    g = Gated(make_project, tmp_path)
    assert g.code == 0
    assert not g.bundle.exists()
    # A bundle an earlier (signed) run left in the folder signs another report: the next
    # unsigned run removes it rather than leave it beside a report it does not attest.
    assert g.attest() == 0 and g.bundle.is_file()
    rerun = ["check", "--config", str(g.config), "--report-dir", str(g.report_dir)]
    assert main(rerun) == 0
    assert not g.bundle.exists()


def test_a_configured_key_that_cannot_sign_fails_the_run_in_one_line(
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "nowhere.key"
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(missing))
    g = Gated(make_project, tmp_path)
    err = capsys.readouterr().err
    assert g.code == 1, "the gates passed, but the evidence asked for was not made"
    assert g.report["status"] == "pass"
    assert one_line(err) == (
        "mlops-gates: error: signing the gates run (a signing key is configured): "
        f"{missing}: cannot read the signing key (No such file or directory)"
    )
    assert not g.bundle.exists()


def test_predictions_from_a_column_cannot_be_signed_and_say_so(
    make_project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, _ = make_key(tmp_path, "k")
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(key))
    cfg = base_config(gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}])
    config = make_project(cfg, binary_frame(), where=tmp_path)
    code = main(["check", "--config", str(config), "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1
    assert "the report names no candidate model file" in one_line(err)
    assert SIGNING_KEY_FILE_ENV in err


def test_pytest_plugin_signs_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.linear_model import LogisticRegression

    df = binary_frame()
    df["x1"] = df["score_c"]
    model = pytester.path / "model.skops"
    sio.dump(LogisticRegression().fit(df[["x1"]], df["y"]), model)
    cfg = base_config(
        candidate={"model": model.name},
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    )
    cfg["data"] = {"path": "eval.csv"}
    df.to_csv(pytester.path / "eval.csv", index=False)
    (pytester.path / "mlops-gates.yaml").write_text(json.dumps(cfg))
    key, pub = make_key(pytester.path, "gates")
    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(key))
    result = pytester.runpytest("--mlops-gates", "-p", "no:cacheprovider")
    assert result.ret == 0
    bundle = pytester.path / "mlops-gates-report" / BUNDLE_NAME
    result.stdout.fnmatch_lines([f"attestation: {bundle} (sha256 *"])
    assert main(["verify", str(bundle), "--model", str(model), "--key", str(pub)]) == 0

    monkeypatch.setenv(SIGNING_KEY_FILE_ENV, str(pytester.path / "gates.pub"))
    result = pytester.runpytest("--mlops-gates", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "a key that cannot sign fails the session"
    result.stdout.fnmatch_lines(["mlops-gates: error: signing the gates run *not an unencrypted*"])


# -- keyless: the inputs of GitHub's actions/attest ----------------------------------------


def test_sigstore_inputs_are_the_signed_statement_split_for_actions_attest(
    make_project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64
    import shutil
    import subprocess

    from mlops_gates.attest import PREDICATE_TYPE

    g = Gated(make_project, tmp_path)
    assert g.attest() == 0
    signed = json.loads(base64.b64decode(json.loads(g.bundle.read_text())["payload"]))
    out_dir = tmp_path / "sigstore"
    capsys.readouterr()
    assert main(["attest", str(g.report_dir), "--sigstore-inputs", str(out_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"predicate-type: {PREDICATE_TYPE}",
        f"predicate-path: {out_dir / 'predicate.json'}",
        f"subject-checksums: {out_dir / 'subjects.sha256'}",
    ]
    assert json.loads((out_dir / "predicate.json").read_text()) == signed["predicate"]
    sha256sum = shutil.which("sha256sum")
    if sha256sum:  # coreutils reads the checksums file as actions/attest's format is defined
        check = subprocess.run(
            [sha256sum, "--check", "--strict", str(out_dir / "subjects.sha256")],
            cwd=g.model.parent,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    text = (out_dir / "subjects.sha256").read_text()
    assert text == "".join(f"{s['digest']['sha256']}  {s['name']}\n" for s in signed["subject"])
