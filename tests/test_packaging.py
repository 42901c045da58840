"""The package people install: one version, a wheel that carries its licence and data,
metadata that `twine check` accepts, and docs that say how to install before a release."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from mlops_gates._version import __version__

ROOT = Path(__file__).parents[1]


def test_one_version_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "mlops_gates._version.__version__"
    assigned = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "mlops_gates").rglob("*.py")
        if re.search(r"^__version__\s*=", p.read_text(), re.M)
    ]
    assert assigned == ["mlops_gates/_version.py"]


def test_changelog_has_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d\d-\d\d$", text, re.M), (
        f"CHANGELOG.md has no section for {__version__} (see CONTRIBUTING.md, Make a release)"
    )
    assert f"[{__version__}]: " in text


def test_docs_that_say_pip_install_also_say_how_before_a_release() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    missing = []
    for page in pages:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.search(r"pip install ['\"]?mlops-gates(?![\w\[-])", line):
                near = " ".join(lines[max(0, i - 1) : i + 3])
                if "from a clone" not in near:
                    missing.append(f"{page.relative_to(ROOT)}:{i + 1}")
    assert not missing, f"`pip install mlops-gates` without the from-a-clone line: {missing}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the test extra carries setuptools >= 77, and no index is needed.
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def test_wheel_carries_licence_data_and_metadata(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    assert wheel.name == f"mlops_gates-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"mlops_gates-{__version__}.dist-info"
        meta = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
    assert f"{info}/licenses/LICENSE" in names
    for needed in (
        "mlops_gates/py.typed",
        "mlops_gates/_version.py",
        "mlops_gates/schemas/report.schema.json",
        "mlops_gates/schemas/config.schema.json",
    ):
        assert needed in names, needed
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(urls)
    assert meta["Keywords"] and "Typing :: Typed" in meta.get_all("Classifier")
    assert not any(n.startswith(("tests/", "examples/", "bench/")) for n in names)


def test_twine_accepts_the_distributions(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert len(files) == 2, files  # the sdist and the wheel
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
