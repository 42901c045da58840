"""The starter workflows sign keyless and deploy verifies it, run by act: with the
repository variable MLOPS_GATES_ATTEST=keyless, train-promote's `attest` job (no project
code, `id-token: write`) runs the gates action with `attest: keyless` on the registered
version; the bundle reaches the MLflow gates run, the version's tags, the promotion pull
request and its manifest; the deploy starter, given the trusted root and the signer
workflow as repository variables, verifies it before `production` moves.

actions/attest cannot run here (GitHub's OIDC, Fulcio and Rekor): its stand-in
(tests/act_standins/attest) signs with a CA and a log made on the spot and leaves the
trusted root and the identity it used for this test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from act_harness import Act, git
from actions.test_actions_loop import MODEL, user_repository
from github_double import GitHubDouble
from mlflow_server import MlflowServer

from mlops_gates.attest import DIGEST_TAG
from mlops_gates.cli import main
from mlops_gates.init import WORKFLOWS
from mlops_gates.promote.manifest import parse_manifest

pytest_plugins = ["act_fixtures"]


def test_the_starters_sign_keyless_and_deploy_verifies_it(
    act: Act, gh: GitHubDouble, mlflow_server: MlflowServer, tmp_path: Path, capsys: Any
) -> None:
    from mlflow import MlflowClient

    registry = MlflowClient(mlflow_server.url, mlflow_server.url)
    repo = tmp_path / "keyless"
    user_repository(repo)
    sigstore = tmp_path / "sigstore"
    variables = {"MLFLOW_TRACKING_URI": mlflow_server.url, "MLOPS_GATES_ATTEST": "keyless"}
    env = {
        "GITHUB_API_URL": gh.base_url,
        "MLOPS_GATES_TRACKING": "",
        "MLOPS_GATES_ACT_SIGSTORE": str(sigstore),
        "MLOPS_GATES_ACT_TESTS": str(Path(__file__).parents[1]),
    }

    def run(workflow: str, event_name: str) -> Any:
        shutil.rmtree(act.work / f"artifacts-{repo.name}", ignore_errors=True)
        return act.run(
            repo,
            f".github/workflows/{WORKFLOWS[workflow]}",
            event_name,
            secrets={"GITHUB_TOKEN": gh.token},
            variables=variables,
            env=env,
        )

    trained = run("train-promote", "workflow_dispatch")
    assert trained.returncode == 0, trained.log()
    assert trained.jobs() == {
        "train": "success",
        "attest": "success",
        "promote": "success",
    }, trained.log()
    version = trained.outputs("train")["model-version"]
    root, identity = sigstore / "trusted_root.json", (sigstore / "identity.txt").read_text()
    assert identity.startswith("https://github.com/acme/models/"), identity
    # The bundle is stored and tagged, and listed in the pull request and its manifest.
    tags = registry.get_model_version(MODEL, version).tags
    assert DIGEST_TAG in tags, tags
    [pr] = gh.open_pulls()
    raw = gh.repo.file(pr.head, f"deploy/{MODEL}.yaml")
    assert raw is not None
    attestation = parse_manifest(raw.decode())["attestation"]
    assert attestation["signer"] == "keyless (Sigstore)"
    assert attestation["sha256"] == f"sha256:{tags[DIGEST_TAG]}"
    assert f"`{attestation['sha256']}`" in (pr.body or "")
    capsys.readouterr()
    policy = ["--trust-root", str(root), "--certificate-identity", identity]
    model = f"models:/{MODEL}/{version}"
    assert main(["verify", "--model", model, "--tracking-uri", mlflow_server.url, *policy]) == 0
    assert f"signed by {identity}, logged" in capsys.readouterr().out

    # Merged: the deploy starter verifies with the pinned root and signer, then deploys.
    (repo / "deploy").mkdir()
    (repo / "deploy" / f"{MODEL}.yaml").write_bytes(raw)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"Promote {MODEL} {version} (#{pr.number})")
    variables["MLOPS_GATES_TRUST_ROOT"] = str(root)
    variables["MLOPS_GATES_CERTIFICATE_IDENTITY"] = identity.replace("models/", "other/")
    # The server is shared with other act tests that deploy the template's model: the alias
    # may already name an earlier version, and the refusal must leave it as it was.
    live = registry.get_registered_model(MODEL).aliases.get("production")
    assert live != version
    refused = run("deploy", "push")
    assert refused.returncode != 0 and refused.jobs() == {"deploy": "failure"}, refused.log()
    assert "not the pinned" in refused.log()
    assert registry.get_registered_model(MODEL).aliases.get("production") == live
    variables["MLOPS_GATES_CERTIFICATE_IDENTITY"] = identity
    deployed = run("deploy", "push")
    assert deployed.returncode == 0 and deployed.jobs() == {"deploy": "success"}, deployed.log()
    assert registry.get_model_version_by_alias(MODEL, "production").version == version
