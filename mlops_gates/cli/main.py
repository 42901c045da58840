"""`mlops-gates` command line: argument parsing and exit codes, nothing else.

Exit status of `check`: 0 every blocking gate passed; 1 a blocking gate failed or errored;
2 usage or config error.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from mlops_gates._version import __version__
from mlops_gates.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    add_report_dir,
    terminal_width,
    use_colour,
)
from mlops_gates.cli.common import error as _error


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
        description="Evaluate every gate in the config, print a summary table, write "
        "report.json and report.md, and log the run to MLflow (see `tracking:`; "
        "MLOPS_GATES_TRACKING=off skips it). Exit status: 0 all blocking gates passed; 1 a "
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
        "--quiet",
        "-q",
        action="store_true",
        help="print only the gates that did not pass, without the count of passing ones",
    )
    check.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="list passing gates too (default: problems first, passing gates counted)",
    )
    check.add_argument(
        "--color",
        choices=["auto", "yes", "no"],
        default="auto",
        help="colour the table: auto (default) colours a terminal unless $NO_COLOR is set, "
        "or anything when $FORCE_COLOR is set; CI logs get none",
    )
    check.set_defaults(func=_check)

    schema = sub.add_parser(
        "config-schema",
        help="print the JSON Schema of mlops-gates.yaml",
        description="Print the JSON Schema of mlops-gates.yaml (for editor completion).",
    )
    schema.set_defaults(func=_config_schema)

    from mlops_gates.cli.promote import add_subcommands as add_promote_commands

    add_promote_commands(sub)

    from mlops_gates.cli.deploy import add_subcommands as add_deploy_commands

    add_deploy_commands(sub)  # deploy, rollback, status

    from mlops_gates.promote.alert import add_subcommands as add_alert_commands

    add_alert_commands(sub)  # alert

    from mlops_gates.monitor import add_subcommands as add_monitor_commands

    add_monitor_commands(sub)

    from mlops_gates.cli.data import add_subcommands as add_data_commands

    add_data_commands(sub)  # profile, schema infer

    from mlops_gates.cli.attest import add_subcommands as add_attest_commands

    add_attest_commands(sub)  # attest, verify

    init = sub.add_parser(
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

    gh_report = sub.add_parser(
        "github-report",
        help="GitHub Actions: annotations, job summary and step outputs from a report",
        description="Print one ::error annotation per blocking gate that failed or errored "
        "and one ::warning per warning; append report.md to $GITHUB_STEP_SUMMARY and write "
        "status, report-dir and mlflow-run-id to $GITHUB_OUTPUT when they are set. The "
        "verdict is `mlops-gates check`'s exit status, not this command's. Exit status: 0 "
        "published (a missing report is published as an error annotation); 1 the summary or "
        "output file cannot be written; 2 usage error.",
    )
    add_report_dir(gh_report)
    gh_report.set_defaults(func=_github_report)

    log = sub.add_parser(
        "log",
        help="upload a saved report to MLflow as a run",
        description="Log a report directory written earlier (MLflow was down, or tracking "
        "was off) as an MLflow run with the same contents `check` would have logged, tag "
        "the candidate's model version, and record the run in report.json. The tracking "
        "URI comes from --tracking-uri, else the report's config, else $MLFLOW_TRACKING_URI. "
        "Exit status: 0 logged (or logged before); 1 MLflow failed; 2 no report or bad config.",
    )
    add_report_dir(log)
    log.add_argument(
        "--config", metavar="PATH", type=Path, help="config (default: the one in the report)"
    )
    log.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI to log to")
    log.add_argument("--experiment", metavar="NAME", help="experiment (default: the config's)")
    log.add_argument(
        "--force", action="store_true", help="log again although the report names a run"
    )
    log.set_defaults(func=_log)
    return parser


def _check(args: argparse.Namespace) -> int:
    from mlops_gates._text import safe_line, terminal_safe
    from mlops_gates.config import load_config
    from mlops_gates.errors import ConfigError, MlopsGatesError
    from mlops_gates.gates.runner import run_gates
    from mlops_gates.report.text import render_table
    from mlops_gates.report.writer import write_report

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _error(str(exc))
        return EXIT_USAGE
    report = run_gates(config)
    doc = report.to_dict()
    tracked = None
    # Write before printing: whatever happens to stdout, the report is on disk.
    try:
        write_report(report, args.report_dir)
        written = f"report: {args.report_dir}/report.json, {args.report_dir}/report.md"
    except MlopsGatesError as exc:
        written = ""
        _error(str(exc))
    if written:
        from mlops_gates.tracking import track

        # After the report is on disk: MLflow being down can cost a verdict, never the report.
        try:
            doc, tracked = track(report, args.report_dir, config)
        except MlopsGatesError as exc:
            _error(str(exc))
    lines = render_table(
        doc,
        width=terminal_width(),
        verbose=args.verbose,
        colour=use_colour(args.color, sys.stdout),
    )
    if args.quiet:
        lines = [line for line in lines if "passing gate" not in line]
    for line in lines:
        print(line)
    for err in report.errors:
        _error(err)
    if not written:
        return EXIT_FAIL
    print(safe_line(written))
    if tracked is not None and tracked.status == "logged":
        print(safe_line(f"mlflow: {tracked.message}"))
    elif tracked is not None and tracked.status == "failed":
        level = "error" if config.tracking.on_failure == "error" else "warning"
        message = terminal_safe(f"mlops-gates: {level}: MLflow tracking failed: {tracked.message}")
        print(message, file=sys.stderr)
    return EXIT_OK if doc["status"] == "pass" else EXIT_FAIL


def _log(args: argparse.Namespace) -> int:
    from mlops_gates.errors import MlopsGatesError, TrackingError
    from mlops_gates.tracking import log_saved_report

    try:
        _, outcome = log_saved_report(
            args.report_dir,
            config_path=args.config,
            uri=args.tracking_uri,
            experiment=args.experiment,
            force=args.force,
        )
    except TrackingError as exc:
        _error(f"MLflow tracking failed: {exc}; the report is unchanged, try again later")
        return EXIT_FAIL
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_USAGE
    print(f"mlflow: {outcome.message}")
    return EXIT_OK


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
        _error(str(exc))
        return EXIT_FAIL
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_USAGE
    for path in written:
        print(f"wrote {path}")
    print("next: edit mlops-gates.yaml, run `mlops-gates check`, commit; docs/github-actions.md")
    for name in dict.fromkeys(args.workflow or []):
        if name in NEXT_STEPS:
            print(f"  {NEXT_STEPS[name]}")
    return EXIT_OK


def _github_report(args: argparse.Namespace) -> int:
    from mlops_gates.report.github import publish

    try:
        publish(args.report_dir)
    except OSError as exc:
        _error(f"cannot write the GitHub Actions files: {exc}")
        return EXIT_FAIL
    return EXIT_OK


def _config_schema(args: argparse.Namespace) -> int:
    import json

    from mlops_gates.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # pandera imports pyspark.pandas whenever PySpark is installed (the [spark] extra), and
    # PySpark then warns, several times per run, that it does not support pandas 3: noise
    # about pandera's PySpark backend, which is never used. The command line is the
    # application, so it may set this filter; the library never does.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support", category=FutureWarning
    )
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
