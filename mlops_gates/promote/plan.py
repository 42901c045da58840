"""What a promotion will write, decided from report.json before GitHub is asked anything:
the manifest, the branch and title, the commit message, and the pull request body's facts
(reproduce command, MLflow links). Also the check that only a passing report is promoted.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from mlops_gates._version import DEFAULT_REPORT_DIR
from mlops_gates.errors import PromotionError
from mlops_gates.promote.body import BodyContext, promotion_marker, render_promotion_body
from mlops_gates.promote.manifest import DEFAULT_ALIAS, DEFAULT_DIR, build_manifest, manifest_path
from mlops_gates.report.links import report_ui

__all__ = [
    "Plan",
    "PromoteOptions",
    "check_passed",
    "make_plan",
    "mlflow_links",
    "mlflow_ui_from_env",
    "reproduce_lines",
]

BRANCH_PREFIX = "mlops-gates/promote"
# The commit status promote sets on the pull request's head (promote/status.py): the check
# to require in branch protection.
STATUS_CONTEXT = "mlops-gates/promotion"


@dataclass(frozen=True)
class PromoteOptions:
    """What to promote and how the pull request looks (the `promote` command's options)."""

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
    data_command: str | None = None  # fetches the evaluation data, in the reproduce command
    template: Path | None = None
    force: bool = False
    status_context: str | None = STATUS_CONTEXT  # None: set no commit status
    status_url: str | None = None  # the status's Details link (the CI run, the report)
    attestation: dict[str, Any] | None = None  # the signed bundle (attest.ref), if any


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

    def body(
        self,
        base: str,
        base_blob: str | None,
        *,
        live: dict[str, Any] | None = None,
        live_read: bool = False,
    ) -> str:
        """The pull request body for `base`, marked with the manifest blob it was prepared
        on; `live` is that manifest (what this replaces), `live_read` whether it was read."""
        marker = promotion_marker(self.ctx.model, self.ctx.version, base_blob)
        ctx = replace(self.ctx, base=base, marker=marker, live=live, live_read=live_read)
        return render_promotion_body(self.doc, ctx, template=self.options.template)


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
    """Decide everything a promotion of `doc`'s candidate writes (`now`: the promotion time,
    fixed by tests)."""
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
        attestation=options.attestation,
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
        reproduce=reproduce_lines(doc, options.config_path, options.data_command),
        # Without --mlflow-url, the UI the report's own MLflow records point to.
        links=mlflow_links(options.mlflow_url or report_ui(doc), run_ids, model, version, uri),
        run_ids=run_ids,
        attestation=options.attestation,
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


def reproduce_lines(
    doc: dict[str, Any], config_path: str | None, data_command: str | None = None
) -> list[str]:
    """Shell lines that rerun these gates on the same code, models and data: the commit,
    each registry model pinned to the version judged (an alias moves on), and each file
    the gates read checked against its digest, after `data_command` (what fetches data
    kept out of git) when there is one."""
    context = doc.get("context") or {}
    config_abs = context.get("config_path")
    cfg = config_path or _relative(config_abs)
    lines = []
    code = (doc.get("fingerprint") or {}).get("code")
    if code:
        lines.append(f"git checkout {shlex.quote(str(code))}")
    data = context.get("data") or {}
    digest = (doc.get("fingerprint") or {}).get("data")
    files = [(_beside(data.get("path"), config_abs, cfg), digest)]
    models = context.get("models") or {}
    files += [
        (_beside(m.get("path"), config_abs, cfg), m.get("digest"))
        for m in models.values()
        if isinstance(m, dict) and m.get("source") == "file"
    ]
    files = [(path, d) for path, d in files if path and _sha256(d)]
    if files:
        if data_command:
            lines.append("# the evaluation data, where git does not keep it")
            lines.append(data_command)
        else:
            lines.append("# files the gates read, as they were; not in git? fetch them first")
        for path, d in files:
            lines.append(f"echo {shlex.quote(f'{_sha256(d)}  {path}')} | sha256sum --check")
    cmd = ["mlops-gates", "check"]
    if cfg:
        cmd += ["--config", str(cfg)]
    for role in ("candidate", "baseline"):
        m = models.get(role)
        if not isinstance(m, dict) or m.get("source") != "mlflow":
            continue
        if m.get("name") and m.get("version") is not None:  # the version, not the alias
            cmd += [f"--{role}", f"models:/{m['name']}/{m['version']}"]
    cmd += ["--report-dir", str(DEFAULT_REPORT_DIR)]
    lines.append(shlex.join(cmd))
    return lines


def _sha256(digest: Any) -> str | None:
    """The hex of a `sha256:<hex>` digest of one file; None for anything else."""
    text = str(digest or "")
    hexpart = text.removeprefix("sha256:")
    ok = text.startswith("sha256:") and len(hexpart) == 64
    return hexpart if ok and all(c in "0123456789abcdef" for c in hexpart) else None


def _beside(path: Any, config_abs: Any, config_rel: str | None) -> str | None:
    """A file the report names, as typed from the repository root: relative to the
    config's folder there (absolute paths differ between runners), else as recorded.
    Folders (data sets of many files, digested together) are left out."""
    if not isinstance(path, str) or not path or not Path(path).suffix:
        return None
    p = Path(path)
    if p.is_absolute() and isinstance(config_abs, str) and Path(config_abs).is_absolute():
        try:
            inside = p.relative_to(Path(config_abs).parent)
        except ValueError:
            return _relative(path)
        return (Path(config_rel or ".").parent / inside).as_posix()
    return _relative(path)


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
    """Links into the MLflow UI at `ui` (runs, model version) for the pull request body;
    none without a UI. Credentials in `ui` never reach the links."""
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
    """$MLFLOW_TRACKING_URI when it is an http(s) server (its UI is at the same address)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None
