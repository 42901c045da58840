"""Write docs/reference/*.md from the code: the JSON Schemas, the argparse parser, the pytest
plugin, the action.yml files and the metric registry.

    python docs/gen_reference.py           # rewrite the pages
    python docs/gen_reference.py --check   # exit 1 if a committed page differs

The pages are committed so they read well on GitHub too; tests/test_docs_reference.py fails
when one is stale, so a new option, config key or metric cannot ship undocumented. Nothing
here is hand-kept prose about an option: every sentence in a table comes from the code.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "reference"
SCHEMAS = ROOT / "mlops_gates" / "schemas"
REGENERATE = "python docs/gen_reference.py"


def _banner(source: str) -> str:
    return (
        f"<!-- Generated from {source} by docs/gen_reference.py; do not edit by hand: "
        f"change the source and run `{REGENERATE}`. -->\n\n"
    )


def _cell(text: object) -> str:
    """One Markdown table cell: no line breaks, pipes escaped, `<` outside code spans
    escaped (help strings say `<name>`, which Markdown would take for an HTML tag)."""
    s = " ".join(str(text).split())
    parts = re.split(r"(`[^`]*`)", s)
    out = [p if p.startswith("`") else p.replace("<", "&lt;") for p in parts]
    return "".join(out).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- JSON Schema ------------------------------------------------------------------------


def _inline(text: object) -> str:
    """Running Markdown text on one line, `<` outside code spans escaped (as `_cell`)."""
    s = " ".join(str(text).split())
    parts = re.split(r"(`[^`]*`)", s)
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)


def _definitions(rows: list[list[str]]) -> str:
    """Schema rows (key, type, required, default, meaning) as a definition list: the key
    and its type, requiredness and default on the term line, the meaning below it at the
    page's full width. A five-column table squeezed the meaning into a narrow column and
    broke key names mid-word at 1280 px."""
    out = []
    for key, kind, required, default, meaning in rows:
        term = [key, _inline(kind)]
        if required:
            term.append("**required**")
        if default:
            term.append(f"default {default}")
        if not meaning and kind.startswith("`") and kind.endswith("`") and " " not in kind:
            meaning = f"Always {kind}."  # a constant, such as each gate's `kind`
        # A key the schema says nothing about is its term line alone (no empty definition).
        out.append(" · ".join(term) + (f"\n:   {_inline(meaning)}" if meaning else "") + "\n")
    return "\n".join(out)


class _SchemaPage:
    """One JSON Schema as Markdown: the root object and every object in `$defs` get a
    section with a definition list; nested inline objects are flattened into dotted keys."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.used_at: dict[str, list[str]] = {}

    def _is_table(self, name: str) -> bool:
        return "properties" in self.defs.get(name, {})

    def type_of(self, node: dict[str, Any], where: str) -> str:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if self._is_table(name):
                self.used_at.setdefault(name, []).append(where)
                return f"[{name}](#{name.lower()})"
            return self.type_of(self.defs[name], where)
        if "const" in node:
            return f"`{json.dumps(node['const'])}`"
        if "enum" in node:
            return " | ".join(f"`{json.dumps(v)}`" for v in node["enum"])
        for key in ("oneOf", "anyOf"):
            if key in node:
                kinds = [self.type_of(n, where) for n in node[key]]
                return " or ".join(dict.fromkeys(kinds))
        kind = node.get("type")
        if isinstance(kind, list):
            return " or ".join(self.type_of({**node, "type": k}, where) for k in kind)
        if kind == "array":
            items = node.get("items", {})
            inner = self.type_of(items, where + "[]") if items else ""
            return f"list of ({inner})" if " or " in inner else f"list of {inner}".strip()
        if kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"map of string to {self.type_of(extra, where + '.*')}"
            return "object"
        return str(kind) if kind else "any"

    @staticmethod
    def _constraints(node: dict[str, Any]) -> str:
        words = {
            "minimum": "≥ {}",
            "maximum": "≤ {}",
            "exclusiveMinimum": "> {}",
            "exclusiveMaximum": "< {}",
            "minLength": "at least {} characters",
            "maxLength": "at most {} characters",
            "minItems": "at least {} item(s)",
            "pattern": "matches `{}`",
            "format": "format {}",
        }
        found = [w.format(node[k]) for k, w in words.items() if k in node]
        return f" ({'; '.join(found)})" if found else ""

    def rows(self, node: dict[str, Any], prefix: str = "", owner: str = "") -> Iterator[list[str]]:
        required = set(node.get("required", []))
        for key, sub in node.get("properties", {}).items():
            path = f"{prefix}{key}"
            described = sub.get("description", "")
            refs = [sub, *sub.get("anyOf", []), *sub.get("oneOf", [])]
            ref = next((r["$ref"] for r in refs if "$ref" in r), None)
            if ref and not described:
                described = self.defs.get(ref.rsplit("/", 1)[-1], {}).get("description", "")
            default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
            yield [
                f"`{path}`",
                self.type_of(sub, f"{owner}.{path}" if owner else path) + self._constraints(sub),
                "yes" if key in required else "",
                default,
                described,
            ]
            if sub.get("type") in ("object", ["object", "null"]) and "properties" in sub:
                yield from self.rows(sub, prefix=f"{path}.", owner=owner)

    def render(self, title: str, source: str, intro: str) -> str:
        root = _definitions(list(self.rows(self.schema)))
        parts: list[str] = []
        done: set[str] = set()
        # Walk the definitions in the order the root reaches them, so the page reads top down.
        todo = list(self.used_at)
        while todo:
            name = todo.pop(0)
            if name in done:
                continue
            done.add(name)
            node = self.defs[name]
            before = set(self.used_at)
            table = _definitions(list(self.rows(node, owner=name)))
            todo += [n for n in self.used_at if n not in before]
            where = ", ".join(f"`{w}`" for w in dict.fromkeys(self.used_at[name]))
            text = node.get("description", "")
            parts.append(
                f"## {name} {{#{name.lower()}}}\n\nUsed at {where}.\n\n"
                + (f"{text}\n\n" if text else "")
                + table
            )
        desc = self.schema.get("description", "")
        return (
            _banner(source)
            + f"# {title}\n\n{intro}\n\n"
            + (f"{desc}\n\n" if desc else "")
            + "## Top level\n\n"
            + root
            + "\n"
            + "\n".join(parts)
        )


def schema_page(file: str, title: str, intro: str) -> str:
    if file == "config.schema.json":
        from mlops_gates.config import json_schema

        # The models are the source; the shipped file is their export (tests/config/test_config.py
        # keeps the two equal).
        schema = json_schema()
    else:
        schema = json.loads((SCHEMAS / file).read_text())
    return _SchemaPage(schema).render(title, f"mlops_gates/schemas/{file}", intro)


# --- the command line -------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.items())
    return found


def _argument_row(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    formatter = parser._get_formatter()
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += f" {formatter._format_args(action, action.dest.upper())}"
    else:
        name = formatter._format_args(action, action.dest)
    help_text = formatter._expand_help(action) if action.help else ""
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        help_text += " (one of: " + ", ".join(f"`{c}`" for c in action.choices) + ")"
    default = action.default
    shown = ""
    if action.nargs != 0 and default not in (None, argparse.SUPPRESS) and default != []:
        shown = f"`{default}`"
    return [f"`{name}`", "yes" if action.required else "", shown, help_text]


def _command_sections(parser: argparse.ArgumentParser) -> Iterator[str]:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=88)
    for name, sub in _subcommands(parser):
        sub.formatter_class = functools.partial(argparse.HelpFormatter, width=88)
        usage = sub.format_usage().removeprefix("usage: ").strip()
        rows = [
            _argument_row(sub, a)
            for a in sub._actions
            if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
        ]
        nested = _subcommands(sub)
        text = f"## `{sub.prog}` {{#{sub.prog.replace(' ', '-')}}}\n\n"
        text += f"```\n{usage}\n```\n\n"
        if sub.description:
            text += " ".join(sub.description.split()) + "\n\n"
        if rows:
            text += _table(["argument", "required", "default", "meaning"], rows) + "\n"
        if nested:
            text += "Subcommands: " + ", ".join(f"`{n}`" for n, _ in nested) + ".\n\n"
        del name
        yield text
        yield from _command_sections(sub)


def cli_page() -> str:
    from mlops_gates.cli import build_parser

    parser = build_parser()
    commands = _subcommands(parser)
    index = _table(
        ["command", "what it does"],
        [[f"[`mlops-gates {n}`](#mlops-gates-{n})", _summary(parser, n)] for n, _ in commands],
    )
    return (
        _banner("the argparse parser in mlops_gates/cli/")
        + "# Command line: `mlops-gates`\n\n"
        + "Every subcommand answers `--help` with the same text; `mlops-gates --version` "
        "prints the version.\n\n" + index + "\n" + "\n".join(_command_sections(parser))
    )


def _summary(parser: argparse.ArgumentParser, command: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == command:
                    return choice.help or ""
    return ""


# --- the pytest plugin ------------------------------------------------------------------


class _OptionRecorder:
    """Stands in for pytest's Parser and OptionGroup: the plugin's pytest_addoption writes
    into it, so the page lists exactly what pytest would register."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.ini: list[tuple[str, str, Any]] = []

    def getgroup(self, name: str, description: str = "", after: str | None = None) -> Any:
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.options.append((names, attrs))

    def addini(self, name: str, help: str, type: Any = None, default: Any = None) -> None:
        self.ini.append((name, help, default))


class _ConfigRecorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def addinivalue_line(self, name: str, line: str) -> None:
        self.lines.append((name, line))

    def getoption(self, name: str) -> Any:
        return False  # the plugin stays inert: only the marker is registered


def pytest_page() -> str:
    import mlops_gates.pytest_plugin as plugin

    options = _OptionRecorder()
    # No plugin manager here: nothing for the plugin to take off pytest's rewrite list.
    plugin.pytest_addoption(options, SimpleNamespace())  # type: ignore[arg-type]
    config = _ConfigRecorder()
    plugin.pytest_configure(config)  # type: ignore[arg-type]
    option_rows = []
    for names, attrs in options.options:
        metavar = attrs.get("metavar")
        flag = ", ".join(names) + (f" {metavar}" if metavar else "")
        option_rows.append([f"`{flag}`", attrs.get("help", "")])
    ini_rows = [[f"`{n}`", h, "" if d is None else f"`{d}`"] for n, h, d in options.ini]
    marker_rows = []
    for kind, line in config.lines:
        if kind == "markers":
            signature, _, meaning = line.partition(": ")
            marker_rows.append([f"`@pytest.mark.{signature}`", meaning])
    fixture_rows = []
    for name, obj in vars(plugin).items():
        marker = getattr(obj, "_fixture_function_marker", None)
        if marker is not None:
            returns = inspect.signature(obj._get_wrapped_function()).return_annotation
            fixture_rows.append(
                [f"`{name}`", marker.scope, f"`{returns}`", inspect.getdoc(obj) or ""]
            )
    from mlops_gates.sources.evaluation import EvalData

    data_rows = [[f"`{f}`", f"`{t}`"] for f, t in inspect.get_annotations(EvalData).items()] + [
        [f"`{name}`", f"`{inspect.get_annotations(prop.fget)['return']}`"]
        for name, prop in vars(EvalData).items()
        if isinstance(prop, property) and prop.fget is not None
    ]
    return (
        _banner("mlops_gates/pytest_plugin.py")
        + "# pytest plugin reference\n\n"
        + "The plugin is registered by the `pytest11` entry point `mlops_gates`; without "
        "`--mlops-gates` it only registers what is listed here. How it behaves: "
        "[pytest plugin](../pytest.md).\n\n"
        + "## Command-line options\n\n"
        + _table(["option", "meaning"], option_rows)
        + "\n## ini keys\n\n"
        + _table(["key", "meaning", "default"], ini_rows)
        + "\n## Markers\n\n"
        + _table(["marker", "meaning"], marker_rows)
        + "\n## Fixtures\n\n"
        + "Without `--mlops-gates` these fixtures skip the test that asks for them.\n\n"
        + _table(["fixture", "scope", "type", "value"], fixture_rows)
        + "\n### `EvalData` fields\n\n"
        + _table(["field", "type"], data_rows)
    )


# --- the actions ------------------------------------------------------------------------


def actions_page() -> str:
    parts = []
    for file in sorted((ROOT / "actions").glob("*/action.yml")):
        spec = yaml.safe_load(file.read_text())
        name = file.parent.name
        inputs = [
            [
                f"`{k}`",
                "yes" if v.get("required") else "",
                f"`{v['default']}`" if v.get("default") not in (None, "") else "",
                v.get("description", ""),
            ]
            for k, v in (spec.get("inputs") or {}).items()
        ]
        outputs = [[f"`{k}`", v.get("description", "")] for k, v in spec["outputs"].items()]
        parts.append(
            f"## `actions/{name}` {{#{name}}}\n\n"
            f"`uses: mlops-gates/mlops-gates/actions/{name}@<ref>`\n\n"
            + " ".join(str(spec.get("description", "")).split())
            + "\n\n### Inputs\n\n"
            + _table(["input", "required", "default", "meaning"], inputs)
            + "\n### Outputs\n\n"
            + _table(["output", "meaning"], outputs)
        )
    return (
        _banner("actions/*/action.yml")
        + "# GitHub Actions reference\n\n"
        + "Composite actions; they need a Python set up earlier in the job. How to use "
        "them: [GitHub Actions](../github-actions.md).\n\n" + "\n".join(parts)
    )


# --- metrics ----------------------------------------------------------------------------


def metrics_page() -> str:
    from mlops_gates.catalog import FAIRNESS_METRICS, METRICS
    from mlops_gates.stats import fairness
    from mlops_gates.stats.metrics import UNDEFINED_WHEN

    better = {True: "higher", False: "lower", None: "no direction"}
    rows = [
        [
            f"`{s.name}`",
            ", ".join(sorted(s.tasks)),
            s.description,
            better[s.greater_is_better],
            UNDEFINED_WHEN[s.name],
        ]
        for s in METRICS.values()
    ]
    fair_rows = []
    for name in FAIRNESS_METRICS:
        criterion, _, measure = name.rpartition("_")
        doc = _rst(inspect.getdoc(getattr(fairness, criterion)) or "")
        fair_rows.append([f"`{name}`", measure, doc])
    between = _rst(inspect.getdoc(fairness.between_groups) or "")
    return (
        _banner(
            "mlops_gates/catalog.py (METRICS, FAIRNESS_METRICS), stats/metrics.py "
            "(UNDEFINED_WHEN) and stats/fairness.py"
        )
        + "# Metrics reference\n\n"
        + "Names for `metric:` in `metric` and `baseline` gates, and (with `measure:`) in "
        "`fairness` gates. An undefined value is never reported as 0: the verdict has "
        "`observed: null` and reason `undefined` (an `error` on the whole data, and the "
        "slice's outcome otherwise). Binary tasks: the positive class is "
        "`task.positive_label`. Numbers equal scikit-learn's with `zero_division=np.nan`; "
        "differences are listed in the last column.\n\n"
        + _table(["metric", "tasks", "formula", "better", "undefined when"], rows)
        + "\n## Fairness metrics\n\n"
        + "For binary tasks, over the groups of `sensitive` (within each stratum of "
        "`control`). Any metric above can be compared the same way with `measure: "
        "difference` or `measure: ratio`.\n\n"
        + _table(["metric", "measure", "what is compared"], fair_rows)
        + f"\nAcross groups: {' '.join(between.split())}\n"
    )


def _rst(text: str) -> str:
    """Docstrings use reStructuredText literals (``x``); Markdown wants `x`."""
    return text.replace("``", "`")


# --- driver -----------------------------------------------------------------------------


PAGES: dict[str, Callable[[], str]] = {
    "config.md": lambda: schema_page(
        "config.schema.json",
        "Configuration reference",
        "Every key of `mlops-gates.yaml`, from its JSON Schema (also printed by "
        "`mlops-gates config-schema`). How to write one: [configuration](../config.md).",
    ),
    "report.md": lambda: schema_page(
        "report.schema.json",
        "Report reference: `report.json`",
        "Every field of `report.json`, from its JSON Schema. What the report is for: "
        "[report](../report.md).",
    ),
    "manifest.md": lambda: schema_page(
        "manifest.schema.json",
        "Deploy manifest reference: `deploy/<model>.yaml`",
        "Every field of the deploy manifest that `mlops-gates promote` writes, from its "
        "JSON Schema. How it is used: [promotion pull requests](../promotion.md).",
    ),
    "profile.md": lambda: schema_page(
        "profile.schema.json",
        "Reference profile format",
        "Every field of a profile written by `mlops-gates profile`, from its JSON Schema. "
        "How it is used: [drift](../drift.md).",
    ),
    "cli.md": cli_page,
    "pytest.md": pytest_page,
    "actions.md": actions_page,
    "metrics.md": metrics_page,
}


def generate() -> dict[str, str]:
    return {name: make().rstrip("\n") + "\n" for name, make in PAGES.items()}


def stale(out: Path = OUT) -> list[str]:
    """Pages whose committed text differs from what the code generates now."""
    return [n for n, text in generate().items() if _read(out / n) != text]


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        bad = stale()
        for name in bad:
            print(f"docs/reference/{name} is stale: run `{REGENERATE}`", file=sys.stderr)
        return 1 if bad else 0
    if argv:
        print(f"usage: {REGENERATE} [--check]", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in generate().items():
        if _read(OUT / name) != text:
            (OUT / name).write_text(text, encoding="utf-8")
            print(f"wrote docs/reference/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
