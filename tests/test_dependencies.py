"""Every import in the package is a declared dependency, and every declared dependency is
used (or listed here with the reason it is needed).

The scan reads the source (AST), so lazy imports inside functions, `TYPE_CHECKING` blocks
and `importlib.import_module("literal")` count as much as top-level ones. Top-level modules
are mapped to distributions with `importlib.metadata.packages_distributions()` of this
environment (the test extra installs everything the package can import).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "mlops_gates"

# Modules imported only behind an extra: the reducer engines, imported on first use with a
# message naming the extra (mlops_gates.backends.ENGINES) -> the extra that provides them.
ENGINE_EXTRAS = {"duckdb": "duckdb", "pyspark": "spark"}
# ... and the plots (report.html, MLflow plot artifacts), drawn only when matplotlib is there.
OPTIONAL = {**ENGINE_EXTRAS, "matplotlib": "plots"}

# Declared core dependencies that no module imports, and why users need them anyway.
NOT_IMPORTED = {
    "sqlalchemy": "MLflow's SQLite tracking store (the embedded default, sqlite:///mlruns.db) "
    "runs on SQLAlchemy, which mlflow-skinny does not install",
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(specs: list[str]) -> set[str]:
    """Distribution names of requirement strings (`pandera[io]>=0.35` -> `pandera`)."""
    out = set()
    for spec in specs:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        assert match, f"pyproject.toml: cannot read the requirement {spec!r}"
        out.add(_canonical(match.group(1)))
    return out


def _project() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.partition(".")[0], node.lineno
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value.partition(".")[0], node.lineno


def _is_import_module(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id == "import_module"


def third_party_imports() -> dict[str, list[str]]:
    """module -> ["mlops_gates/x.py:12", ...] for every import outside the standard library
    and the package itself."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, line in _imports(path):
            if module in sys.stdlib_module_names or module == "mlops_gates":
                continue
            found.setdefault(module, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


@cache
def _provided_by() -> dict[str, list[str]]:
    return packages_distributions()  # reads every installed distribution's file list


def _distributions(module: str, where: list[str]) -> set[str]:
    dists = _provided_by().get(module)
    if not dists:
        pytest.fail(
            f"{where[0]} imports {module!r}, which no installed distribution provides; "
            f"install the test extra (pip install -e '.[test]') or declare its distribution"
        )
    return {_canonical(d) for d in dists}


def test_every_import_is_a_declared_dependency() -> None:
    project = _project()
    core = _names(project["dependencies"])
    extras = {name: _names(specs) for name, specs in project["optional-dependencies"].items()}
    problems = []
    for module, where in sorted(third_party_imports().items()):
        dists = _distributions(module, where)
        if module in OPTIONAL:
            extra = OPTIONAL[module]
            if not dists & extras.get(extra, set()):
                problems.append(
                    f"{module} (imported at {', '.join(where)}) is optional, but the "
                    f"[{extra}] extra does not declare {' or '.join(sorted(dists))}"
                )
        elif not dists & core:
            problems.append(
                f"{module} (imported at {', '.join(where)}) comes from "
                f"{' or '.join(sorted(dists))}, which [project].dependencies does not declare"
            )
    assert not problems, "\n".join(problems)


def test_optional_imports_are_the_engines_and_their_extras() -> None:
    """The OPTIONAL list above is the package's own list of engines, and each is imported
    somewhere (else it would not need a place here)."""
    from mlops_gates.backends import ENGINES

    assert {dist: extra for _, dist, extra in ENGINES.values()} == ENGINE_EXTRAS
    assert set(OPTIONAL) <= set(third_party_imports())


def test_every_declared_dependency_is_imported_or_explained() -> None:
    imported: set[str] = set()
    for module, where in third_party_imports().items():
        imported |= _distributions(module, where)
    core = _names(_project()["dependencies"])
    unused = sorted(core - imported - set(NOT_IMPORTED))
    assert not unused, (
        f"declared in [project].dependencies but never imported by mlops_gates: {unused}; "
        f"remove them, or add them to NOT_IMPORTED in {Path(__file__).name} with the reason"
    )
    stale = sorted(set(NOT_IMPORTED) - (core - imported))
    assert not stale, f"NOT_IMPORTED lists {stale}, which are imported or no longer declared"


def test_the_scan_sees_lazy_and_literal_imports(tmp_path: Path) -> None:
    """Imports inside functions, under TYPE_CHECKING and through import_module("...")
    are found; relative imports are the package's own."""
    source = tmp_path / "m.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import alpha.sub\n"
        "def f():\n"
        "    from beta import x\n"
        "    return importlib.import_module('gamma.delta'), x\n"
        "from . import sibling\n"
    )
    assert sorted(m for m, _ in _imports(source)) == [
        "__future__",
        "alpha",
        "beta",
        "gamma",
        "importlib",
        "typing",
    ]
