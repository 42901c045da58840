"""pytest plugin: `pytest --mlops-gates` runs every configured gate as a test item.

Registered through the `pytest11` entry point. Until `--mlops-gates` is given it only adds
options, an ini key and the `mlops_gate` marker: this module imports pytest and the
standard library, nothing heavy (a test checks that in a subprocess). The engine runs
once per session, at collection; items only read its verdicts.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from mlops_gates.runs import DEFAULT_REPORT_DIR

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Report, Status
    from mlops_gates.gates.runner import Evaluation
    from mlops_gates.sources.evaluation import EvalData

__all__ = [
    "GateFailure",
    "GateItem",
    "GateWarning",
    "GatesFile",
    "GatesPlugin",
    "StatusItem",
    "VerdictItem",
    "mlops_gates_config",
    "mlops_gates_data",
    "mlops_gates_report",
    "pytest_addoption",
    "pytest_configure",
    "pytest_unconfigure",
]

_PLUGIN_NAME = "mlops-gates-session"
# The session's state (config, evaluation, what was selected, the final report) lives on
# the pytest config, as pytest's own plugins keep theirs; pytest_unconfigure removes it.
_SESSION = pytest.StashKey["GatesPlugin"]()
# Kinds whose slices are found in the data, not configured: a verdict per slice would make
# node ids (and what `-k` selects) change with the data, so the gate is one item.
_ONE_ITEM_KINDS = frozenset({"slice_discovery"})


class GateWarning(pytest.PytestWarning):
    """A gate with `severity: warn` did not pass."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The options and ini keys: always, so `pytest --help` shows them."""
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
    """Register the `mlops_gate` marker; with --mlops-gates, the session's plugin and state."""
    config.addinivalue_line(
        "markers",
        "mlops_gate(id=None, severity='block'): this test is a gate; its outcome joins the "
        "mlops-gates report (severity 'warn' reports a failure without failing the run)",
    )
    if config.getoption("mlops_gates"):
        _refuse_distribution(config)
        for name, text in _MARKERS.items():
            config.addinivalue_line("markers", f"{name}: {text}")
        plugin = GatesPlugin(config)
        config.stash[_SESSION] = plugin
        config.pluginmanager.register(plugin, _PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's plugin and state."""
    # pytester runs many sessions in one process: each leaves no plugin or state behind.
    plugin = config.stash.get(_SESSION, None)
    if plugin is not None:
        del config.stash[_SESSION]
        config.pluginmanager.unregister(plugin, _PLUGIN_NAME)


# Every gate item carries its kind and severity as markers (`-m fairness`, `-m "not warn"`);
# kinds not listed here are registered from the loaded config.
_MARKERS = {
    "schema": "mlops-gates schema gate",
    "metric": "mlops-gates metric gate",
    "fairness": "mlops-gates fairness gate",
    "baseline": "mlops-gates baseline (champion vs challenger) gate",
    "drift": "mlops-gates drift gate",
    "skew": "mlops-gates training/serving skew gate",
    "staleness": "mlops-gates staleness gate",
    "behaviour": "mlops-gates behaviour gate",
    "calibration": "mlops-gates calibration gate",
    "churn": "mlops-gates decision churn gate (flips against the baseline)",
    "block": "mlops-gates gate whose failure fails the run",
    "warn": "mlops-gates gate that reports a failure without failing the run",
}


def _refuse_distribution(config: pytest.Config) -> None:
    # pytest-xdist would make every worker load the data and score the models, and each
    # write its own report; the gates are one computation per session, not N.
    dist = getattr(config.option, "dist", "no")
    if (dist and dist != "no") or getattr(config.option, "tx", None):
        raise pytest.UsageError(
            "mlops-gates: --mlops-gates runs the gates once per session and cannot be "
            "distributed; run it without -n / --dist (pytest-xdist), or with -n0"
        )


class GatesPlugin:
    """Session state and the hooks that exist only with --mlops-gates."""

    def __init__(self, config: pytest.Config) -> None:
        from mlops_gates.config import CONFIG_FILENAME, find_config, load_config
        from mlops_gates.errors import ConfigError

        self.pytest_config = config
        # --mlops-gates-config, else $MLOPS_GATES_CONFIG, else the ini key, else the rootdir,
        # then the working directory: the option and the variable are relative to where
        # pytest was started, the ini key to the rootdir that holds it.
        option = config.getoption("mlops_gates_config")
        ini = config.getini("mlops_gates_config")
        start = config.invocation_params.dir
        if ini:
            candidates = [config.rootpath / ini]
        else:
            candidates = [config.rootpath / CONFIG_FILENAME, start / CONFIG_FILENAME]
        path = start / find_config(option, candidates=candidates)
        try:
            self.config: Config = load_config(path)
        except ConfigError as exc:
            raise pytest.UsageError(f"mlops-gates: {exc}") from None
        self.config_path = path.resolve()
        from mlops_gates.config import gate_lines

        lines = gate_lines(self.config_path)
        # Gate id -> its 1-based line in the config: where pytest points a verdict.
        self.gate_line = {g.id: lines[i] for i, g in enumerate(self.config.gates) if i < len(lines)}
        for kind in sorted({g.kind for g in self.config.gates} - set(_MARKERS)):
            config.addinivalue_line("markers", f"{kind}: mlops-gates {kind} gate")
        report_dir = config.getoption("mlops_gates_report_dir")
        base = start
        if not report_dir:
            report_dir = config.getini("mlops_gates_report_dir") or DEFAULT_REPORT_DIR
            base = config.rootpath
        self.report_dir = (base / report_dir).resolve()
        self._evaluation: Evaluation | None = None
        self._collected = False
        self.gate_items = 0  # gate items collected (before -k / -m / --deselect)
        self.deselected = 0  # of those, how many the user deselected
        self.custom: list[GateResult] = []
        self.final_report: Report | None = None
        self.selected: set[str] | None = None
        self.write_error: str | None = None
        self.tracking_line: str | None = None  # the MLflow run, or why it was not logged
        self.attestation_line: str | None = None  # the automatic signature, or why none

    def evaluation(self) -> Evaluation:
        """The session's one evaluation of the gates, computed on first use."""
        if self._evaluation is None:
            from mlops_gates.gates.runner import evaluate

            self._evaluation = evaluate(self.config)
        return self._evaluation

    # -- collection ---------------------------------------------------------------------

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> GatesFile | None:
        """The config file, collected once, as the gates' collector."""
        # Lets `pytest mlops-gates.yaml` and node ids like `mlops-gates.yaml::acc` work;
        # whether the node survives collection is checked in modifyitems, not assumed.
        if file_path.resolve() == self.config_path and not self._collected:
            self._collected = True
            return GatesFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(tryfirst=True)  # before -k / -m / --deselect
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Put the gates into every session, whatever was collected; mark custom gates."""
        if not any(isinstance(i, VerdictItem) for i in items):
            # The config was never walked (testpaths, path arguments, --ignore, a config
            # outside the rootdir) or pytest dropped its node: the gates run regardless.
            node = GatesFile.from_parent(
                session, path=self.config_path, nodeid=self._nodeid(config)
            )
            try:
                items[:0] = list(node.collect())
            except Exception as exc:
                raise pytest.UsageError(
                    f"mlops-gates: {self.config_path}: the gates could not be collected: {exc}"
                ) from None
        gates = [i for i in items if isinstance(i, GateItem)]
        # With unusable inputs the engine may give no verdicts: mlops-gates-inputs fails.
        if not gates and self.config.gates and not self.evaluation().report.errors:
            raise pytest.UsageError(
                f"mlops-gates: {self.config_path} configures {len(self.config.gates)} gates "
                "but no gate item was collected; run `mlops-gates check --config "
                f"{self.config_path}` to see the verdicts"
            )
        self.gate_items = len(gates)
        for item in items:
            marker = item.get_closest_marker("mlops_gate")
            if marker is not None and not isinstance(item, GateItem):
                item.add_marker("warn" if marker.kwargs.get("severity") == "warn" else "block")

    def _nodeid(self, config: pytest.Config) -> str:
        # Node ids are rootdir-relative, with `..` for a config outside the rootdir
        # (--rootdir elsewhere); pytest shows them relative to where it was started.
        return Path(os.path.relpath(self.config_path, config.rootpath.resolve())).as_posix()

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Count the gate items -k / -m / --deselect removed: the summary says so."""
        self.deselected += sum(isinstance(i, GateItem) for i in items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Record which verdicts this run judges; refuse gates that vanished unasked."""
        # The report describes what this run judged: gates deselected by -k / -m stay out.
        self.selected = {r.id for i in session.items if isinstance(i, GateItem) for r in i.results}
        in_session = sum(isinstance(i, GateItem) for i in session.items)
        vanished = self.gate_items - self.deselected - in_session
        if vanished > 0:
            # Deselection the user asked for is reported; gates that a plugin or conftest
            # dropped without saying so would make a silent pass.
            raise pytest.UsageError(
                f"mlops-gates: {self.config_path}: {self.gate_items} gate items were "
                f"collected but {vanished} left the session without being deselected (a "
                "plugin or conftest.py removed them); the gates must run when --mlops-gates "
                "is on"
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        """A warn verdict is neither a pass nor a failure: its own letter, word and count."""
        if report.when == "call" and getattr(report, "mlops_gates_warn", False):
            return "warned", "W", ("WARN", {"yellow": True})
        return None

    # -- custom gates -------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Mark non-passing warn verdicts; turn `mlops_gate`-marked tests into verdicts."""
        report = yield
        if isinstance(item, GateItem):
            r = item.result
            if report.when == "call" and report.passed and r.status in ("warn", "fail", "error"):
                report.mlops_gates_warn = True  # type: ignore[attr-defined]
            return report
        marker = item.get_closest_marker("mlops_gate")
        if marker is None:
            return report
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.custom.append(self._custom_result(item, marker, report))
            if report.failed and marker.kwargs.get("severity") == "warn":
                # `severity: warn` reports a failure without failing the run.
                report.outcome = "passed"
                report.mlops_gates_warn = True  # type: ignore[attr-defined]
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
        """End the run as the CLI does (runs.finish): report on disk, then MLflow."""
        if self._evaluation is None or session.config.option.collectonly:
            return  # --collect-only lists the gates; it writes and logs nothing
        if not self.selected and not self.custom:
            return  # every gate deselected: no report of nothing (see the summary)
        from dataclasses import replace

        from mlops_gates.gates.result import Report
        from mlops_gates.runs import finish

        base = self._evaluation.report
        selected = self.selected
        gates = [g for g in base.gates if selected is None or g.id in selected] + self.custom
        judged = replace(base, gates=gates, status=Report.overall_status(gates, base.errors))
        outcome = finish(judged, self.report_dir, self.config)
        self.final_report = outcome.report
        self.write_error = outcome.write_error
        tracked = outcome.tracking
        if outcome.tracking_error is not None:
            self.tracking_line = f"mlflow: {outcome.tracking_error}"
        elif tracked is not None and tracked.status == "logged":
            self.tracking_line = f"mlflow: {tracked.message}"
        elif tracked is not None and tracked.status == "failed":
            self.tracking_line = f"mlflow: tracking failed: {tracked.message}"
        self.attestation_line = outcome.attestation or (
            outcome.attestation_error and f"mlops-gates: error: {outcome.attestation_error}"
        )
        # The items carry the gates' verdicts; this is what the ending itself adds.
        if outcome.ending_failed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The mlops-gates section: the verdict table, where the report went, the MLflow run."""
        from mlops_gates._text import safe_line
        from mlops_gates.report.text import render_table

        tr = terminalreporter
        config = self.pytest_config
        if config.option.collectonly:
            tr.write_line(
                f"mlops-gates: {self.gate_items} gate items listed; --collect-only writes no "
                "report and logs nothing"
            )
            return
        if self.deselected:
            tr.write_line(
                f"mlops-gates: {self.deselected} of {self.gate_items} gate items deselected "
                "(-k / -m / --deselect); they are not in the report"
            )
        if self.final_report is None:
            if self._evaluation is not None and not self.selected and not self.custom:
                tr.write_line("mlops-gates: no gate selected; no report written, nothing logged")
            return
        tr.section("mlops-gates")
        lines = render_table(
            self.final_report.to_dict(),
            width=tr._tw.fullwidth,
            verbose=config.option.verbose > 0,
            colour=tr._tw.hasmarkup,
            verbose_hint="-v",
        )
        lines.append(safe_line(self.write_error or f"report: {self.report_dir}"))
        if self.tracking_line:
            lines.append(safe_line(self.tracking_line))
        if self.attestation_line:
            lines.append(safe_line(self.attestation_line))
        for line in lines:
            tr.write_line(line)


class GatesFile(pytest.File):
    """The config file as a collector: one item per verdict, plus a status item."""

    def collect(self) -> Iterator[pytest.Item]:
        """The status item first, then one item per verdict."""
        plugin = _plugin(self.config)
        evaluation = plugin.evaluation()
        status = StatusItem.from_parent(self, name="mlops-gates-inputs")
        status.add_marker("block")  # unusable inputs fail the run
        yield status
        from mlops_gates._text import terminal_safe

        for name, results in _item_verdicts(evaluation.report.gates):
            # The id holds slice values from the data: escaped, it cannot break a line.
            item = GateItem.from_parent(self, name=terminal_safe(name), results=results)
            item.line = plugin.gate_line.get(results[0].gate)
            yield item


def _item_verdicts(gates: list[GateResult]) -> list[tuple[str, list[GateResult]]]:
    """(item name, its verdicts): one verdict per item, except kinds in `_ONE_ITEM_KINDS`,
    whose verdicts share one item named after the gate."""
    out: list[tuple[str, list[GateResult]]] = []
    grouped: dict[str, list[GateResult]] = {}
    for r in gates:
        if r.kind not in _ONE_ITEM_KINDS:
            out.append((r.id, [r]))
        elif r.gate in grouped:
            grouped[r.gate].append(r)
        else:
            grouped[r.gate] = [r]
            out.append((r.gate, grouped[r.gate]))
    return out


class GateFailure(Exception):
    """A gate verdict that fails its item; shown as text, not a traceback."""


class VerdictItem(pytest.Item):
    """An item that reads a verdict of the session's one evaluation, never computes one;
    a failure prints the verdict, not a traceback into this plugin."""

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """A verdict's own text; anything else as pytest shows it."""
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))


class GateItem(VerdictItem):
    """One verdict (a gate, or one slice of it), or every verdict of a gate whose slices
    are found in the data: passes, fails, warns or skips as its worst verdict says."""

    def __init__(self, *, results: list[GateResult], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results
        # The verdict the item reports: a blocking one, else one that did not pass.
        self.result = r = min(results, key=_rank)
        self.line: int | None = None  # 1-based line of the gate in the config
        self.add_marker(r.kind)
        self.add_marker(r.severity)
        props = [
            ("mlops_gates.status", r.status),
            ("mlops_gates.observed", r.observed),
            ("mlops_gates.bound_min", r.bound.min if r.bound else None),
            ("mlops_gates.bound_max", r.bound.max if r.bound else None),
            ("mlops_gates.support", r.support),
            ("mlops_gates.slice", r.slice_label),
        ]
        # JUnit XML writes str(value): an absent number is left out, not written "None".
        self.user_properties.extend((k, v) for k, v in props if v is not None)

    def runtest(self) -> None:
        """Fail on a blocking verdict, skip a skip, warn on the rest that did not pass."""
        r = self.result
        if r.status == "skip":
            pytest.skip(r.message)
        if r.blocking:
            raise GateFailure(self._explain())
        from mlops_gates._text import terminal_safe

        for w in self.results:
            if w.status in ("warn", "error", "fail"):
                # Attributed to the gate's line in the config, not to this file.
                warnings.warn_explicit(
                    GateWarning(terminal_safe(f"{w.id}: {w.message}")),
                    GateWarning,
                    filename=str(self.path),
                    lineno=self.line or 1,
                )

    def _explain(self) -> str:
        from mlops_gates.gates.result import fmt

        head = self.result
        name = head.id if len(self.results) == 1 else head.gate
        lines = [f"gate {name!r} {head.status.upper()} ({head.kind}, severity {head.severity})"]
        # Called on a blocking verdict: a grouped item shows every verdict that fails it.
        for r in [r for r in self.results if r.blocking] or [head]:
            lines.append(f"  {r.message}")
            if r.observed is not None or r.bound is not None:
                lines.append(
                    f"  observed {fmt(r.observed)}; bound "
                    f"{r.bound.describe() if r.bound else '-'}; support "
                    f"{r.support if r.support is not None else '-'}; slice {r.slice_label}"
                )
            for failure in r.details.get("failures", [])[:10]:
                lines.append(
                    f"  - {failure['column'] or '(frame)'}: {failure['check']}: "
                    f"{failure['count']} cases, e.g. {failure['failure_cases'][:5]}"
                )
        from mlops_gates._text import terminal_safe

        # Messages quote slice values and failure cases from the data: one line each.
        return "\n".join(terminal_safe(line) for line in lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point at the gate's line in the config."""
        line = None if self.line is None else self.line - 1  # pytest counts from 0
        return self.path, line, f"mlops-gate {self.name}"


def _rank(r: GateResult) -> int:
    """Which verdict a grouped item reports: a blocking one, then one that did not pass,
    then a pass, then a skip (an item skips only when every verdict did)."""
    if r.blocking:
        return 0
    return {"warn": 1, "fail": 1, "error": 1, "pass": 2}.get(r.status, 3)


class StatusItem(VerdictItem):
    """Fails when the engine could not use the inputs (unreadable data, bad labels...)."""

    def runtest(self) -> None:
        """Fail when the engine reported errors not tied to one gate."""
        errors = _plugin(self.config).evaluation().report.errors
        if errors:
            from mlops_gates._text import terminal_safe

            raise GateFailure(
                "mlops-gates could not evaluate every gate:\n"
                + "\n".join(f"  {terminal_safe(e)}" for e in errors)
            )

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Point at the config file."""
        return self.path, None, "mlops-gates inputs"


def _plugin(config: pytest.Config) -> GatesPlugin:
    return config.stash[_SESSION]


def _need_plugin(request: pytest.FixtureRequest) -> GatesPlugin:
    plugin = request.config.stash.get(_SESSION, None)
    if plugin is None:
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
