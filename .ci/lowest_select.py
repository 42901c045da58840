"""pytest plugin for .ci/lowest: leave out what the lowest-versions environment cannot run.

Loaded with `-p lowest_select` (this folder on PYTHONPATH). Every test left out is named
here with the reason; the files to run are listed in .ci/lowest.
"""

from __future__ import annotations

import pytest

# The environment holds the MLflow *client* at its floor (mlflow-skinny), not a server:
# the tests that start `mlflow server` need the full `mlflow` package.
SERVER_FIXTURES = {"mlflow_server", "registered"}

LEFT_OUT = {
    # The committed JSON Schema is generated with the newest pydantic; pydantic < 2.7 words
    # it differently (no "type" beside a Literal's "const", no `additionalProperties: true`
    # for dict fields). The models themselves are tested by the rest of tests/config/test_config.py.
    "tests/config/test_config.py::test_shipped_json_schema_is_current",
    # Runs the example's gates a second time through pytest; the plugin is covered by
    # test_plugin.py, the example's numbers by the other two tests of this file.
    "tests/test_example_adult.py::test_pytest_plugin_on_the_example",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        server = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        (drop if server or item.nodeid in LEFT_OUT else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
