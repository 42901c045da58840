"""Regenerate `openapi-subset.json`: the operations the GitHub double serves, cut from GitHub's
published OpenAPI description, with every component they reference.

    python tests/github_double/prune_openapi.py            # rewrite the subset
    python tests/github_double/prune_openapi.py --check    # exit 1 if the subset is stale
    python tests/github_double/prune_openapi.py --spec api.github.com.json   # no npm

The full description is 13 MB and takes ~47 s to load into a validator; the subset loads in
milliseconds, so every test can afford to check every request and response against it.
`examples` are dropped (they are documentation, never used for validation, and make up most
of the bytes); everything else is copied as published.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi@23.0.2"
MEMBER = "package/generated/api.github.com.json"
HERE = Path(__file__).parent
SUBSET = HERE / "openapi-subset.json"

# operationId -> (method, path template); the double implements exactly these.
OPERATIONS = {
    "repos/get": ("get", "/repos/{owner}/{repo}"),
    "git/get-ref": ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    "git/create-ref": ("post", "/repos/{owner}/{repo}/git/refs"),
    "git/update-ref": ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    "git/delete-ref": ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    "repos/get-content": ("get", "/repos/{owner}/{repo}/contents/{path}"),
    "repos/create-or-update-file-contents": ("put", "/repos/{owner}/{repo}/contents/{path}"),
    "pulls/list": ("get", "/repos/{owner}/{repo}/pulls"),
    "pulls/create": ("post", "/repos/{owner}/{repo}/pulls"),
    "pulls/get": ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    "pulls/update": ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    "pulls/request-reviewers": (
        "post",
        "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
    ),
    "pulls/list-reviews": ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    "pulls/merge": ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    "repos/create-commit-status": ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    "repos/get-combined-status-for-ref": ("get", "/repos/{owner}/{repo}/commits/{ref}/status"),
    "repos/compare-commits-with-basehead": ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    "repos/list-commits": ("get", "/repos/{owner}/{repo}/commits"),
    "issues/add-labels": ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    "issues/list-comments": ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    "issues/create-comment": ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    "issues/update-comment": ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    "issues/delete-comment": ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    "repos/create-deployment": ("post", "/repos/{owner}/{repo}/deployments"),
    "repos/list-deployments": ("get", "/repos/{owner}/{repo}/deployments"),
    "repos/create-deployment-status": (
        "post",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    ),
    "repos/list-deployment-statuses": (
        "get",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    ),
    "repos/list-pull-requests-associated-with-commit": (
        "get",
        "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
    ),
    "issues/list-for-repo": ("get", "/repos/{owner}/{repo}/issues"),
    "issues/create": ("post", "/repos/{owner}/{repo}/issues"),
    "issues/get": ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    "issues/update": ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    "actions/create-workflow-dispatch": (
        "post",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
    ),
    "actions/list-workflow-runs": (
        "get",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
    ),
}

_DROP_KEYS = {"examples", "example"}


def fetch_spec(workdir: Path) -> dict[str, Any]:
    """`npm pack` the published description into `workdir` and load it."""
    proc = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    tarball = workdir / proc.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"{tarball.name} has no {MEMBER}")
        data: dict[str, Any] = json.load(member)
    return data


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROP_KEYS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for v in node.values():
            found |= _refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= _refs(v)
    return found


def prune(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op_id, (method, path) in OPERATIONS.items():
        op = spec["paths"][path][method]
        if op.get("operationId") != op_id:
            raise SystemExit(f"{method.upper()} {path} is {op.get('operationId')!r}, not {op_id}")
        paths.setdefault(path, {})[method] = _strip(op)

    components: dict[str, dict[str, Any]] = {}
    pending = sorted(_refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, kind, name = ref.split("/", 3)  # "#/components/<kind>/<name>"
        assert section == "components", ref
        node = _strip(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = node
        pending.extend(sorted(_refs(node) - seen))

    return {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "x-subset-of": PACKAGE,
            "x-regenerate": "python tests/github_double/prune_openapi.py",
        },
        "servers": spec["servers"],
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def dumps(subset: dict[str, Any]) -> str:
    return json.dumps(subset, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, help="a local api.github.com.json (skips npm)")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    if args.spec:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            spec = fetch_spec(Path(tmp))
    text = dumps(prune(spec))
    if args.check:
        current = SUBSET.read_text(encoding="utf-8") if SUBSET.exists() else ""
        if current != text:
            print(f"{SUBSET} is stale; run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{SUBSET.name} is current")
        return 0
    SUBSET.write_text(text, encoding="utf-8")
    ops = sum(len(v) for v in json.loads(text)["paths"].values())
    print(f"wrote {SUBSET} ({len(text):,} bytes, {ops} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
