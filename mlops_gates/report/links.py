"""Where a report's MLflow records are: the model version it judged, the run that trained
it, the gates run that logged it, and their pages in the MLflow UI.

Everything comes from report.json, so a job that has no MLflow settings (the promote and
alert jobs of the starter workflows) still links the runs: the gates run's `run_url` names
the server it was logged to. An address given explicitly (`--mlflow-url`, an action's
`tracking-uri`) wins. Credentials in any address never reach a link.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["MlflowRecord", "mlflow_record", "report_ui", "ui_root"]

# What Markdown renders as nothing but a link: no spaces, brackets, quotes or markup.
_PLAIN_URL = re.compile(r"https?://[^\s<>()\[\]`\"'\\]+")


def ui_root(address: str | None) -> str | None:
    """`scheme://host[:port]/path` of an http(s) MLflow address, without credentials, query
    or fragment; None for anything else (a SQLite store has no UI to link)."""
    if not address:
        return None
    parts = urlsplit(address.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    root = urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))
    root = quote(root.rstrip("/"), safe=":/%-._~[]")
    return root if _PLAIN_URL.fullmatch(root) else None


def _context(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = (doc.get("context") or {}).get(key)
    return value if isinstance(value, dict) else {}


def report_ui(doc: Mapping[str, Any]) -> str | None:
    """The MLflow UI the report's own records point to: the server its gates run was
    logged to, else the registry server its candidate came from."""
    run_url = _context(doc, "mlflow").get("run_url")
    if isinstance(run_url, str) and "/#/" in run_url:
        root = ui_root(run_url.split("/#/", 1)[0])
        if root:
            return root
    candidate = _context(doc, "models").get("candidate")
    registry = candidate.get("registry_uri") if isinstance(candidate, dict) else None
    return ui_root(registry) if isinstance(registry, str) else None


@dataclass(frozen=True)
class MlflowRecord:
    """The MLflow side of a report: ids (None when unknown) and UI links (None when no UI
    is known). `model`/`version` are the registered candidate's."""

    model: str | None = None
    version: str | None = None
    training_run: str | None = None
    gates_run: str | None = None
    links: dict[str, str | None] = field(default_factory=dict)  # model_version, *_run

    @property
    def known(self) -> bool:
        """Anything to show at all."""
        return bool(self.version or self.training_run or self.gates_run)


def _s(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def mlflow_record(doc: Mapping[str, Any], ui: str | None = None) -> MlflowRecord:
    """The candidate's model version and runs in `doc`, linked into the UI at `ui` (an
    address given explicitly) or, without one, the UI the report itself points to."""
    candidate = _context(doc, "models").get("candidate") or {}
    registered = candidate.get("source") == "mlflow"
    model = _s(candidate.get("name")) if registered else None
    version = _s(candidate.get("version")) if registered else None
    training = _s(candidate.get("run_id")) if registered else None
    ml = _context(doc, "mlflow")
    gates = _s(ml.get("run_id"))
    root = ui_root(ui) if ui else report_ui(doc)
    links: dict[str, str | None] = {"model_version": None, "training_run": None, "gates_run": None}
    if root:
        if model and version:
            links["model_version"] = (
                f"{root}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"
            )
        if training:
            links["training_run"] = _run_link(root, _s(candidate.get("experiment_id")), training)
        run_url = ml.get("run_url")
        if gates and not ui and isinstance(run_url, str) and _PLAIN_URL.fullmatch(run_url):
            links["gates_run"] = run_url  # the page the tracking step recorded
        elif gates:
            links["gates_run"] = _run_link(root, _s(ml.get("experiment_id")), gates)
    return MlflowRecord(model, version, training, gates, links)


def _run_link(root: str, experiment: str | None, run: str) -> str:
    if experiment:
        return f"{root}/#/experiments/{quote(experiment, safe='')}/runs/{quote(run, safe='')}"
    return f"{root}/#/runs/{quote(run, safe='')}"
