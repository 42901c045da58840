"""`mlops-gates promote` and `mlops-gates comment`: argument parsing and exit codes.

Importing this module is cheap; PyGithub, jinja2 and PyYAML load when a command runs.
Exit status: 0 done (review requests that failed are warnings); 1 refused (the report did
not pass) or GitHub failed; 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlops_gates.cli.common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_report_dir
from mlops_gates.cli.common import error as _error

__all__ = [
    "add_subcommands",
]


def add_subcommands(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register `promote` and `comment` on the `mlops-gates` parser's subcommands."""
    p = subparsers.add_parser(
        "promote",
        help="open (or update) the pull request that deploys a passing candidate",
        description="Open a promotion pull request for a candidate whose gates passed: it "
        "changes deploy/<model>.yaml on a branch and carries the evidence from report.json. "
        "Running it again for the same candidate updates that pull request; promoting "
        "another version closes the model's older promotion pull requests. The verdict is "
        "set as the commit status mlops-gates/promotion on the pull request's head (require "
        "it in branch protection): success only when the report passed and the manifest "
        "there matches it; a report that did not pass marks an open promotion of that "
        "candidate failing. Needs GITHUB_TOKEN (contents: write, pull-requests: write, "
        "statuses: write); GITHUB_API_URL for GitHub Enterprise. Exit status: 0 done (a "
        "failed review request is a warning: the next run asks again); 1 refused (the "
        "report did not pass) or GitHub failed; 2 usage error.",
    )
    add_report_dir(p)
    p.add_argument("--model", required=True, help="registered model name; names the manifest")
    p.add_argument(
        "--model-version",
        metavar="VERSION",
        help="model version to deploy (default: the report's candidate version, if any)",
    )
    p.add_argument(
        "--model-uri", metavar="URI", help="where deploy loads it (default: models:/MODEL/VERSION)"
    )
    p.add_argument(
        "--alias", default="production", help="MLflow alias deploy moves (default: production)"
    )
    p.add_argument(
        "--manifest-dir",
        metavar="DIR",
        default="deploy",
        help="repository folder of the manifests (default: deploy)",
    )
    _repo_option(p)
    p.add_argument("--base", metavar="BRANCH", help="branch to merge into (default: the default)")
    p.add_argument(
        "--label", action="append", default=[], metavar="NAME", help="label to add (repeatable)"
    )
    p.add_argument(
        "--reviewer",
        action="append",
        default=[],
        metavar="LOGIN",
        help="user to request a review from (repeatable)",
    )
    p.add_argument(
        "--team-reviewer",
        action="append",
        default=[],
        metavar="SLUG",
        help="team to request a review from (repeatable)",
    )
    p.add_argument("--draft", action="store_true", help="open the pull request as a draft")
    p.add_argument(
        "--auto-merge",
        action="store_true",
        help="not supported yet (GitHub enables auto-merge through GraphQL only); refused",
    )
    p.add_argument("--training-run-id", metavar="RUN_ID", help="MLflow run that trained it")
    p.add_argument(
        "--gates-run-id",
        metavar="RUN_ID",
        help="MLflow run holding the gates report (default: the report's, if any)",
    )
    p.add_argument(
        "--mlflow-url",
        metavar="URL",
        help="MLflow UI for links (default: $MLFLOW_TRACKING_URI when it is http(s), else "
        "the server the report's gates run was logged to)",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        help="config path shown in the reproduce command (default: the report's)",
    )
    p.add_argument(
        "--data-command",
        metavar="CMD",
        help="command that fetches the evaluation data when git does not keep it, shown in "
        "the reproduce command before the data's digest is checked",
    )
    p.add_argument(
        "--template",
        metavar="PATH",
        type=Path,
        help="jinja2 template for the body (default: the packaged promotion.md.j2)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="rebuild an open promotion even though the manifest on the base branch changed "
        "since it was prepared",
    )
    p.add_argument(
        "--status-context",
        metavar="NAME",
        default="mlops-gates/promotion",
        help="commit status promote sets on the pull request's head; require it in branch "
        "protection (default: mlops-gates/promotion)",
    )
    p.add_argument(
        "--no-status",
        action="store_true",
        help="set no commit status (the pull request then needs another check to merge)",
    )
    p.add_argument(
        "--status-url",
        metavar="URL",
        help="Details link of the status (default: this GitHub Actions run, else the "
        "MLflow gates run)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the manifest and the body; do not contact GitHub",
    )
    p.set_defaults(func=_promote)

    c = subparsers.add_parser(
        "comment",
        help="post or update the sticky report comment on a pull request",
        description="Post report.md as a comment on a pull request, or update the comment "
        "an earlier run posted (found by its hidden marker), so a pull request carries one "
        "report however often the gates run. Each --key keeps its own comment, so two "
        "models gated on one pull request keep two. Needs GITHUB_TOKEN (pull-requests: "
        "write). Exit status: 0 done; 1 GitHub failed; 2 usage error.",
    )
    add_report_dir(c, holding="report.md / report.json")
    c.add_argument("--pr", type=int, required=True, metavar="N", help="pull request number")
    c.add_argument(
        "--key",
        metavar="KEY",
        help="which sticky comment to update (default: the config path in report.json; "
        "a comment from before keys existed is taken over)",
    )
    _repo_option(c)
    c.set_defaults(func=_comment)

    s = subparsers.add_parser(
        "promotion-status",
        help="set the promotion check on a pull request or merge group promote never saw",
        description="Set the commit status mlops-gates/promotion on a change that promote "
        "did not judge, so requiring that check in branch protection does not block them: "
        "success when no deploy manifest changed; on a merge-group commit, the verdict of "
        "the queued pull request's head when the manifests are identical; on a pull "
        "request that changes a manifest nothing (only promote's verdict passes it). "
        "Without --sha, reads the pull_request or merge_group event GitHub Actions ran for. "
        "Needs GITHUB_TOKEN (statuses: write, contents: read). Exit status: 0 done; 1 "
        "GitHub failed; 2 usage error.",
    )
    s.add_argument("--sha", metavar="SHA", help="commit to set the status on")
    s.add_argument("--base", metavar="SHA", help="commit it is compared with (with --sha)")
    s.add_argument(
        "--queued-pr",
        type=int,
        metavar="N",
        help="with --sha: the commit is the merge group of pull request N",
    )
    s.add_argument(
        "--status-context",
        metavar="NAME",
        default="mlops-gates/promotion",
        help="commit status to set (default: mlops-gates/promotion)",
    )
    s.add_argument(
        "--manifest-dir",
        metavar="DIR",
        default="deploy",
        help="repository folder of the manifests (default: deploy)",
    )
    _repo_option(s)
    s.set_defaults(func=_promotion_status)


def _repo_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", metavar="OWNER/NAME", help="repository (default: $GITHUB_REPOSITORY)")


def _promote(args: argparse.Namespace) -> int:
    from mlops_gates.errors import MlopsGatesError, PromotionError
    from mlops_gates.promote.plan import (
        PromoteOptions,
        check_passed,
        make_plan,
        mlflow_ui_from_env,
    )
    from mlops_gates.promote.pr import promote
    from mlops_gates.report.writer import read_report

    if args.auto_merge:
        _error(
            "--auto-merge is not supported: GitHub turns auto-merge on only through its "
            "GraphQL API, which mlops-gates does not call yet. Drop the option and enable "
            "auto-merge on the pull request (or `gh pr merge --auto`) as a person or with a "
            "GitHub App token: a merge made by the workflow's GITHUB_TOKEN starts no deploy."
        )
        return EXIT_USAGE
    try:
        doc = read_report(args.report_dir)
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_FAIL
    attestation, note = _attestation(args.report_dir, doc)
    if note is not None:
        print(f"mlops-gates: warning: {note}", file=sys.stderr)
    refused: str | None = None
    try:
        check_passed(doc, str(args.report_dir / "report.json"))
    except MlopsGatesError as exc:
        refused = str(exc)
    options = PromoteOptions(
        model=args.model,
        version=args.model_version,
        uri=args.model_uri,
        alias=args.alias,
        manifest_dir=args.manifest_dir,
        base=args.base,
        labels=tuple(args.label),
        reviewers=tuple(args.reviewer),
        team_reviewers=tuple(args.team_reviewer),
        draft=args.draft,
        training_run_id=args.training_run_id,
        gates_run_id=args.gates_run_id,
        mlflow_url=args.mlflow_url or mlflow_ui_from_env(),
        config_path=args.config,
        data_command=args.data_command,
        template=args.template,
        force=args.force,
        status_context=None if args.no_status else args.status_context,
        status_url=args.status_url,
        attestation=attestation,
    )
    if refused is not None:
        _error(refused)
        if not args.dry_run:
            _mark_refused(args, doc, options)
        return EXIT_FAIL
    try:
        plan = make_plan(doc, options)
        if options.status_url is None:
            options = replace(options, status_url=_status_url(plan))
            plan = replace(plan, options=options)
        if args.dry_run:
            from mlops_gates.promote.manifest import dump_manifest

            print(f"# {plan.path} on branch {plan.branch}")
            print(dump_manifest(plan.manifest))
            print(f"# pull request: {plan.title}")
            print(plan.body(args.base or "<default branch>", None))
            return EXIT_OK
        from mlops_gates.github import GitHubClient

        client = GitHubClient.from_env(args.repo)
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        result = promote(client, plan)
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_FAIL
    finally:
        client.close()
    _github_outputs(result.number, result.url, result.action)
    for warning in result.warnings:
        _warn(warning)
    if result.action == "unchanged":
        print(result.message)
        return EXIT_OK
    if result.action == "superseded":  # a newer candidate's pull request is open
        for n in result.superseded:
            print(f"closed #{n}: superseded")
        print(result.message)
        return EXIT_OK
    what = "opened" if result.action == "opened" else "updated"
    print(f"{what} pull request #{result.number}: {result.url}")
    _print_status(result.status, options.status_context)
    if not result.committed:
        print(f"{result.path} on {result.branch} was already current")
    for n in result.superseded:
        print(f"closed #{n}: superseded by #{result.number}")
    return EXIT_OK


def _attestation(report_dir: Path, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The signed bundle next to the report, as the manifest records it (attest.ref)."""
    from mlops_gates.attest.ref import bundle_reference

    try:
        raw = (report_dir / "report.json").read_bytes()
    except OSError:
        return None, None  # read_report just read it; a race is not worth a second message
    return bundle_reference(report_dir, doc, raw)


def _status_url(plan: Any) -> str | None:
    """The status's Details link: this Actions run, else the gates run in MLflow."""
    from mlops_gates.promote.status import run_url_from_env

    return run_url_from_env() or plan.ctx.links.get("gates_run")


def _print_status(status: Any, context: str | None) -> None:
    if status is not None:
        said = "set" if status.posted else "already"
        print(f"{context} {said} {status.verdict.state} on {status.sha[:10]}: ", end="")
        print(status.verdict.description)


def _mark_refused(args: argparse.Namespace, doc: dict[str, Any], options: Any) -> None:
    """A report that did not pass: the candidate's open promotion, if any, turns red. Best
    effort: without a token or a version there is nothing to mark, and the refusal above is
    the message that matters."""
    from mlops_gates.errors import PromotionError
    from mlops_gates.github import GitHubClient
    from mlops_gates.promote.plan import make_plan
    from mlops_gates.promote.pr import mark_refused

    if not options.status_context or not os.environ.get("GITHUB_TOKEN", "").strip():
        return
    try:
        plan = make_plan(doc, options)
        if options.status_url is None:
            plan = replace(plan, options=replace(options, status_url=_status_url(plan)))
        client = GitHubClient.from_env(args.repo)
    except PromotionError:
        return
    try:
        result = mark_refused(client, plan)
    except PromotionError as exc:
        _warn(f"could not mark the open promotion pull request failing: {exc}")
        return
    finally:
        client.close()
    if result is not None:
        print(f"pull request #{result.number} ({result.url}) is marked failing")
        _print_status(result.status, options.status_context)


def _event_commits(args: argparse.Namespace) -> tuple[str, str, int | None] | str:
    """(sha, base, queued pull request) from the options or the Actions event; else why not."""
    import json

    from mlops_gates.promote.carry import queued_pull

    if args.sha or args.base:
        if not (args.sha and args.base):
            return "--sha and --base go together"
        return str(args.sha), str(args.base), args.queued_pr
    name = os.environ.get("GITHUB_EVENT_NAME", "")
    path = os.environ.get("GITHUB_EVENT_PATH", "")
    if name not in ("pull_request", "merge_group") or not path:
        return (
            f"no commit to judge: pass --sha and --base, or run it on a pull_request or "
            f"merge_group event (GITHUB_EVENT_NAME is {name or 'unset'!r})"
        )
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
        if name == "pull_request":
            pull = event["pull_request"]
            return str(pull["head"]["sha"]), str(pull["base"]["sha"]), None
        group = event["merge_group"]
        queued = queued_pull(str(group["head_ref"]))
        if queued is None:
            return f"merge_group.head_ref {group['head_ref']!r} names no pull request"
        return str(group["head_sha"]), str(group["base_sha"]), queued
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"GITHUB_EVENT_PATH {path}: not a {name} event ({type(exc).__name__}: {exc})"


def _promotion_status(args: argparse.Namespace) -> int:
    from mlops_gates.errors import PromotionError
    from mlops_gates.github import GitHubClient
    from mlops_gates.promote.carry import judge_change
    from mlops_gates.promote.status import post_status, run_url_from_env

    commits = _event_commits(args)
    if isinstance(commits, str):
        _error(commits)
        return EXIT_USAGE
    sha, base, queued = commits
    try:
        client = GitHubClient.from_env(args.repo)
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_USAGE
    context = args.status_context
    try:
        verdict, why = judge_change(
            client,
            sha=sha,
            base=base,
            context=context,
            manifest_dir=args.manifest_dir,
            queued=queued,
        )
        if verdict is not None:
            post_status(client, sha, verdict, context=context, target_url=run_url_from_env())
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_FAIL
    finally:
        client.close()
    said = "nothing set" if verdict is None else f"set {verdict.state}"
    print(f"{context} on {sha[:10]}: {said} ({why})")
    return EXIT_OK


def _comment(args: argparse.Namespace) -> int:
    from mlops_gates.errors import MlopsGatesError, PromotionError
    from mlops_gates.github import GitHubClient
    from mlops_gates.promote.comment import default_comment_key, report_markdown, upsert_comment
    from mlops_gates.report.writer import read_report

    try:
        markdown = report_markdown(args.report_dir)
    except MlopsGatesError as exc:
        _error(str(exc))
        return EXIT_FAIL
    key = args.key
    if not key:
        try:
            doc = read_report(args.report_dir)
        except MlopsGatesError:
            doc = {}  # report.md alone: no config path, so the unkeyed comment
        key = default_comment_key(doc, workspace=os.environ.get("GITHUB_WORKSPACE"))
    try:
        client = GitHubClient.from_env(args.repo)
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_USAGE
    try:
        action = upsert_comment(client, args.pr, markdown, key=key, adopt_unkeyed=not args.key)
    except PromotionError as exc:
        _error(str(exc))
        return EXIT_FAIL
    finally:
        client.close()
    print(f"{action} the report comment on #{args.pr}")
    return EXIT_OK


def _warn(message: str) -> None:
    """A warning line on stderr; in GitHub Actions also an annotation on the run."""
    import sys

    from mlops_gates._text import safe_line

    line = safe_line(message.replace("\n", " "))
    print(f"mlops-gates: warning: {line}", file=sys.stderr)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from mlops_gates.report.github import workflow_command

        print(workflow_command("warning", message, title="mlops-gates"))


def _github_outputs(number: int | None, url: str | None, action: str = "") -> None:
    # In GitHub Actions the promote action's `pr-number`, `pr-url` and `promotion` outputs
    # come from here. `promotion: superseded` is how a workflow tells that a newer
    # candidate's pull request is open and this (older) one promoted nothing: the exit
    # status stays 0, since nothing went wrong, and a red job for a late training run
    # would teach people to ignore red.
    from mlops_gates.cli.common import step_outputs

    step_outputs(
        {
            "pr-number": "" if number is None else str(number),
            "pr-url": url or "",
            "promotion": action,
        }
    )
