"""The running monitor state kept in MLflow (`monitor.store: mlflow`), where the team keeps
its runs already: a scheduled monitor job then needs no write access to the repository.

One MLflow run per deployed model version, in the experiment `monitor.experiment`, tagged
with the model (`mlops_gates.monitor.model`, and its registry name and version when
known). Each monitor run reads the newest state at its start and adds a new artifact at
its end, ``monitor-state/<revision>-<id>.json``; the tag ``mlops_gates.monitor.head`` names
the newest. Artifacts are never overwritten, so every step of the sequence stays
inspectable in the MLflow UI.

Two monitor runs at once would both extend the same revision; the second to finish would
replace the first's counts. So nothing is lost silently:

- at the end, a run whose head moved since it read it (another run wrote meanwhile) does
  not write, and says so (its verdicts stand for its own report);
- should two runs pass that check in the same instant, both artifacts carry the same
  revision number, and the next run names the one left out of the sequence.

A model version seen for the first time starts a new sequence, carrying over from the
newest run of the same registered model which rows were already counted (rows up to then
were served by the older version).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.sources.mlflow import MlflowConnection

__all__ = ["FIX", "TAG", "MlflowState", "Opened", "open_state", "save_state"]

TAG = "mlops_gates.monitor"
FOLDER = "monitor-state"
FIX = "the next run writes a good one"


@dataclass(frozen=True)
class MlflowState:
    """Where one model version's sequence lives in MLflow, and what this run read."""

    conn: MlflowConnection
    experiment: str
    run_id: str
    head: str | None  # the artifact read (None: the sequence starts with this run)
    revision: int
    notes: tuple[str, ...] = ()  # said on stderr and in the report, never an error

    @property
    def where(self) -> str:
        """The state's address for messages and the report."""
        return f"MLflow run {self.run_id} (experiment {self.experiment!r}, {self.conn.display_uri})"


@dataclass(frozen=True)
class Opened:
    """What `open_state` found: the state document's text (None: start over, `why` says
    why), the newest row counted for an older version (with no text), where it lives."""

    text: str | None
    why: str | None
    through: str | None
    handle: MlflowState


def _model_tags(model: str | None, name: str | None, version: str | None) -> dict[str, str]:
    tags = {f"{TAG}.state": "1", f"{TAG}.model": model or "unknown"}
    if name:
        tags[f"{TAG}.model_name"] = name
    if version:
        tags[f"{TAG}.model_version"] = version
    return tags


def open_state(
    config: Config,
    *,
    model: str | None,
    name: str | None,
    version: str | None,
) -> Opened:
    """The state document of deployed `model` (registry `name` and `version` when known)
    to extend (`monitor_state.parse_state` reads it), or why there is none, and where to
    write it back. MLflow unreachable raises `MlopsGatesError` with one sentence:
    monitoring that cannot keep its state must not pretend to extend it."""
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.sources.mlflow import client, connection_for, describe_failure, mlflow_session
    from mlops_gates.tracking import experiment_id

    conn = connection_for(config)
    settings = config.monitor
    try:
        with mlflow_session(conn):
            c = client(conn)
            exp = experiment_id(c, settings.experiment, conn)
            runs = c.search_runs(
                [exp],
                filter_string=f"tags.`{TAG}.state` = '1'",
                order_by=["attributes.start_time DESC"],
                max_results=1000,
            )
            key = model or "unknown"
            mine = [r for r in runs if r.data.tags.get(f"{TAG}.model") == key]
            notes = list(_ephemeral(conn))
            if not mine:
                run = c.create_run(exp, tags=_model_tags(model, name, version), run_name=_name(key))
                c.set_terminated(run.info.run_id, "FINISHED")  # a holder, not a running job
                handle = MlflowState(conn, settings.experiment, run.info.run_id, None, 0, ())
                through = None
                before = [r for r in runs if name and r.data.tags.get(f"{TAG}.model_name") == name]
                if before:
                    old = before[0].data.tags
                    # Rows up to the old sequence's newest were served by the old version.
                    through = old.get(f"{TAG}.through") or None
                    why = (
                        f"{handle.where}: the deployed model changed from "
                        f"{old.get(f'{TAG}.model')} to {key}; the sequence starts over with "
                        "this run"
                    )
                else:
                    why = f"{handle.where}: no monitor state yet; the sequence starts with this run"
                return Opened(None, why, through, replace(handle, notes=tuple(notes)))
            run_id = mine[0].info.run_id
            if len(mine) > 1:
                notes.append(
                    f"{len(mine)} MLflow runs in experiment {settings.experiment!r} hold the "
                    f"state of {key}; the newest ({run_id}) is used"
                )
            head = mine[0].data.tags.get(f"{TAG}.head")
            handle = MlflowState(conn, settings.experiment, run_id, head, _revision(head))
            if head is None:
                why = f"{handle.where}: no monitor state yet; the sequence starts with this run"
                return Opened(None, why, None, replace(handle, notes=tuple(notes)))
            notes.extend(_left_out(c, handle))
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    local = c.download_artifacts(run_id, head, tmp)
                    text = Path(local).read_text(encoding="utf-8")
                except Exception as exc:
                    why = (
                        f"{handle.where}: its state artifact {head} cannot be read "
                        f"({describe_failure(exc, conn)}); the sequence starts over with this run"
                    )
                    return Opened(None, why, None, replace(handle, notes=tuple(notes)))
    except MlopsGatesError:
        raise
    except Exception as exc:
        raise MlopsGatesError(
            f"monitor.store: mlflow: cannot read the monitor state: {describe_failure(exc, conn)}"
        ) from None
    return Opened(text, None, None, replace(handle, notes=tuple(notes)))


def save_state(handle: MlflowState, text: str, *, runs: int, through: str | None) -> str | None:
    """Add the state document `text` (after `runs` runs, counted `through`) as the run's
    newest artifact, unless another monitor run wrote since
    this one read: then nothing is written and the sentence that says so is returned."""
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.sources.mlflow import client, describe_failure, mlflow_session

    conn = handle.conn
    try:
        with mlflow_session(conn):
            c = client(conn)
            head = c.get_run(handle.run_id).data.tags.get(f"{TAG}.head")
            if head != handle.head:
                return (
                    f"{handle.where}: not saved: another monitor run extended the sequence "
                    f"while this one ran (its head moved from {handle.head} to {head}); this "
                    "run's counts are not in the sequence (its verdicts stand for this report "
                    "only), and its rows after the other run's are counted by the next run. "
                    "Let scheduled runs queue (the starter workflow's `concurrency:`)"
                )
            name = f"{handle.revision + 1:06d}-{uuid.uuid4().hex[:8]}.json"
            with tempfile.TemporaryDirectory() as tmp:
                local = os.path.join(tmp, name)
                Path(local).write_text(text, encoding="utf-8")
                c.log_artifact(handle.run_id, local, artifact_path=FOLDER)
            tags = {
                f"{TAG}.head": f"{FOLDER}/{name}",
                f"{TAG}.runs": str(runs),
                f"{TAG}.through": through or "",
            }
            for key, value in tags.items():
                c.set_tag(handle.run_id, key, value)
    except Exception as exc:
        raise MlopsGatesError(
            f"monitor.store: mlflow: cannot save the monitor state to {handle.where}: "
            f"{describe_failure(exc, conn)}"
        ) from None
    return None


def _revision(head: str | None) -> int:
    """The revision number in an artifact name (0 when none or not ours)."""
    if head is None:
        return 0
    stem = head.rsplit("/", 1)[-1].split("-", 1)[0]
    return int(stem) if stem.isdigit() else 0


def _left_out(c: Any, handle: MlflowState) -> list[str]:
    """Artifacts of the head's revision (or later) that are not the head: written by a run
    that raced the head's writer. Named once: the next revision buries them."""
    try:
        names = [f.path for f in c.list_artifacts(handle.run_id, FOLDER)]
    except Exception:
        return []
    lost = sorted(n for n in names if n != handle.head and _revision(n) >= handle.revision)
    return [
        f"{handle.where}: {n} was written by a monitor run at the same time as {handle.head}; "
        "its counts are not in the sequence (it was extended from the other)"
        for n in lost
    ]


def _ephemeral(conn: MlflowConnection) -> list[str]:
    """In a CI job, a SQLite or file store lives in the job and vanishes with it."""
    local = conn.tracking_uri.startswith(("sqlite:", "file:")) or "://" not in conn.tracking_uri
    if os.environ.get("GITHUB_ACTIONS") == "true" and local:
        return [
            f"monitor.store: mlflow keeps the state in {conn.display_uri}, which this job "
            "discards: every scheduled run starts over. Set the repository variable "
            "MLFLOW_TRACKING_URI to your tracking server"
        ]
    return []


def _name(key: str) -> str:
    return f"monitor {key}"[:250]
