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

import json
import os
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
)
from mlops_gates.tracking_record import (
    PLOTS,
    VERDICTS_TABLE,
    _candidate,
    _dataset_input,
    _gate_tags,
    _params,
    _run_name,
    _run_tags,
    ci_context,
    component,
    metric_keys,
    run_description,
    run_url,
    verdict_table,
)

if TYPE_CHECKING:
    from mlops_gates.config import Config, TrackingConfig

__all__ = [
    "TrackingOutcome",
    "artifact_location",
    "ci_context",
    "component",
    "experiment_id",
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
TRACKING_GATE = "mlflow-tracking"

# MLflow's own limits per log_batch call.
_METRICS_PER_BATCH = 1000
_PARAMS_TAGS_PER_BATCH = 100


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


def _copy_schemas(config: Config, folder: Path) -> None:
    from mlops_gates.config import SchemaGate

    for gate in config.gates:
        if not isinstance(gate, SchemaGate):
            continue
        path = config.resolve(gate.schema_)
        if path.is_file():
            folder.mkdir(exist_ok=True)
            shutil.copy2(path, folder / f"{component(gate.id)}{path.suffix or '.yaml'}")


# -- metric keys --------------------------------------------------------------------------


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
    return experiment_id(c, settings.experiment, conn), None


def experiment_id(c: Any, name: str, conn: MlflowConnection) -> str:
    """The id of the experiment called `name`, created (artifacts beside a SQLite store)
    when missing. Runs may race to create it: the loser reads the winner's."""
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    try:
        return str(c.create_experiment(name, artifact_location(conn)))
    except Exception as exc:
        exp = c.get_experiment_by_name(name)  # another run created it in the meantime
        if exp is None:
            raise exc from None
        return str(exp.experiment_id)


def artifact_location(conn: MlflowConnection) -> str | None:
    """Next to a SQLite store, in `mlartifacts/`. MLflow's default is ./mlruns in the working
    directory, and an ./mlruns folder changes MLflow's default tracking URI for every other
    tool in the project."""
    prefix = "sqlite:///"
    if not conn.tracking_uri.startswith(prefix):
        return None
    db = Path(conn.tracking_uri[len(prefix) :])
    return (db.parent / "mlartifacts").as_uri() if db.is_absolute() else None


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
