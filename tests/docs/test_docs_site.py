"""The documentation site builds offline with `mkdocs build --strict`, and its reference
pages are what docs/gen_reference.py generates from the code today."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mlops_gates.stats.metrics import METRICS, UNDEFINED_WHEN

ROOT = Path(__file__).parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "docs" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mkdocs_config() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml names a Python function for the Mermaid fence; reading it needs no import.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda *_: None)
    data = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)
    assert isinstance(data, dict)
    return data


def test_reference_pages_are_current() -> None:
    stale = _generator().stale()
    assert not stale, (
        f"docs/reference/ is stale ({', '.join(stale)}): the code changed; run "
        "`python docs/gen_reference.py` and commit the result"
    )


def test_every_metric_says_when_it_is_undefined() -> None:
    assert set(UNDEFINED_WHEN) == set(METRICS), (
        "add the metric to UNDEFINED_WHEN in mlops_gates/stats/metrics.py"
    )


def test_the_build_needs_no_network() -> None:
    config = _mkdocs_config()
    assert config["theme"]["name"] == "material"
    assert config["theme"]["font"] is False, "Material fetches Google Fonts unless font: false"
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in config.get("plugins", [])]
    # privacy and social download assets at build time; anything else must be checked first.
    assert plugins == ["search"], plugins


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("material") is None:
        pytest.fail("mkdocs-material is not installed: pip install -e '.[test]'")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text, f"{page} loads web fonts"
    assert not (site / "gen_reference.py").exists(), "the generator is not part of the site"
