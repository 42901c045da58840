"""The starter train-promote workflow signs without an extra step: with the
MLOPS_GATES_SIGNING_KEY secret set, the gates action's `check` signs the run, the report
artifact carries the bundle to the promote job, and the promotion pull request lists it and
its manifest records it. Run by act against the GitHub double (tests/act_harness.py)."""

from __future__ import annotations

from pathlib import Path

import skops.io as sio
import yaml
from act_harness import Act, git_repo
from github_double import GitHubDouble
from helpers import base_config, binary_frame

from mlops_gates.attest.dsse import load_public_keys
from mlops_gates.init import init_repository
from mlops_gates.promote.manifest import parse_manifest

from .test_attest import make_key

pytest_plugins = ["act_fixtures"]

TRAIN_WORKFLOW = ".github/workflows/mlops-train-promote.yml"


def _repo(path: Path) -> Path:
    """A user's repository after `mlops-gates init --workflow train-promote`, whose
    candidate is a model file (only model files can be attested)."""
    from sklearn.linear_model import LogisticRegression

    path.mkdir()
    init_repository(path, workflows=["train-promote"], default_branch="main")
    df = binary_frame()
    df["x1"] = df["score_c"]
    df.to_csv(path / "eval.csv", index=False)
    sio.dump(LogisticRegression().fit(df[["x1"]], df["y"]), path / "model.skops")
    config = base_config(
        candidate={"model": "model.skops"},
        gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}],
    )
    (path / "mlops-gates.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (path / "train.py").write_text(
        "import os\n"
        "with open(os.environ['GITHUB_OUTPUT'], 'a') as f:\n"
        "    f.write('model-version=7\\n')\n"
    )
    git_repo(path, "https://github.com/acme/models.git")
    return path


def test_the_starter_workflow_signs_and_the_promotion_records_it(
    act: Act, gh: GitHubDouble, tmp_path: Path
) -> None:
    repo = _repo(tmp_path / "signed")
    key, pub = make_key(tmp_path, "gates")
    secrets = {"GITHUB_TOKEN": gh.token, "MLOPS_GATES_SIGNING_KEY": key.read_text()}
    env = {"GITHUB_API_URL": gh.base_url}
    run = act.run(repo, TRAIN_WORKFLOW, "workflow_dispatch", secrets=secrets, env=env)

    assert run.returncode == 0, run.log()
    assert run.jobs() == {"train": "success", "promote": "success"}, run.log()
    [pr] = gh.open_pulls()
    manifest = parse_manifest(gh.repo.file(pr.head, "deploy/my-model.yaml").decode())
    (signer,) = load_public_keys([pub])
    attestation = manifest["attestation"]
    assert attestation["signer"] == signer
    assert attestation["sha256"].startswith("sha256:")
    assert f"`{attestation['sha256']}`" in (pr.body or "")
    assert "BEGIN PRIVATE KEY" not in run.log()


def test_without_the_secret_nothing_is_signed(act: Act, gh: GitHubDouble, tmp_path: Path) -> None:
    repo = _repo(tmp_path / "unsigned")
    secrets = {"GITHUB_TOKEN": gh.token}
    env = {"GITHUB_API_URL": gh.base_url}
    run = act.run(repo, TRAIN_WORKFLOW, "workflow_dispatch", secrets=secrets, env=env)

    assert run.returncode == 0, run.log()
    [pr] = gh.open_pulls()
    manifest = parse_manifest(gh.repo.file(pr.head, "deploy/my-model.yaml").decode())
    assert "attestation" not in manifest
    assert "**Attestation:**" not in (pr.body or "")
