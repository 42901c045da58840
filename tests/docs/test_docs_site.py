"""The documentation site builds offline with `mkdocs build --strict`, and its reference
pages are what docs/gen_reference.py generates from the code today."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
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

    # mkdocs.yml may name a Python function (a custom fence); reading it needs no import.
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
        # A `mermaid` block makes the theme fetch mermaid.js from a CDN: diagrams are SVG.
        assert 'class="mermaid"' not in text, f"{page} asks the theme to draw Mermaid"
    design = (site / "design" / "index.html").read_text(encoding="utf-8")
    assert 'src="../images/diagrams/data-flow.svg"' in design
    assert (site / "images" / "diagrams" / "data-flow.svg").exists()
    assert not (site / "gen_reference.py").exists(), "the generator is not part of the site"
    assert not (site / "render_diagrams.py").exists() and not (site / "diagrams").exists()
    _config_reference_at_1280(site / "reference" / "config" / "index.html", tmp_path)


# Each key name of the reference on one line, and each meaning wider than the key column of
# the old table (about 160 px at 1280).
_PROBE = """<pre id="probe"></pre><script>
const keys = [...document.querySelectorAll("article dt > code:first-child")];
const dds = [...document.querySelectorAll("article dd")];
document.getElementById("probe").textContent = JSON.stringify({
  keys: keys.length,
  broken: keys.filter(k => k.getClientRects().length > 1).map(k => k.textContent),
  narrowest: Math.min(...dds.map(d => d.getBoundingClientRect().width)),
});
</script>"""


def _config_reference_at_1280(page: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # .ci/run installs it; the Markdown structure is checked without it
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--proxy-server=127.0.0.1:9",
            "--window-size=1280,1000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = json.loads(
        re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)  # type: ignore[union-attr]
    )
    assert found["keys"] > 100
    assert found["broken"] == []
    assert found["narrowest"] > 400


def test_schema_references_are_definition_lists() -> None:
    # One definition per key: the key, type, requiredness and default on the term line, the
    # meaning below it at the page's width. A five-column table broke key names mid-word and
    # squeezed the meaning into a narrow column at 1280 px.
    for name in ("config.md", "report.md", "manifest.md", "profile.md"):
        text = (ROOT / "docs" / "reference" / name).read_text()
        assert "| key | type |" not in text, name
        terms = re.findall(r"^(`[^`]+`) · (.+)$", text, re.M)
        assert len(terms) > 10, name
        for key, _ in terms:
            assert " " not in key, (name, key)
    config = (ROOT / "docs" / "reference" / "config.md").read_text()
    # Every gate kind has its own section, each key a term with its meaning under it.
    for kind in ("SchemaGate", "MetricGate", "FairnessGate", "BaselineGate", "DriftGate"):
        assert f"## {kind} {{#{kind.lower()}}}" in config
    assert "`max` · number or null · default `null`\n:   " in config
