"""`mlops-gates` command line: argument parsing and exit codes, nothing else.

Exit status of `check`: 0 every blocking gate passed; 1 a blocking gate failed or errored;
2 usage or config error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_gates import __version__

EXIT_OK, EXIT_GATES, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlops-gates",
        description="CI gates for machine-learning models: schema, sliced metrics, fairness "
        "and baseline comparison, configured in mlops-gates.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-gates {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser(
        "check",
        help="evaluate every gate and write report.json / report.md",
        description="Evaluate every gate in the config, print a summary table and write "
        "report.json and report.md. Exit status: 0 all blocking gates passed; 1 a "
        "blocking gate failed or errored; 2 usage or config error.",
    )
    check.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=None,
        help="config file (default: $MLOPS_GATES_CONFIG, else ./mlops-gates.yaml)",
    )
    check.add_argument(
        "--report-dir",
        metavar="DIR",
        type=Path,
        default=Path("mlops-gates-report"),
        help="where report.json and report.md go (default: ./mlops-gates-report)",
    )
    check.add_argument(
        "--quiet", "-q", action="store_true", help="print only the gates that did not pass"
    )
    check.set_defaults(func=_check)

    schema = sub.add_parser(
        "config-schema",
        help="print the JSON Schema of mlops-gates.yaml",
        description="Print the JSON Schema of mlops-gates.yaml (for editor completion).",
    )
    schema.set_defaults(func=_config_schema)

    from mlops_gates.promote.cli import add_subcommands as add_promote_commands

    add_promote_commands(sub)
    return parser


def _check(args: argparse.Namespace) -> int:
    from mlops_gates.config import load_config
    from mlops_gates.errors import ConfigError, MlopsGatesError
    from mlops_gates.gates.runner import run_gates
    from mlops_gates.report.text import format_table
    from mlops_gates.report.writer import write_report

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    report = run_gates(config)
    # Write before printing: whatever happens to stdout, the report is on disk.
    try:
        write_report(report, args.report_dir)
        written = f"report: {args.report_dir}/report.json, {args.report_dir}/report.md"
    except MlopsGatesError as exc:
        written = ""
        _error(str(exc))
    for line in format_table(report.to_dict(), only_problems=args.quiet):
        print(line)
    for err in report.errors:
        _error(err)
    if not written:
        return EXIT_GATES
    print(written)
    return EXIT_OK if report.status == "pass" else EXIT_GATES


def _config_schema(args: argparse.Namespace) -> int:
    import json

    from mlops_gates.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _error(message: str) -> None:
    print(f"mlops-gates: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `mlops-gates check | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
