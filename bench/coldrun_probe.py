"""A pytest plugin for bench/coldrun.py --pytest: when each stage of a `pytest --mlops-gates`
run began, in seconds since the process started, written as JSON at exit.

Loaded with `-p coldrun_probe` (bench/ on PYTHONPATH); the file to write is named by
$COLDRUN_PROBE_OUT. It changes nothing in the run: it only reads the clock.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from typing import Any

import pytest


def _process_start() -> float:
    """The epoch time this process started (Linux /proc), so interpreter start-up counts."""
    with open("/proc/self/stat") as f:
        started_ticks = float(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - (uptime - started_ticks / os.sysconf("SC_CLK_TCK"))


_T0 = _process_start()
_MARKS: list[tuple[str, float]] = [("plugins loaded", time.time() - _T0)]


def _mark(name: str) -> None:
    _MARKS.append((name, time.time() - _T0))


class _Stages:
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: Any) -> None:
        _mark("configure")

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: Any) -> None:
        _mark("collection (the gates run here)")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> None:
        _mark("items")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: Any) -> None:
        _mark("session finish: report files, summary, unconfigure")

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: Any) -> None:  # after every other plugin's
        _mark("exit handlers")


def pytest_addoption(parser: Any, pluginmanager: Any) -> None:
    # Registered here, before any other plugin's pytest_configure runs.
    pluginmanager.register(_Stages(), "coldrun-stages")


def _write() -> None:
    _mark("end")
    out = os.environ.get("COLDRUN_PROBE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(_MARKS, f)


atexit.register(_write)
