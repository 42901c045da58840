"""GitHub Actions output of a report: annotations, the job summary and step outputs.

Everything is rendered from report.json, like every other reporter. The workflow-command
syntax (`::error file=F,line=N,title=T::message`) and its escaping follow GitHub's
"Workflow commands for GitHub Actions"; outside Actions (no GITHUB_STEP_SUMMARY /
GITHUB_OUTPUT) only the annotations are printed, so a run can be previewed locally.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_gates._text import clean, clean_block

__all__ = [
    "MAX_ANNOTATIONS",
    "SUMMARY_LIMIT",
    "Location",
    "annotation_lines",
    "append_outputs",
    "append_summary",
    "escape_data",
    "escape_property",
    "locate_config",
    "no_report_summary",
    "publish",
    "step_outputs",
    "summary",
    "workflow_command",
]

# GitHub shows at most 10 error and 10 warning annotations of one step; more are dropped
# silently, so the last one we print says how many more there are.
MAX_ANNOTATIONS = 10
# A step's summary may hold at most 1 MiB; past that GitHub drops the whole summary.
SUMMARY_LIMIT = 1024 * 1024
TITLE = "mlops-gates"
_CLOSE = "\n</details>\n"
_VERB = {"fail": "failed", "error": "could not be evaluated", "warn": "warning"}


def escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF would end or corrupt the command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,`, which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int | None) -> str:
    """One `::command props::message` line for the Actions runner, every part escaped."""
    props = ",".join(
        f"{k}={escape_property(clean(v))}" for k, v in properties.items() if v not in (None, "")
    )
    # Terminal escapes and bidi overrides in a message would reach the log raw.
    return f"::{command}{' ' + props if props else ''}::{escape_data(clean_block(message))}"


@dataclass(frozen=True)
class Location:
    """Where annotations point: the config file, relative to the repository root."""

    file: str | None
    gate_lines: Mapping[str, int]


def locate_config(
    config_path: str | None, *, workspace: str | None = None, cwd: Path | None = None
) -> Location:
    """The config file relative to the workspace, and the line that declares each gate id.

    A config outside the workspace (or unreadable) gives annotations without a file.
    """
    if not config_path:
        return Location(None, {})
    path = Path(config_path)
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    root = Path(workspace) if workspace else (cwd or Path.cwd())
    try:
        relative = path.resolve().relative_to(root.resolve()).as_posix()
        text = path.read_text(encoding="utf-8")
    except (ValueError, OSError, UnicodeDecodeError):
        return Location(None, {})
    lines: dict[str, int] = {}
    pattern = re.compile(r"""^\s*(?:-\s*)?id:\s*(["']?)(?P<id>[^"'#]*?)\1\s*(?:#.*)?$""")
    for number, line in enumerate(text.splitlines(), start=1):
        m = pattern.match(line)
        if m:
            lines.setdefault(m.group("id"), number)
    return Location(relative, lines)


def annotation_lines(
    doc: Mapping[str, Any], location: Location | None = None, *, limit: int = MAX_ANNOTATIONS
) -> list[str]:
    """One `::error` per blocking gate that failed or errored (and per run-level error),
    one `::warning` per warning (and per run-level warning); at most `limit` of each, the
    last one counting the rest."""
    where = location or Location(None, {})
    errors: list[tuple[str, str, int | None]] = [
        (f"{TITLE}: run error", str(e), None) for e in doc.get("errors") or []
    ]
    warnings: list[tuple[str, str, int | None]] = [
        (f"{TITLE}: run warning", str(w), None) for w in doc.get("warnings") or []
    ]
    for g in doc.get("gates") or []:
        status, severity = g.get("status"), g.get("severity")
        title = f"{TITLE}: {g.get('id')} {_VERB.get(str(status), status)}"
        entry = (title, str(g.get("message") or ""), where.gate_lines.get(str(g.get("gate"))))
        if status in ("fail", "error") and severity == "block":
            errors.append(entry)
        elif status in ("warn", "fail", "error"):  # non-blocking: severity warn
            warnings.append(entry)
    out: list[str] = []
    for command, entries in (("error", errors), ("warning", warnings)):
        shown = entries if len(entries) <= limit else entries[: limit - 1]
        for title, message, line in shown:
            out.append(
                workflow_command(
                    command,
                    message,
                    file=where.file,
                    line=line if where.file else None,
                    title=title,
                )
            )
        if len(shown) < len(entries):
            rest = len(entries) - len(shown)
            noun = "errors" if command == "error" else "warnings"
            out.append(
                workflow_command(
                    command,
                    f"{rest} more {noun}; the job summary and the report artifact list them all",
                    file=where.file,
                    title=f"{TITLE}: {rest} more {noun}",
                )
            )
    return out


def summary(markdown: str, *, limit: int = SUMMARY_LIMIT) -> str:
    """The job summary: report.md (cleaned of control characters again: the file may come
    from elsewhere), cut at a line boundary to fit GitHub's limit."""
    markdown = clean_block(markdown)
    if len(markdown.encode("utf-8")) <= limit:
        return markdown if markdown.endswith("\n") else markdown + "\n"
    note = (
        "\n\n_The report is longer than a job summary may be; the rest is in report.md "
        "in the report artifact._\n"
    )
    budget = limit - len(note.encode("utf-8"))
    kept = markdown.encode("utf-8")[: budget - len(_CLOSE)].decode("utf-8", "ignore")
    kept = kept[: kept.rfind("\n") + 1]
    # Cut inside a folded section, the note would be folded away with the rest.
    if kept.count("<details>") > kept.count("</details>"):
        kept += _CLOSE
    return kept + note


def no_report_summary(report_dir: str, reason: str) -> str:
    """The job summary when no report was written: say so, and where the reason is."""
    return (
        f"## 💥 mlops-gates: no report\n\n`mlops-gates check` wrote no report to "
        f"`{report_dir}`: {reason}\n\nThe log of the step that ran the gates says why "
        f"(most often a config error: exit status 2).\n"
    )


def step_outputs(doc: Mapping[str, Any] | None, report_dir: str) -> dict[str, str]:
    """`status`, `report-dir` and `mlflow-run-id` ("" when the run was not tracked)."""
    if doc is None:
        return {"status": "error", "report-dir": report_dir, "mlflow-run-id": ""}
    run_id = ((doc.get("context") or {}).get("mlflow") or {}).get("run_id")
    return {
        "status": str(doc.get("status", "error")),
        "report-dir": report_dir,
        "mlflow-run-id": "" if run_id is None else str(run_id),
    }


def append_outputs(path: str | os.PathLike[str], outputs: Mapping[str, str]) -> None:
    """Append `name=value` lines to a $GITHUB_OUTPUT file (a delimited block for a value
    with a line break, as GitHub requires)."""
    with open(path, "a", encoding="utf-8") as f:
        for name, value in outputs.items():
            if "\n" in value or "\r" in value:
                delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
                f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                f.write(f"{name}={value}\n")


def append_summary(path: str | os.PathLike[str], markdown: str) -> None:
    """Add Markdown to the job summary file ($GITHUB_STEP_SUMMARY)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(markdown)


def publish(
    report_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    print_line: Callable[[str], object] = print,
) -> dict[str, str]:
    """Print the annotations; append the summary and the step outputs where GitHub Actions
    asks for them (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT). Returns the outputs."""
    from mlops_gates.errors import MlopsGatesError
    from mlops_gates.report.writer import REPORT_MD, read_report

    env = os.environ if environ is None else environ
    shown_dir = str(report_dir)
    doc: dict[str, Any] | None = None
    try:
        doc = read_report(report_dir)
    except MlopsGatesError as exc:
        lines = [workflow_command("error", str(exc), title=f"{TITLE}: no report")]
        markdown = no_report_summary(shown_dir, str(exc))
    else:
        context = doc.get("context") or {}
        location = locate_config(context.get("config_path"), workspace=env.get("GITHUB_WORKSPACE"))
        lines = annotation_lines(doc, location)
        md_path = report_dir / REPORT_MD
        if md_path.is_file():
            markdown = md_path.read_text(encoding="utf-8")
        else:
            from mlops_gates.report.markdown import render_markdown

            markdown = render_markdown(doc)
    for line in lines:
        print_line(line)
    outputs = step_outputs(doc, shown_dir)
    if env.get("GITHUB_STEP_SUMMARY"):
        append_summary(env["GITHUB_STEP_SUMMARY"], summary(markdown))
    if env.get("GITHUB_OUTPUT"):
        append_outputs(env["GITHUB_OUTPUT"], outputs)
    return outputs
