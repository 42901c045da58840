"""The one source of the package version (pyproject.toml reads it; releases tag ``v`` + it)."""

from __future__ import annotations

__version__ = "0.1.0"
