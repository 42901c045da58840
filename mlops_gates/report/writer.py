"""Write a report directory: `report.json` (canonical), `report.md` and, when matplotlib is
installed (the `plots` extra), `report.html` with the plots (all rendered from the JSON).

`report.html: auto | on | off` (config, or `check --html`) says which plots the page draws;
a run writes its directory several times (MLflow adds its context), each time with its
config's choice."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from mlops_gates.errors import MlopsGatesError
from mlops_gates.gates.result import Report

__all__ = ["REPORT_HTML", "REPORT_JSON", "REPORT_MD", "HtmlChoice", "read_report", "write_report"]

HtmlChoice = Literal["auto", "on", "off"]

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
COMPACT_ABOVE = 1000  # verdicts


def write_report(
    report: Report | dict[str, Any], directory: Path | str, *, html: HtmlChoice = "auto"
) -> Path:
    """Write the files; returns the directory. Each file appears whole or not at all.

    `html`: which plots report.html draws (`auto`: the gates that did not pass; `on`: every
    plot; `off`: no page), the config's `report.html`."""
    from mlops_gates.report.markdown import render_markdown

    doc = report.to_dict() if isinstance(report, Report) else report
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Indented for people while small; compact with thousands of verdicts (a 20,000-
        # value slicing), where the indentation alone would be a third of the file.
        indent = 2 if len(doc.get("gates") or []) <= COMPACT_ABOVE else None
        separators = None if indent else (",", ":")
        text = json.dumps(doc, indent=indent, separators=separators, allow_nan=False)
        _atomic_write(out / REPORT_JSON, text + "\n")
        # report.md points to report.html exactly when the page is written.
        _write_pages(doc, out, render_markdown(doc, html_page=html != "off"), html)
    except OSError as exc:
        raise MlopsGatesError(
            f"{out}: cannot write the report ({exc.strerror or exc}); choose another "
            f"directory with --report-dir / --mlops-gates-report-dir"
        ) from None
    return out


def _write_pages(doc: dict[str, Any], out: Path, markdown: str, html: HtmlChoice) -> None:
    _atomic_write(out / REPORT_MD, markdown)
    if html == "off":
        # An older run's page would show other verdicts than report.json.
        (out / REPORT_HTML).unlink(missing_ok=True)
        return
    # The page needs no matplotlib: what `auto` draws is its own SVG, and without the
    # plots extra the page says which other plots it left out.
    from mlops_gates.report.html import render_html

    _atomic_write(out / REPORT_HTML, render_html(doc, plots="all" if html == "on" else "auto"))


def read_report(directory: Path | str) -> dict[str, Any]:
    """The report.json a run wrote to `directory`, or one message saying what is wrong."""
    path = Path(directory) / REPORT_JSON
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlopsGatesError(f"{path}: no report here; run `mlops-gates check` first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise MlopsGatesError(f"{path}: not a readable report ({exc})") from None
    return doc


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
