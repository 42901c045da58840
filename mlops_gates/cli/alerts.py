"""`mlops-gates alert`: read a monitoring report and keep one GitHub issue in step with it;
dispatch retraining when it is warranted. The work is `mlops_gates.alerts.alert`.

Exit status: 0 done (whatever the report said); 1 GitHub failed; 2 usage (no report,
options, token).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING, Any

# alerts.alert is standard library only at import: cheap enough for building the parser.
from mlops_gates.alerts.alert import DEFAULT_TITLE
from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, add_report_dir, error, step_outputs

if TYPE_CHECKING:
    from mlops_gates.alerts.alert import AlertResult

__all__ = [
    "add_subcommands",
]

_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `alert` on the `mlops-gates` parser."""
    a = subparsers.add_parser(
        "alert",
        help="open, update or close the monitoring issue; dispatch retraining",
        description="Read a monitoring report (`mlops-gates monitor`, or any gates report) "
        "and keep one GitHub issue in step with it: opened when retraining is warranted, "
        "updated while it stays so, closed when healthy again (found by a hidden marker). "
        "With --dispatch-workflow, also start that workflow (e.g. the train-promote one) "
        "when retraining is warranted. Needs GITHUB_TOKEN (issues: write; actions: write to "
        "dispatch). Exit status: 0 done, whatever the report said; 1 GitHub failed; 2 usage "
        "error.",
    )
    add_report_dir(a)
    a.add_argument("--title", default=DEFAULT_TITLE, help=f"issue title (default: {DEFAULT_TITLE})")
    a.add_argument(
        "--label", action="append", default=[], metavar="NAME", help="label of a new issue"
    )
    a.add_argument(
        "--key",
        default="default",
        help="which monitor this is, when a repository has several (one issue per key)",
    )
    a.add_argument("--no-issue", action="store_true", help="touch no issue (dispatch only)")
    a.add_argument(
        "--keep-open",
        action="store_true",
        help="leave the issue open when the model is healthy again",
    )
    a.add_argument(
        "--dispatch-workflow",
        metavar="FILE",
        help="workflow to start when retraining is warranted (e.g. mlops-train-promote.yml); "
        "it needs a workflow_dispatch trigger",
    )
    a.add_argument(
        "--dispatch-ref", metavar="REF", help="branch to run it on (default: the default branch)"
    )
    a.add_argument(
        "--dispatch-input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="input of the dispatched workflow (repeatable)",
    )
    a.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")
    a.set_defaults(func=_alert)


def _alert(args: argparse.Namespace) -> int:
    from mlops_gates.alerts.alert import ISSUE_PERMISSIONS, AlertOptions, alert, retrain_verdict
    from mlops_gates.errors import MlopsGatesError, PromotionError
    from mlops_gates.github import GitHubClient
    from mlops_gates.promote.comment import report_markdown
    from mlops_gates.report.writer import read_report

    if not _KEY.match(args.key):
        return error(f"--key {args.key!r}: use letters, digits, '.', '_' or '-'")
    inputs: dict[str, str] = {}
    for item in args.dispatch_input:
        name, eq, value = item.partition("=")
        if not eq or not name:
            return error(f"--dispatch-input {item!r}: write NAME=VALUE")
        inputs[name] = value
    if args.no_issue and not args.dispatch_workflow:
        return error("--no-issue without --dispatch-workflow does nothing; drop one of them")
    try:
        doc = read_report(args.report_dir)
        markdown = report_markdown(args.report_dir)
        retrain_verdict(doc, str(args.report_dir / "report.json"))
    except MlopsGatesError as exc:
        return error(str(exc))
    options = AlertOptions(
        title=args.title,
        labels=tuple(args.label),
        key=args.key,
        issue=not args.no_issue,
        close_when_healthy=not args.keep_open,
        dispatch_workflow=args.dispatch_workflow,
        dispatch_ref=args.dispatch_ref,
        dispatch_inputs=inputs,
        run_url=_run_url(),
    )
    if not os.environ.get("GITHUB_TOKEN", "").strip():
        return error(
            f"GITHUB_TOKEN is not set: export a token that can open issues ({ISSUE_PERMISSIONS})"
        )
    try:
        client = GitHubClient.from_env(args.repo)
    except PromotionError as exc:
        return error(str(exc))
    try:
        result = alert(client, doc, markdown, options)
    except PromotionError as exc:
        message = str(exc)
        if "(403 " in message:
            message = message.split("): ", 1)[0] + f"): {ISSUE_PERMISSIONS}"
        return error(message, EXIT_FAIL)
    finally:
        client.close()
    _report(result)
    return EXIT_OK


def _run_url() -> str | None:
    env = os.environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def _report(result: AlertResult) -> None:
    verdict = "retraining warranted" if result.retrain else "healthy"
    if result.outcome in ("no_data", "not_deployed"):
        verdict = f"not judged ({result.outcome}): no retraining"
    print(f"monitoring: {verdict}" + "".join(f"\n  - {r}" for r in result.reasons))
    if result.issue is not None:
        print(f"{result.issue_action} issue #{result.issue.number}: {result.issue.url}")
    for n in result.duplicates_closed:
        print(f"closed #{n}: a duplicate")
    if result.dispatched:
        run = f": {result.dispatch_run}" if result.dispatch_run else ""
        note = f" ({result.dispatch_note})" if result.dispatch_note else ""
        print(f"dispatched {result.dispatched}{run}{note}")
    step_outputs(
        {
            "retrain": "true" if result.retrain else "false",
            "issue-action": result.issue_action,
            "issue-number": str(result.issue.number) if result.issue else "",
            "issue-url": result.issue.url if result.issue else "",
            "dispatched": "true" if result.dispatched else "false",
        }
    )
