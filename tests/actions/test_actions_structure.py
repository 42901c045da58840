"""What act cannot show: triggers and path filters (act ignores `on:`), permissions,
pinning, concurrency, and the conventions of the composite actions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_gates import __version__
from mlops_gates.init import ACTION_REPOSITORY

ROOT = Path(__file__).parents[2]
TEMPLATES = {p.name: p for p in sorted((ROOT / "workflow-templates").glob("*.yml"))}
WORKFLOWS = {p.name: p for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))}
ALL_WORKFLOWS = {**TEMPLATES, **WORKFLOWS}
ACTIONS = {p.parent.name: p for p in sorted((ROOT / "actions").glob("*/action.yml"))}
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    if True in doc:  # PyYAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def _uses_lines(path: Path) -> list[str]:
    # The `uses:` key only: `statuses: write` ends in "uses:" too.
    text = path.read_text()
    return [m.strip() for m in re.findall(r"^\s*(?:-\s+)?uses:\s*(.+)", text, re.M)]


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"]["steps"])
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


# -- triggers -----------------------------------------------------------------------------


def test_pr_workflow_runs_on_every_pull_request() -> None:
    on = _load(TEMPLATES["mlops-gates-pr.yml"])["on"]
    # merge_group: a merge queue waits for the required checks on its merge-group commit.
    assert on == {"pull_request": None, "merge_group": None}, "no filter: every change"


def test_train_promote_triggers_and_path_filters() -> None:
    on = _load(TEMPLATES["mlops-train-promote.yml"])["on"]
    assert set(on) == {"schedule", "workflow_dispatch", "push"}
    [schedule] = on["schedule"]
    assert len(schedule["cron"].split()) == 5
    assert on["push"]["branches"] == ["$default-branch"]
    paths = on["push"]["paths"]
    for expected in ("train/**", "train.py", "requirements*.txt", "mlops-gates.yaml"):
        assert expected in paths
    # A change to the deploy manifests (a merged promotion) must not retrain.
    assert not any(p.startswith(("deploy", "**")) for p in paths)


def test_deploy_runs_on_merged_manifests_only() -> None:
    on = _load(TEMPLATES["mlops-deploy.yml"])["on"]
    assert on == {"push": {"branches": ["$default-branch"], "paths": ["deploy/**"]}}


def test_deploy_runs_in_a_protected_environment_one_at_a_time() -> None:
    doc = _load(TEMPLATES["mlops-deploy.yml"])
    job = doc["jobs"]["deploy"]
    assert job["environment"] == "production"
    assert job["permissions"] == {
        "contents": "read",
        "deployments": "write",
        "pull-requests": "read",
    }
    # One group for every ref: two deploys of the same alias never overlap.
    assert doc["concurrency"] == {"group": "${{ github.workflow }}", "cancel-in-progress": False}
    [deploy] = [s for s in job["steps"] if "actions/deploy@" in s.get("uses", "")]
    assert deploy["with"]["environment"] == job["environment"]
    # MLflow credentials come from secrets through env:, never inline in a command.
    assert job["env"]["MLFLOW_TRACKING_PASSWORD"] == "${{ secrets.MLFLOW_TRACKING_PASSWORD }}"


# The jobs that talk to MLflow: they run the gates (a registry candidate or baseline, the
# gates run), train, deploy or monitor. Jobs that only read a report and talk to GitHub
# (promote, alert) get none of it.
MLFLOW_JOBS = {
    "mlops-gates-pr.yml": {"gates"},
    "mlops-train-promote.yml": {"train", "attest"},
    "mlops-deploy.yml": {"deploy"},
    "mlops-monitor.yml": {"monitor"},
}


def test_one_set_of_mlflow_settings_reaches_every_workflow_that_needs_it() -> None:
    """The repository variable MLFLOW_TRACKING_URI and the MLFLOW_TRACKING_* secrets that
    docs/github-actions.md names, the same four lines in each job that needs MLflow."""
    expected = {
        "MLFLOW_TRACKING_URI": "${{ vars.MLFLOW_TRACKING_URI }}",
        "MLFLOW_TRACKING_USERNAME": "${{ secrets.MLFLOW_TRACKING_USERNAME }}",
        "MLFLOW_TRACKING_PASSWORD": "${{ secrets.MLFLOW_TRACKING_PASSWORD }}",
        "MLFLOW_TRACKING_TOKEN": "${{ secrets.MLFLOW_TRACKING_TOKEN }}",
    }
    assert set(MLFLOW_JOBS) == set(TEMPLATES)
    for name, needing in MLFLOW_JOBS.items():
        for job_id, job in _load(TEMPLATES[name])["jobs"].items():
            mlflow_env = {k: v for k, v in job.get("env", {}).items() if k.startswith("MLFLOW_")}
            assert mlflow_env == (expected if job_id in needing else {}), (name, job_id)
    # The docs name them as the workflows read them.
    docs = (ROOT / "docs" / "github-actions.md").read_text()
    for key, value in expected.items():
        assert f"{key}: {value}" in docs, key


def test_training_runs_after_the_requirements_are_installed() -> None:
    steps = _load(TEMPLATES["mlops-train-promote.yml"])["jobs"]["train"]["steps"]
    names = [s.get("name") for s in steps]
    assert names.index("Install dependencies") < names.index("Train")
    install = steps[names.index("Install dependencies")]["run"]
    assert "pip install -r requirements.txt" in install and "::warning" in install


def test_monitor_triggers_and_alert_job() -> None:
    doc = _load(TEMPLATES["mlops-monitor.yml"])
    assert set(doc["on"]) == {"schedule", "workflow_dispatch"}
    [schedule] = doc["on"]["schedule"]
    assert len(schedule["cron"].split()) == 5
    alert = doc["jobs"]["alert"]
    assert alert["needs"] == "monitor" and "if" not in alert, "healthy runs close the issue"
    uses = [s.get("uses", "").split("@")[0] for s in alert["steps"]]
    assert "actions/checkout" not in uses and all("run" not in s for s in alert["steps"])
    [step] = [s for s in alert["steps"] if "actions/monitor@" in s.get("uses", "")]
    assert step["with"]["run-monitor"] == "false" and step["with"]["alert"] == "true"


def test_no_workflow_runs_untrusted_code_with_privileges() -> None:
    for name, path in ALL_WORKFLOWS.items():
        on = _load(path)["on"]
        assert "pull_request_target" not in on and "workflow_run" not in on, name


def test_promotion_waits_for_passing_gates() -> None:
    jobs = _load(TEMPLATES["mlops-train-promote.yml"])["jobs"]
    assert jobs["promote"]["needs"] == ["train", "attest"]
    condition = " ".join(jobs["promote"]["if"].split())
    assert condition == (
        "!cancelled() && needs.train.outputs.status == 'pass' && (needs.attest.result == "
        "'success' || needs.attest.result == 'skipped')"
    ), "a failed keyless signature stops the promotion; switched off, it does not"
    assert jobs["train"]["outputs"]["status"] == "${{ steps.gates.outputs.status }}"


def test_keyless_signing_runs_in_its_own_job_with_no_project_code() -> None:
    """The job that may ask for the workflow's identity token (id-token: write) runs
    only mlops-gates and actions/attest: no checkout, no requirements, no shell."""
    jobs = _load(TEMPLATES["mlops-train-promote.yml"])["jobs"]
    attest = jobs["attest"]
    assert attest["needs"] == "train"
    assert attest["if"] == (
        "needs.train.outputs.status == 'pass' && vars.MLOPS_GATES_ATTEST == 'keyless'"
    )
    assert attest["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "attestations": "write",
    }
    assert "id-token" not in jobs["train"]["permissions"], "training code mints no tokens"
    uses = [s.get("uses", "").split("@")[0] for s in attest["steps"]]
    assert "actions/checkout" not in uses and all("run" not in s for s in attest["steps"])
    [step] = [s for s in attest["steps"] if "actions/gates@" in s.get("uses", "")]
    assert step["with"]["attest"] == "keyless" and step["with"]["run-gates"] == "false"
    assert step["with"]["artifact-name"] == "mlops-gates-report", "promote reads this one"
    assert step["with"]["attest-model"].startswith("models:/my-model/")
    assert "needs.train.outputs.model-version" in step["with"]["attest-model"]


def test_the_gates_action_signs_keyless_through_the_pinned_attest_action() -> None:
    steps = {s.get("id"): s for s in _load(ACTIONS["gates"])["runs"]["steps"]}
    prepare, sign, store = steps["keyless-prepare"], steps["keyless-sign"], steps["keyless-store"]
    assert sign["uses"] == "actions/attest@1e69f48acb82d1966a394da916b4c1698aa569d6"
    assert sign["with"] == {
        "subject-checksums": "${{ steps.keyless-prepare.outputs.subject-checksums }}",
        "predicate-type": "${{ steps.keyless-prepare.outputs.predicate-type }}",
        "predicate-path": "${{ steps.keyless-prepare.outputs.predicate-path }}",
    }
    assert sign["if"] == "steps.keyless-prepare.outcome == 'success'"
    assert "--sigstore-inputs" in prepare["run"] and "inputs.attest != ''" in prepare["if"]
    assert store["env"]["BUNDLE_PATH"] == "${{ steps.keyless-sign.outputs.bundle-path }}"
    assert '--sigstore-bundle "$BUNDLE_PATH"' in store["run"]
    names = [s["name"] for s in _load(ACTIONS["gates"])["runs"]["steps"]]
    # Stored before the report is uploaded: the artifact carries the bundle to promote.
    assert names.index("Keep the keyless attestation with the gates run") < names.index(
        "Upload the report"
    )


# -- least privilege, pinning, concurrency --------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL_WORKFLOWS))
def test_least_privilege(name: str) -> None:
    doc = _load(ALL_WORKFLOWS[name])
    assert doc["permissions"] == {}, "nothing at the top; each job asks for its own"
    writers = {}
    for job_id, job in doc["jobs"].items():
        perms = job["permissions"]
        assert set(perms.values()) <= {"read", "write"}, (job_id, perms)
        writers[job_id] = {k for k, v in perms.items() if v == "write"}
    allowed = {
        "mlops-gates-pr.yml": {"gates": {"pull-requests", "statuses"}},
        "mlops-train-promote.yml": {
            "train": set(),
            "attest": {"id-token", "attestations"},
            "promote": {"contents", "pull-requests", "statuses"},
        },
        "mlops-deploy.yml": {"deploy": {"deployments"}},
        "mlops-monitor.yml": {"monitor": set(), "alert": {"issues"}},
    }.get(name, {job_id: set() for job_id in doc["jobs"]})
    assert writers == allowed


def test_the_job_that_can_write_runs_no_project_code() -> None:
    promote = _load(TEMPLATES["mlops-train-promote.yml"])["jobs"]["promote"]
    uses = [s.get("uses", "").split("@")[0] for s in promote["steps"]]
    assert "actions/checkout" not in uses and all("run" not in s for s in promote["steps"])


@pytest.mark.parametrize("name", sorted(ALL_WORKFLOWS) + sorted(ACTIONS))
def test_actions_are_pinned(name: str) -> None:
    path = ALL_WORKFLOWS.get(name) or ACTIONS[name]
    for ref in _uses_lines(path):
        if ref.startswith("./"):
            continue  # this repository, same commit
        if ref.startswith(f"{ACTION_REPOSITORY}/"):
            assert ref.endswith(f"@v{__version__}"), ref  # see .github/zizmor.yml
            continue
        assert SHA_PIN.match(ref), f"{name}: {ref} is not pinned by SHA with a version comment"


@pytest.mark.parametrize("name", sorted(ALL_WORKFLOWS))
def test_checkout_keeps_no_credentials(name: str) -> None:
    for step in _steps(_load(ALL_WORKFLOWS[name])):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("name", sorted(ALL_WORKFLOWS))
def test_concurrency_group(name: str) -> None:
    concurrency = _load(ALL_WORKFLOWS[name])["concurrency"]
    assert "${{ github.workflow }}" in concurrency["group"]
    # Training and deploys are never cancelled halfway (a model may be registered, an
    # alias moved already); monitoring runs queue so that two never both open the issue.
    never_cancelled = {"mlops-train-promote.yml", "mlops-deploy.yml", "mlops-monitor.yml"}
    assert concurrency["cancel-in-progress"] is (name not in never_cancelled)


def test_each_template_has_properties() -> None:
    for name in TEMPLATES:
        assert (ROOT / "workflow-templates" / name.replace(".yml", ".properties.json")).is_file()


def test_ci_runs_the_one_test_command() -> None:
    steps = _load(WORKFLOWS["ci.yml"])["jobs"]["test"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == ["bash .ci/run"]


# -- composite actions --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_action_conventions(name: str) -> None:
    doc = _load(ACTIONS[name])
    assert doc["runs"]["using"] == "composite"
    text = ACTIONS[name].read_text()
    for input_name, spec in doc["inputs"].items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", input_name), f"{input_name}: kebab-case"
        assert spec.get("description"), f"{input_name}: no description"
        assert "required" in spec and ("default" in spec or spec["required"]), input_name
        assert f"inputs.{input_name}" in text, f"{input_name} is declared but never used"
    for step in doc["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "inputs reach shell through env: only"
    used = set(re.findall(r"inputs\.([\w-]+)", text))
    assert used <= set(doc["inputs"]), used - set(doc["inputs"])
    for output in doc["outputs"].values():
        assert output["description"] and output["value"].startswith("${{ steps.")


def test_gates_and_promote_share_the_gates_steps() -> None:
    """A composite action cannot call its sibling by relative path, so promote repeats the
    gates steps; they must not drift apart."""
    gates = {s["name"]: s for s in _load(ACTIONS["gates"])["runs"]["steps"]}
    promote = {s["name"]: s for s in _load(ACTIONS["promote"])["runs"]["steps"]}
    for name in ("Install mlops-gates", "Publish the summary and annotations"):
        assert promote[name] == gates[name], name
    monitor = {s["name"]: s for s in _load(ACTIONS["monitor"])["runs"]["steps"]}
    for name in ("Install mlops-gates", "Publish the summary and annotations"):
        assert monitor[name] == gates[name], name
    deploy = {s["name"]: s for s in _load(ACTIONS["deploy"])["runs"]["steps"]}
    assert deploy["Install mlops-gates"] == gates["Install mlops-gates"]
    run_gates = [
        {k: v for k, v in steps["Run the gates"].items() if k != "if"} for steps in (promote, gates)
    ]
    assert run_gates[0] == run_gates[1]
    assert promote["Upload the report"]["uses"] == gates["Upload the report"]["uses"]


def test_actions_install_their_own_source_by_default() -> None:
    for path in ACTIONS.values():
        install = next(
            s for s in _load(path)["runs"]["steps"] if s["name"] == "Install mlops-gates"
        )
        assert '"${PACKAGE_SPEC:-$GITHUB_ACTION_PATH/../..}"' in install["run"]
        # ../.. of actions/<name>/ is the repository root, where pyproject.toml is.
        assert (path.parent / ".." / ".." / "pyproject.toml").resolve().is_file()


def test_github_token_defaults_to_the_jobs_token() -> None:
    for path in ACTIONS.values():
        assert _load(path)["inputs"]["github-token"]["default"] == "${{ github.token }}"


def test_deploy_summary_names_every_outcome() -> None:
    """The deploy action's summary line has an arm for every status `mlops-gates deploy`
    can write, so a new status is not reported as a bare failure by accident."""
    from typing import get_args

    from mlops_gates.deploy.deploy import Status

    summary = next(s for s in _load(ACTIONS["deploy"])["runs"]["steps"] if s["name"] == "Summary")
    arms = set(re.findall(r"^\s+([a-z_]+)\) line=", summary["run"], re.M))
    assert arms == set(get_args(Status)) - {"failed"}, "failed falls through to the * arm"
