"""What every subcommand does the same way: exit codes, an error line, GitHub step outputs.

Standard library only (and `mlops_gates.runs`, itself standard library at import): the CLI
modules import it at load time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from mlops_gates.runs import DEFAULT_REPORT_DIR

__all__ = [
    "DEFAULT_REPORT_DIR",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_report_dir",
    "error",
    "step_outputs",
    "terminal_width",
    "use_colour",
]

# Every command exits the same way: 0 done and every blocking judgement passed; 1 a gate,
# deploy, verification or check said no (or could not be evaluated); 2 the command was used
# wrongly or its input is invalid. 130 is an interrupt, as shells report it.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def error(message: str, code: int = EXIT_USAGE) -> int:
    """Print `mlops-gates: error: MESSAGE` to stderr; returns `code` for `return error(...)`.

    Each line is escaped for terminals and CI logs: messages quote values from files.
    """
    from mlops_gates._text import safe_line

    lines = str(message).split("\n")
    lines[0] = f"mlops-gates: error: {lines[0]}"
    print("\n".join(safe_line(line) for line in lines), file=sys.stderr)
    return code


def terminal_width() -> int:
    """Columns to lay the table out in: $COLUMNS, else the terminal behind stdout or stderr
    (`check | tail` still fits the screen), else 80, as pytest assumes for CI logs."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    for stream in (sys.stdout, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue
    return 80


def use_colour(choice: str, stream: TextIO) -> bool:
    """--color yes/no wins; auto: $NO_COLOR off, $FORCE_COLOR on, else a real terminal."""
    if choice in ("yes", "no"):
        return choice == "yes"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def step_outputs(outputs: Mapping[str, str]) -> None:
    """Append step outputs when running in GitHub Actions ($GITHUB_OUTPUT); else nothing."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    from mlops_gates.report.github import append_outputs

    append_outputs(path, outputs)


def add_report_dir(parser: argparse.ArgumentParser, *, holding: str = "report.json") -> None:
    """The optional REPORT_DIR argument of the commands that read a written report."""
    parser.add_argument(
        "report_dir",
        metavar="REPORT_DIR",
        nargs="?",
        type=Path,
        default=DEFAULT_REPORT_DIR,
        help=f"directory holding {holding} (default: ./{DEFAULT_REPORT_DIR})",
    )
