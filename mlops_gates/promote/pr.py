"""Promotion pull requests: open or update the one pull request that changes a model's
manifest, and close the promotions of older candidates.

Idempotency keys:

- the branch `mlops-gates/promote/<model>/<version>`: one candidate, one branch, at most one
  open pull request; running promote again updates that pull request (manifest and body);
- the branch prefix `mlops-gates/promote/<model>/`: of the open promotions of one model
  only the newest candidate stays open (versions compared as numbers when both are, else
  the later pull request wins); the others are superseded (commented once, closed, branch
  deleted). The open promotions are listed again after ours is opened, so two promotes
  running at once (v3 and v4) still leave exactly the v4 pull request: whichever run lists
  second sees both. An older candidate never closes a newer one, and a promote of an older
  version while a newer one is open opens nothing;
- the hidden marker in the body records the blob SHA of the manifest on the base branch the
  pull request was prepared against; when the base's manifest has changed since, promote
  stops instead of silently rebuilding over someone's edit (`--force` rebuilds).

The sticky report comment lives in `comment.py`; what is written, in `plan.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_gates.errors import PromotionError
from mlops_gates.github import GitHubClient
from mlops_gates.promote.body import parse_marker
from mlops_gates.promote.branch import (
    branch_sha,
    create_branch,
    delete_branch,
    put_file,
    read_file,
    reset_branch,
)
from mlops_gates.promote.comment import converge_comment
from mlops_gates.promote.manifest import dump_manifest, parse_manifest, same_candidate
from mlops_gates.promote.plan import BRANCH_PREFIX, Plan, PromoteOptions
from mlops_gates.promote.pulls import (
    PullInfo,
    add_labels,
    create_pull,
    open_pulls,
    request_reviewers,
    review_state,
    update_pull,
)
from mlops_gates.promote.status import StatusResult, set_promotion_status

__all__ = [
    "PromotionResult",
    "mark_refused",
    "promote",
]

SUPERSEDED_MARKER = "<!-- mlops-gates:superseded -->"


@dataclass
class PromotionResult:
    """What `promote` did: the action taken, the pull request, and what it closed."""

    action: Literal["opened", "updated", "unchanged", "superseded"]
    branch: str
    path: str
    number: int | None = None
    url: str | None = None
    committed: bool = False
    superseded: list[int] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # done, but not all of it (reviews)
    status: StatusResult | None = None  # the verdict set on the pull request's head


# -- the promotion ----------------------------------------------------------------------
def promote(client: GitHubClient, plan: Plan) -> PromotionResult:
    """Open or update the promotion pull request of `plan` and close older candidates'
    (see the module docstring for how repeated and concurrent runs converge)."""
    opts = plan.options
    base = opts.base or client.default_branch
    base_sha = branch_sha(client, base)
    if base_sha is None:
        raise PromotionError(f"base branch {base!r} not found in {client.repository}")
    on_base = read_file(client, plan.path, base_sha)
    base_blob = on_base.sha if on_base else None
    if on_base is not None and same_candidate(_parse(on_base.text), plan.manifest):
        return PromotionResult(
            "unchanged",
            plan.branch,
            plan.path,
            message=f"{plan.path} on {base} already promotes {plan.ctx.model} "
            f"{plan.ctx.version}; nothing to do",
        )

    prefix = f"{BRANCH_PREFIX}/{plan.ctx.model}/"
    ours = open_pulls(client, base=base, head_prefix=prefix)
    existing = next((p for p in ours if p.head_ref == plan.branch), None)
    newer = [p for p in ours if p.head_ref != plan.branch and _newer(p, prefix, plan, None)]
    if existing is None and newer:
        top = newer[0]
        return PromotionResult(
            "superseded",
            plan.branch,
            plan.path,
            number=top.number,
            url=top.url,
            message=f"pull request #{top.number} already promotes {plan.ctx.model} "
            f"{_version(top, prefix)}, newer than {plan.ctx.version}: nothing opened",
        )

    committed = True
    if existing is not None:
        committed = _refresh_branch(client, plan, existing, base, base_sha, base_blob)
    else:
        if not create_branch(client, plan.branch, base_sha):
            # Left over from a closed pull request or an interrupted run; it is ours.
            reset_branch(client, plan.branch, base_sha)
        _commit(client, plan, base_blob)

    if committed:
        # Someone may have changed the manifest on the base branch while we worked.
        now = read_file(client, plan.path, base)
        now_blob = now.sha if now else None
        if now_blob != base_blob:
            raise PromotionError(
                f"{plan.path} changed on {base} while promote was running (blob "
                f"{_short(base_blob)} -> {_short(now_blob)}). The branch {plan.branch} holds "
                "the new manifest but no pull request was opened or updated, so nothing "
                f"overwrites that change. Look at it on {base}, then run promote again."
            )

    # The base branch's manifest names what is live: the body says what this replaces.
    body = plan.body(
        base, base_blob, live=_parse(on_base.text) if on_base else None, live_read=True
    )
    if existing is not None:
        update_pull(client, existing.number, title=plan.title, body=body)
        pull, action = existing, "updated"
    else:
        created = create_pull(
            client, base=base, head=plan.branch, title=plan.title, body=body, draft=opts.draft
        )
        if created is None:
            # A concurrent or retried run opened it first: update that one.
            same = [p for p in open_pulls(client, base=base, head_prefix=plan.branch)]
            match = next((p for p in same if p.head_ref == plan.branch), None)
            if match is None:
                raise PromotionError(
                    f"GitHub says a pull request from {plan.branch} exists, but none is open "
                    f"into {base}; look at the repository's pull requests"
                )
            update_pull(client, match.number, title=plan.title, body=body)
            pull, action = match, "updated"
        else:
            pull, action = created, "opened"
    add_labels(client, pull.number, list(opts.labels))
    warnings = _request_reviews(client, pull.number, opts, everyone=action == "opened" or committed)
    # Opened by the workflow token, the pull request starts no gates workflow: its check
    # is this status (promote/status.py).
    status = _set_status(client, plan, pull.number)

    # Listed again now that ours is open: a promote running at the same time either saw
    # ours or is seen here, so one of the two closes the older candidate.
    others = [
        p for p in open_pulls(client, base=base, head_prefix=prefix) if p.head_ref != plan.branch
    ]
    newer = [p for p in others if _newer(p, prefix, plan, pull.number)]
    superseded = []
    for old in others:
        if old not in newer:
            _supersede(client, old, pull.number, plan.ctx.model, plan.ctx.version)
            superseded.append(old.number)
    result = PromotionResult(
        action,  # type: ignore[arg-type]
        plan.branch,
        plan.path,
        number=pull.number,
        url=pull.url,
        committed=committed,
        superseded=superseded,
        warnings=warnings,
        status=status,
    )
    if newer:
        top = newer[0]
        _supersede(client, pull, top.number, plan.ctx.model, _version(top, prefix))
        result.action = "superseded"
        result.message = (
            f"pull request #{top.number} promotes {plan.ctx.model} {_version(top, prefix)}, "
            f"newer than {plan.ctx.version}, and was opened meanwhile: closed #{pull.number}"
        )
    return result


def mark_refused(client: GitHubClient, plan: Plan) -> PromotionResult | None:
    """For a report that did not pass: set the failing status on the candidate's open
    promotion pull request, if there is one (an earlier passing run opened it; its check
    must not stay green on old evidence). Opens nothing; None when there is no such pull
    request."""
    base = plan.options.base or client.default_branch
    pulls = open_pulls(client, base=base, head_prefix=plan.branch)
    pull = next((p for p in pulls if p.head_ref == plan.branch), None)
    if pull is None:
        return None
    status = _set_status(client, plan, pull.number)
    return PromotionResult(
        "updated", plan.branch, plan.path, number=pull.number, url=pull.url, status=status
    )


def _set_status(client: GitHubClient, plan: Plan, number: int) -> StatusResult | None:
    context = plan.options.status_context
    if not context:
        return None
    try:
        return set_promotion_status(
            client, plan, context=context, target_url=plan.options.status_url
        )
    except PromotionError as exc:
        blocked = (
            f"Pull request #{number} is open but carries no {context} status, so branch "
            "protection keeps it blocked; run promote again once that is fixed."
        )
        said = re.search(r"\(403 [^)]*\)", str(exc))
        if said:  # the one permission this step needs beyond opening the pull request
            raise PromotionError(
                f"GitHub refused setting the {context} status {said.group(0)}: the token "
                "needs `statuses: write` (in a workflow: add it to the job's "
                f"`permissions:`). {blocked}"
            ) from None
        raise PromotionError(f"{exc}. {blocked}") from None


def _request_reviews(
    client: GitHubClient, number: int, opts: PromoteOptions, *, everyone: bool
) -> list[str]:
    """Ask the wanted reviewers who are not asked yet; warnings for the ones that failed.

    Runs on every promote, so a request that failed, or a reviewer added to the workflow
    later, is asked on the next run. With new evidence (`everyone`) all are asked to look
    again; without, someone who already reviewed is left alone (asking would re-notify an
    approver), and so is a team once the pull request has any review: GitHub does not say
    which team a review answered. A failure does not undo the pull request: it is a
    warning, and the next run asks again.
    """
    users, teams = list(opts.reviewers), list(opts.team_reviewers)
    if not users and not teams:
        return []
    if not everyone:
        try:
            state = review_state(client, number)
        except PromotionError as exc:
            return [f"could not read the review requests of #{number}: {exc}"]
        users = [u for u in users if u.lower() not in state.users | state.reviewed]
        teams = [t for t in teams if t.lower() not in state.teams and not state.reviewed]
    if not users and not teams:
        return []
    try:
        request_reviewers(client, number, users, teams)
        return []
    except PromotionError as exc:
        if len(users) + len(teams) == 1 or "(422 " not in str(exc):
            return [_review_warning(number, users + teams, exc)]
    # GitHub refuses the whole request (422) for one unknown login: ask each on their own.
    warnings = []
    for name, as_team in [(u, False) for u in users] + [(t, True) for t in teams]:
        try:
            request_reviewers(client, number, [] if as_team else [name], [name] if as_team else [])
        except PromotionError as exc:
            warnings.append(_review_warning(number, [name], exc))
    return warnings


def _review_warning(number: int, names: list[str], exc: PromotionError) -> str:
    return (
        f"requesting a review from {', '.join(names)} on #{number} failed: {exc}. The pull "
        "request is open; the next promote run asks again."
    )


def _version(pull: PullInfo, prefix: str) -> str:
    return pull.head_ref[len(prefix) :]


def _newer(pull: PullInfo, prefix: str, plan: Plan, number: int | None) -> bool:
    """Whether open promotion `pull` is of a newer candidate than `plan` (whose pull request
    is `number`, None before it exists). Registry versions compare as numbers; other
    version strings have no order, so the later pull request counts as newer."""
    theirs, mine = _version(pull, prefix), plan.ctx.version
    if theirs.isdigit() and mine.isdigit():
        return int(theirs) > int(mine)
    return number is not None and pull.number > number


def _supersede(client: GitHubClient, old: PullInfo, by: int, model: str, version: str) -> None:
    """Close promotion `old` in favour of #`by`: one note (however many runs do this at
    once, or retry it), then close it and delete its branch, both idempotent."""
    note = (
        f"{SUPERSEDED_MARKER}\nSuperseded by #{by} ({model} {version}), which mlops-gates "
        "promote opened for a newer candidate. Closing this one."
    )
    converge_comment(client, old.number, SUPERSEDED_MARKER, note, update=False)
    update_pull(client, old.number, state="closed")
    delete_branch(client, old.head_ref)


def _refresh_branch(
    client: GitHubClient,
    plan: Plan,
    pull: PullInfo,
    base: str,
    base_sha: str,
    base_blob: str | None,
) -> bool:
    """Bring an open promotion's branch up to date; False when it already was."""
    marker = parse_marker(pull.body)
    recorded = None if marker is None else marker.get("base-blob")
    recorded_blob = None if recorded in (None, "none") else recorded
    if not plan.options.force:
        if marker is None:
            raise PromotionError(
                f"pull request #{pull.number} ({pull.url}) has lost its mlops-gates marker, so "
                f"promote cannot tell which {plan.path} it was prepared against. Close it, or "
                "run promote with --force to rebuild it on the current base."
            )
        if recorded_blob != base_blob:
            raise PromotionError(
                f"{plan.path} changed on {base} since pull request #{pull.number} was prepared "
                f"(blob {_short(recorded_blob)} -> {_short(base_blob)}); updating it would "
                f"overwrite that change blindly. Look at the change on {base}; then close "
                f"#{pull.number} or run promote with --force to rebuild it on top."
            )
    on_branch = read_file(client, plan.path, plan.branch)
    if recorded_blob == base_blob and on_branch is not None:
        current = _parse(on_branch.text)
        if current is not None and same_candidate(current, plan.manifest):
            return False
    reset_branch(client, plan.branch, base_sha)
    _commit(client, plan, base_blob)
    return True


def _commit(client: GitHubClient, plan: Plan, base_blob: str | None) -> None:
    put_file(
        client,
        plan.path,
        branch=plan.branch,
        text=dump_manifest(plan.manifest),
        message=plan.commit_message,
        sha=base_blob,
    )


def _parse(text: str) -> dict[str, Any] | None:
    try:
        return parse_manifest(text)
    except PromotionError:
        return None  # a broken manifest is replaced by the promotion, not compared


def _short(sha: str | None) -> str:
    return sha[:10] if sha else "none"
