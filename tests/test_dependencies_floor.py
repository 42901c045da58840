"""pyproject's lower bounds are what the lowest-versions environment (.ci/lowest) installs.

.ci/lowest installs every core dependency pinned to the version in
.ci/lowest-constraints.txt and runs the core tests there; the floors users see in
pyproject.toml must be exactly those pins, or the range would promise versions nobody tested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parents[1]
CONSTRAINTS = ROOT / ".ci" / "lowest-constraints.txt"


def _floors() -> dict[str, str | None]:
    """Each core dependency of pyproject.toml -> its `>=` bound (None when it has none)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors: dict[str, str | None] = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        lower = [s.version for s in req.specifier if s.operator == ">="]
        floors[canonicalize_name(req.name)] = lower[0] if len(lower) == 1 else None
    return floors


def _pins() -> tuple[dict[str, str], set[str]]:
    """Every `name==version` of the constraints file, and the names under "# Floors"."""
    pins: dict[str, str] = {}
    floor_section: set[str] = set()
    section = ""
    for raw in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if raw.startswith("#"):
            section = "Floors" if raw[1:].strip() == "Floors" else section
            continue
        if not line:
            section = ""  # a blank line ends a section
            continue
        name, sep, pinned = line.partition("==")
        assert sep, f"{CONSTRAINTS.name}: {raw!r} is not name==version"
        name = canonicalize_name(name.strip())
        pins[name] = pinned.strip()
        if section == "Floors":
            floor_section.add(name)
    return pins, floor_section


def test_every_core_dependency_has_one_lower_bound() -> None:
    missing = sorted(name for name, floor in _floors().items() if floor is None)
    assert not missing, f"pyproject.toml: give these one `>=` lower bound: {missing}"


def test_lower_bounds_equal_the_lowest_environment() -> None:
    pins, _ = _pins()
    wrong = {
        name: (floor, pins.get(name))
        for name, floor in _floors().items()
        if floor is not None and pins.get(name) != floor
    }
    assert not wrong, (
        f"pyproject.toml floor vs {CONSTRAINTS.relative_to(ROOT)} pin (make them equal, "
        f"and run .ci/lowest when a floor moves): {wrong}"
    )


def test_every_floor_pin_is_a_declared_dependency() -> None:
    _, floor_section = _pins()
    assert floor_section, f"{CONSTRAINTS.name}: no '# Floors' section found"
    stale = sorted(floor_section - set(_floors()))
    assert not stale, f"{CONSTRAINTS.name} pins floors of undeclared dependencies: {stale}"
