"""`mlops-gates deploy`, `rollback` and `status` against a real `mlflow server` on loopback.

Every test reads the outcome back through MlflowClient: where the alias points, the
model-version tags, and the alias history. GitHub deployment records are checked on the
GitHub double, which validates every request against GitHub's OpenAPI description.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Project
from github_double import GitHubDouble
from helpers import validate_report
from mlflow_server import MlflowServer, free_port, model_frame, register_models

from mlops_gates.cli import main
from mlops_gates.deploy.registry import history_tag, lease_tag
from mlops_gates.github import GitHubClient, RetryPolicy
from mlops_gates.promote.manifest import build_manifest, dump_manifest, load_manifest

DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
FAST = RetryPolicy(total=2, backoff_factor=0, secondary_rate_wait=0.05, max_wait=5)


class Model:
    """A registered model with versions on the test server, and a repository folder."""

    def __init__(self, url: str, root: Path, versions: int = 3) -> None:
        from mlflow import MlflowClient

        self.url = url
        self.name = f"deployed-{uuid.uuid4().hex[:8]}"
        self.root = root
        self.client = MlflowClient(url, url)
        self.client.create_registered_model(self.name)
        self.experiment = self.client.create_experiment(f"gates-{self.name}")
        self.runs: dict[str, str] = {}  # version -> its gates run
        for _ in range(versions):
            self.add_version()

    def add_version(
        self, *, status: str | None = "pass", digest: str = DIGEST, run_status: str | None = None
    ) -> str:
        """A version and, unless `status` is None, the gates run behind it and the tags
        `mlops_gates.tracking` writes on the version. `run_status`: what the run itself
        says, when a person set the version's tag to something else by hand."""
        # Deploy never loads the model: any non-local source will do.
        mv = self.client.create_model_version(self.name, source=f"s3://models/{self.name}")
        version = str(mv.version)
        if status is not None:
            run_id = self.gates_run(version, run_status or status)
            for key, value in (
                ("mlops_gates.status", status),
                ("mlops_gates.config_digest", digest),
                ("mlops_gates.report_run_id", run_id),
            ):
                self.client.set_model_version_tag(self.name, version, key, value)
        return version

    def gates_run(self, version: str, status: str) -> str:
        """A finished gates run judging `version`, tagged as `mlops_gates.tracking` does."""
        run = self.client.create_run(
            self.experiment,
            tags={
                "mlops_gates.status": status,
                "mlops_gates.candidate.name": self.name,
                "mlops_gates.candidate.version": version,
            },
        )
        self.client.set_terminated(run.info.run_id, "FINISHED")
        self.runs[version] = str(run.info.run_id)
        return str(run.info.run_id)

    def manifest(
        self,
        version: str,
        *,
        digest: str = DIGEST,
        alias: str = "production",
        gates_run_id: str | None = "recorded",
    ) -> Path:
        run_id = self.runs.get(version) if gates_run_id == "recorded" else gates_run_id
        data = {
            "schema_version": 1,
            "model": {
                "name": self.name,
                "version": version,
                "uri": f"models:/{self.name}/{version}",
            },
            "alias": alias,
            "mlflow": {"training_run_id": None, "gates_run_id": run_id},
            "digests": {"config": digest, "data": DIGEST, "code": None},
            "gates": {"status": "pass", "report_started_at": "2026-11-01T00:00:00Z"},
            "promoted_at": "2026-11-01T00:00:00Z",
        }
        path = self.root / "deploy" / f"{self.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_manifest(data))
        return path

    def alias(self, alias: str = "production") -> str | None:
        aliases = self.client.get_registered_model(self.name).aliases
        value = aliases.get(alias)
        return None if value is None else str(value)

    def tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.name, version).tags)

    def history(self, alias: str = "production") -> list[dict[str, Any]]:
        raw = self.client.get_registered_model(self.name).tags.get(history_tag(alias))
        return json.loads(raw) if raw else []


@pytest.fixture
def model(mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Model:
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_SHA", "MLFLOW_TRACKING_URI", "GITHUB_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    return Model(mlflow_server.url, tmp_path)


def deploy(model: Model, *args: str) -> int:
    return main(["deploy", "--tracking-uri", model.url, *args])


def test_first_deploy_upgrade_and_noop_redeploy(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    model.manifest("1")
    assert deploy(model, "--sha", "a1" * 20) == 0
    assert "deployed model" in capsys.readouterr().out
    assert model.alias() == "1"
    tags = model.tags("1")
    assert tags["mlops_gates.deploy.production.previous_version"] == ""
    assert tags["mlops_gates.deploy.production.git_sha"] == "a1" * 20
    assert tags["mlops_gates.deploy.production.deployed_at"].endswith("Z")

    model.manifest("2")
    assert deploy(model, "--pr", "17") == 0
    assert "it replaced version 1" in capsys.readouterr().out
    assert model.alias() == "2"
    assert model.tags("2")["mlops_gates.deploy.production.previous_version"] == "1"
    assert model.tags("2")["mlops_gates.deploy.production.pr"] == "17"
    history = model.history()
    assert [(h["action"], h["version"], h["previous"]) for h in history] == [
        ("deploy", "1", None),
        ("deploy", "2", "1"),
    ]

    before = model.tags("2")
    assert deploy(model) == 0
    assert "already live" in capsys.readouterr().out
    assert model.alias() == "2"
    assert model.tags("2") == before
    assert len(model.history()) == 2


@pytest.mark.parametrize(
    ("status", "digest", "expected"),
    [
        (None, DIGEST, "has no gates record"),
        ("fail", DIGEST, "ended 'fail', not 'pass'"),
        ("pass", OTHER_DIGEST, "passed its gates under config digest"),
    ],
    ids=["ungated", "failed-gates", "other-config"],
)
def test_a_version_without_passing_gates_is_refused(
    model: Model, capsys: pytest.CaptureFixture[str], status: str | None, digest: str, expected: str
) -> None:
    model.manifest("1")
    assert deploy(model) == 0
    version = model.add_version(status=status, digest=digest)
    model.manifest(version)
    capsys.readouterr()
    assert deploy(model) == 1
    err = capsys.readouterr().err
    assert expected in err and f"version {version}" in err and "--override-gates" in err
    assert model.alias() == "1"
    assert "mlops_gates.deploy.production.deployed_at" not in model.tags(version)


def test_a_pass_tag_set_by_hand_on_a_failed_version_is_refused(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    """The version says `pass`, its gates run says `fail`: the run is the record."""
    version = model.add_version(status="pass", run_status="fail")
    model.manifest(version)
    assert deploy(model) == 1
    err = capsys.readouterr().err
    assert f"the gates run {model.runs[version]}" in err and "ended 'fail'" in err
    assert model.alias() is None


@pytest.mark.parametrize("manifest_run", [None, "other"], ids=["no-run", "another-run"])
def test_a_manifest_must_name_the_versions_gates_run(
    model: Model, capsys: pytest.CaptureFixture[str], manifest_run: str | None
) -> None:
    version = model.add_version()
    other = model.gates_run("1", "pass")  # a passing run, but not this version's
    model.manifest(version, gates_run_id=other if manifest_run else None)
    assert deploy(model) == 1
    err = capsys.readouterr().err
    expected = "promoted from run" if manifest_run else "names no gates run"
    assert expected in err and "--override-gates" in err
    assert model.alias() is None


def test_a_later_passing_gates_run_of_the_same_version_does_not_block_its_deploy(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PR workflow gating the promotion pull request again re-tags the version with its
    own run; the manifest's run names this version and passed, so the deploy goes ahead.
    A later failing run still blocks it (the version's status is the last run's)."""
    version = model.add_version()
    promoted = model.runs[version]
    model.manifest(version)
    later = model.gates_run(version, "pass")
    model.client.set_model_version_tag(model.name, version, "mlops_gates.report_run_id", later)
    assert later != promoted
    assert deploy(model) == 0, capsys.readouterr().err
    assert model.alias() == version

    failing = model.add_version()
    model.manifest(failing)
    rerun = model.gates_run(failing, "fail")
    client = model.client
    client.set_model_version_tag(model.name, failing, "mlops_gates.report_run_id", rerun)
    client.set_model_version_tag(model.name, failing, "mlops_gates.status", "fail")
    capsys.readouterr()
    assert deploy(model) == 1
    assert "ended 'fail'" in capsys.readouterr().err
    assert model.alias() == version


def test_an_override_needs_a_reason_and_is_recorded(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    version = model.add_version(status=None)
    model.manifest(version)
    assert deploy(model, "--override-gates", "  ") == 2
    assert "needs a reason" in capsys.readouterr().err
    assert model.alias() is None
    assert deploy(model, "--override-gates", "hotfix INC-7") == 0
    assert model.alias() == version
    assert model.tags(version)["mlops_gates.deploy.production.override_reason"] == "hotfix INC-7"
    assert model.history()[-1]["override"] == "hotfix INC-7"


SMOKE = """\
import os, pathlib, sys, time
keys = ("MODEL_URI", "MODEL_NAME", "MODEL_VERSION", "MODEL_ALIAS", "MODEL_ALIAS_URI",
        "MLFLOW_TRACKING_URI")
pathlib.Path("smoke-env.json").write_text(repr({k: os.environ.get(k) for k in keys}))
pathlib.Path("smoke.pid").write_text(str(os.getpid()))
mode = sys.argv[1]
if mode == "sleep":
    time.sleep(60)
sys.exit(0 if mode == "pass" else 3)
"""


def smoke(root: Path, mode: str) -> str:
    (root / "smoke.py").write_text(SMOKE)
    return f"{sys.executable} smoke.py {mode}"


def test_a_failing_smoke_check_moves_the_alias_back(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    model.manifest("1")
    assert deploy(model) == 0
    model.manifest("2")
    capsys.readouterr()
    assert deploy(model, "--smoke-command", smoke(model.root, "fail")) == 1
    err = capsys.readouterr().err
    assert "smoke command exited with status 3" in err
    assert "version 2 was rolled back" in err and "to version 1" in err
    assert model.alias() == "1"
    env = eval((model.root / "smoke-env.json").read_text())
    assert env == {
        "MODEL_URI": f"models:/{model.name}/2",
        "MODEL_NAME": model.name,
        "MODEL_VERSION": "2",
        "MODEL_ALIAS": "production",
        "MODEL_ALIAS_URI": f"models:/{model.name}@production",
        "MLFLOW_TRACKING_URI": model.url,
    }
    assert (
        "smoke command exited with status 3"
        in model.tags("2")["mlops_gates.deploy.production.rolled_back"]
    )
    assert [h["action"] for h in model.history()] == ["deploy", "deploy", "auto-rollback"]
    assert model.history()[-1]["version"] == "1"


def test_a_smoke_timeout_kills_the_command_and_rolls_back(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    model.manifest("1")
    assert deploy(model) == 0
    model.manifest("2")
    code = deploy(model, "--smoke-command", smoke(model.root, "sleep"), "--smoke-timeout", "2")
    assert code == 1
    assert "timed out after 2 s" in capsys.readouterr().err
    assert model.alias() == "1"
    pid = int((model.root / "smoke.pid").read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the timed-out smoke command is still running"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited already


def test_a_failed_first_deploy_leaves_no_alias(model: Model) -> None:
    model.manifest("1")
    assert deploy(model, "--smoke-command", smoke(model.root, "fail")) == 1
    assert model.alias() is None
    assert model.history()[-1] == {
        **model.history()[-1],
        "action": "auto-rollback",
        "version": None,
    }


def test_a_canary_alias_goes_first(model: Model, capsys: pytest.CaptureFixture[str]) -> None:
    model.manifest("1")
    assert deploy(model) == 0
    model.manifest("2")
    assert (
        deploy(model, "--canary-alias", "canary", "--smoke-command", smoke(model.root, "fail")) == 1
    )
    err = capsys.readouterr().err
    assert "on alias 'canary' to no version" in err and "'production' was not touched" in err
    assert model.alias("canary") is None and model.alias() == "1"
    # The failing smoke saw the canary alias, not production.
    assert "'MODEL_ALIAS': 'canary'" in (model.root / "smoke-env.json").read_text()

    assert (
        deploy(model, "--canary-alias", "canary", "--smoke-command", smoke(model.root, "pass")) == 0
    )
    assert model.alias("canary") == "2" and model.alias() == "2"
    assert "'MODEL_ALIAS': 'production'" in (model.root / "smoke-env.json").read_text()


def test_explicit_rollback_and_status(model: Model, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = model.manifest("1")
    assert (
        main(
            ["rollback", "--manifest", str(manifest), "--reason", "x", "--tracking-uri", model.url]
        )
        == 1
    )
    assert "no earlier version" in capsys.readouterr().err
    assert deploy(model, "--sha", "c" * 40, "--pr", "5") == 0
    model.manifest("2")
    assert deploy(model, "--sha", "d" * 40, "--pr", "6") == 0
    code = main(
        [
            "rollback",
            "--manifest",
            str(manifest),
            "--reason",
            "p99 latency",
            "--tracking-uri",
            model.url,
        ]
    )
    assert code == 0
    assert "from version 2 to version 1 (p99 latency)" in capsys.readouterr().out
    assert model.alias() == "1"
    assert model.tags("1")["mlops_gates.deploy.production.rollback_reason"] == "p99 latency"
    assert model.tags("2")["mlops_gates.deploy.production.rolled_back"].endswith("p99 latency")
    assert model.history()[-1]["action"] == "rollback"

    # --to a version never deployed still has to have passed its gates.
    ungated = model.add_version(status=None)

    def rollback_to(version: str) -> int:
        args = ["--model", model.name, "--to", version, "--reason", "y"]
        return main(["rollback", *args, "--tracking-uri", model.url])

    assert rollback_to(ungated) == 1
    assert "has no gates record" in capsys.readouterr().err
    assert rollback_to("3") == 0
    assert model.alias() == "3"
    capsys.readouterr()

    assert main(["status", "--json", "--tracking-uri", model.url]) == 1  # out of sync
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "model": model.name,
            "alias": "production",
            "version": "3",
            "since": rows[0]["since"],
            "how": "rollback",
            "pr": None,
            "sha": None,
            "reason": "y",
            "previous": "1",
            "manifest_version": "2",
            "in_sync": False,
        }
    ]
    assert main(["status", "--tracking-uri", model.url]) == 1
    out, err = capsys.readouterr()
    assert "differs" in out
    found = f"deploy/{model.name}.yaml"  # found in ./deploy, named as found
    assert (
        f"{model.name}: out of sync: the manifest {found} says version 2, alias "
        "'production' points to version 3; run "
        f"`mlops-gates deploy --manifest {found}` to deploy the manifest, "
        "or revert the manifest in git to version 3"
    ) in err


def test_status_exits_1_only_when_a_manifest_and_its_alias_disagree(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scheduled `status` job has to fail when git and the registry disagree."""
    manifest = model.manifest("1")
    # Merged, not deployed yet: the alias does not exist.
    assert main(["status", "--manifest", str(manifest), "--tracking-uri", model.url]) == 1
    err = capsys.readouterr().err
    assert "says version 1, alias 'production' points to no version" in err
    assert f"run `mlops-gates deploy --manifest {manifest}`" in err
    assert "revert" not in err
    assert deploy(model) == 0
    capsys.readouterr()
    assert main(["status", "--tracking-uri", model.url]) == 0
    out, err = capsys.readouterr()
    assert "production" in out and "differs" not in out and err == ""
    # --model alone has no manifest to disagree with.
    model.manifest("2")
    assert main(["status", "--model", model.name, "--tracking-uri", model.url]) == 0
    assert main(["status", "--json", "--tracking-uri", model.url]) == 1
    out, err = capsys.readouterr()
    assert "out of sync" in err and "points to version 1" in err


def test_a_deploy_never_undoes_someone_elses_move(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    """The smoke command stands in for a person moving the alias by hand meanwhile: the
    failed deploy must not move it back to a version nobody asked for."""
    model.manifest("1")
    assert deploy(model) == 0
    model.manifest("2")
    script = model.root / "meddle.py"
    script.write_text(
        "import sys\nfrom mlflow import MlflowClient\n"
        f"MlflowClient({model.url!r}, {model.url!r}).set_registered_model_alias("
        f"{model.name!r}, 'production', '3')\nsys.exit(1)\n"
    )
    assert deploy(model, "--smoke-command", f"{sys.executable} {script}") == 1
    err = capsys.readouterr().err
    assert "moving the alias back to version 1 failed" in err and "now points to version 3" in err
    assert model.alias() == "3"


def test_a_held_lease_blocks_a_second_deploy_until_it_expires(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    model.manifest("1")
    held = {"token": "other#1", "holder": "deploy of v9 by bob", "at": "now", "t": time.time()}
    model.client.set_registered_model_tag(model.name, lease_tag("production"), json.dumps(held))
    assert deploy(model) == 1
    assert "being moved by another deploy (deploy of v9 by bob" in capsys.readouterr().err
    assert model.alias() is None
    stale = {**held, "t": time.time() - 2 * 3600}
    model.client.set_registered_model_tag(model.name, lease_tag("production"), json.dumps(stale))
    assert deploy(model) == 0
    assert model.alias() == "1"
    assert lease_tag("production") not in model.client.get_registered_model(model.name).tags


def test_two_racing_deploys_leave_the_alias_on_the_winner(model: Model) -> None:
    model.manifest("1")
    assert deploy(model) == 0
    procs = []
    for version in ("2", "3"):
        folder = model.root / f"checkout-{version}"
        folder.mkdir()
        path = model.manifest(version)
        target = folder / "m.yaml"
        target.write_text(path.read_text())
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlops_gates",
                    "deploy",
                    "--manifest",
                    str(target),
                    "--tracking-uri",
                    model.url,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "MLOPS_GATES_TRACKING": "off"},
            )
        )
    results = {
        v: (*p.communicate(timeout=120), p.returncode)
        for v, p in zip(("2", "3"), procs, strict=True)
    }
    winners = [v for v, (_, _, code) in results.items() if code == 0]
    assert winners, results
    final = model.alias()
    assert final in winners, (final, results)
    for _, err, code in results.values():
        if code != 0:
            assert "another deploy" in err, err
    # The history agrees with the alias.
    assert model.history()[-1]["version"] == final


def test_unreachable_mlflow_and_bad_manifests_are_clear(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    path = model.manifest("1")
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["deploy", "--tracking-uri", dead]) == 1
    assert f"cannot reach MLflow at {dead}" in capsys.readouterr().err
    data = yaml.safe_load(path.read_text())
    data["model"]["version"] = 7
    path.write_text(yaml.safe_dump(data))
    assert deploy(model) == 2
    err = capsys.readouterr().err
    assert "model.version: expected string, got 7 (quote it)" in err
    assert main(["deploy", "--manifest-dir", "nowhere", "--tracking-uri", model.url]) == 2
    assert "no deploy manifest in nowhere/" in capsys.readouterr().err
    model.manifest("99")
    assert deploy(model) == 1
    assert "version 99 does not exist in the registry" in capsys.readouterr().err


# -- GitHub deployment records ---------------------------------------------------------------


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Any:
    with GitHubDouble() as double:
        monkeypatch.setenv("GITHUB_TOKEN", double.token)
        monkeypatch.setenv("GITHUB_API_URL", double.base_url)
        monkeypatch.setenv("GITHUB_REPOSITORY", double.repo.full_name)
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
        monkeypatch.setenv("GITHUB_RUN_ID", "4242")
        original = GitHubClient.from_env.__func__  # type: ignore[attr-defined]

        def fast(cls: type[GitHubClient], repository: str | None = None, **kw: Any) -> Any:
            # Tests only: no politeness throttle, short retry waits.
            return original(cls, repository, retry=FAST, throttle=False, **kw)

        monkeypatch.setattr(GitHubClient, "from_env", classmethod(fast))
        yield double
        assert double.violations == []


def merged_promotion(double: GitHubDouble, model: Model, version: str) -> str:
    """A promotion pull request changing the manifest, merged: the merge commit's SHA."""
    text = model.manifest(version).read_text().encode()
    branch = f"mlops-gates/promote/{model.name}-{version}"
    double.repo.commit(branch, {f"deploy/{model.name}.yaml": text}, "promote")
    number = double.repo.next_issue_number()
    from github_double.state import Pull

    stamp = double.repo.clock.tick()
    double.repo.pulls[number] = Pull(
        number,
        f"Promote {version}",
        "",
        branch,
        "main",
        "mlops-bot",
        False,
        stamp,
        stamp,
        double.repo.refs[f"refs/heads/{branch}"],
    )
    return double.merge(number)


def states(double: GitHubDouble) -> list[tuple[str, list[str]]]:
    return [
        (str(d.payload.get("version")), [s.state for s in d.statuses]) for d in double.deployments()
    ]


def test_deployments_are_recorded_on_github(
    model: Model, github: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    sha = merged_promotion(github, model, "1")
    monkeypatch.setenv("GITHUB_SHA", sha)
    assert deploy(model) == 0
    pr = github.repo.pulls[max(github.repo.pulls)].number
    assert model.tags("1")["mlops_gates.deploy.production.pr"] == str(pr)
    assert model.tags("1")["mlops_gates.deploy.production.run_url"] == (
        f"https://github.example/{github.repo.full_name}/actions/runs/4242"
    )
    (dep,) = github.deployments()
    assert dep.sha == sha and dep.environment == "production" and dep.production
    assert dep.payload == {
        "model": model.name,
        "version": "1",
        "alias": "production",
        "uri": f"models:/{model.name}/1",
        "pr": pr,
        "mlops_gates_key": dep.payload["mlops_gates_key"],
    }
    assert [s.state for s in dep.statuses] == ["in_progress", "success"]
    assert dep.statuses[-1].log_url.endswith("/actions/runs/4242")

    sha = merged_promotion(github, model, "2")
    monkeypatch.setenv("GITHUB_SHA", sha)
    assert deploy(model, "--smoke-command", smoke(model.root, "fail")) == 1
    assert states(github)[-1] == ("2", ["in_progress", "failure"])
    assert "rolled back to 1" in github.deployments()[-1].statuses[-1].description

    ungated = model.add_version(status=None)
    model.manifest(ungated)
    assert deploy(model) == 1
    assert states(github)[-1] == (ungated, ["error"])

    model.manifest("2")
    assert deploy(model) == 0
    assert (
        main(
            [
                "rollback",
                "--model",
                model.name,
                "--reason",
                "errors up",
                "--tracking-uri",
                model.url,
            ]
        )
        == 0
    )
    assert states(github)[-2:] == [
        ("2", ["in_progress", "success", "inactive"]),
        ("1", ["in_progress", "success"]),
    ]
    # An earlier success went inactive when a newer one succeeded.
    assert states(github)[0] == ("1", ["in_progress", "success", "inactive"])


def test_a_github_outage_does_not_undo_a_deploy(
    model: Model,
    github: GitHubDouble,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model.manifest("1")
    github.fail("POST", r"/deployments$", 503, times=10)
    assert deploy(model, "--github", "--sha", "e" * 40, "--pr", "3") == 0
    assert model.alias() == "1"
    err = capsys.readouterr().err
    assert "warning: GitHub deployment record" in err and github.token not in err


# -- the whole path: gates on a real model, a promotion manifest, deploy ----------------------


def test_gated_and_promoted_model_deploys(
    make_project: Project,
    mlflow_server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("MLOPS_GATES_TRACKING", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    frame = model_frame()
    registered = register_models(mlflow_server.url, f"e2e-{uuid.uuid4().hex[:8]}", frame)
    cfg = {
        "version": 1,
        "data": {"path": "eval.parquet"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"model": f"models:/{registered.name}@challenger"},
        "tracking": {"uri": mlflow_server.url},
        "gates": [{"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.7}],
    }
    config = make_project(cfg, frame, data_name="eval.parquet")
    report_dir = tmp_path / "report"
    assert main(["check", "--config", str(config), "--report-dir", str(report_dir)]) == 0
    doc = json.loads((report_dir / "report.json").read_text())
    validate_report(doc)
    version = registered.versions["candidate"]
    manifest = build_manifest(
        doc,
        model=registered.name,
        version=version,
        uri=f"models:/{registered.name}/{version}",
        promoted_at="2026-11-23T00:00:00Z",
        gates_run_id=doc["context"]["mlflow"]["run_id"],
    )
    path = tmp_path / "repo" / "deploy" / f"{registered.name}.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(dump_manifest(manifest))
    assert load_manifest(path) == manifest
    monkeypatch.chdir(path.parent.parent)
    check_model = (
        f'{sys.executable} -c "import mlflow, os, pandas as pd; '
        "m = mlflow.pyfunc.load_model(os.environ['MODEL_ALIAS_URI']); "
        "print('smoke', m.predict(pd.DataFrame({'x1': [0.5], 'x2': [0.1]})))\""
    )
    code = main(["deploy", "--tracking-uri", mlflow_server.url, "--smoke-command", check_model])
    assert code == 0, capsys.readouterr().err
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    assert client.get_model_version_by_alias(registered.name, "production").version == version


def test_deployment_records_that_landed_but_answered_502_are_written_once(
    model: Model, github: GitHubDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    model.manifest("1")
    github.fail("POST", r"/deployments$", 502, landed=True)
    github.fail("POST", r"/deployments/\d+/statuses$", 502, landed=True, times=2)
    assert deploy(model, "--github", "--sha", "main", "--pr", "3") == 0
    (dep,) = github.deployments()
    assert [s.state for s in dep.statuses] == ["in_progress", "success"]
    assert all(f.times == 0 for f in github.faults)


# -- a deploy whose writes are slow: fencing, not waiting -----------------------------------


class HoldingProxy:
    """An HTTP proxy on 127.0.0.1 in front of the MLflow server. It forwards everything,
    but holds the first request that `hold(method, path)` matches until `release()` (at
    most `limit` seconds): a write that lands as late as the test decides."""

    def __init__(self, upstream: str, hold: Any, limit: float = 120.0) -> None:
        import http.client
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        self.held, self.released = threading.Event(), threading.Event()
        up = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else None
                if not proxy.held.is_set() and hold(self.command, self.path):
                    proxy.held.set()
                    proxy.released.wait(timeout=limit)
                conn = http.client.HTTPConnection(up.hostname or "", up.port, timeout=limit)
                skip = {"host", "connection", "content-length"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HoldingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


WAIT_FOR_GO = """\
import pathlib, sys, time
pathlib.Path("smoke-started").write_text("")
deadline = time.monotonic() + 120  # bounded: the test creates `go` long before
while not pathlib.Path("go").exists():
    if time.monotonic() > deadline:
        sys.exit(2)
    time.sleep(0.02)
"""

SLOW_CONFIG = """\
version: 1
data: {path: eval.csv}
task: {type: binary, label: y}
candidate: {model: "models:/unused/1"}
gates: [{id: a, kind: metric, metric: accuracy, min: 0.5}]
tracking: {timeout: 300, retries: 0}  # the held write must wait, not time out and retry
"""


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_deploy_whose_lease_write_lands_late_cannot_both_succeed(model: Model) -> None:
    """B reads "no lease", and its lease write is held by a proxy; A takes the lease, moves
    the alias to 1 and starts its smoke test; B's write then lands, B moves the alias to 2.
    A must not report success for a version that is no longer live, and must say who moved
    it. (Before fencing: both exited 0.)"""
    model.manifest("1")
    folders = {}
    for name, version in (("a", "1"), ("b", "2")):
        folder = model.root / f"deployer-{name}"
        folder.mkdir()
        (folder / "m.yaml").write_text(model.manifest(version).read_text())
        folders[name] = folder
    (folders["b"] / "slow.yaml").write_text(SLOW_CONFIG)
    (folders["a"] / "smoke.py").write_text(WAIT_FOR_GO)

    def is_lease_write(method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/registered-models/set-tag")

    def start(name: str, url: str, *extra: str) -> subprocess.Popen[str]:
        env = {**os.environ, "MLOPS_GATES_TRACKING": "off", "GITHUB_ACTOR": f"deployer-{name}"}
        env.pop("GITHUB_ACTIONS", None)
        cmd = [sys.executable, "-m", "mlops_gates", "deploy", "--manifest", "m.yaml"]
        return subprocess.Popen(
            [*cmd, "--tracking-uri", url, *extra],
            cwd=folders[name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    with HoldingProxy(model.url, is_lease_write) as proxy:
        b = start("b", proxy.url, "--config", "slow.yaml")
        try:
            assert proxy.held.wait(timeout=120), "B never wrote its lease"
            a = start("a", model.url, "--smoke-command", f"{sys.executable} smoke.py")
            try:
                _wait_for(folders["a"] / "smoke-started", a)
                assert model.alias() == "1"
                proxy.released.set()  # B's lease write lands now, over A's lease
                _, b_err = b.communicate(timeout=120)
                (folders["a"] / "go").write_text("")
                a_out, a_err = a.communicate(timeout=120)
            finally:
                a.kill()
        finally:
            b.kill()
    assert b.returncode == 0, b_err
    assert model.alias() == "2"
    assert a.returncode == 1, (a_out, a_err)
    assert "deployed model" not in a_out
    assert "the alias was moved to version 2 by deploy by deployer-b" in a_err, a_err
    assert model.history()[-1]["version"] == "2", "A must not move the alias back"


# -- canary bake (#20 item 9, #24 item 3) ---------------------------------------------------


def canary_log(path: Path, *, batches: int, acc_canary: float, seed: int = 0) -> None:
    """Logged predictions of `batches` x 400 requests per variant; stable is right 90% of
    the time, the canary `acc_canary`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = 400 * batches
    parts = []
    for variant, acc in (("canary", acc_canary), ("stable", 0.9)):
        y = rng.integers(0, 2, n)
        right = rng.random(n) < acc
        parts.append(pd.DataFrame({"variant": variant, "y": y, "pred": np.where(right, y, 1 - y)}))
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)


BAKE_JUDGE = ("--bake-label", "y", "--bake-prediction", "pred", "--bake-margin", "0.03")


def test_a_bake_promotes_a_canary_no_worse_than_stable_and_rolls_back_a_worse_one(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    log = model.root / "served.csv"
    model.manifest("1")
    assert deploy(model) == 0
    model.manifest("2")
    # One look (a bake of 0s): the canary served as well as stable on plenty of traffic.
    canary_log(log, batches=40, acc_canary=0.9)
    args = ("--canary-alias", "canary", "--bake", "0s", "--bake-data", str(log), *BAKE_JUDGE)
    assert deploy(model, *args) == 0, capsys.readouterr()
    assert model.alias("canary") == "2" and model.alias() == "2"
    assert "bake look 1: pass" in capsys.readouterr().out

    model.manifest("3")
    canary_log(log, batches=10, acc_canary=0.7, seed=1)
    assert deploy(model, *args) == 1
    err = capsys.readouterr().err
    assert "canary bake failed after 1 look(s)" in err and "worse than stable" in err
    assert "'production' was not touched" in err
    assert model.alias("canary") == "2" and model.alias() == "2"
    assert model.history("canary")[-1]["action"] == "auto-rollback"

    # Too little traffic to decide: rolled back unless asked to promote.
    canary_log(log, batches=1, acc_canary=0.9, seed=2)
    assert deploy(model, *args) == 1
    assert "ended undecided" in capsys.readouterr().err and model.alias() == "2"
    assert deploy(model, *args, "--if-inconclusive", "promote") == 0
    assert model.alias() == "3"


def test_a_bake_polls_the_judge_on_an_injected_clock(model: Model) -> None:
    """A 30-minute bake asked every minute: the log grows between looks (the injected
    sleep adds traffic), and a worse canary is rolled back at the first look that shows it,
    without waiting for the clock or the rest of the bake."""
    from mlops_gates.canary import CanarySpec, judge_file
    from mlops_gates.deploy.deploy import Bake, Deployer, Target
    from mlops_gates.deploy.registry import Registry
    from mlops_gates.sources.mlflow import connection_for, mlflow_session

    log = model.root / "served.csv"
    spec = CanarySpec(label="y", prediction="pred", margin=0.03)
    now = [0.0]
    looks: list[str] = []

    def judge() -> tuple[str, str]:
        verdict = judge_file(log, spec)
        looks.append(verdict.answer)
        return verdict.answer, verdict.message

    def sleep(seconds: float) -> None:
        now[0] += seconds
        canary_log(log, batches=len(looks) + 1, acc_canary=0.8, seed=len(looks))

    model.manifest("1")
    assert deploy(model) == 0
    canary_log(log, batches=1, acc_canary=0.8)
    conn = connection_for(None, model.root, uri=model.url)
    with mlflow_session(conn):
        deployer = Deployer(Registry(conn, model.name))
        target = Target.from_manifest(load_manifest(model.manifest("2")))
        bake = Bake(30 * 60, judge, interval=60, clock=lambda: now[0], sleep=sleep)
        outcome = deployer.deploy(target, canary="canary", bake=bake)
    assert outcome.status == "rolled_back" and "canary bake failed" in outcome.message
    assert looks[0] == "bake" and looks[-1] == "fail" and 1 < len(looks) < 30
    assert now[0] == 60 * (len(looks) - 1)
    assert model.alias("canary") is None and model.alias() == "1"


def test_a_two_hour_bake_keeps_its_lease_by_renewing_it(model: Model) -> None:
    """The lease lives an hour; a bake renews it while it waits, so a rival deploy 90
    minutes in still finds it held, and the bake promotes at the end. One injected clock
    dates the lease and times the bake: nothing waits for it."""
    from mlops_gates.deploy.deploy import Bake, Deployer, Target
    from mlops_gates.deploy.registry import LEASE_SECONDS, RENEW_SECONDS, DeployConflict, Registry
    from mlops_gates.sources.mlflow import connection_for, mlflow_session

    start = time.time()
    now = [0.0]
    pauses: list[float] = []
    rivals: list[str] = []

    def clock() -> float:
        return start + now[0]

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    def judge() -> tuple[str, str]:
        if now[0] >= 1.5 * LEASE_SECONDS and not rivals:
            try:
                with Registry(conn, model.name, clock=clock).lease("production", "rival"):
                    rivals.append("took the lease")
            except DeployConflict as exc:
                rivals.append(str(exc))
        return "pass", "no worse than stable"

    model.manifest("1")
    assert deploy(model) == 0
    conn = connection_for(None, model.root, uri=model.url)
    with mlflow_session(conn):
        deployer = Deployer(Registry(conn, model.name, clock=clock))
        target = Target.from_manifest(load_manifest(model.manifest("2")))
        # Looks at 0, 45, 90 and 120 minutes; each 45-minute wait is cut into renewals.
        bake = Bake(2 * 3600, judge, interval=45 * 60, clock=lambda: now[0], sleep=sleep)
        outcome = deployer.deploy(target, canary="canary", bake=bake)
    assert outcome.status == "deployed", outcome.message
    assert model.alias() == model.alias("canary") == "2"
    assert len(rivals) == 1 and "is being moved by another deploy" in rivals[0], rivals
    assert now[0] == 2 * 3600 and max(pauses) <= RENEW_SECONDS
    # Given back at the end, as before.
    assert lease_tag("production") not in model.client.get_registered_model(model.name).tags


def test_rollback_and_revert_move_the_canary_too(
    model: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    model.manifest("1")
    assert deploy(model, "--canary-alias", "canary") == 0
    model.manifest("2")
    assert deploy(model, "--canary-alias", "canary") == 0
    assert model.alias("canary") == model.alias() == "2"
    assert (
        main(["rollback", "--tracking-uri", model.url, "--model", model.name, "--reason", "x"]) == 0
    )
    assert model.alias() == "1" and model.alias("canary") == "1"
    assert model.history("canary")[-1]["action"] == "rollback"

    # Production's smoke fails after the canary moved: production goes back, the canary
    # stays on 2; the revert (re-deploying manifest 1) brings the canary back as well.
    model.manifest("2")
    assert (
        deploy(model, "--canary-alias", "canary", "--smoke-command", "test $MODEL_ALIAS = canary")
        == 1
    )
    assert model.alias() == "1" and model.alias("canary") == "2"
    model.manifest("1")
    assert deploy(model, "--canary-alias", "canary") == 0
    assert model.alias() == "1" and model.alias("canary") == "1"
    assert "alias 'canary' moved from version 2 to 1" in capsys.readouterr().out


def test_a_bake_asks_the_served_canary_judge_over_http(model: Model) -> None:
    """The deploy flow against a real mlflow server with the judge served over HTTP: deploy
    reads it as Argo's web provider does ($.verdict), Flagger's hooks read the status."""
    import urllib.error
    import urllib.request

    from mlops_gates.canary import CanarySpec, judge_file, serve

    log = model.root / "served.csv"
    server = serve(lambda: judge_file(log, CanarySpec(label="y", prediction="pred", margin=0.03)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def flagger(path: str) -> int:
        req = urllib.request.Request(url + path, data=b'{"name": "m", "phase": "Progressing"}')
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        model.manifest("1")
        assert deploy(model) == 0
        bake = ("--canary-alias", "canary", "--bake", "0s", "--bake-url", url + "/")
        model.manifest("2")
        assert deploy(model, *bake) == 1  # no log yet: the judge errs, never a pass
        assert model.alias() == "1" and model.alias("canary") is None
        canary_log(log, batches=40, acc_canary=0.9)
        assert flagger("/flagger/confirm-promotion") == 200
        assert deploy(model, *bake) == 0
        assert model.alias() == model.alias("canary") == "2"
        canary_log(log, batches=10, acc_canary=0.7, seed=1)
        assert flagger("/flagger/rollout") == 412
        model.manifest("3")
        assert deploy(model, *bake) == 1
        assert model.alias() == model.alias("canary") == "2"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
