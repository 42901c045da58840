"""`python -m mlops_gates`: the same as the `mlops-gates` command."""

from __future__ import annotations

from mlops_gates.cli import run

run()
