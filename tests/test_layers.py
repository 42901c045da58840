"""The package's shape, read from its source: imports run only down the floors, no module
imports itself through others, every public name says what it is for, `__all__` sits in one
place.

Everything here is an AST scan of `mlops_gates/`: nothing is imported, so a broken module
still gets its shape checked and the test costs well under a second.

`KNOWN_EXCEPTIONS` held what the package got wrong while the renovation of issue 18 landed
piece by piece; it is empty now. A new violation fails with file:line; an entry that no
longer occurs fails too, so the list could only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

PACKAGE = "mlops_gates"
ROOT = Path(__file__).parents[1]
SOURCE = ROOT / PACKAGE

# The floors, lowest first (docs/design.md, STYLE.md "Layout: one way through"). A module
# may import from its own floor and the floors below it, never from a floor above. The
# ground floor is below everything, so everyone may use it. Keys are the first name under
# `mlops_gates` ("config" covers config.py and a config/ package alike); "" is the package
# root, mlops_gates/__init__.py: the lazy facade, above everything, so nothing inside the
# package imports it. Modules that do not exist yet are mapped already, so that they land
# on the right floor; a module missing from this table fails the test until it is placed.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("_version", "_values", "_text", "_gc", "catalog", "errors"),  # ground floor
    ("config",),
    ("stats",),
    # I/O only; schema_infer reads data into a starting schema and imports nothing of ours.
    ("sources", "schema_infer"),
    # The canary judge: logged predictions (sources) into confidence sequences (stats).
    ("backends", "canary"),
    ("gates",),
    ("report",),
    # Signed statements about a report and the model's bytes: below tracking, so a gates
    # run can carry its attestation; above sources (model digests) and report.
    ("attest",),
    ("tracking", "tracking_record"),
    ("github",),
    # Commands' logic. init writes the starting config and workflows that run the others.
    ("promote", "deploy", "alerts", "init"),
    ("runs",),
    ("monitor", "monitor_state", "monitor_store", "monitor_estimates"),
    ("cli", "__main__"),
    # The plugin's test items: below the pytest11 module that registers them.
    ("pytest_items",),
    ("pytest_plugin",),
    ("",),
)
FLOOR_OF = {name: level for level, names in enumerate(FLOORS) for name in names}

# What the package got wrong when this test was written, outside the folders renovated
# with it (stats/, sources/{data,evaluation,models,profile}.py, attest/ but
# store.py, _text.py, errors.py, _version.py, __init__.py). Entries by kind:
#   "up:<file>:<imported module>"   an import from a higher floor
#   "cycle:<module> -> ... -> <same module>"   a circle from its smallest module (dotted,
#                                   without the leading "mlops_gates.")
#   "doc:<file>:<qualified name>"   a public function, class or method without a docstring
#   "all:<file>"                    `__all__` missing, misplaced or incomplete
# The coordinator deletes entries as the other renovations land; the goal is an empty set.
# The set itself is at the end of this file.


@dataclass(frozen=True)
class Module:
    """One source file of the package, parsed."""

    name: str  # dotted, e.g. mlops_gates.gates.runner
    path: Path
    tree: ast.Module

    @property
    def file(self) -> str:
        """The path as the messages show it, relative to the repository root."""
        return self.path.relative_to(ROOT).as_posix()

    @property
    def is_package(self) -> bool:
        """Is this a package's `__init__.py` (relative imports resolve from itself)?"""
        return self.path.name == "__init__.py"


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package."""

    source: Module
    target: str  # dotted module name
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`: never runs


def _modules() -> dict[str, Module]:
    """Every module of the package by dotted name; a package is its `__init__.py`."""
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        found[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    body: list[ast.stmt], type_only: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, at module level and inside functions, classes, branches and
    `try` blocks alike, with whether it sits under `if TYPE_CHECKING:`."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.body, True)
            yield from _import_nodes(node.orelse, type_only)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from _import_nodes(children, type_only)


def _resolve(module: Module, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package modules an import statement loads: `from a import b` is module `a.b`
    when that is a module, else `a`."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    base = node.module or ""
    if node.level:
        package = module.name.split(".")
        if not module.is_package:
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([base] if base else [])])
    if base.split(".")[0] != PACKAGE:
        return []
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        targets.append(sub if sub in MODULES else base)
    return targets


def _imports() -> list[Import]:
    """Every import of one package module by another, wherever it sits."""
    found = []
    for module in MODULES.values():
        for node, type_only in _import_nodes(module.tree.body):
            for target in _resolve(module, node):
                if target != module.name:
                    found.append(Import(module, target, node.lineno, type_only))
    return found


def _floor_key(module: str) -> str:
    """The name under `mlops_gates` that FLOORS places ("" for the package root)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


Problem = tuple[str, str, str]  # (key in KNOWN_EXCEPTIONS, file:line, message)


def _fail_on(problems: list[Problem], what: str) -> None:
    """Fail listing every problem not in KNOWN_EXCEPTIONS, one `file:line: message` each."""
    new = sorted(
        {(where, message) for key, where, message in problems if key not in KNOWN_EXCEPTIONS}
    )
    assert not new, f"{what} ({len(new)}):\n" + "\n".join(f"  {w}: {m}" for w, m in new)


# ---------------------------------------------------------------- layering


def _unplaced() -> list[str]:
    return sorted({_floor_key(name) for name in MODULES} - FLOOR_OF.keys())


def test_every_module_has_a_floor() -> None:
    missing = _unplaced()
    assert not missing, (
        f"modules with no floor in tests/test_layers.py FLOORS: {missing}; add each to the "
        f"floor it belongs on (what it imports must be on that floor or below)"
    )


def _upward() -> list[Problem]:
    """Run-time imports (module level or inside functions) from a higher floor."""
    problems = []
    for imp in _imports():
        if imp.type_only:
            continue  # annotations only: no import at run time, no dependency to order
        here = FLOOR_OF.get(_floor_key(imp.source.name))
        there = FLOOR_OF.get(_floor_key(imp.target))
        if here is None or there is None or there <= here:
            continue
        problems.append(
            (
                f"up:{imp.source.file}:{imp.target}",
                f"{imp.source.file}:{imp.line}",
                f"{imp.source.name} (floor {here}: {'/'.join(FLOORS[here]) or 'root'}) "
                f"imports {imp.target} from floor {there} "
                f"({'/'.join(FLOORS[there]) or 'the package root'}); move the shared code "
                f"down, or pass it in",
            )
        )
    return problems


def test_imports_only_go_down() -> None:
    _fail_on(_upward(), "imports from a higher floor")


def _cycles() -> list[Problem]:
    """Every strongly connected group of modules (Tarjan), one problem per group, shown as
    one circle through it from its smallest module."""
    graph: dict[str, dict[str, Import]] = {name: {} for name in MODULES}
    for imp in _imports():
        if imp.target in graph:
            graph[imp.source.name].setdefault(imp.target, imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    problems = []
    for group in sorted(groups):
        members = set(group)
        path = _circle(graph, group[0], members)
        steps = [graph[a][b] for a, b in pairwise(path)]
        where = ", ".join(f"{s.source.file}:{s.line}" for s in steps)
        problems.append(
            (
                "cycle:" + " -> ".join(m.removeprefix(f"{PACKAGE}.") for m in path),
                where,
                "import circle " + " -> ".join(path) + " (type-only imports count: a circle "
                "of names is still a circle); move what both need into a lower module",
            )
        )
    return problems


def _circle(graph: dict[str, dict[str, Import]], start: str, members: set[str]) -> list[str]:
    """The shortest path from `start` back to itself inside one strongly connected group."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{start} is not on a circle")  # pragma: no cover


def test_no_import_circles() -> None:
    _fail_on(_cycles(), "import circles")


# ---------------------------------------------------------------- docstrings


def _is_overload(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for d in node.decorator_list:
        name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
        if name == "overload" or (isinstance(d, ast.Attribute) and d.attr in {"setter", "deleter"}):
            return True
    return False


def _undocumented() -> list[Problem]:
    """Public functions, classes and methods (of public classes) without a docstring."""
    problems = []

    def walk(module: Module, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.If | ast.Try) and not prefix:
                walk(module, [*node.body, *node.orelse], prefix)
                continue
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_"):
                continue  # private, dunders included: the class's docstring covers them
            if not isinstance(node, ast.ClassDef) and _is_overload(node):
                continue  # the implementation carries the docstring
            qualname = prefix + node.name
            if ast.get_docstring(node) is None:
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                problems.append(
                    (
                        f"doc:{module.file}:{qualname}",
                        f"{module.file}:{node.lineno}",
                        f"public {kind} {qualname} has no docstring (say why and what, not how)",
                    )
                )
            if isinstance(node, ast.ClassDef):
                walk(module, node.body, qualname + ".")

    for module in MODULES.values():
        walk(module, module.tree.body, "")
    return problems


def test_public_names_have_docstrings() -> None:
    _fail_on(_undocumented(), "public definitions without a docstring")


# ---------------------------------------------------------------- __all__


def _is_import_block(node: ast.stmt) -> bool:
    """An import, or an `if TYPE_CHECKING:` / `try:` block holding only imports."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        return all(_is_import_block(n) for n in [*node.body, *node.orelse])
    if isinstance(node, ast.Try):
        inner = [*node.body, *node.orelse, *node.finalbody]
        inner += [n for h in node.handlers for n in h.body]
        return all(_is_import_block(n) or isinstance(n, ast.Pass) for n in inner)
    return False


def _all_problems() -> list[Problem]:
    """The convention (CONTRIBUTING.md, "Code style"): a module that defines public
    functions or classes declares `__all__` as the first statement after its imports, and
    lists every one of them there."""
    problems = []
    for module in MODULES.values():
        body = module.tree.body
        public = [
            n.name
            for n in body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and not n.name.startswith("_")
        ]
        at = [
            i
            for i, n in enumerate(body)
            if isinstance(n, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
            )
        ]
        key = f"all:{module.file}"
        if not at:
            if public:
                problems.append(
                    (key, f"{module.file}:1", f"no __all__; list its public names {public}")
                )
            continue
        node = body[at[0]]
        start = 1 if ast.get_docstring(module.tree) is not None else 0
        imports = [i for i, n in enumerate(body) if _is_import_block(n)]
        expected = (max(imports) + 1) if imports else start
        if at[0] != expected:
            problems.append(
                (
                    key,
                    f"{module.file}:{node.lineno}",
                    "__all__ must be the first statement after the imports (an `if "
                    "TYPE_CHECKING:` import block counts as imports)",
                )
            )
        value = node.value
        listed = set()
        if isinstance(value, ast.List | ast.Tuple):
            listed = {e.value for e in value.elts if isinstance(e, ast.Constant)}
        unlisted = [name for name in public if name not in listed]
        if unlisted:
            problems.append(
                (key, f"{module.file}:{node.lineno}", f"__all__ does not list {unlisted}")
            )
    return problems


def test_all_is_placed_one_way() -> None:
    _fail_on(_all_problems(), "modules breaking the __all__ convention")


# ---------------------------------------------------------------- the list only shrinks


def test_known_exceptions_still_occur() -> None:
    stale = sorted(KNOWN_EXCEPTIONS - set(_current_keys()))
    assert not stale, (
        "fixed, so delete from KNOWN_EXCEPTIONS in tests/test_layers.py:\n  " + "\n  ".join(stale)
    )


def _current_keys() -> list[str]:
    """Every violation's key today, in the order the set below lists them."""
    problems = [*_upward(), *_cycles(), *_undocumented(), *_all_problems()]
    return list(dict.fromkeys(key for key, _, _ in problems))


# ---------------------------------------------------------------- known exceptions

# Empty since the renovation of issue 18 landed: every module is placed, imports go down, there
# are no circles, every public name says what it is for. A change that needs an entry here
# should change its design instead.
KNOWN_EXCEPTIONS: frozenset[str] = frozenset()

if __name__ == "__main__":
    # `python tests/test_layers.py` prints today's keys, to compare with KNOWN_EXCEPTIONS
    # after a merge (what got fixed, what moved). Never paste in a violation a change makes.
    for key in _current_keys():
        print(f'        "{key}",')
