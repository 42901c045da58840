"""What verifying a gate attestation adds to a deploy of the Adult example's model.

    python bench/attest.py [--repeat 5]

Trains the example if needed (examples/adult/train.py), starts a loopback `mlflow server`
in a temporary folder, registers the example's candidate as an MLflow sklearn model,
gates it with tracking on, signs the report (`mlops-gates attest`), gates it again and
keeps a keyless Sigstore bundle of that second run (`attest --sigstore-bundle`; the bundle
is signed by a test CA and logged in a test Rekor, tests/attest/rekor_log.py, since
GitHub's Fulcio and Rekor are not reachable here), then times `mlops-gates deploy` of that
version with no check, with `--verify-key`, and with `--trust-root` +
`--certificate-identity` (the alias is removed between runs so every deploy moves it), and
`mlops-gates verify --model models:/…` alone. Prints medians in seconds; writes nothing
outside the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "adult"
sys.path.insert(0, str(ROOT / "tests"))

from mlflow_server import MlflowServer  # noqa: E402

from mlops_gates.attest.ref import bundle_reference  # noqa: E402
from mlops_gates.cli import main as cli  # noqa: E402
from mlops_gates.promote.manifest import build_manifest, dump_manifest  # noqa: E402


def quiet(argv: list[str]) -> int:
    with open(os.devnull, "w") as null:
        saved = sys.stdout
        sys.stdout = null
        try:
            return cli(argv)
        finally:
            sys.stdout = saved


def register(url: str, name: str) -> tuple[str, list[str]]:
    import mlflow
    import mlflow.sklearn
    import skops.io as sio
    from mlflow import MlflowClient

    path = EXAMPLE / "models" / "candidate.skops"
    # Our own file from train.py: its types are the example's, reviewed there.
    trusted = sio.get_untrusted_types(file=path)
    model = sio.load(path, trusted=trusted)
    mlflow.set_tracking_uri(url)
    try:
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                pip_requirements=["scikit-learn"],
                skops_trusted_types=trusted,
            )
    finally:
        mlflow.set_tracking_uri(None)
    client = MlflowClient(url, url)
    client.create_registered_model(name)
    mv = client.create_model_version(name, info.model_uri, model_id=info.model_id)
    return str(mv.version), list(trusted)


def write_manifest(folder: Path, report: Path, name: str, version: str) -> Path:
    """The deploy manifest promote would write for `version` gated in `report`: it names
    that gates run and, as promote records it, the bundle deploy then reads."""
    raw = (report / "report.json").read_bytes()
    doc = json.loads(raw)
    built = build_manifest(
        doc,
        model=name,
        version=version,
        uri=f"models:/{name}/{version}",
        promoted_at="2026-12-06T00:00:00Z",
        gates_run_id=doc["context"]["mlflow"]["run_id"],
        attestation=bundle_reference(report, doc, raw)[0],
    )
    manifest = folder / f"{name}.yaml"
    folder.mkdir()
    manifest.write_text(dump_manifest(built))
    return manifest


def keyless_run(work: Path, config: Path, name: str, version: str) -> tuple[Path, list[str]]:
    """A second gates run of the version, kept with a keyless bundle as actions/attest would
    write it; its manifest and the deploy flags that pin the test trust root and signer."""
    from attest.rekor_log import Log, trusted_root
    from attest.sigstore_ca import CA, WORKFLOW, logged_bundle, statement_from_inputs

    report = work / "report-keyless"
    assert quiet(["check", "--config", str(config), "--report-dir", str(report)]) == 0
    inputs = work / "sigstore"
    assert quiet(["attest", str(report), "--sigstore-inputs", str(inputs)]) == 0
    ca, log = CA.make("bench fulcio root"), Log()
    key, cert = ca.leaf()
    data = logged_bundle(statement_from_inputs(inputs), key, cert, log)
    path, root = work / "bundle.sigstore.json", work / "trusted_root.json"
    path.write_text(json.dumps(data))
    root.write_text(json.dumps(trusted_root(ca.cert, log)))
    assert quiet(["attest", str(report), "--sigstore-bundle", str(path)]) == 0
    manifest = write_manifest(work / "deploy-keyless", report, name, version)
    return manifest, ["--trust-root", str(root), "--certificate-identity", WORKFLOW]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not (EXAMPLE / "models" / "candidate.skops").is_file():
        subprocess.run([sys.executable, str(EXAMPLE / "train.py")], check=True)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    with tempfile.TemporaryDirectory(prefix="bench-attest-") as tmp:
        work = Path(tmp)
        server = MlflowServer(work / "server")
        server.start()
        try:
            name = f"adult-{uuid.uuid4().hex[:6]}"
            version, trusted = register(server.url, name)
            cfg = {
                "version": 1,
                "data": {"path": str(EXAMPLE / "data" / "eval.parquet")},
                "task": {
                    "type": "binary",
                    "label": "income",
                    "positive_label": ">50K",
                    "classes": ["<=50K", ">50K"],
                },
                # Our own model (train.py): its tree types are trusted, as the example does.
                "candidate": {"model": f"models:/{name}/{version}", "trusted_types": trusted},
                "tracking": {"uri": server.url},
                "gates": [{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.8}],
            }
            config = work / "mlops-gates.yaml"
            config.write_text(json.dumps(cfg))
            report = work / "report"
            assert quiet(["check", "--config", str(config), "--report-dir", str(report)]) == 0
            key, pub = work / "k.key", work / "k.pub"
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
            subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
            assert quiet(["attest", str(report), "--key", str(key)]) == 0
            manifest = write_manifest(work / "deploy", report, name, version)
            keyless_manifest, keyless_policy = keyless_run(work, config, name, version)
            from mlflow import MlflowClient

            client = MlflowClient(server.url, server.url)
            files = client.get_model_version_download_uri(name, version)
            deploy = ["deploy", "--tracking-uri", server.url, "--manifest", str(manifest)]
            deploy.append("--no-github")
            timings: dict[str, list[float]] = {
                "deploy": [],
                "deploy --verify-key": [],
                "deploy keyless": [],
                "verify (keyless)": [],
            }
            keyless_deploy = [*deploy[:4], str(keyless_manifest), "--no-github", *keyless_policy]
            for _ in range(args.repeat):
                for label, argv in (
                    ("deploy", deploy),
                    ("deploy --verify-key", [*deploy, "--verify-key", str(pub)]),
                    ("deploy keyless", keyless_deploy),
                ):
                    t0 = time.perf_counter()
                    assert quiet(argv) == 0
                    timings[label].append(time.perf_counter() - t0)
                    client.delete_registered_model_alias(name, "production")
                t0 = time.perf_counter()
                # The version's tags point at the keyless run, the last one stored.
                verify = ["verify", "--model", f"models:/{name}/{version}", *keyless_policy]
                assert quiet([*verify, "--tracking-uri", server.url]) == 0
                timings["verify (keyless)"].append(time.perf_counter() - t0)
        finally:
            server.stop()
    print(f"model files: {files}")
    size = sum(p.stat().st_size for p in (EXAMPLE / "models").glob("candidate.skops"))
    print(f"candidate.skops: {size / 1e6:.2f} MB; {args.repeat} runs each, median s (min-max)")
    for label, values in timings.items():
        print(
            f"  {label:22s} {statistics.median(values):.3f}  ({min(values):.3f}-{max(values):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
