"""pytest plugin: `pytest --mlops-gates` runs every configured gate as a test item.

Registered through the `pytest11` entry point. Until `--mlops-gates` is given it only adds
options, an ini key and the `mlops_gate` marker: this module imports pytest and the
standard library, nothing heavy (a test checks that in a subprocess). The engine runs
once per session, at collection; items only read its verdicts.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Report, Status
    from mlops_gates.gates.runner import Evaluation
    from mlops_gates.sources.evaluation import EvalData

DEFAULT_REPORT_DIR = "mlops-gates-report"
_PLUGIN_NAME = "mlops-gates-session"


class GateWarning(pytest.PytestWarning):
    """A gate with `severity: warn` did not pass."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlops-gates", "model gates (mlops-gates)")
    group.addoption(
        "--mlops-gates",
        action="store_true",
        default=False,
        dest="mlops_gates",
        help="run the gates configured in mlops-gates.yaml as test items",
    )
    group.addoption(
        "--mlops-gates-config",
        dest="mlops_gates_config",
        metavar="PATH",
        default=None,
        help="gates config to use (default: mlops-gates.yaml in the rootdir or cwd)",
    )
    group.addoption(
        "--mlops-gates-report-dir",
        dest="mlops_gates_report_dir",
        metavar="DIR",
        default=None,
        help=f"where report.json and report.md go (default: {DEFAULT_REPORT_DIR}/ in the rootdir)",
    )
    parser.addini("mlops_gates_config", "default for --mlops-gates-config", default=None)
    parser.addini("mlops_gates_report_dir", "default for --mlops-gates-report-dir", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mlops_gate(id=None, severity='block'): this test is a gate; its outcome joins the "
        "mlops-gates report (severity 'warn' reports a failure without failing the run)",
    )
    if config.getoption("mlops_gates"):
        config.pluginmanager.register(GatesPlugin(config), _PLUGIN_NAME)


class GatesPlugin:
    """Session state and the hooks that exist only with --mlops-gates."""

    def __init__(self, config: pytest.Config) -> None:
        from mlops_gates.config import CONFIG_FILENAME, load_config
        from mlops_gates.errors import ConfigError

        self.pytest_config = config
        given = config.getoption("mlops_gates_config") or config.getini("mlops_gates_config")
        if given:
            path = Path(given)
            if not path.is_absolute():
                base = (
                    config.invocation_params.dir
                    if config.getoption("mlops_gates_config")
                    else config.rootpath
                )
                path = base / path
        else:
            candidates = [
                config.rootpath / CONFIG_FILENAME,
                config.invocation_params.dir / CONFIG_FILENAME,
            ]
            path = next((p for p in candidates if p.is_file()), candidates[0])
        try:
            self.config: Config = load_config(path)
        except ConfigError as exc:
            raise pytest.UsageError(f"mlops-gates: {exc}") from None
        self.config_path = path.resolve()
        report_dir = config.getoption("mlops_gates_report_dir")
        base = config.invocation_params.dir
        if not report_dir:
            report_dir = config.getini("mlops_gates_report_dir") or DEFAULT_REPORT_DIR
            base = config.rootpath
        self.report_dir = (base / report_dir).resolve()
        self._evaluation: Evaluation | None = None
        self._collected = False
        self.custom: list[GateResult] = []
        self.final_report: Report | None = None
        self.selected: set[str] | None = None
        self.write_error: str | None = None
        self.tracking_line: str | None = None  # the MLflow run, or why it was not logged

    def evaluation(self) -> Evaluation:
        if self._evaluation is None:
            from mlops_gates.gates.runner import evaluate

            self._evaluation = evaluate(self.config)
        return self._evaluation

    # -- collection ---------------------------------------------------------------------

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> GatesFile | None:
        if file_path.resolve() == self.config_path and not self._collected:
            self._collected = True
            return GatesFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self._collected:
            return
        # The config is outside the collected paths (e.g. testpaths = tests): add it anyway.
        self._collected = True
        node = GatesFile.from_parent(session, path=self.config_path)
        items[:0] = list(node.collect())

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # The report describes what this run judged: gates deselected by -k / -m stay out.
        self.selected = {i.result.id for i in session.items if isinstance(i, GateItem)}

    # -- custom gates -------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        marker = item.get_closest_marker("mlops_gate")
        if marker is None or isinstance(item, GateItem):
            return report
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.custom.append(self._custom_result(item, marker, report))
            if report.failed and marker.kwargs.get("severity") == "warn":
                # `severity: warn` reports a failure without failing the run.
                report.outcome = "passed"
                report.sections.append(("mlops-gates warning", str(report.longrepr)))
                item.warn(GateWarning(f"warn gate {item.nodeid} failed"))
        return report

    def _custom_result(
        self, item: pytest.Item, marker: pytest.Mark, report: pytest.TestReport
    ) -> GateResult:
        from mlops_gates.gates.result import GateResult

        gid = str(marker.kwargs.get("id") or (marker.args[0] if marker.args else item.name))
        severity: Literal["block", "warn"] = (
            "warn" if marker.kwargs.get("severity") == "warn" else "block"
        )
        status: Status
        if report.passed:
            status, reason, message = "pass", "ok", f"{item.nodeid} passed"
        elif report.skipped:
            status, reason, message = "skip", "skipped", f"{item.nodeid} skipped"
        else:
            crash = getattr(report.longrepr, "reprcrash", None)
            detail = crash.message if crash is not None else str(report.longrepr)[:500]
            if report.when == "setup":
                status, reason = "error", "error"
            else:
                status, reason = ("fail" if severity == "block" else "warn"), "test_failed"
            message = f"{item.nodeid}: {detail}"
        props = dict(item.user_properties)
        observed = props.get("observed")
        return GateResult(
            id=gid,
            gate=gid,
            kind="custom",
            status=status,
            severity=severity,
            reason=reason,
            message=message,
            observed=float(observed) if isinstance(observed, int | float) else None,
            details={"nodeid": item.nodeid},
        )

    # -- end of session -----------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._evaluation is None:
            return
        from dataclasses import replace

        from mlops_gates.errors import MlopsGatesError
        from mlops_gates.gates.result import Report
        from mlops_gates.report.writer import write_report

        base = self._evaluation.report
        selected = self.selected
        gates = [g for g in base.gates if selected is None or g.id in selected] + self.custom
        self.final_report = replace(
            base, gates=gates, status=Report.overall_status(gates, base.errors)
        )
        try:
            write_report(self.final_report, self.report_dir)
        except MlopsGatesError as exc:
            self.write_error = str(exc)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        # After the report is on disk: MLflow being down can cost a verdict, never the report.
        from mlops_gates.tracking import track

        try:
            doc, outcome = track(self.final_report, self.report_dir, self.config)
        except MlopsGatesError as exc:
            self.tracking_line = f"mlflow: {exc}"
            return
        self.final_report = Report.from_dict(doc)
        if outcome.status == "logged":
            self.tracking_line = f"mlflow: {outcome.message}"
        elif outcome.status == "failed":
            self.tracking_line = f"mlflow: tracking failed: {outcome.message}"
            if self.config.tracking.on_failure == "error":
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.final_report is None:
            return
        from mlops_gates.report.text import format_table

        tr = terminalreporter
        tr.section("mlops-gates")
        for line in format_table(self.final_report.to_dict(), width=tr._tw.fullwidth):
            tr.write_line(line)
        tr.write_line(self.write_error or f"report: {self.report_dir}")
        if self.tracking_line:
            tr.write_line(self.tracking_line)


class GatesFile(pytest.File):
    """The config file as a collector: one item per verdict, plus a status item."""

    def collect(self) -> Iterator[pytest.Item]:
        plugin = _plugin(self.config)
        evaluation = plugin.evaluation()
        yield StatusItem.from_parent(self, name="mlops-gates-inputs")
        for result in evaluation.report.gates:
            yield GateItem.from_parent(self, name=result.id, result=result)


class GateFailure(Exception):
    """A gate verdict that fails its item; shown as text, not a traceback."""


class GateItem(pytest.Item):
    def __init__(self, *, result: GateResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        r = result
        self.user_properties.extend(
            [
                ("mlops_gates.status", r.status),
                ("mlops_gates.observed", r.observed),
                ("mlops_gates.bound_min", r.bound.min if r.bound else None),
                ("mlops_gates.bound_max", r.bound.max if r.bound else None),
                ("mlops_gates.support", r.support),
                ("mlops_gates.slice", r.slice_label),
            ]
        )

    def runtest(self) -> None:
        r = self.result
        if r.status == "skip":
            pytest.skip(r.message)
        if r.blocking:
            raise GateFailure(self._explain())
        if r.status in ("warn", "error", "fail"):
            warnings.warn(GateWarning(f"{r.id}: {r.message}"), stacklevel=1)

    def _explain(self) -> str:
        from mlops_gates.gates.result import fmt

        r = self.result
        lines = [
            f"gate {r.id!r} {r.status.upper()} ({r.kind}, severity {r.severity})",
            f"  {r.message}",
        ]
        if r.observed is not None or r.bound is not None:
            lines.append(
                f"  observed {fmt(r.observed)}; bound {r.bound.describe() if r.bound else '-'}"
                f"; support {r.support if r.support is not None else '-'}; "
                f"slice {r.slice_label}"
            )
        for failure in r.details.get("failures", [])[:10]:
            lines.append(
                f"  - {failure['column'] or '(frame)'}: {failure['check']}: {failure['count']} "
                f"cases, e.g. {failure['failure_cases'][:5]}"
            )
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"mlops-gate {self.result.id}"


class StatusItem(pytest.Item):
    """Fails when the engine could not use the inputs (unreadable data, bad labels...)."""

    def runtest(self) -> None:
        errors = _plugin(self.config).evaluation().report.errors
        if errors:
            raise GateFailure(
                "mlops-gates could not evaluate every gate:\n" + "\n".join(f"  {e}" for e in errors)
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "mlops-gates inputs"


def _plugin(config: pytest.Config) -> GatesPlugin:
    plugin = config.pluginmanager.get_plugin(_PLUGIN_NAME)
    assert isinstance(plugin, GatesPlugin)
    return plugin


def _need_plugin(request: pytest.FixtureRequest) -> GatesPlugin:
    plugin = request.config.pluginmanager.get_plugin(_PLUGIN_NAME)
    if not isinstance(plugin, GatesPlugin):
        pytest.skip("mlops-gates fixtures need `pytest --mlops-gates`")
    return plugin


@pytest.fixture(scope="session")
def mlops_gates_config(request: pytest.FixtureRequest) -> Config:
    """The validated mlops-gates.yaml of this session."""
    return _need_plugin(request).config


@pytest.fixture(scope="session")
def mlops_gates_data(request: pytest.FixtureRequest) -> EvalData:
    """Evaluation rows, encoded truth and predictions, as the gates saw them."""
    evaluation = _need_plugin(request).evaluation()
    if evaluation.data is None:
        pytest.fail(
            "mlops-gates could not load the evaluation data: "
            + "; ".join(evaluation.report.errors),
            pytrace=False,
        )
    return evaluation.data


@pytest.fixture(scope="session")
def mlops_gates_report(request: pytest.FixtureRequest) -> Report:
    """The engine's report (configured gates only; custom gates join it at the end)."""
    return _need_plugin(request).evaluation().report
