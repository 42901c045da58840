"""`mlops-gates alert`: act on a monitoring report — keep one GitHub issue in step with it,
and dispatch the retraining workflow when it says retraining is warranted.

The issue is found again by a hidden marker in its body, so however often the schedule
runs there is one open issue per monitor: opened when retraining becomes warranted,
updated while it stays so, commented on and closed when the model is healthy again.
Creating an issue cannot be made idempotent on GitHub's side: after a 5xx or a lost answer
the issue is looked for before it is sent again (see `issues.py`), and as two runs at the
same moment can still each open one, a second open issue with our marker is closed as a
duplicate of the oldest one right after creation. The retraining dispatch carries a key
derived from the report, so it starts at most one run per report (see `issues.py`).

Exit status: 0 done (whatever the report said); 1 GitHub failed; 2 usage (no report,
options, token).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlops_gates.promote.github import GitHubClient
    from mlops_gates.promote.issues import IssueInfo

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_report_dir

DEFAULT_TITLE = "Model monitoring: retraining warranted"
MARKER_PREFIX = "mlops-gates:monitor"
ISSUE_PERMISSIONS = (
    "the token needs `issues: write` (and `actions: write` to dispatch a workflow); in a "
    "workflow, add them to the job's `permissions:`"
)
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")

IssueAction = Literal["opened", "updated", "unchanged", "closed", "none"]


def marker(key: str) -> str:
    return f"<!-- {MARKER_PREFIX} key={key} -->"


@dataclass(frozen=True)
class AlertOptions:
    title: str = DEFAULT_TITLE
    labels: tuple[str, ...] = ()
    key: str = "default"  # one issue per key: several monitors in one repository
    issue: bool = True
    close_when_healthy: bool = True
    dispatch_workflow: str | None = None
    dispatch_ref: str | None = None  # default: the repository's default branch
    dispatch_inputs: Mapping[str, str] = field(default_factory=dict)
    run_url: str | None = None  # the workflow run that produced the report


@dataclass
class AlertResult:
    retrain: bool
    reasons: list[str]
    issue_action: IssueAction = "none"
    issue: IssueInfo | None = None
    dispatched: str | None = None  # the workflow started
    dispatch_run: str | None = None  # its run's page, when GitHub says
    dispatch_note: str | None = None  # "found": started earlier for this report; no key
    duplicates_closed: list[int] = field(default_factory=list)


def dispatch_key(doc: Mapping[str, Any], key: str) -> str:
    """The idempotency key of a retraining dispatch: one per monitor key and report (its
    fingerprint and start time), so re-running alert on the same report starts nothing."""
    import hashlib
    import json

    seed = json.dumps([doc.get("fingerprint"), doc.get("started_at")], sort_keys=True)
    return f"mlops-gates-{key}-{hashlib.sha256(seed.encode()).hexdigest()[:16]}"


def retrain_verdict(doc: Mapping[str, Any], source: str = "report.json") -> tuple[bool, list[str]]:
    """Whether the report warrants retraining, and why. `context.monitor` (written by
    `mlops-gates monitor`) decides; a plain `check` report warrants it unless it passed."""
    context = doc.get("context")
    monitor = context.get("monitor") if isinstance(context, Mapping) else None
    if isinstance(monitor, Mapping) and isinstance(monitor.get("retrain"), bool):
        reasons = monitor.get("reasons") or []
        return bool(monitor["retrain"]), [str(r) for r in reasons]
    status = doc.get("status")
    if status not in ("pass", "fail", "error"):
        from mlops_gates.errors import MlopsGatesError

        raise MlopsGatesError(
            f"{source}: `status` is {status!r}, not pass/fail/error; is this an mlops-gates "
            "report? Run `mlops-gates monitor --report-dir DIR` and pass that DIR"
        )
    if status == "pass":
        return False, []
    failed = [
        str(g.get("id"))
        for g in doc.get("gates") or []
        if isinstance(g, Mapping)
        and g.get("status") in ("fail", "error")
        and g.get("severity", "block") == "block"
    ]
    return True, [f"gate {g} {status}ed" for g in failed] or [f"the report's status is {status}"]


def issue_body(
    doc: Mapping[str, Any], markdown: str, reasons: list[str], options: AlertOptions
) -> str:
    """Marker, what happened and why, then report.md (cut to GitHub's body limit)."""
    from mlops_gates._text import clean_block
    from mlops_gates.promote.body import truncate
    from mlops_gates.report.markdown import md_escape

    lines = [marker(options.key), "", "Monitoring found that the model should be retrained."]
    monitor = (doc.get("context") or {}).get("monitor") or {}
    start, end = monitor.get("window_start"), monitor.get("window_end")
    if start and end:
        rows, labeled = monitor.get("rows"), monitor.get("labeled_rows")
        counts = f" ({rows} rows, {labeled} labeled)" if rows is not None else ""
        lines.append(f"Window: {start} to {end}{counts}.")
    if options.run_url:
        lines.append(f"Run: {options.run_url}")
    if reasons:
        lines += ["", "Reasons:", *(f"- {md_escape(r, 300)}" for r in reasons)]
    lines += [
        "",
        "This issue is updated by `mlops-gates alert` on every monitoring run and closed when "
        "the model is healthy again.",
        "",
        markdown,
    ]
    return truncate(clean_block("\n".join(lines)))


def _ours(issues: list[IssueInfo], key: str) -> list[IssueInfo]:
    tag = marker(key)
    return sorted((i for i in issues if i.body.startswith(tag)), key=lambda i: i.number)


def alert(
    client: GitHubClient, doc: Mapping[str, Any], markdown: str, options: AlertOptions
) -> AlertResult:
    """Bring the issue (and, if asked, retraining) in line with the report."""
    from mlops_gates.promote import issues as gh

    retrain, reasons = retrain_verdict(doc)
    result = AlertResult(retrain, reasons)
    if options.issue:
        mine = _ours(gh.open_issues(client), options.key)
        if retrain:
            body = issue_body(doc, markdown, reasons, options)
            if not mine:
                result.issue = gh.create_issue(
                    client, title=options.title, body=body, labels=list(options.labels)
                )
                result.issue_action = "opened"
                mine = _ours(gh.open_issues(client), options.key) or [result.issue]
            keep, extra = mine[0], mine[1:]
            for dup in extra:
                note = f"Duplicate of #{keep.number} (opened by a retried request)."
                gh.comment_on_issue(client, dup.number, note)
                gh.update_issue(client, dup.number, state="closed", state_reason="duplicate")
                result.duplicates_closed.append(dup.number)
            if result.issue_action == "none":
                if keep.body == body and keep.title == options.title:
                    result.issue, result.issue_action = keep, "unchanged"
                else:
                    result.issue = gh.update_issue(
                        client, keep.number, title=options.title, body=body
                    )
                    result.issue_action = "updated"
            else:
                result.issue = keep
        elif mine and options.close_when_healthy:
            run = f" ({options.run_url})" if options.run_url else ""
            for issue in mine:
                gh.comment_on_issue(
                    client, issue.number, f"Monitoring is healthy again{run}; closing."
                )
                result.issue = gh.update_issue(
                    client, issue.number, state="closed", state_reason="completed"
                )
            result.issue_action = "closed"
    if retrain and options.dispatch_workflow:
        ref = options.dispatch_ref or client.default_branch
        what, page = gh.dispatch_workflow(
            client,
            options.dispatch_workflow,
            ref=ref,
            inputs=options.dispatch_inputs,
            key=dispatch_key(doc, options.key),
        )
        result.dispatched = options.dispatch_workflow
        result.dispatch_run = page
        if what == "found":
            result.dispatch_note = "already started for this report; not dispatched again"
        elif what == "dispatched-without-key":
            result.dispatch_note = (
                f"the workflow has no `{gh.KEY_INPUT}` input, so a retried dispatch could "
                "not be told from a new one (see docs/monitor.md)"
            )
    return result


# -- command line -----------------------------------------------------------------------


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
    from mlops_gates.errors import MlopsGatesError, PromotionError
    from mlops_gates.promote.github import GitHubClient
    from mlops_gates.promote.pr import report_markdown
    from mlops_gates.report.writer import read_report

    if not _KEY.match(args.key):
        return _error(f"--key {args.key!r}: use letters, digits, '.', '_' or '-'")
    inputs: dict[str, str] = {}
    for item in args.dispatch_input:
        name, eq, value = item.partition("=")
        if not eq or not name:
            return _error(f"--dispatch-input {item!r}: write NAME=VALUE")
        inputs[name] = value
    if args.no_issue and not args.dispatch_workflow:
        return _error("--no-issue without --dispatch-workflow does nothing; drop one of them")
    try:
        doc = read_report(args.report_dir)
        markdown = report_markdown(args.report_dir)
        retrain_verdict(doc, str(args.report_dir / "report.json"))
    except MlopsGatesError as exc:
        return _error(str(exc))
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
        return _error(
            f"GITHUB_TOKEN is not set: export a token that can open issues ({ISSUE_PERMISSIONS})"
        )
    try:
        client = GitHubClient.from_env(args.repo)
    except PromotionError as exc:
        return _error(str(exc))
    try:
        result = alert(client, doc, markdown, options)
    except PromotionError as exc:
        message = str(exc)
        if "(403 " in message:
            message = message.split("): ", 1)[0] + f"): {ISSUE_PERMISSIONS}"
        return _error(message, EXIT_FAIL)
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
    print(f"monitoring: {verdict}" + "".join(f"\n  - {r}" for r in result.reasons))
    if result.issue is not None:
        print(f"{result.issue_action} issue #{result.issue.number}: {result.issue.url}")
    for n in result.duplicates_closed:
        print(f"closed #{n}: a duplicate")
    if result.dispatched:
        run = f": {result.dispatch_run}" if result.dispatch_run else ""
        note = f" ({result.dispatch_note})" if result.dispatch_note else ""
        print(f"dispatched {result.dispatched}{run}{note}")
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        from mlops_gates.report.github import append_outputs

        append_outputs(
            path,
            {
                "retrain": "true" if result.retrain else "false",
                "issue-action": result.issue_action,
                "issue-number": str(result.issue.number) if result.issue else "",
                "issue-url": result.issue.url if result.issue else "",
                "dispatched": "true" if result.dispatched else "false",
            },
        )


def _error(message: str, code: int = EXIT_USAGE) -> int:
    print(f"mlops-gates: error: {message}", file=sys.stderr)
    return code
