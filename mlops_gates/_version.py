"""The one source of the package version (pyproject.toml reads it; releases tag ``v`` + it)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"
# Where report.json and report.md go unless told otherwise (relative to the working
# directory for the CLI, to the rootdir for pytest); documented in DESIGN.md "Contracts".
# Ground floor because promote (below runs and cli) spells it too, in the reproduce command
# of a promotion pull request; runs and cli.common re-export it.
DEFAULT_REPORT_DIR = Path("mlops-gates-report")
