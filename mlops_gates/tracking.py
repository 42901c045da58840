"""Report -> MLflow run, and gate status tags on the candidate's model version.

Called from the edges (`mlops-gates check`, the pytest plugin's sessionfinish, `mlops-gates
log`) after the report is on disk; `run_gates` never talks to MLflow except to load models.
Everything sent is derived from `report.json` plus a few files prepared next to it (the
`mlflow/` folder of the report directory), so `mlops-gates log REPORT_DIR` can send the
same run later when MLflow was down. A failure never loses the report: it adds one
`tracking` verdict (`warn` or `error`, `tracking.on_failure`) and the report is rewritten.

Metric keys are documented in docs/mlflow.md and listed per run in `metric_keys.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_gates.errors import ConfigError, MlopsGatesError, TrackingError
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.report.writer import HtmlChoice, write_report
from mlops_gates.sources.mlflow import (
    MlflowConnection,
    client,
    connection_for,
    describe_failure,
    mlflow_session,
    redact,
)

if TYPE_CHECKING:
    from mlops_gates.config import Config, TrackingConfig

__all__ = [
    "TrackingOutcome",
    "ci_context",
    "component",
    "log_saved_report",
    "metric_keys",
    "prepare",
    "run_description",
    "run_url",
    "track",
    "tracking_enabled",
    "upload",
    "verdict_table",
    "with_tracking_failure",
    "without_tracking_failure",
]

TRACKING_ENV = "MLOPS_GATES_TRACKING"
ARTIFACTS = "mlflow"  # folder of the report directory holding the extra run artifacts
KEYS_FILE = "metric_keys.json"
PLOTS = "plots"  # artifact folder of the plots (SVG and PNG), when matplotlib is installed
VERDICTS_TABLE = "verdicts.json"  # the verdicts as an MLflow table (log_table)
TRACKING_GATE = "mlflow-tracking"

# MLflow's own limits per log_batch call.
_METRICS_PER_BATCH = 1000
_PARAMS_TAGS_PER_BATCH = 100
_PARAM_MAX = 6000
_TAG_MAX = 8000


@dataclass(frozen=True)
class TrackingOutcome:
    """What became of one attempt to log a report to MLflow, for the caller to print and
    for the `tracking` verdict: logged (with the run's ids and link), disabled, or failed."""

    status: Literal["logged", "disabled", "failed"]
    message: str
    run_id: str | None = None
    run_url: str | None = None
    experiment_id: str | None = None
    seconds: float = 0.0


def tracking_enabled(config: Config | None) -> tuple[bool, str]:
    """Is tracking on, and if not, who turned it off."""
    env = os.environ.get(TRACKING_ENV, "").strip().lower()
    if env in ("0", "off", "false", "no"):
        return False, f"{TRACKING_ENV}={os.environ[TRACKING_ENV]}"
    if config is not None and not config.tracking.enabled:
        return False, "tracking.enabled: false"
    return True, ""


def track(
    report: Report | dict[str, Any], report_dir: Path, config: Config | None
) -> tuple[dict[str, Any], TrackingOutcome]:
    """Log a written report as an MLflow run (when tracking is on) and rewrite the report
    with `context.mlflow`, or with a `tracking` verdict when MLflow failed."""
    doc = report.to_dict() if isinstance(report, Report) else report
    enabled, why = tracking_enabled(config)
    if not enabled:
        return doc, TrackingOutcome("disabled", f"MLflow tracking is off ({why})")
    settings = config.tracking if config is not None else _default_settings()
    prepare(doc, report_dir, config)
    conn = connection_for(config)
    try:
        outcome = upload(doc, report_dir, conn, settings, html=_html(config))
    except TrackingError as exc:
        doc = with_tracking_failure(doc, str(exc), settings, conn, report_dir)
        write_report(doc, report_dir, html=_html(config))
        return doc, TrackingOutcome("failed", str(exc))
    return doc, outcome


def _html(config: Config | None) -> HtmlChoice:
    """The config's `report.html` (the `check --html` flag is already in it), for every
    rewrite of the report directory."""
    return config.report.html if config is not None else "auto"


def _default_settings() -> TrackingConfig:
    from mlops_gates.config import TrackingConfig

    return TrackingConfig()


def with_tracking_failure(
    doc: dict[str, Any],
    message: str,
    settings: TrackingConfig,
    conn: MlflowConnection,
    report_dir: Path,
) -> dict[str, Any]:
    """The report plus one verdict saying the run was not logged, and how to log it later."""
    error = settings.on_failure == "error"
    result = GateResult(
        id=TRACKING_GATE,
        gate=TRACKING_GATE,
        kind="tracking",
        status="error" if error else "warn",
        severity="block" if error else "warn",
        reason="tracking_failed",
        message=f"the run was not logged to MLflow: {message}. The report is complete; "
        f"upload it later with `mlops-gates log {report_dir}`",
        details={"tracking_uri": conn.display_uri, "on_failure": settings.on_failure},
    )
    return _with_gates(doc, [*_gates_without_tracking(doc), result])


def without_tracking_failure(doc: dict[str, Any]) -> dict[str, Any]:
    """The report as it was before a failed upload added its verdict."""
    return _with_gates(doc, _gates_without_tracking(doc))


def _gates_without_tracking(doc: dict[str, Any]) -> list[GateResult]:
    report = Report.from_dict(doc)
    return [g for g in report.gates if g.kind != "tracking"]


def _with_gates(doc: dict[str, Any], gates: list[GateResult]) -> dict[str, Any]:
    report = Report.from_dict(doc)
    status = Report.overall_status(gates, report.errors)
    return replace(report, gates=gates, status=status).to_dict()


# -- preparing: local only, so a later `mlops-gates log` sends the same run ----------------


def prepare(doc: dict[str, Any], report_dir: Path, config: Config | None) -> None:
    """Add the CI context to the report and write the extra artifacts (config, schemas,
    schema failure cases, metric key map) into `<report_dir>/mlflow/`. No network."""
    context = doc.setdefault("context", {})
    context.setdefault("ci", ci_context())
    folder = report_dir / ARTIFACTS
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        keys = metric_keys(doc)
        (folder / KEYS_FILE).write_text(json.dumps(keys, indent=2) + "\n", encoding="utf-8")
        for g in doc.get("gates", []):
            failures = (g.get("details") or {}).get("failures")
            if g.get("kind") == "schema" and failures:
                name = f"{component(str(g['id']))}.failure_cases.json"
                text = json.dumps(failures, indent=2, default=str) + "\n"
                (folder / "schema").mkdir(exist_ok=True)
                (folder / "schema" / name).write_text(text, encoding="utf-8")
        if config is not None and config.source is not None:
            (folder / "config").mkdir(exist_ok=True)
            shutil.copy2(config.source, folder / "config" / config.source.name)
            _copy_schemas(config, folder / "schema")
        _write_plots(doc, folder / PLOTS)
    except OSError as exc:
        raise MlopsGatesError(
            f"{folder}: cannot write the MLflow artifacts ({exc.strerror or exc})"
        ) from None
    write_report(doc, report_dir, html=_html(config))


def _write_plots(doc: dict[str, Any], folder: Path) -> None:
    from mlops_gates.report.plots import plots_available, write_plots

    if not plots_available():
        return
    try:
        write_plots(doc, folder)
    except OSError:
        raise
    except Exception as exc:  # a picture that fails must not cost the run its tracking
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "NOT_DRAWN.txt").write_text(f"plots could not be drawn: {exc}\n")


def verdict_table(doc: dict[str, Any]) -> dict[str, list[Any]]:
    """The verdicts as columns, for `log_table`: one row per verdict, comparable across
    slices and runs in the MLflow UI's evaluation view."""
    from mlops_gates.gates.result import slice_label

    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "id", "gate", "kind", "status", "severity", "metric", "slice", "observed",
            "ci_low", "ci_high", "bound_min", "bound_max", "support", "message",
        )
    }  # fmt: skip
    for g in doc.get("gates", []):
        ci = g.get("ci") or [None, None]
        bound = g.get("bound") or {}
        row = {
            **{k: g.get(k) for k in ("id", "gate", "kind", "status", "severity", "metric")},
            "slice": slice_label(g.get("slice")),
            "observed": g.get("observed"),
            "ci_low": ci[0],
            "ci_high": ci[1],
            "bound_min": bound.get("min"),
            "bound_max": bound.get("max"),
            "support": g.get("support"),
            "message": g.get("message"),
        }
        for k, v in row.items():
            columns[k].append(v)
    return columns


_NOTE_PROBLEMS = 15  # verdicts listed in the run description; the table has them all


def run_description(doc: dict[str, Any]) -> str:
    """The run's description (`mlflow.note.content`, Markdown): the outcome, what needs a
    look, and where the pictures are."""
    from mlops_gates._text import clean

    s = doc.get("summary") or {}
    gates = doc.get("gates", [])
    counts = ", ".join(f"{s.get(k, 0)} {k}" for k in ("pass", "fail", "warn", "error", "skip"))
    lines = [
        f"**mlops-gates: {str(doc.get('status')).upper()}**: {counts} "
        f"({len(gates)} verdicts of {len({g.get('gate') for g in gates})} gates).",
        "",
    ]
    problems = [g for g in gates if g.get("status") in ("fail", "error", "warn")]
    problems.sort(key=lambda g: -_RANK[g["status"]])
    if problems:
        lines.append("Needs a look:")
        lines += [
            f"- {g['status']}: {clean(g.get('message') or g.get('id'), 300)}"
            for g in problems[:_NOTE_PROBLEMS]
        ]
        if len(problems) > _NOTE_PROBLEMS:
            lines.append(f"- … and {len(problems) - _NOTE_PROBLEMS} more in `{VERDICTS_TABLE}`")
        lines.append("")
    lines.append(
        f"Artifacts: `report.html` (plots and a filterable table), `{PLOTS}/`, "
        f"`{VERDICTS_TABLE}` (every verdict), `report.json` (the canonical report)."
    )
    return "\n".join(lines)[:_TAG_MAX]


def _copy_schemas(config: Config, folder: Path) -> None:
    from mlops_gates.config import SchemaGate

    for gate in config.gates:
        if not isinstance(gate, SchemaGate):
            continue
        path = config.resolve(gate.schema_)
        if path.is_file():
            folder.mkdir(exist_ok=True)
            shutil.copy2(path, folder / f"{component(gate.id)}{path.suffix or '.yaml'}")


def ci_context() -> dict[str, Any] | None:
    """GitHub Actions' standard variables: commit, branch, pull request, workflow run."""
    env = os.environ
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = env.get("GITHUB_REPOSITORY")
    run_id = env.get("GITHUB_RUN_ID")
    run_url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None
    if run_url and env.get("GITHUB_RUN_ATTEMPT"):
        run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    return {
        "provider": "github",
        "sha": env.get("GITHUB_SHA"),
        # On pull_request events GITHUB_REF_NAME is "123/merge"; the branch is the head.
        "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME"),
        "pr": _pr_number(),
        "repository": repo,
        "repository_url": f"{server}/{repo}" if repo else None,
        "workflow": env.get("GITHUB_WORKFLOW"),
        "event": env.get("GITHUB_EVENT_NAME"),
        "run_url": run_url,
    }


def _pr_number() -> int | None:
    match = re.fullmatch(r"refs/pull/(\d+)/(merge|head)", os.environ.get("GITHUB_REF", ""))
    if match:
        return int(match.group(1))
    path = os.environ.get("GITHUB_EVENT_PATH")
    if path:
        try:
            event = json.loads(Path(path).read_text(encoding="utf-8"))
            number = (event.get("pull_request") or {}).get("number")
            return int(number) if number is not None else None
        except (OSError, ValueError, TypeError, AttributeError):
            return None
    return None


# -- metric keys --------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9_\-. ]")
_MAX_COMPONENT = 60


def component(text: str, *, dots: bool = True) -> str:
    """One path component of a metric or tag key. MLflow allows letters, digits and
    `_ - . / space` (colons too, but not on Windows); `/` separates components here. Any
    change to the text (another character, `.` where `dots` is off, a name too long, a
    bare `.` or `..`) appends 6 hex digits of its sha256, so distinct values stay distinct."""
    clean = _SAFE.sub("_", text)
    if not dots:
        clean = clean.replace(".", "_")
    lossy = clean != text or clean.strip() != clean or clean in ("", ".", "..")
    if len(clean) > _MAX_COMPONENT:
        clean, lossy = clean[:_MAX_COMPONENT], True
    if not lossy:
        return clean
    tag = hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]
    return f"{clean.strip() or '_'}-{tag}"


def _segments(g: dict[str, Any]) -> list[str]:
    gate, rid, slc = str(g["gate"]), str(g["id"]), g.get("slice")
    parts = [component(gate)]
    if slc:
        for col, value in slc.items():
            shown = "<missing>" if value is None else str(value)
            # Column names carry no dot, so the first dot always ends the column name.
            parts.append(f"{component(str(col), dots=False)}.{component(shown)}")
    elif rid != gate:
        inner = rid[len(gate) + 1 : -1] if rid.startswith(gate + "[") and rid.endswith("]") else rid
        parts.append(component(inner))
    return parts


def _stats(g: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    if g.get("observed") is not None:
        out["observed"] = float(g["observed"])
    ci = g.get("ci")
    if ci and ci[0] is not None:
        out["ci_low"] = float(ci[0])
    if ci and ci[1] is not None:
        out["ci_high"] = float(ci[1])
    if g.get("support") is not None:
        out["support"] = float(g["support"])
    details = g.get("details") or {}
    if g.get("kind") == "baseline":
        for name in ("candidate", "baseline"):
            value = details.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[name] = float(value)
    return out


def metric_keys(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every metric key of a report's run -> the verdict and number it holds.

    `<gate>/<stat>` for the whole data, `<gate>/<column>.<value>[/<column>.<value>]/<stat>`
    for a slice, `<gate>/<part>/<stat>` for other sub-verdicts (staleness `model`, ...);
    stats: observed, ci_low, ci_high, support (baseline gates: candidate, baseline too)."""
    out: dict[str, dict[str, Any]] = {}
    for g in doc.get("gates", []):
        if g.get("kind") == "tracking":
            continue
        base = "/".join(_segments(g))
        for stat, value in _stats(g).items():
            key = f"{base}/{stat}"
            if key in out and out[key]["verdict"] != g["id"]:
                # Two verdicts that read the same after cleaning: tell them apart.
                tag = hashlib.sha256(str(g["id"]).encode("utf-8")).hexdigest()[:6]
                key = f"{base}-{tag}/{stat}"
            out[key] = {"verdict": g["id"], "gate": g["gate"], "stat": stat, "value": value}
    for status, n in (doc.get("summary") or {}).items():
        out[f"mlops_gates.summary.{status}"] = {"verdict": None, "stat": status, "value": n}
    rows = ((doc.get("context") or {}).get("data") or {}).get("rows")
    if rows is not None:
        out["mlops_gates.data.rows"] = {"verdict": None, "stat": "rows", "value": rows}
    return out


# -- uploading ----------------------------------------------------------------------------


class _Budget:
    """Bounds the whole tracking step; checked between requests (each has its own timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.t0 = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def check(self, doing: str) -> None:
        if self.elapsed > self.seconds:
            raise TrackingError(
                f"gave up after {self.elapsed:.0f} s while {doing} (tracking.max_duration "
                f"is {self.seconds:g} s)"
            )


def upload(
    doc: dict[str, Any],
    report_dir: Path,
    conn: MlflowConnection,
    settings: TrackingConfig,
    *,
    fail_orphans: bool = False,
    html: HtmlChoice = "auto",
) -> TrackingOutcome:
    """Send a prepared report to MLflow as one run; rewrites the report with
    `context.mlflow` (its page drawn as `html` says: the config's `report.html`). Raises
    TrackingError with one sentence when MLflow fails. With `fail_orphans` (`mlops-gates
    log`), runs of this same report left RUNNING by an upload that died are marked FAILED
    first."""
    budget = _Budget(settings.max_duration)
    run_id: str | None = None
    orphans: list[str] = []
    doing = "importing mlflow"
    try:
        with mlflow_session(conn):
            from mlflow.entities import Metric, Param, RunTag

            doing = "opening the tracking store"
            c = client(conn)
            doing = "finding the experiment"
            experiment_id, parent = _experiment(c, doc, settings, conn)
            budget.check(doing)
            if fail_orphans:
                doing = "marking runs of this report left RUNNING as FAILED"
                orphans = _fail_orphans(c, experiment_id, doc)
                budget.check(doing)
            doing = "creating the run"
            run = c.create_run(experiment_id, run_name=_run_name(doc), tags=_run_tags(doc, parent))
            run_id = str(run.info.run_id)
            budget.check(doing)
            context = doc.setdefault("context", {})
            context["mlflow"] = {
                "tracking_uri": conn.display_uri,
                "run_id": run_id,
                "experiment_id": str(experiment_id),
            }
            url = run_url(conn.tracking_uri, str(experiment_id), run_id)
            if url:
                context["mlflow"]["run_url"] = url
            write_report(doc, report_dir, html=html)

            now = int(time.time() * 1000)
            metrics = [Metric(k, float(v["value"]), now, 0) for k, v in metric_keys(doc).items()]
            params = [Param(k, v) for k, v in _params(doc).items()]
            tags = [RunTag(k, v) for k, v in _gate_tags(doc).items()]
            doing = "logging metrics, parameters and tags"
            for i in range(0, max(len(metrics), 1), _METRICS_PER_BATCH):
                c.log_batch(run_id, metrics=metrics[i : i + _METRICS_PER_BATCH], synchronous=True)
                budget.check(doing)
            for i in range(0, max(len(params), len(tags)), _PARAMS_TAGS_PER_BATCH):
                c.log_batch(
                    run_id,
                    params=params[i : i + _PARAMS_TAGS_PER_BATCH],
                    tags=tags[i : i + _PARAMS_TAGS_PER_BATCH],
                    synchronous=True,
                )
                budget.check(doing)
            dataset = _dataset_input(doc)
            if dataset is not None:
                doing = "logging the evaluation data as a dataset input"
                c.log_inputs(run_id, datasets=[dataset])
                budget.check(doing)
            doing = "uploading the report artifacts"
            for name in ("report.json", "report.md", "report.html"):
                if name == "report.html" and not (report_dir / name).exists():
                    continue  # matplotlib missing: no page (report.md says how to get it)
                c.log_artifact(run_id, str(report_dir / name))
                budget.check(doing)
            extra = report_dir / ARTIFACTS
            if extra.is_dir():
                c.log_artifacts(run_id, str(extra))
                budget.check(doing)
            doing = "logging the verdict table"
            import warnings

            with warnings.catch_warnings():
                # MLflow's own select_dtypes("object") warns under pandas 3; nothing to fix here.
                warnings.filterwarnings("ignore", message=".*'str' dtypes are included")
                c.log_table(run_id, data=verdict_table(doc), artifact_file=VERDICTS_TABLE)
            budget.check(doing)
            doing = "finishing the run"
            c.set_terminated(run_id, "FINISHED")
            doing = "tagging the candidate's model version"
            _tag_model_version(c, doc, run_id, settings)
    except TrackingError:
        _abandon(conn, run_id, doc, report_dir)
        raise
    except Exception as exc:
        _abandon(conn, run_id, doc, report_dir)
        raise TrackingError(f"{describe_failure(exc, conn)} (while {doing})") from None
    ml = doc["context"]["mlflow"]
    note = ""
    if orphans:
        note = (
            f"; marked {len(orphans)} earlier upload(s) of this report that never finished "
            f"FAILED: {', '.join(orphans)}"
        )
    return TrackingOutcome(
        "logged",
        f"MLflow run {ml['run_id']} ({ml.get('run_url') or conn.display_uri}){note}",
        run_id=ml["run_id"],
        run_url=ml.get("run_url"),
        experiment_id=ml["experiment_id"],
        seconds=budget.elapsed,
    )


def _fail_orphans(c: Any, experiment_id: str, doc: dict[str, Any]) -> list[str]:
    """Mark FAILED the runs of this report (same `mlops_gates.started_at` tag, which
    `create_run` sets first) still RUNNING: an upload that died (MLflow killed, the job
    cancelled) leaves one with metrics and no artifacts, and nothing else ever ends it."""
    started = str(doc.get("started_at"))
    if "'" in started:  # not a timestamp mlops-gates wrote; never build a filter from it
        return []
    query = f"attributes.status = 'RUNNING' and tags.`mlops_gates.started_at` = '{started}'"
    found = c.search_runs([experiment_id], filter_string=query, max_results=100)
    failed = []
    for run in found:
        c.set_terminated(run.info.run_id, "FAILED")
        failed.append(str(run.info.run_id))
    return failed


def _abandon(conn: MlflowConnection, run_id: str | None, doc: dict[str, Any], where: Path) -> None:
    """A half-logged run is marked FAILED (when MLflow still answers) and forgotten by the
    report, so that `mlops-gates log` creates a complete one."""
    (doc.get("context") or {}).pop("mlflow", None)
    if run_id is None:
        return
    try:
        with mlflow_session(replace(conn, retries=0, timeout=min(conn.timeout or 3.0, 3.0))):
            client(conn).set_terminated(run_id, "FAILED")
    except Exception:
        pass  # MLflow is the problem being reported already


def _experiment(
    c: Any, doc: dict[str, Any], settings: TrackingConfig, conn: MlflowConnection
) -> tuple[str, str | None]:
    """(experiment id, parent run id): the candidate's training experiment when nesting."""
    cand = _candidate(doc)
    nested = settings.nest and cand.get("source") == "mlflow"
    if nested and cand.get("run_id") and cand.get("experiment_id"):
        return str(cand["experiment_id"]), str(cand["run_id"])
    exp = c.get_experiment_by_name(settings.experiment)
    if exp is not None:
        return str(exp.experiment_id), None
    try:
        return str(c.create_experiment(settings.experiment, _artifact_location(conn))), None
    except Exception as exc:
        # Another run created it in the meantime.
        exp = c.get_experiment_by_name(settings.experiment)
        if exp is None:
            raise exc from None
        return str(exp.experiment_id), None


def _artifact_location(conn: MlflowConnection) -> str | None:
    """Next to a SQLite store, in `mlartifacts/`. MLflow's default is ./mlruns in the working
    directory, and an ./mlruns folder changes MLflow's default tracking URI for every other
    tool in the project."""
    prefix = "sqlite:///"
    if not conn.tracking_uri.startswith(prefix):
        return None
    db = Path(conn.tracking_uri[len(prefix) :])
    return (db.parent / "mlartifacts").as_uri() if db.is_absolute() else None


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI, credentials removed, so the report and the job
    summary can link it; None when the store is not a server (nothing to open)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{redact(tracking_uri).rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def _candidate(doc: dict[str, Any]) -> dict[str, Any]:
    return ((doc.get("context") or {}).get("models") or {}).get("candidate") or {}


def _run_name(doc: dict[str, Any]) -> str:
    cand = _candidate(doc)
    if cand.get("name") and cand.get("version"):
        label = f"{cand['name']} v{cand['version']}"
    elif cand.get("path"):
        label = Path(str(cand["path"])).name
    elif cand.get("predictions"):
        label = f"column {cand['predictions']}"
    else:
        label = str(cand.get("uri") or "candidate")
    return f"gates {label}"[:250]


def _run_tags(doc: dict[str, Any], parent: str | None) -> dict[str, str]:
    ctx = doc.get("context") or {}
    ci = ctx.get("ci") or {}
    fp = doc.get("fingerprint") or {}
    tags: dict[str, str] = {
        "mlops_gates.status": str(doc.get("status")),
        "mlops_gates.version": str((ctx.get("tool") or {}).get("version", "")),
        "mlops_gates.started_at": str(doc.get("started_at")),
        "mlflow.note.content": run_description(doc),  # the run's description in the UI
    }
    sha = ci.get("sha") or fp.get("code")
    if sha:
        tags["mlflow.source.git.commit"] = str(sha)
        tags["mlops_gates.git.sha"] = str(sha)
    optional = {
        "mlflow.source.git.branch": ci.get("branch"),
        "mlflow.source.git.repoURL": ci.get("repository_url"),
        "mlops_gates.git.branch": ci.get("branch"),
        "mlops_gates.github.pr": ci.get("pr"),
        "mlops_gates.github.run_url": ci.get("run_url"),
        "mlops_gates.github.repository": ci.get("repository"),
        "mlops_gates.github.workflow": ci.get("workflow"),
        "mlops_gates.github.event": ci.get("event"),
        "mlflow.parentRunId": parent,
    }
    tags.update({k: str(v)[:_TAG_MAX] for k, v in optional.items() if v is not None})
    cand = _candidate(doc)
    for key in ("name", "version", "alias", "uri"):
        if cand.get(key) is not None:
            tags[f"mlops_gates.candidate.{key}"] = str(cand[key])[:_TAG_MAX]
    return tags


_RANK = {"error": 4, "fail": 3, "warn": 2, "skip": 1, "pass": 0}


def _gate_tags(doc: dict[str, Any]) -> dict[str, str]:
    """One tag per configured gate: its worst verdict (error > fail > warn > skip > pass)."""
    worst: dict[str, str] = {}
    for g in doc.get("gates", []):
        key = f"mlops_gates.gate.{component(str(g['gate']))}"
        if key not in worst or _RANK[g["status"]] > _RANK[worst[key]]:
            worst[key] = g["status"]
    return worst


def _params(doc: dict[str, Any]) -> dict[str, str]:
    ctx = doc.get("context") or {}
    fp = doc.get("fingerprint") or {}
    params: dict[str, Any] = {
        "fingerprint.config": fp.get("config"),
        "fingerprint.data": fp.get("data"),
        "fingerprint.code": fp.get("code"),
        "config.path": ctx.get("config_path"),
        "data.path": (ctx.get("data") or {}).get("path"),
        "task.type": (ctx.get("task") or {}).get("type"),
        "task.label": (ctx.get("task") or {}).get("label"),
    }
    for role, digest in (fp.get("models") or {}).items():
        params[f"fingerprint.model.{component(str(role))}"] = digest
    for role, info in (ctx.get("models") or {}).items():
        info = info or {}
        ref = info.get("uri") or info.get("ref") or info.get("path") or info.get("predictions")
        params[f"model.{component(str(role))}"] = ref
        if info.get("resolved_uri"):
            params[f"model.{component(str(role))}.resolved_uri"] = info["resolved_uri"]
    for key, value in (ctx.get("statistics") or {}).items():
        params[f"statistics.{component(str(key))}"] = value
    return {k: str(v)[:_PARAM_MAX] for k, v in params.items() if v is not None}


def _dataset_input(doc: dict[str, Any]) -> Any:
    """The evaluation file as a dataset input, identified by its sha256. A file-based
    dataset costs nothing; mlflow.data.from_pandas infers a schema over every row (1.4 s
    for 16k rows, 39 s for 1M measured here) and digests only the first 10,000 rows."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    ctx = doc.get("context") or {}
    data = ctx.get("data") or {}
    digest = (doc.get("fingerprint") or {}).get("data")
    if not data.get("path") or not digest:
        return None
    path = Path(str(data["path"]))
    # MLflow keeps at most 36 characters of a digest; the full sha256 is a parameter.
    short = str(digest).removeprefix("sha256:")[:32]
    profile = json.dumps({"num_rows": data.get("rows"), "sha256": str(digest)})
    dataset = Dataset(
        name=path.name[:500],
        digest=short,
        source_type="local",
        source=json.dumps({"uri": path.as_uri() if path.is_absolute() else str(path)}),
        schema=None,
        profile=profile,
    )
    return DatasetInput(dataset=dataset, tags=[InputTag("mlflow.data.context", "evaluation")])


def _tag_model_version(c: Any, doc: dict[str, Any], run_id: str, settings: TrackingConfig) -> None:
    cand = _candidate(doc)
    if not settings.tag_model_version or cand.get("source") != "mlflow":
        return
    if not cand.get("name") or not cand.get("version"):
        return
    tags = {
        "mlops_gates.status": str(doc.get("status")),
        "mlops_gates.report_run_id": run_id,
        "mlops_gates.config_digest": str((doc.get("fingerprint") or {}).get("config")),
    }
    for key, value in tags.items():
        c.set_model_version_tag(str(cand["name"]), str(cand["version"]), key, value)


# -- `mlops-gates log` --------------------------------------------------------------------


def log_saved_report(
    report_dir: Path,
    *,
    config_path: Path | None = None,
    uri: str | None = None,
    experiment: str | None = None,
    force: bool = False,
) -> tuple[dict[str, Any], TrackingOutcome]:
    """Upload a report written earlier (MLflow was down, or tracking was off) as a run, and
    rewrite it with `context.mlflow`. Raises TrackingError (MLflow failed) or
    MlopsGatesError (no usable report)."""
    from mlops_gates.config import load_config
    from mlops_gates.report.writer import read_report

    doc = read_report(report_dir)
    done = (doc.get("context") or {}).get("mlflow") or {}
    if done.get("run_id") and not force:
        return doc, TrackingOutcome(
            "logged",
            f"already logged as MLflow run {done['run_id']} at {done.get('tracking_uri')}; "
            f"pass --force to log it again",
            run_id=done["run_id"],
            run_url=done.get("run_url"),
            experiment_id=done.get("experiment_id"),
        )
    config: Config | None = None
    recorded = (doc.get("context") or {}).get("config_path")
    if config_path is not None:
        config = load_config(config_path)  # asked for by name: a problem is a usage error
    elif recorded and Path(recorded).is_file():
        try:
            config = load_config(recorded)
        except ConfigError:
            config = None  # it changed since; the report holds everything that is sent
    settings = config.tracking if config is not None else _default_settings()
    if experiment:
        settings = settings.model_copy(update={"experiment": experiment})
    base = config.source.parent if config is not None and config.source else None
    conn = connection_for(config, base, uri=uri)
    original = json.loads(json.dumps(doc))
    doc = without_tracking_failure(doc)
    (doc.get("context") or {}).pop("mlflow", None)
    if not (report_dir / ARTIFACTS / KEYS_FILE).is_file():
        prepare(doc, report_dir, config)  # tracking was off when the report was written
    try:
        outcome = upload(doc, report_dir, conn, settings, fail_orphans=True, html=_html(config))
    except TrackingError:
        write_report(original, report_dir, html=_html(config))  # as it was: the failure stays
        raise
    return doc, outcome
