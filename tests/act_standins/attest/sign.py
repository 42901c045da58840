"""The actions/attest stand-in: the Statement actions/attest builds from its inputs, signed
with a leaf certificate for this workflow's identity from a CA made here and logged in a
transparency log made here (tests/attest/rekor_log.py). It writes the bundle
(`bundle-path` output) and, for the test to verify against, the trusted root and the
identity into $MLOPS_GATES_ACT_SIGSTORE (default: next to the bundle). The test sets
$MLOPS_GATES_ACT_TESTS to the tests/ folder, whose helpers it imports."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

# act runs a copy of this folder: the test names where the tests' helpers are.
if "MLOPS_GATES_ACT_TESTS" not in os.environ:
    sys.exit("::error::the attest stand-in needs MLOPS_GATES_ACT_TESTS (the tests/ folder)")
sys.path.insert(0, os.environ["MLOPS_GATES_ACT_TESTS"])

from attest.rekor_log import Log, trusted_root
from attest.sigstore_ca import CA, logged_bundle, statement


def main() -> None:
    env = os.environ
    predicate = json.loads(Path(env["PREDICATE"]).read_text())
    subjects = Path(env["SUBJECTS"]).read_text()
    signed = statement(subjects, predicate, env["PREDICATE_TYPE"])
    workflow_ref = env.get("GITHUB_WORKFLOW_REF") or (
        f"{env['GITHUB_REPOSITORY']}/.github/workflows/unknown.yml@{env.get('GITHUB_REF', '')}"
    )
    identity = f"https://github.com/{workflow_ref}"
    ca, log = CA.make("act fulcio root"), Log()
    key, cert = ca.leaf(identity=identity)
    data = logged_bundle(signed, key, cert, log)
    out = Path(env.get("RUNNER_TEMP") or "/tmp") / f"attestation-{uuid.uuid4().hex[:8]}.json"
    out.write_text(json.dumps(data))
    keep = Path(env.get("MLOPS_GATES_ACT_SIGSTORE") or out.parent)
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "trusted_root.json").write_text(json.dumps(trusted_root(ca.cert, log)))
    (keep / "identity.txt").write_text(identity)
    with open(env["GITHUB_OUTPUT"], "a") as f:
        f.write(f"bundle-path={out}\nattestation-url=https://github.invalid/attestations/1\n")
    print(f"stand-in attestation: {out} signed as {identity}")


if __name__ == "__main__":
    main()
