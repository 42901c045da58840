"""What every subcommand prints the same way: an error line, and GitHub Actions step outputs.

Standard library only: the CLI modules import it at load time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

EXIT_USAGE = 2


def error(message: str, code: int = EXIT_USAGE) -> int:
    """Print `mlops-gates: error: MESSAGE` to stderr; returns `code` for `return error(...)`."""
    print(f"mlops-gates: error: {message}", file=sys.stderr)
    return code


def step_outputs(outputs: Mapping[str, str]) -> None:
    """Append step outputs when running in GitHub Actions ($GITHUB_OUTPUT); else nothing."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    from mlops_gates.report.github import append_outputs

    append_outputs(path, outputs)
