"""Promotion pull requests and the sticky report comment.

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
  stops instead of silently rebuilding over someone's edit (`--force` rebuilds);
- the comment marker `<!-- mlops-gates:report -->` finds the one sticky comment to update.
  Concurrent `comment` runs (or a create whose answer was lost) can each create one; every
  run lists again after creating and deletes all but the oldest, so they converge on one.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from mlops_gates.errors import PromotionError
from mlops_gates.promote.body import (
    REPORT_MARKER,
    BodyContext,
    parse_marker,
    promotion_marker,
    render_comment,
    render_promotion_body,
    report_marker,
)
from mlops_gates.promote.manifest import (
    DEFAULT_ALIAS,
    DEFAULT_DIR,
    build_manifest,
    dump_manifest,
    manifest_path,
    parse_manifest,
    same_candidate,
)

if TYPE_CHECKING:
    from mlops_gates.promote.github import CommentInfo, GitHubClient, PullInfo

BRANCH_PREFIX = "mlops-gates/promote"
SUPERSEDED_MARKER = "<!-- mlops-gates:superseded -->"


@dataclass(frozen=True)
class PromoteOptions:
    model: str
    version: str | None = None  # default: the report's candidate version, when it has one
    uri: str | None = None  # default: models:/<model>/<version>
    alias: str = DEFAULT_ALIAS
    manifest_dir: str = DEFAULT_DIR
    base: str | None = None  # default: the repository's default branch
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    draft: bool = False
    training_run_id: str | None = None
    gates_run_id: str | None = None
    mlflow_url: str | None = None  # MLflow UI, for links
    config_path: str | None = None  # for the reproduce command
    template: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything promote will write, decided before talking to GitHub."""

    doc: dict[str, Any]
    options: PromoteOptions
    manifest: dict[str, Any]
    path: str
    branch: str
    title: str
    commit_message: str
    ctx: BodyContext

    def body(self, base: str, base_blob: str | None) -> str:
        marker = promotion_marker(self.ctx.model, self.ctx.version, base_blob)
        ctx = replace(self.ctx, base=base, marker=marker)
        return render_promotion_body(self.doc, ctx, template=self.options.template)


@dataclass
class PromotionResult:
    action: Literal["opened", "updated", "unchanged", "superseded"]
    branch: str
    path: str
    number: int | None = None
    url: str | None = None
    committed: bool = False
    superseded: list[int] = field(default_factory=list)
    message: str = ""
    warnings: list[str] = field(default_factory=list)  # done, but not all of it (reviews)


def check_passed(doc: dict[str, Any], source: str = "report.json") -> None:
    """Refuse a report that did not pass, naming what blocked it."""
    if doc.get("schema_version") != 1:
        raise PromotionError(
            f"{source}: report schema_version {doc.get('schema_version')!r} is not one this "
            "mlops-gates reads (1); promote with the mlops-gates version that wrote it"
        )
    status = doc.get("status")
    if status == "pass":
        if any(_evaluated_blocking(g) for g in doc.get("gates") or []):
            return
        raise PromotionError(
            f"{source}: the gates run passed without judging anything: no blocking gate has a "
            "verdict on data (every one was skipped or short of rows). Check that the data "
            "has rows and the gates' columns, run `mlops-gates check` again, then promote."
        )
    blocking = [
        g.get("id", "?")
        for g in doc.get("gates") or []
        if g.get("severity") == "block" and g.get("status") in ("fail", "error")
    ]
    named = ", ".join(map(str, blocking[:5])) + (" ..." if len(blocking) > 5 else "")
    why = f": blocking gates {named}" if blocking else ""
    errors = doc.get("errors") or []
    if errors:
        why += f"; {len(errors)} problem(s) stopped gates, first: {str(errors[0])[:200]}"
    raise PromotionError(
        f"{source}: the gates run ended {status!r}{why}. Only a passing candidate is "
        "promoted: fix the model or the data, run `mlops-gates check` again, then promote."
    )


def _evaluated_blocking(g: dict[str, Any]) -> bool:
    """A blocking gate that passed on evidence, not by default on too few rows."""
    return (
        g.get("severity") == "block"
        and g.get("status") == "pass"
        and g.get("reason") not in ("insufficient_support", "undefined", "no_baseline")
    )


def make_plan(doc: dict[str, Any], options: PromoteOptions, *, now: str | None = None) -> Plan:
    model = options.model
    version = options.version or _report_version(doc)
    if not version:
        raise PromotionError(
            "which model version? pass --model-version (the registry version to deploy)"
        )
    path = manifest_path(model, options.manifest_dir)
    branch = f"{BRANCH_PREFIX}/{model}/{version}"
    if ".." in version or version.endswith((".", ".lock")):
        raise PromotionError(f"model version {version!r} cannot be part of a branch name")
    uri = options.uri or f"models:/{model}/{version}"
    promoted_at = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = build_manifest(
        doc,
        model=model,
        version=version,
        uri=uri,
        alias=options.alias,
        promoted_at=promoted_at,
        training_run_id=options.training_run_id or _training_run_id(doc),
        gates_run_id=options.gates_run_id or _report_run_id(doc),
    )
    run_ids = {
        "training": manifest["mlflow"]["training_run_id"],
        "gates": manifest["mlflow"]["gates_run_id"],
    }
    title = f"Promote {model} {version} to {options.alias}"
    summary = ", ".join(f"{v} {k}" for k, v in (doc.get("summary") or {}).items() if v)
    commit_message = (
        f"{title}\n\nGates: {doc.get('status')} ({summary}), run started "
        f"{doc.get('started_at')}.\nWritten by mlops-gates promote."
    )
    ctx = BodyContext(
        model=model,
        version=version,
        uri=uri,
        alias=options.alias,
        manifest_path=path,
        base="",
        marker="",
        reproduce=reproduce_lines(doc, options.config_path),
        links=mlflow_links(options.mlflow_url, run_ids, model, version, uri),
        run_ids=run_ids,
    )
    return Plan(doc, options, manifest, path, branch, title, commit_message, ctx)


def _report_version(doc: dict[str, Any]) -> str | None:
    # Reports of a registered candidate (MLflow integration) carry its version.
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    v = cand.get("version")
    return None if v is None else str(v)


def _training_run_id(doc: dict[str, Any]) -> str | None:
    # A registry candidate's report names the run that logged it (the training run).
    cand = ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}
    run = cand.get("run_id") if cand.get("source") == "mlflow" else None
    return None if run is None else str(run)


def _report_run_id(doc: dict[str, Any]) -> str | None:
    run = ((doc.get("context") or {}).get("mlflow") or {}).get("run_id")
    return None if run is None else str(run)


def reproduce_lines(doc: dict[str, Any], config_path: str | None) -> list[str]:
    """Shell lines that rerun these gates on the same code."""
    cfg = config_path or _relative((doc.get("context") or {}).get("config_path"))
    lines = []
    code = (doc.get("fingerprint") or {}).get("code")
    if code:
        lines.append(f"git checkout {shlex.quote(str(code))}")
    cmd = ["mlops-gates", "check"]
    if cfg:
        cmd += ["--config", str(cfg)]
    cmd += ["--report-dir", "mlops-gates-report"]
    lines.append(shlex.join(cmd))
    return lines


def _relative(path: str | None) -> str | None:
    """The config path as someone in the repository's root would type it."""
    if not path:
        return None
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return p.as_posix()
    return p.as_posix()


def mlflow_links(
    ui: str | None, run_ids: dict[str, str | None], model: str, version: str, uri: str
) -> dict[str, str | None]:
    if not ui:
        return {}
    parts = urlsplit(ui)
    try:
        port = parts.port
    except ValueError:
        port, parts = None, urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PromotionError(f"--mlflow-url {ui!r} is not an http(s) URL of the MLflow UI")
    # Never publish credentials that a tracking URI may carry (https://user:token@host).
    host = parts.hostname + (f":{port}" if port else "")
    root = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    root = quote(root, safe=":/%-._~")
    links: dict[str, str | None] = {"model_version": None}
    for key, run in (
        ("training_run", run_ids.get("training")),
        ("gates_run", run_ids.get("gates")),
    ):
        links[key] = f"{root}/#/runs/{quote(run, safe='')}" if run else None
    if uri.startswith("models:/"):
        links["model_version"] = (
            f"{root}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"
        )
    return links


def mlflow_ui_from_env() -> str | None:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None


# -- the promotion ----------------------------------------------------------------------
def promote(client: GitHubClient, plan: Plan) -> PromotionResult:
    opts = plan.options
    base = opts.base or client.default_branch
    base_sha = client.branch_sha(base)
    if base_sha is None:
        raise PromotionError(f"base branch {base!r} not found in {client.repository}")
    on_base = client.file(plan.path, base_sha)
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
    ours = client.open_pulls(base=base, head_prefix=prefix)
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
        if not client.create_branch(plan.branch, base_sha):
            # Left over from a closed pull request or an interrupted run; it is ours.
            client.reset_branch(plan.branch, base_sha)
        _commit(client, plan, base_blob)

    if committed:
        # Someone may have changed the manifest on the base branch while we worked.
        now = client.file(plan.path, base)
        now_blob = now.sha if now else None
        if now_blob != base_blob:
            raise PromotionError(
                f"{plan.path} changed on {base} while promote was running (blob "
                f"{_short(base_blob)} -> {_short(now_blob)}). The branch {plan.branch} holds "
                "the new manifest but no pull request was opened or updated, so nothing "
                f"overwrites that change. Look at it on {base}, then run promote again."
            )

    body = plan.body(base, base_blob)
    if existing is not None:
        client.update_pull(existing.number, title=plan.title, body=body)
        pull, action = existing, "updated"
    else:
        created = client.create_pull(
            base=base, head=plan.branch, title=plan.title, body=body, draft=opts.draft
        )
        if created is None:
            # A concurrent or retried run opened it first: update that one.
            same = [p for p in client.open_pulls(base=base, head_prefix=plan.branch)]
            match = next((p for p in same if p.head_ref == plan.branch), None)
            if match is None:
                raise PromotionError(
                    f"GitHub says a pull request from {plan.branch} exists, but none is open "
                    f"into {base}; look at the repository's pull requests"
                )
            client.update_pull(match.number, title=plan.title, body=body)
            pull, action = match, "updated"
        else:
            pull, action = created, "opened"
    client.add_labels(pull.number, list(opts.labels))
    warnings = _request_reviews(client, pull.number, opts, everyone=action == "opened" or committed)

    # Listed again now that ours is open: a promote running at the same time either saw
    # ours or is seen here, so one of the two closes the older candidate.
    others = [
        p for p in client.open_pulls(base=base, head_prefix=prefix) if p.head_ref != plan.branch
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
            state = client.review_state(number)
        except PromotionError as exc:
            return [f"could not read the review requests of #{number}: {exc}"]
        users = [u for u in users if u.lower() not in state.users | state.reviewed]
        teams = [t for t in teams if t.lower() not in state.teams and not state.reviewed]
    if not users and not teams:
        return []
    try:
        client.request_reviewers(number, users, teams)
        return []
    except PromotionError as exc:
        if len(users) + len(teams) == 1 or "(422 " not in str(exc):
            return [_review_warning(number, users + teams, exc)]
    # GitHub refuses the whole request (422) for one unknown login: ask each on their own.
    warnings = []
    for name, as_team in [(u, False) for u in users] + [(t, True) for t in teams]:
        try:
            client.request_reviewers(number, [] if as_team else [name], [name] if as_team else [])
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
    client.update_pull(old.number, state="closed")
    client.delete_branch(old.head_ref)


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
    on_branch = client.file(plan.path, plan.branch)
    if recorded_blob == base_blob and on_branch is not None:
        current = _parse(on_branch.text)
        if current is not None and same_candidate(current, plan.manifest):
            return False
    client.reset_branch(plan.branch, base_sha)
    _commit(client, plan, base_blob)
    return True


def _commit(client: GitHubClient, plan: Plan, base_blob: str | None) -> None:
    client.put_file(
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


# -- the sticky comment -----------------------------------------------------------------
def upsert_comment(
    client: GitHubClient,
    number: int,
    markdown: str,
    *,
    key: str | None = None,
    adopt_unkeyed: bool = False,
) -> Literal["created", "updated", "unchanged"]:
    """Create the report comment for `key` on pull request `number`, or update it in place.

    `adopt_unkeyed`: with no comment for `key` yet, take over a comment an older release
    posted without a key (for the default key, so upgrading leaves no stale comment).
    """
    body = render_comment(markdown, key=key)
    _ = client.repo  # a missing repository is reported as such, not as a missing PR
    try:
        client.get_pull(number)
    except PromotionError as exc:
        if "404" in str(exc):
            raise PromotionError(
                f"pull request #{number} not found in {client.repository}"
            ) from None
        raise
    marker = report_marker(key)
    legacy = REPORT_MARKER if adopt_unkeyed and marker != REPORT_MARKER else None
    action, _ = converge_comment(client, number, marker, body, update=True, legacy=legacy)
    return action


def default_comment_key(doc: dict[str, Any], *, workspace: str | None = None) -> str | None:
    """The sticky comment's key when `--key` is not given: the config path in report.json,
    relative to the workspace (absolute paths differ between runners), else None."""
    context = doc.get("context")
    raw = context.get("config_path") if isinstance(context, dict) else None
    if not isinstance(raw, str) or not raw:
        return None
    path = Path(raw)
    if path.is_absolute():
        for root in (workspace, str(Path.cwd())):
            if root:
                try:
                    return path.relative_to(root).as_posix()
                except ValueError:
                    continue
    return path.as_posix()


def converge_comment(
    client: GitHubClient,
    number: int,
    marker: str,
    body: str,
    *,
    update: bool,
    legacy: str | None = None,
) -> tuple[Literal["created", "updated", "unchanged"], CommentInfo]:
    """Make exactly one comment starting with `marker` on #`number` hold `body` (with
    `update`; else leave an existing one as it is). Runs at the same moment may each
    create one, so after creating the comments are listed again and all but the oldest
    deleted: every run agrees on the oldest, which nobody deletes, so they converge.
    `legacy`: a first line that also counts as ours when no comment has `marker`."""
    before = client.comments(number)
    mine = [c for c in before if c.body.startswith(marker)]
    if not mine and legacy is not None:
        mine = [c for c in before if c.body.split("\n", 1)[0] == legacy]
    action: Literal["created", "updated", "unchanged"] = "unchanged"
    created = None
    if not mine:
        created = client.create_comment(number, body, known={c.id for c in before})
        action = "created"
        mine = [c for c in client.comments(number) if c.body.startswith(marker)] or [created]
    keep, extra = mine[0], mine[1:]
    for dup in extra:
        client.delete_comment(dup.id)
    if update and keep.body != body:
        client.update_comment(keep.id, body)
        keep = replace(keep, body=body)
    if created is not None and keep.id != created.id:
        action = "updated"  # another run's comment is the one kept; it now holds ours
    elif created is None and (extra or keep.body != mine[0].body):
        action = "updated"
    return action, keep


def report_markdown(report_dir: Path) -> str:
    """report.md of a report directory, rendered from report.json when it is missing."""
    md = report_dir / "report.md"
    if md.is_file():
        return md.read_text(encoding="utf-8")
    from mlops_gates.report.markdown import render_markdown
    from mlops_gates.report.writer import read_report

    return render_markdown(read_report(report_dir))
