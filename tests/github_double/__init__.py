"""A GitHub double for the promotion tests: real HTTP on 127.0.0.1, stateful, and checked
against GitHub's published OpenAPI description (see server.py, openapi.py)."""

from __future__ import annotations

from .server import GitHubDouble, HTTPError

__all__ = ["GitHubDouble", "HTTPError"]
