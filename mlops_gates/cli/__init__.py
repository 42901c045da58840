"""`mlops-gates` command line: the edge where arguments become calls and results exit codes.

`main` parses; each command group lives in its own module here (`promote`, `deploy`, `data`,
`attest`); `common` holds what every command prints or returns the same way.
"""

from __future__ import annotations

from mlops_gates.cli.main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
