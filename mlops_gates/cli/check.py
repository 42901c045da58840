"""`mlops-gates check`, `log` and `github-report`: run the gates, upload a saved report,
publish a report to GitHub Actions.

Exit status of `check`: 0 every blocking gate passed; 1 a blocking gate failed or errored;
2 usage or config error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates.cli.common import (
    DEFAULT_REPORT_DIR,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    add_report_dir,
    error,
    terminal_width,
    use_colour,
)

if TYPE_CHECKING:
    from mlops_gates.config import Config

__all__ = ["add_subcommands"]


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `check`, `log` and `github-report`."""
    check = subparsers.add_parser(
        "check",
        help="evaluate every gate and write report.json / report.md",
        description="Evaluate every gate in the config, print a summary table, write "
        "report.json and report.md, and log the run to MLflow (see `tracking:`; "
        "MLOPS_GATES_TRACKING=off skips it). With a signing key in "
        "$MLOPS_GATES_SIGNING_KEY_FILE or $MLOPS_GATES_SIGNING_KEY, sign the run as "
        "`mlops-gates attest` does (a key that cannot sign fails the run). Exit status: 0 "
        "all blocking gates passed; 1 a blocking gate failed or errored; 2 usage or config "
        "error.",
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
        default=DEFAULT_REPORT_DIR,
        help=f"where report.json and report.md go (default: ./{DEFAULT_REPORT_DIR})",
    )
    for role in ("candidate", "baseline"):
        check.add_argument(
            f"--{role}",
            metavar="URI",
            help=f"model to judge in place of {role}.model of the config, e.g. "
            f"models:/NAME/VERSION to pin the version a report judged",
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
    check.add_argument(
        "--html",
        choices=["auto", "on", "off"],
        default=None,
        help="report.html: auto draws the plots of gates that did not pass, on every plot, "
        "off no page (default: the config's `report.html`, else auto)",
    )
    check.set_defaults(func=_check)

    gh_report = subparsers.add_parser(
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

    log = subparsers.add_parser(
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


def _check(args: argparse.Namespace) -> int:
    from mlops_gates._text import safe_line, terminal_safe
    from mlops_gates.config import load_config
    from mlops_gates.errors import ConfigError
    from mlops_gates.gates.runner import run_gates
    from mlops_gates.report.text import render_table
    from mlops_gates.runs import finish

    try:
        config = load_config(args.config)  # None: found as every command finds it
        config = _pinned(config, candidate=args.candidate, baseline=args.baseline)
    except ConfigError as exc:
        return error(str(exc))
    if args.html is not None:
        chosen = config.report.model_copy(update={"html": args.html})
        config = config.model_copy(update={"report": chosen})
    report = run_gates(config)
    outcome = finish(report, args.report_dir, config)
    for problem in (outcome.write_error, outcome.tracking_error):
        if problem is not None:
            error(problem)
    lines = render_table(
        outcome.doc,
        width=terminal_width(),
        verbose=args.verbose,
        colour=use_colour(args.color, sys.stdout),
    )
    if args.quiet:
        lines = [line for line in lines if "passing gate" not in line]
    for line in lines:
        print(line)
    for err in report.errors:
        error(err)
    if not outcome.written:
        return EXIT_FAIL
    print(safe_line(outcome.written_line))
    tracked = outcome.tracking
    if tracked is not None and tracked.status == "logged":
        print(safe_line(f"mlflow: {tracked.message}"))
    elif tracked is not None and tracked.status == "failed":
        level = "error" if outcome.tracking_blocked else "warning"
        message = terminal_safe(f"mlops-gates: {level}: MLflow tracking failed: {tracked.message}")
        print(message, file=sys.stderr)
    if outcome.attestation is not None:
        print(safe_line(outcome.attestation))
    if outcome.attestation_error is not None:
        error(outcome.attestation_error)
    return EXIT_OK if outcome.passed else EXIT_FAIL


def _pinned(config: Config, *, candidate: str | None, baseline: str | None) -> Config:
    """The config with `candidate.model` / `baseline.model` replaced (the reproduce command
    of a promotion pins a registry alias to the version the report judged)."""
    from mlops_gates.errors import ConfigError

    for role, uri in (("candidate", candidate), ("baseline", baseline)):
        if uri is None:
            continue
        current = getattr(config, role)
        if current is None or current.model is None:
            has = f"no `{role}:`" if current is None else "prediction columns, not a model"
            raise ConfigError(
                f"--{role} {uri}: replaces {role}.model of {config.source}, which has {has}; "
                f"give `{role}: {{model: ...}}` in the config, or drop --{role}"
            )
        config = config.model_copy(update={role: current.model_copy(update={"model": uri})})
    return config


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
        return error(
            f"MLflow tracking failed: {exc}; the report is unchanged, try again later", EXIT_FAIL
        )
    except MlopsGatesError as exc:
        return error(str(exc), EXIT_USAGE)
    print(f"mlflow: {outcome.message}")
    return EXIT_OK


def _github_report(args: argparse.Namespace) -> int:
    from mlops_gates.report.github import publish

    try:
        publish(args.report_dir)
    except OSError as exc:
        return error(f"cannot write the GitHub Actions files: {exc}", EXIT_FAIL)
    return EXIT_OK
