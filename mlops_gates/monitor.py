"""Monitoring: the gates that watch a deployed model, run on recent production data.

The production table (the model's inputs and outputs as logged, with labels where they
have arrived) is cut to a time window and judged with the config's monitoring gates:
schema, drift, metric, fairness and staleness by default. Labels arrive late, so the
window is split the honest way:

- gates that read only the table (schema; drift on features; skew, which reads its own
  tables) see every row of the window (`gates.needs.needs_inputs` says which);
- gates that need the truth (metrics, fairness, staleness, drift on the model's output)
  see the rows whose label is present; with none, they are `skip` with the reason.

The window is handed to `run_gates` in memory; the rows judged are also written beside
the report for inspection, never read back.

The model judged is the deployed one (`deployed_model`): the version the deploy manifest
names (`--manifest`), else the deployment alias (`production`) of the registered model the
config's candidate names, never the config's challenger. Prediction columns logged by the
serving layer are the deployed model's output already and are judged as they are.

One report comes out (with `context.monitor`, saying whether retraining is warranted);
`mlops-gates monitor` (mlops_gates.cli.monitor) parses the options and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Report

__all__ = ["DEFAULT_KINDS", "DeployedModel", "Window", "cut_window", "deployed_model", "monitor"]

DEFAULT_KINDS = ("schema", "drift", "metric", "fairness", "staleness")
WINDOW_FILE = "window.parquet"
LABELED_FILE = "labeled.parquet"


@dataclass(frozen=True)
class DeployedModel:
    """Which model a monitoring run judges, and how that was decided (for the report)."""

    config: Config  # the config with `candidate` pointing at it
    uri: str | None  # a registry URI or file; None for logged prediction columns
    source: str  # manifest | alias | predictions | config
    note: str
    version: str | None = None  # "name/version" when a deploy manifest says which


def deployed_model(config: Config, *, manifest: Path | None, alias: str) -> DeployedModel:
    """The config's candidate replaced by the deployed version: the model the deploy
    manifest names, else the registered model's deployment `alias`. Logged prediction
    columns stay (they are what was served), and so does a model file (nothing says which
    version is deployed: the note says so)."""
    from mlops_gates.errors import ConfigError
    from mlops_gates.promote.manifest import load_manifest

    cand = config.candidate
    if manifest is not None:
        try:
            doc = load_manifest(manifest)
        except Exception as exc:  # PromotionError: unreadable or invalid, named by field
            raise ConfigError(f"--manifest: {exc}") from None
        model = doc["model"]
        uri = str(model["uri"])
        # Logged predictions do not say which version served them: the manifest does, and
        # that names (and resets) the anytime sequence as --model-version would.
        version = f"{model['name']}/{model['version']}"
        if cand.model is None:
            return DeployedModel(
                config,
                None,
                "predictions",
                f"the logged predictions ({cand.predictions!r}) of {model['name']} version "
                f"{model['version']} (deploy manifest {manifest})",
                version,
            )
        note = f"{model['name']} version {model['version']}, as deploy manifest {manifest} says"
        return DeployedModel(_with_candidate(config, uri), uri, "manifest", note, version)
    if cand.model is None:
        return DeployedModel(
            config, None, "predictions", f"the logged predictions ({cand.predictions!r})"
        )
    if cand.model.startswith("models:/"):
        from mlops_gates.sources.mlflow_models import parse_models_uri

        name = parse_models_uri(cand.model).name
        uri = f"models:/{name}@{alias}"
        note = f"the version that alias {alias!r} of {name} serves" + (
            f", not the config's candidate {cand.model}" if cand.model != uri else ""
        )
        return DeployedModel(_with_candidate(config, uri), uri, "alias", note)
    return DeployedModel(
        config,
        cand.model,
        "config",
        f"the config's candidate file {cand.model}: a file does not say whether it is "
        "deployed; register the model and deploy it, or pass --manifest",
    )


def _with_candidate(config: Config, uri: str) -> Config:
    candidate = config.candidate.model_copy(update={"model": uri})
    return config.model_copy(update={"candidate": candidate})


def _absent(config: Config, uri: str | None) -> str | None:
    """Why the deployed model's registry alias is not set (nothing deployed yet), or None."""
    if uri is None or "@" not in uri:
        return None
    from mlops_gates.config import ModelConfig
    from mlops_gates.sources.mlflow_models import absent_baseline, resolving

    # The baseline's look-up answers "is this alias set?" for any registry reference.
    probe = config.model_copy(update={"baseline": ModelConfig(model=uri)})
    with resolving(config):
        return absent_baseline(probe)


@dataclass(frozen=True)
class Window:
    """The production rows in the window, and those of them whose label has arrived."""

    frame: pd.DataFrame
    start: str | None
    end: str
    rows: int
    labeled: pd.DataFrame


def cut_window(
    frame: pd.DataFrame,
    *,
    label: str,
    time_column: str | None,
    window: str | None,
    now: datetime,
    source: str,
) -> Window:
    """The rows in the window, and those of them with a label."""
    import pandas as pd

    from mlops_gates.config import parse_duration
    from mlops_gates.errors import DataError

    start = None
    if time_column is not None and window is not None:
        if time_column not in frame.columns:
            raise DataError(
                f"{source}: column {time_column!r} (--time-column) not found; columns: "
                f"{', '.join(map(str, frame.columns[:20]))}"
            )
        try:
            stamps = pd.to_datetime(frame[time_column], utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{source}: column {time_column!r} (--time-column) does not hold timestamps ({exc})"
            ) from None
        begin = now - parse_duration(window)
        frame = frame[(stamps > begin) & (stamps <= now)].reset_index(drop=True)
        start = _iso(begin)
    has_label = frame[label].notna() if label in frame.columns else None
    labeled = frame[has_label].reset_index(drop=True) if has_label is not None else frame.iloc[0:0]
    return Window(frame, start, _iso(now), len(frame), labeled)


def monitor(
    config: Config,
    *,
    data: Path | None,
    time_column: str | None,
    window: str | None,
    now: datetime,
    gate_ids: list[str],
    report_dir: Path,
    guarantee: str | None = None,
    model_version: str | None = None,
    manifest: Path | None = None,
    alias: str = "production",
    store: str | None = None,
) -> Report:
    """Run the monitoring gates on the window, with the deployed model (`deployed_model`:
    the version `manifest` names, else the registered model's deployment `alias`); the
    report (not yet written). With ``guarantee`` (default: ``monitor.guarantee`` of the
    config) "anytime", the count metrics extend the running sequence kept in
    ``monitor.state`` (`monitor_state`), which belongs to ``model_version`` (default: the
    version `manifest` names, else the judged model's registry version or digest), kept in
    ``store`` (default:
    ``monitor.store``: the state file, or MLflow).

    ``context.monitor.outcome`` says what the run found: ``healthy``, ``retrain`` (a
    blocking gate failed or errored on data that was there), ``no_data`` (no rows in the
    window) or ``not_deployed`` (no deployed version to judge). Only ``retrain`` sets
    ``retrain``: retraining on no data, or with nothing deployed, fixes nothing."""
    from mlops_gates.config import DataConfig, DriftGate, SchemaGate
    from mlops_gates.gates.needs import needs_inputs
    from mlops_gates.gates.runner import evaluate
    from mlops_gates.sources.data import read_table

    chosen = _select(config, gate_ids)
    deployed = deployed_model(config, manifest=manifest, alias=alias)
    config = deployed.config
    path = Path(data) if data is not None else config.data_path
    fmt = None if data is not None else config.data.format
    frame = read_table(path, fmt)
    win = cut_window(
        frame,
        label=config.task.label,
        time_column=time_column,
        window=window,
        now=now,
        source=str(path),
    )
    anytime = (guarantee or config.monitor.guarantee) == "anytime"
    folder = report_dir / "monitor"
    folder.mkdir(parents=True, exist_ok=True)
    # The candidate as the gates loaded it: the estimates predict with the same object, so
    # an alias moved mid-run cannot make them describe another version than the report.
    loaded: list[Any] = []

    def run(rows: pd.DataFrame, gates: list[Any], name: str) -> Report:
        # The rows judged are kept beside the report (docs/monitor.md) and name the data
        # in it: context.data.path is that file, fingerprint.data the sha256 of its bytes.
        # They reach run_gates in memory, judged by the memory engine: they are in memory
        # already, having been read to cut the window.
        file = (folder / name).resolve()
        digest = _keep(rows, file)
        memory = config.backend.model_copy(update={"engine": "memory"})
        sub = config.model_copy(
            update={
                "data": DataConfig(path=file, format="parquet"),
                "gates": gates,
                "backend": memory,
            }
        )
        evaluation = evaluate(sub, table=rows)
        if evaluation.data is not None and evaluation.data.candidate_model is not None:
            loaded.append(evaluation.data.candidate_model)
        report = evaluation.report
        return replace(report, fingerprint={**report.fingerprint, "data": digest})

    skipped: list[GateResult] = []
    label = config.task.label
    absent = _absent(config, deployed.uri) if any(needs_inputs(g) for g in chosen) else None
    if absent is not None:
        absent = (
            f"nothing is deployed to monitor: {absent}. Deploy a version first "
            "(`mlops-gates deploy`), or name it with --manifest deploy/<model>.yaml"
        )
    if win.rows == 0:
        # Nothing to judge is itself a finding (is data still arriving?), never a pass:
        # every gate says so, so the summary counts what the exit status says.
        why = (
            f"{path}: no rows in the window ({time_column} after {win.start}, up to "
            f"{win.end}); is production data still arriving?"
            if window
            else f"{path}: the production data has no rows"
        )
        report = _merge([], [_not_judged(g, why, "no_rows") for g in chosen], config, [why])
    elif absent is not None and all(needs_inputs(g) for g in chosen):
        report = _merge(
            [], [_not_judged(g, absent, "not_deployed") for g in chosen], config, [absent]
        )
    elif len(win.labeled) == win.rows:
        if absent is not None:  # what reads only the table is still judged
            judged = [g for g in chosen if not needs_inputs(g)]
            skipped = [_not_judged(g, absent, "not_deployed") for g in chosen if needs_inputs(g)]
            report = _merge([run(win.frame, judged, WINDOW_FILE)], skipped, config, [absent])
        else:
            report = run(win.frame, chosen, WINDOW_FILE)
    else:
        table_gates: list[Any] = []
        truth_gates: list[Any] = []
        for g in chosen:
            if isinstance(g, SchemaGate):
                # The label of recent rows has not arrived: its missing values are expected
                # (its other checks still hold on the labels present).
                table_gates.append(
                    g.model_copy(update={"allow_missing": [*g.allow_missing, label]})
                )
            elif not needs_inputs(g):
                table_gates.append(g)
            elif isinstance(g, DriftGate):
                # Its features need no label; the model's output waits for labelled rows.
                table_gates.append(g.model_copy(update={"predictions": False}))
                skipped.append(_skip(g, f"{g.id}[predictions]", win, label))
            elif absent is not None:
                skipped.append(_not_judged(g, absent, "not_deployed"))
            else:
                truth_gates.append(g)
        parts = [run(win.frame, table_gates, WINDOW_FILE)] if table_gates else []
        if truth_gates and len(win.labeled):
            part = run(win.labeled, truth_gates, LABELED_FILE)
            waiting = win.rows - len(win.labeled)
            said = f" [on the {len(win.labeled)} labelled rows; {waiting} await their label]"
            told = [replace(g, message=g.message + said) for g in part.gates]
            parts.append(replace(part, gates=told))
        elif truth_gates:
            skipped.extend(_skip(g, g.id, win, label) for g in truth_gates)
        report = _merge(parts, skipped, config, [absent] if absent else None)
    if win.rows == 0:
        outcome = "no_data"
    elif absent is not None:
        outcome = "not_deployed"
    else:
        outcome = "healthy" if report.status == "pass" else "retrain"
    retrain_reasons = [
        f"{g.id}: {g.message}"
        for g in report.gates
        if g.blocking and g.message not in report.errors  # said once, below
    ]
    retrain_reasons += list(report.errors)
    estimates = None
    if absent is None and len(win.labeled) < win.rows:
        # Rows awaiting their label: CBPE estimates from the scores, never a verdict
        # (monitor_estimates says why); the real metric replaces them once labelled.
        from mlops_gates.monitor_estimates import estimate_unlabelled

        estimates = estimate_unlabelled(
            config, chosen, win.frame, path=path, model=loaded[0] if loaded else None
        )
    context = {
        **report.context,
        "monitor": {
            "data": str(path),
            "time_column": time_column,
            "window": window,
            "window_start": win.start,
            "window_end": win.end,
            "rows": win.rows,
            "labeled_rows": len(win.labeled),
            "unlabeled_rows": win.rows - len(win.labeled),
            "model": {"uri": deployed.uri, "source": deployed.source, "note": deployed.note},
            "outcome": outcome,
            "retrain": outcome == "retrain",
            "reasons": retrain_reasons,
            "guarantee": "anytime" if anytime else "fixed",
            "estimates": estimates.estimates if estimates else [],
            "estimates_note": estimates.note if estimates else None,
        },
    }
    report = replace(report, context=context)
    if not anytime:
        return report
    from mlops_gates.monitor_state import judge_over_time

    return judge_over_time(
        report,
        config,
        win.labeled,
        time_column=time_column,
        now=win.end,
        version=model_version or deployed.version,
        folder=folder,
        store=store,
    )


def _keep(rows: pd.DataFrame, file: Path) -> str:
    """Write `rows` to `file` as Parquet; the sha256 of the bytes written."""
    import hashlib
    import io

    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    file.write_bytes(data)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _select(config: Config, gate_ids: list[str]) -> list[Any]:
    from mlops_gates.errors import ConfigError

    by_id = {g.id: g for g in config.gates}
    if gate_ids:
        unknown = [i for i in gate_ids if i not in by_id]
        if unknown:
            raise ConfigError(
                f"{config.source}: no gate with id {', '.join(map(repr, unknown))} (--gate); "
                f"gates: {', '.join(by_id)}"
            )
        return [by_id[i] for i in gate_ids]
    chosen = [g for g in config.gates if g.kind in DEFAULT_KINDS]
    if not chosen:
        raise ConfigError(
            f"{config.source}: no gate to monitor with: add a drift, metric, fairness, schema "
            "or staleness gate, or name gates with --gate"
        )
    return chosen


def _skip(gate: Any, rid: str, win: Window, label: str) -> GateResult:
    from mlops_gates.gates.result import GateResult

    return GateResult(
        id=rid,
        gate=rid.split("[", 1)[0],
        kind=gate.kind,
        status="skip",
        severity=gate.severity,
        message=(
            f"not judged: {len(win.labeled)} of {win.rows} rows in the window have a label "
            f"({label!r})"
            + ("; drift of the model's output waits for labelled rows" if "[" in rid else "")
        ),
        reason="no_labels",
        support=len(win.labeled),
    )


def _not_judged(gate: Any, why: str, reason: str) -> GateResult:
    from mlops_gates.gates.common import error_result

    return replace(error_result(gate.id, gate.kind, gate.severity, why), reason=reason)


def _merge(
    parts: list[Report], skipped: list[GateResult], config: Config, errors: list[str] | None = None
) -> Report:
    from mlops_gates.gates.result import Report

    first = parts[0] if parts else None
    gates = [g for p in parts for g in p.gates] + skipped
    order = {g.id: i for i, g in enumerate(config.gates)}
    gates.sort(key=lambda g: order.get(g.gate, len(order)))
    errors = [*(errors or []), *(e for p in parts for e in p.errors)]
    now = _iso(datetime.now(UTC))
    fingerprint: dict[str, Any] = dict(first.fingerprint) if first else {}
    return Report(
        status=Report.overall_status(gates, errors),
        started_at=first.started_at if first else now,
        finished_at=parts[-1].finished_at if parts else now,
        fingerprint=fingerprint or {"config": None, "data": None, "code": None, "models": {}},
        gates=gates,
        errors=errors,
        context=dict(parts[-1].context) if parts else {"tool": _tool()},
    )


def _tool() -> dict[str, str]:
    from mlops_gates._version import __version__

    return {"name": "mlops-gates", "version": __version__}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
