"""The package's fixed names: its version (the one source; pyproject.toml reads it and
releases tag ``v`` + it) and the report directory every command writes and reads by default.

Ground floor: standard library only, so the pytest plugin, the CLI and promote can all use it.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"
# Where `check`, the pytest plugin and monitor write a report, and where promote, comment,
# alert and attest read it; also the directory in the reproduce command of a promotion PR.
DEFAULT_REPORT_DIR = Path("mlops-gates-report")
