"""pytest plugin: `pytest --mlops-gates` runs every configured gate as a test item.

Registered through the `pytest11` entry point. Until `--mlops-gates` is given it only adds
options, an ini key and the `mlops_gate` marker: this module imports pytest and the
standard library, nothing heavy (a test checks that in a subprocess). The engine runs
once per session, at collection; items only read its verdicts.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# The items live in their own module; their names stay importable from here.
from mlops_gates._gc import rare_collections
from mlops_gates.pytest_items import (
    SESSION,
    GateFailure,
    GateItem,
    GatesFile,
    GatesSession,
    GateWarning,
    StatusItem,
    VerdictItem,
    custom_result,
)
from mlops_gates.runs import DEFAULT_REPORT_DIR

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.gates.result import GateResult, Report
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
_SESSION = SESSION  # the session's state on the pytest config (pytest_items.py)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """The options and ini keys: always, so `pytest --help` shows them."""
    _leave_our_modules_unrewritten(pluginmanager)
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


def _leave_our_modules_unrewritten(pluginmanager: pytest.PytestPluginManager) -> None:
    """Take this package off the list of modules pytest rewrites the asserts of.

    pytest rewrites every module of a distribution that registers a plugin, and caches the
    result next to the module; where it cannot write that cache (PYTHONDONTWRITEBYTECODE, set
    in many CI images, or a read-only site-packages) it rewrites again on every run: some 90
    modules of ours, 0.2-0.3 s of a cold `pytest --mlops-gates`. Our modules hold no asserts
    meant for a user's eyes (gates word their own verdicts), so they import as plain Python;
    the user's tests and conftests are rewritten as always. Called while the plugin
    registers, before the engine's modules are imported. The hook keeps its list in private
    attributes: where a pytest keeps it elsewhere, this does nothing."""
    hook = getattr(pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    answers = getattr(hook, "_marked_for_rewrite_cache", None)
    package = __name__.partition(".")[0]
    if isinstance(marked, set) and package in marked:
        marked.discard(package)
        if isinstance(answers, dict):
            answers.clear()  # it may have answered for our modules already


@contextlib.contextmanager
def _imports_not_rewritten(config: pytest.Config) -> Iterator[None]:
    """While the gates run, what they import is imported as plain Python.

    pytest rewrites the asserts of every package that registers a plugin, and hypothesis
    does: the schema and behaviour gates import it (pandera's strategies, the searches),
    and where pytest cannot cache the rewritten modules (PYTHONDONTWRITEBYTECODE, a
    read-only site-packages) it parses and compiles them again on every run: 78 modules
    and 0.6 s of CPU of a cold `pytest --mlops-gates` in a wheel install. Nothing the
    engine imports is a test, a conftest or a fixture, so pytest's import hook steps aside
    for the evaluation and is put back where it was. A module a user's test imports first
    is rewritten as always."""
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    at = next((i for i, finder in enumerate(sys.meta_path) if finder is hook), None)
    if at is None:
        yield
        return
    finder = sys.meta_path.pop(at)
    try:
        yield
    finally:
        sys.meta_path.insert(min(at, len(sys.meta_path)), finder)


def _read_config(config: pytest.Config) -> tuple[Config, Path, dict[str, int]]:
    """The session's config, its resolved path, and each gate's 1-based line in it (where
    pytest points a verdict); a config that cannot be used is a usage error."""
    from mlops_gates.config import CONFIG_FILENAME, find_config, gate_lines, load_config
    from mlops_gates.errors import ConfigError

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
        loaded = load_config(path)
    except ConfigError as exc:
        raise pytest.UsageError(f"mlops-gates: {exc}") from None
    resolved = path.resolve()
    lines = gate_lines(resolved)
    gate_line = {g.id: lines[i] for i, g in enumerate(loaded.gates) if i < len(lines)}
    return loaded, resolved, gate_line


def pytest_configure(config: pytest.Config) -> None:
    """Register the `mlops_gate` marker; with --mlops-gates, the session's plugin and state."""
    config.addinivalue_line(
        "markers",
        "mlops_gate(id=None, severity='block'): this test is a gate; its outcome joins the "
        "mlops-gates report (severity 'warn' reports a failure without failing the run)",
    )
    if config.getoption("mlops_gates"):
        _refuse_distribution(config)
        _warn_if_the_config_was_taken_for_a_test_path(config)
        for name, text in _MARKERS.items():
            config.addinivalue_line("markers", f"{name}: {text}")
        plugin = GatesPlugin(config)
        config.stash[_SESSION] = plugin
        config.pluginmanager.register(plugin, _PLUGIN_NAME)


def _warn_if_the_config_was_taken_for_a_test_path(config: pytest.Config) -> None:
    """pytest picks its rootdir and ini file before it loads plugins, so it reads
    `--mlops-gates-config PATH` (two arguments) as an unknown flag and a test path: a PATH
    outside the directory pytest started in moves the rootdir up to a common ancestor,
    and the project's ini file (markers, addopts, testpaths) is no longer read. The
    `--mlops-gates-config=PATH` form keeps them; say so."""
    args = [str(a) for a in config.invocation_params.args]
    start = config.invocation_params.dir.resolve()
    for flag, value in itertools.pairwise(args):
        if flag != "--mlops-gates-config":
            continue
        if not (start / value).resolve().is_relative_to(start):
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    f"mlops-gates: pytest chose its rootdir ({config.rootpath}) before it "
                    f"knew --mlops-gates-config takes a value, and took {value} for a test "
                    f"path; write --mlops-gates-config={value} to keep your project's "
                    "rootdir and ini file"
                ),
                stacklevel=2,
            )


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's plugin and state; when this pytest is the whole program, let
    the process end without walking every object again."""
    # pytester runs many sessions in one process: each leaves no plugin or state behind.
    plugin = config.stash.get(_SESSION, None)
    if plugin is not None:
        del config.stash[_SESSION]
        config.pluginmanager.unregister(plugin, _PLUGIN_NAME)
        if _pytest_is_the_program(config):
            _freeze_for_exit()


def _freeze_for_exit() -> None:
    """Collect once, then move every object still alive out of the collector's sight.

    pytest then collects twice more (its unraisable-exception check, in its own
    pytest_unconfigure and in its cleanup) and the interpreter's teardown collects again:
    each pass walks every object pandas, scikit-learn and the rest loaded, about 0.07 s
    apiece in a cold run. Everything alive now lives until the process ends anyway. The
    one collection here runs first (tryfirst) while pytest's unraisable hook is still in
    place, so a `__del__` that raises in garbage made by the user's own tests is still
    reported; the later passes only walk what is made after it. Never in a host that goes
    on (an in-process pytester run, a script calling `pytest.main([...])`): cycles among
    frozen objects would leak there."""
    import gc

    gc.collect()
    gc.freeze()


def _may_be(file_path: Path, config_path: Path) -> bool:
    """Could `file_path` resolve to the config? pytest asks about every file it walks, and
    resolving a path costs a system call per folder in it; a path resolves to another
    name only when its last part is a symbolic link (links among its folders keep it)."""
    return file_path.name == config_path.name or file_path.is_symlink()


def _pytest_is_the_program(config: pytest.Config) -> bool:
    """Is this session the process's own `pytest` / `python -m pytest`, run from the
    command line (its arguments are the process's), so that the process ends with it?"""
    import sys

    if list(config.invocation_params.args) != sys.argv[1:]:
        return False
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:
        return bool(spec.name == "pytest.__main__")
    return Path(sys.argv[0]).name in ("pytest", "py.test", "pytest.exe", "py.test.exe")


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
        self.pytest_config = config
        start = config.invocation_params.dir
        # Reading the config imports pydantic and the config's models: with the
        # garbage collector of a short run (_gc.py), as the gates run below.
        with rare_collections():
            self.config, self.config_path, self.gate_line = _read_config(config)
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
            # The engine's imports (pandas, the gates) come under the same rules as what
            # the gates import while they run.
            with rare_collections(), _imports_not_rewritten(self.pytest_config):
                from mlops_gates.gates.runner import evaluate

                self._evaluation = evaluate(self.config)
        return self._evaluation

    # -- collection ---------------------------------------------------------------------

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> GatesFile | None:
        """The config file, collected once, as the gates' collector."""
        # Lets `pytest mlops-gates.yaml` and node ids like `mlops-gates.yaml::acc` work;
        # whether the node survives collection is checked in modifyitems, not assumed.
        if self._collected or not _may_be(file_path, self.config_path):
            return None
        if file_path.resolve() == self.config_path:
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
            self.custom.append(custom_result(item, marker, report))
            if report.failed and marker.kwargs.get("severity") == "warn":
                # `severity: warn` reports a failure without failing the run.
                report.outcome = "passed"
                report.mlops_gates_warn = True  # type: ignore[attr-defined]
                report.sections.append(("mlops-gates warning", str(report.longrepr)))
                item.warn(GateWarning(f"warn gate {item.nodeid} failed"))
        return report

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


def _need_plugin(request: pytest.FixtureRequest) -> GatesSession:
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
