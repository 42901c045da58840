"""`mlops-gates init` and `config-schema`: start a repository's config and workflows, and
print the config's JSON Schema for editors."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, error

__all__ = ["add_subcommands"]


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `config-schema` and `init`."""
    schema = subparsers.add_parser(
        "config-schema",
        help="print the JSON Schema of mlops-gates.yaml",
        description="Print the JSON Schema of mlops-gates.yaml (for editor completion).",
    )
    schema.set_defaults(func=_config_schema)

    init = subparsers.add_parser(
        "init",
        help="write a starter mlops-gates.yaml and GitHub workflows into a repository",
        description="Write a starter mlops-gates.yaml and the chosen GitHub Actions workflows "
        "(.github/workflows/) into a repository, ready to commit. Existing files are never "
        "overwritten without --force. Exit status: 0 written; 1 a file exists; 2 usage error.",
    )
    init.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        type=Path,
        default=Path("."),
        help="repository root (default: the working directory)",
    )
    init.add_argument(
        "--workflow",
        action="append",
        choices=["pr", "train-promote", "deploy", "monitor"],
        help="workflow to write (repeatable; default: pr): pr gates every pull request, "
        "train-promote trains, gates and opens the promotion pull request, deploy carries "
        "out merged deploy manifests, monitor checks recent data on a schedule",
    )
    init.add_argument("--no-config", action="store_true", help="write the workflows only")
    init.add_argument(
        "--default-branch",
        metavar="BRANCH",
        help="branch the workflows treat as the default (default: origin's HEAD, else the "
        "current branch, else main)",
    )
    init.add_argument(
        "--action-ref",
        metavar="REF",
        help="tag or commit SHA of the mlops-gates actions (default: this version's tag)",
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.init import NEXT_STEPS, InitExists, init_repository

    try:
        written = init_repository(
            args.directory,
            workflows=args.workflow or ["pr"],
            config=not args.no_config,
            default_branch=args.default_branch,
            action_ref=args.action_ref,
            force=args.force,
        )
    except InitExists as exc:
        return error(str(exc), EXIT_FAIL)
    except MlopsGatesError as exc:
        return error(str(exc), EXIT_USAGE)
    for path in written:
        print(f"wrote {path}")
    print("next: edit mlops-gates.yaml, run `mlops-gates check`, commit; docs/github-actions.md")
    if not args.no_config:
        print(
            "  mlops-gates.yaml: the baseline is models:/my-model@production, the version "
            "deploy moves (absent until the first deploy: a first model is judged alone); "
            "put your model's name in place of `my-model`"
        )
    for name in dict.fromkeys(args.workflow or []):
        if name in NEXT_STEPS:
            print(f"  {NEXT_STEPS[name]}")
    return EXIT_OK


def _config_schema(args: argparse.Namespace) -> int:
    import json

    from mlops_gates.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK
