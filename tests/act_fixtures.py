"""Fixtures of the act harness (tests/act_harness.py), loaded as a plugin by the workflow
test modules (`pytest_plugins = ["act_fixtures"]`), so `act` is set up once per session
however many modules use it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from act_harness import Act, start
from github_double import GitHubDouble


@pytest.fixture(scope="session")
def act(tmp_path_factory: pytest.TempPathFactory) -> Act:
    return start(tmp_path_factory.mktemp("act"))


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double
        assert double.violations == [], "\n".join(double.violations)
