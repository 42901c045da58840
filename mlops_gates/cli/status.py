"""`mlops-gates status`: which version each registry alias serves, since when and from which
pull request, and whether that agrees with the manifests in the repository.

Exit status: 0 shown and every manifest agrees with its alias; 1 a manifest and its alias
disagree (out of sync), or MLflow failed; 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK
from mlops_gates.cli.common import error as _error
from mlops_gates.cli.registry_args import connection, manifests_in, session, tracking_options

__all__ = ["add_subcommand"]


def add_subcommand(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `status` on the `mlops-gates` parser."""
    s = subparsers.add_parser(
        "status",
        help="which version each alias points to, since when, and from which pull request",
        description="Show every registry alias of the manifests' models (or of --model): "
        "the version, when and how it got there (deploy, rollback, auto-rollback), the "
        "commit and pull request, and whether it matches the manifest in the repository. "
        "Exit status: 0 shown and every manifest agrees with its alias; 1 a manifest and "
        "its alias disagree (out of sync: deploy pending, failed or rolled back), or MLflow "
        "failed; 2 usage error.",
    )
    s.add_argument(
        "--manifest", action="append", type=Path, metavar="PATH", help="manifest (repeatable)"
    )
    s.add_argument(
        "--manifest-dir", type=Path, default=Path("deploy"), metavar="DIR", help=argparse.SUPPRESS
    )
    s.add_argument(
        "--model", action="append", default=[], metavar="NAME", help="registered model name"
    )
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tracking_options(s)
    s.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from mlops_gates.deploy.status import alias_status, format_status, out_of_sync
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.promote.manifest import load_manifest

    try:
        wanted: dict[str, dict[str, str]] = {}  # model -> alias -> manifest version
        sources: dict[tuple[str, str], str] = {}  # (model, alias) -> manifest path
        paths = args.manifest or ([] if args.model else manifests_in(args.manifest_dir))
        for p in paths:
            m = load_manifest(p)
            wanted.setdefault(m["model"]["name"], {})[m["alias"]] = m["model"]["version"]
            sources[(m["model"]["name"], m["alias"])] = str(p)
        for name in args.model:
            wanted.setdefault(name, {})
        conn = connection(args)
    except MlopsGatesError as exc:
        return _error(str(exc))
    try:
        with session(conn):
            rows = [r for model, want in wanted.items() for r in alias_status(conn, model, want)]
    except MlopsGatesError as exc:
        return _error(str(exc), EXIT_FAIL)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_status(rows))
    # Out of sync is what a scheduled `status` job exists to catch: it must fail the job.
    drift = out_of_sync(rows, sources)
    if drift:
        from mlops_gates._text import safe_line

        for line in drift:  # model names and paths come from files: escape them
            print(safe_line(f"mlops-gates: {line}"), file=sys.stderr)
    return EXIT_FAIL if drift else EXIT_OK
