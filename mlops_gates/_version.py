"""The one source of the package version (pyproject.toml reads it; releases tag ``v`` + it)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"
# Ground floor, so the pytest plugin, cli.common and promote (which must not import cli) share
# it: where commands write and read a report by default, and the directory in the reproduce
# command of a promotion pull request.
DEFAULT_REPORT_DIR = Path("mlops-gates-report")
