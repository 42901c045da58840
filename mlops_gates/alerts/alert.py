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

The command line (`mlops-gates alert`) is `mlops_gates.cli.alerts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mlops_gates.alerts.issues import IssueInfo
    from mlops_gates.github import GitHubClient

__all__ = [
    "AlertOptions",
    "AlertResult",
    "alert",
    "dispatch_key",
    "issue_body",
    "marker",
    "retrain_verdict",
]

DEFAULT_TITLE = "Model monitoring: retraining warranted"
UNJUDGED_TITLE = "Model monitoring: the model could not be judged"
UNJUDGED = ("no_data", "not_deployed")
MARKER_PREFIX = "mlops-gates:monitor"
ISSUE_PERMISSIONS = (
    "the token needs `issues: write` (and `actions: write` to dispatch a workflow); in a "
    "workflow, add them to the job's `permissions:`"
)

IssueAction = Literal["opened", "updated", "unchanged", "closed", "none"]


def marker(key: str) -> str:
    """The hidden first line of the monitoring issue of monitor `key`."""
    return f"<!-- {MARKER_PREFIX} key={key} -->"


@dataclass(frozen=True)
class AlertOptions:
    """Which issue to keep in step with the report, and which workflow to dispatch."""

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
    """What `alert` decided and did: the verdict, the issue action, the dispatch."""

    retrain: bool
    reasons: list[str]
    outcome: str | None = None  # context.monitor.outcome: no_data / not_deployed need a person
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
    from mlops_gates.report.markdown import md_escape, mlflow_line

    outcome = ((doc.get("context") or {}).get("monitor") or {}).get("outcome")
    said = (
        "Monitoring could not judge the model: "
        + ("no production rows in the window." if outcome == "no_data" else "nothing deployed.")
        if outcome in UNJUDGED
        else "Monitoring found that the model should be retrained."
    )
    lines = [marker(options.key), "", said]
    facts = []  # a list, so that GitHub does not run the lines into one paragraph
    monitor = (doc.get("context") or {}).get("monitor") or {}
    start, end = monitor.get("window_start"), monitor.get("window_end")
    if start and end:
        rows, labeled = monitor.get("rows"), monitor.get("labeled_rows")
        counts = f" ({rows} rows, {labeled} labeled)" if rows is not None else ""
        facts.append(f"Window: {start} to {end}{counts}.")
    if options.run_url:
        facts.append(f"Run: {options.run_url}")
    record = mlflow_line(doc)  # the model version judged and its runs, linked
    if record:
        facts.append(record)
    if facts:
        lines += ["", *(f"- {fact}" for fact in facts)]
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
    from mlops_gates.alerts import issues as gh

    retrain, reasons = retrain_verdict(doc)
    monitor = (doc.get("context") or {}).get("monitor") or {}
    outcome = monitor.get("outcome") if isinstance(monitor, Mapping) else None
    result = AlertResult(retrain, reasons, outcome)
    # No rows, or nothing deployed: a person must look (the issue says so), but retraining
    # on no data fixes nothing, so nothing is dispatched.
    unjudged = outcome in UNJUDGED
    # The default title would claim retraining is warranted; a title the user chose stays.
    title = UNJUDGED_TITLE if unjudged and options.title == DEFAULT_TITLE else options.title
    if options.issue:
        mine = _ours(gh.open_issues(client), options.key)
        if retrain or unjudged:
            body = issue_body(doc, markdown, reasons, options)
            if not mine:
                result.issue = gh.create_issue(
                    client, title=title, body=body, labels=list(options.labels)
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
                if keep.body == body and keep.title == title:
                    result.issue, result.issue_action = keep, "unchanged"
                else:
                    result.issue = gh.update_issue(client, keep.number, title=title, body=body)
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
