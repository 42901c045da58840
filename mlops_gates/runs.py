"""The one ending of a gates run: write the report, log it to MLflow, say what came of it.

`mlops-gates check`, `mlops-gates monitor` and `pytest --mlops-gates` end the same way:
the report goes to disk first (whatever happens next, it is there), then to MLflow (MLflow
being down can cost a verdict, never the report), and one `RunOutcome` comes back that each
edge prints in its own voice and turns into its exit status.

Standard library only at import: the pytest plugin reads `DEFAULT_REPORT_DIR` from here and
must stay cheap while `--mlops-gates` is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gates._version import DEFAULT_REPORT_DIR

if TYPE_CHECKING:
    from mlops_gates.attest.auto import AutoSigned
    from mlops_gates.config import Config
    from mlops_gates.gates.result import Report
    from mlops_gates.tracking import TrackingOutcome

__all__ = ["DEFAULT_REPORT_DIR", "RunOutcome", "finish"]


@dataclass(frozen=True)
class RunOutcome:
    """What the ending of a run came to: the report as recorded, where it went, and what
    MLflow said. The verdict is derived here once; edges only print it and map it to their
    exit status."""

    report: Report
    doc: dict[str, Any]
    report_dir: Path
    write_error: str | None = None
    tracking: TrackingOutcome | None = None
    tracking_error: str | None = None
    on_failure: str = "warn"
    attestation: str | None = None  # where the automatic signature went, in words
    attestation_error: str | None = None  # a configured key could not sign: fails the run

    @property
    def written(self) -> bool:
        """report.json and report.md are on disk."""
        return self.write_error is None

    @property
    def passed(self) -> bool:
        """Every blocking gate passed and the report is on disk: the command exits 0."""
        return self.written and self.doc["status"] == "pass" and self.attestation_error is None

    @property
    def ending_failed(self) -> bool:
        """The ending itself cost the verdict: the report could not be written, or MLflow
        failed with `tracking.on_failure: error`, or a configured signing key could not
        sign. pytest adds this to its items' outcome, which already carry the gates'
        verdicts."""
        return not self.written or self.tracking_blocked or self.attestation_error is not None

    @property
    def tracking_blocked(self) -> bool:
        """MLflow failed and the config says that fails the run."""
        failed = self.tracking is not None and self.tracking.status == "failed"
        return failed and self.on_failure == "error"

    @property
    def written_line(self) -> str:
        """`report: DIR/report.json, DIR/report.md[, DIR/report.html]`, as the command
        line prints it: the page is named when this run wrote it (the writer removes an
        older run's page when it writes none)."""
        files = ["report.json", "report.md", "report.html"]
        return "report: " + ", ".join(
            f"{self.report_dir}/{name}" for name in files if (self.report_dir / name).exists()
        )


def finish(
    report: Report, report_dir: Path, config: Config, *, tag_model_version: bool = True
) -> RunOutcome:
    """Write `report` into `report_dir`, then log it to MLflow as `config.tracking` says.

    `tag_model_version=False` logs the run without touching the model version's
    `mlops_gates.status` tag: a monitoring run must not overwrite the promotion gates'
    verdict, which deploy checks. Problems become fields of the outcome, never exceptions.
    """
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.gates.result import Report as ReportType
    from mlops_gates.report.writer import write_report

    doc = report.to_dict()
    on_failure = config.tracking.on_failure
    try:
        write_report(report, report_dir, html=config.report.html)
    except MlopsGatesError as exc:
        return RunOutcome(report, doc, report_dir, write_error=str(exc), on_failure=on_failure)
    from mlops_gates.tracking import track

    if not tag_model_version:
        quiet = config.tracking.model_copy(update={"tag_model_version": False})
        config = config.model_copy(update={"tracking": quiet})
    try:
        doc, tracked = track(report, report_dir, config)
    except MlopsGatesError as exc:
        return RunOutcome(report, doc, report_dir, tracking_error=str(exc), on_failure=on_failure)
    signed = _sign(report_dir, doc, config) if tag_model_version else None
    return RunOutcome(
        ReportType.from_dict(doc),
        doc,
        report_dir,
        tracking=tracked,
        on_failure=on_failure,
        attestation=signed.line if signed else None,
        attestation_error=signed.error if signed else None,
    )


def _sign(report_dir: Path, doc: dict[str, Any], config: Config) -> AutoSigned | None:
    # After tracking, so the signed report is the one logged with its run id; never for a
    # monitoring run (tag_model_version=False), which decides no promotion.
    from mlops_gates.attest import BUNDLE_NAME
    from mlops_gates.attest.auto import sign_run, signing_configured

    if signing_configured():
        return sign_run(report_dir, doc, config)
    # A bundle an earlier run left here signs another report: never leave it beside this
    # one, where a person or a tool could take it for this run's attestation.
    (report_dir / BUNDLE_NAME).unlink(missing_ok=True)
    return None
