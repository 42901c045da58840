"""`mlops-gates monitor`: the monitoring gates on a window of recent production data.

The judging lives in `mlops_gates.monitor`; this module parses the options, ends the run
the way every command does (`mlops_gates.runs.finish`) and says whether retraining is
warranted. Exit status: 0 healthy; 1 a blocking gate failed or could not be evaluated;
2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, error, step_outputs

__all__ = ["DEFAULT_MONITOR_DIR", "add_subcommands"]

# Not the gates' mlops-gates-report/: a monitoring run next to a check keeps both reports.
DEFAULT_MONITOR_DIR = Path("mlops-gates-monitor")


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `monitor`."""
    p = subparsers.add_parser(
        "monitor",
        help="run drift and metric gates on a window of recent production data",
        description="Judge a deployed model on recent production data: the rows of --data "
        "(default: data.path of the config) whose --time-column falls in the last "
        "--window, against the config's schema, drift, metric, fairness and staleness gates "
        "(or the --gate ids given). Gates that need labels use the rows whose label has "
        "arrived; the label and prediction columns are not drift-checked as features. The "
        "model judged is the deployed one: the version --manifest names, else the registered "
        "model's --alias (production), never the config's challenger. Writes report.json and "
        "report.md with a `monitor` section. Exit status: 0 healthy; 1 retraining warranted "
        "(a blocking gate failed or could not be evaluated) or nothing to judge (no rows in "
        "the window, nothing deployed: outcome no_data / not_deployed, which do not warrant "
        "retraining); 2 usage or config error.",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $MLOPS_GATES_CONFIG, else ./mlops-gates.yaml)",
    )
    p.add_argument("--data", type=Path, metavar="PATH", help="production data (default: data.path)")
    p.add_argument(
        "--time-column", metavar="COL", help="column with each row's timestamp (needs --window)"
    )
    p.add_argument(
        "--window",
        metavar="DURATION",
        help="how far back to look, e.g. 7d, 12h, 30m (needs --time-column; default: all rows)",
    )
    p.add_argument(
        "--now",
        metavar="ISO8601",
        help="end of the window (default: the current time, UTC); makes a run reproducible",
    )
    p.add_argument(
        "--manifest",
        type=Path,
        metavar="PATH",
        help="deploy manifest (deploy/<model>.yaml) naming the version to judge (default: "
        "the registered model's --alias, when the config's candidate is models:/...)",
    )
    p.add_argument(
        "--alias",
        default="production",
        metavar="NAME",
        help="registry alias of the deployed version (default: production, the alias "
        "`mlops-gates deploy` moves)",
    )
    p.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="ID",
        help="gate id to run (repeatable; default: every schema, drift, metric, fairness and "
        "staleness gate)",
    )
    p.add_argument(
        "--guarantee",
        choices=("fixed", "anytime"),
        help="fixed: judge this window alone; anytime: extend the running counts in "
        "monitor.state and judge count metrics anytime-valid (default: monitor.guarantee)",
    )
    p.add_argument(
        "--model-version",
        metavar="TEXT",
        help="with --guarantee anytime: the deployed version the rows came from; the running "
        "sequence starts over when it changes (default: the version --manifest names, else "
        "the candidate's registry version, else its digest)",
    )
    p.add_argument(
        "--state-store",
        choices=("file", "mlflow"),
        help="with --guarantee anytime: keep the running counts in the monitor.state file, "
        "or in an MLflow run per deployed model version (experiment monitor.experiment) "
        "(default: monitor.store)",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=DEFAULT_MONITOR_DIR,
        metavar="DIR",
        help=f"where report.json and report.md go (default: ./{DEFAULT_MONITOR_DIR})",
    )
    p.set_defaults(func=_monitor)


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--now {text!r} is not an ISO 8601 time, e.g. 2026-11-23T06:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _monitor(args: argparse.Namespace) -> int:
    from mlops_gates.config import load_config, parse_duration
    from mlops_gates.errors import ConfigError, MlopsGatesError
    from mlops_gates.monitor import monitor
    from mlops_gates.report.text import format_table
    from mlops_gates.runs import finish

    if (args.window is None) != (args.time_column is None):
        return error("--window and --time-column go together: which column, how far back")
    try:
        now = _parse_now(args.now)
        if args.window is not None:
            parse_duration(args.window)
        config = load_config(args.config)  # None: found as every command finds it
    except (ValueError, ConfigError) as exc:
        return error(str(exc).splitlines()[0] if isinstance(exc, ValueError) else str(exc))
    try:
        report = monitor(
            config,
            data=args.data,
            time_column=args.time_column,
            window=args.window,
            now=now,
            gate_ids=args.gate,
            report_dir=args.report_dir,
            guarantee=args.guarantee,
            model_version=args.model_version,
            manifest=args.manifest,
            alias=args.alias,
            store=args.state_store,
        )
    except ConfigError as exc:
        return error(str(exc))
    except MlopsGatesError as exc:
        return error(str(exc), EXIT_FAIL)
    # A monitoring run must not overwrite the promotion gates' verdict on the model
    # version (`mlops_gates.status`), which deploy checks.
    outcome = finish(report, args.report_dir, config, tag_model_version=False)
    if outcome.write_error is not None:
        return error(outcome.write_error, EXIT_FAIL)
    if outcome.tracking_error is not None:
        print(f"mlops-gates: warning: {outcome.tracking_error}", file=sys.stderr)
    doc = outcome.doc
    for line in format_table(doc):
        print(line)
    mon = doc["context"]["monitor"]
    sequence = mon.get("sequence") or {}
    if sequence.get("restarted"):
        print(f"mlops-gates: note: {sequence['restarted']}", file=sys.stderr)
    for note in sequence.get("notes") or []:
        print(f"mlops-gates: warning: {note}", file=sys.stderr)
    span = f"{mon['rows']} rows ({mon['labeled_rows']} labelled)"
    if sequence:
        span += (
            f"; anytime-valid over {sequence['runs']} run(s) since {sequence['since']} "
            f"(state {sequence['state']})"
        )
    print(f"monitor: model judged: {mon['model']['note']}")
    not_judged = [g for g in doc["gates"] if g.get("reason") in ("no_rows", "not_deployed")]
    if not_judged:
        print(f"monitor: not judged: {doc['errors'][0] if doc['errors'] else span}")
    elif mon["retrain"]:
        print(f"monitor: retraining warranted: {span}; {len(mon['reasons'])} problem(s)")
    else:
        print(f"monitor: healthy: {span}")
    print(outcome.written_line)
    step_outputs(
        {
            "status": str(doc["status"]),
            "retrain": "true" if mon["retrain"] else "false",
            "outcome": str(mon["outcome"]),
            "report-dir": str(args.report_dir),
        }
    )
    return EXIT_OK if outcome.passed else EXIT_FAIL
