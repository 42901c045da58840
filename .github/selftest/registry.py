"""Self-test fixture of actions/deploy (.github/workflows/actions-selftest.yml).

    python .github/selftest/registry.py prepare DIR   # registry + DIR/<model>.yaml
    python .github/selftest/registry.py alias-is VERSION

`prepare` leaves what merging a promotion pull request leaves: in the MLflow registry at
$MLFLOW_TRACKING_URI (a SQLite file in the job), a model whose versions 1 and 2 passed
their gates with alias `production` on 1, and a deploy manifest naming version 2.
`alias-is` exits non-zero unless the alias points to VERSION.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlflow import MlflowClient

from mlops_gates.promote.manifest import dump_manifest

MODEL = "selftest-deploy"
DIGEST = "sha256:" + "0" * 64


def prepare(folder: Path) -> None:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    experiment = client.create_experiment(f"gates-{MODEL}")
    runs: dict[str, str] = {}
    for _ in range(2):
        # Deploy never loads the model: any source will do.
        mv = client.create_model_version(MODEL, source=f"s3://selftest/{MODEL}")
        # A passing gates run (deploy checks it), and what it records on the version.
        run = client.create_run(experiment, tags={"mlops_gates.status": "pass"})
        client.set_terminated(run.info.run_id, "FINISHED")
        runs[str(mv.version)] = run.info.run_id
        for key, value in (
            ("mlops_gates.status", "pass"),
            ("mlops_gates.config_digest", DIGEST),
            ("mlops_gates.report_run_id", run.info.run_id),
        ):
            client.set_model_version_tag(MODEL, mv.version, key, value)
    client.set_registered_model_alias(MODEL, "production", "1")
    manifest = {
        "schema_version": 1,
        "model": {"name": MODEL, "version": "2", "uri": f"models:/{MODEL}/2"},
        "alias": "production",
        "mlflow": {"training_run_id": None, "gates_run_id": runs["2"]},
        "digests": {"config": DIGEST, "data": DIGEST, "code": None},
        "gates": {"status": "pass", "report_started_at": "2026-11-01T00:00:00Z"},
        "promoted_at": "2026-11-01T00:00:00Z",
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODEL}.yaml").write_text(dump_manifest(manifest))


def alias_is(version: str) -> int:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    live = MlflowClient(uri, uri).get_registered_model(MODEL).aliases.get("production")
    print(f"{MODEL}@production -> {live}")
    return 0 if str(live) == version else 1


if __name__ == "__main__":
    command, arg = sys.argv[1:3]
    if command == "prepare":
        prepare(Path(arg))
        sys.exit(0)
    sys.exit(alias_is(arg))
