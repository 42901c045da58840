"""Regenerate the screenshots in docs/images/ from the example's report.

    python bench/screenshots.py            # report.html, report.md, PR body, terminal
    python bench/screenshots.py --mlflow   # and the MLflow run (starts an mlflow server)

Renders report.html from tests/golden/adult-report.json (the Adult example's report.json,
pinned by tests/test_example_adult.py) and photographs it with headless Chromium
(`apt-get install chromium`), with networking disabled. Needs matplotlib (the `plots` extra).
report.md is turned into HTML by cmarkgfm (GitHub's own cmark-gfm; the `test` extra), with
`<details>` opened as a reader would click them, in a page styled like GitHub's Markdown
(its width, tables, code font), and photographed the same way.

The terminal summary is what `mlops-gates check` prints at 80 columns (report/text.py),
its colours turned into HTML, in a `<pre>` page 80 characters wide.

With `--mlflow`, a real `mlflow server` (SQLite store, 127.0.0.1, its own process group,
stopped at the end) receives the example's report as `mlops-gates check` would log it;
Chromium then photographs the run page and its plots once the single-page app has drawn
them (`--virtual-time-budget` lets its requests and timers finish).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "adult-report.json"
IMAGES = ROOT / "docs" / "images"


def shoot(
    page: Path | str, out: Path, *, width: int = 1280, height: int = 2200, wait_ms: int = 0
) -> None:
    """A PNG of `page` (a file, or a loopback URL) as a 1280-pixel-wide browser shows it.
    Nothing beyond 127.0.0.1 resolves; `wait_ms` of virtual time lets a script-drawn page
    finish its requests and timers first."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found: apt-get install chromium")
    url = page.as_uri() if isinstance(page, Path) else page
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=127.0.0.1:9",  # loopback bypasses it: the rest is cut off
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--window-size={width},{height}",
                *([f"--virtual-time-budget={wait_ms}"] if wait_ms else []),
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )


# Close to github.com's rendering of a job summary or comment: its Markdown width and the
# font stacks, table and code styles of its `markdown-body` (no web fonts: system fonts).
GITHUB_LIKE = """
body { margin: 0; background: #fff; }
.markdown-body { box-sizing: border-box; max-width: 1012px; margin: 0 auto; padding: 24px;
  font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif;
  color: #1f2328; }
h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h3 { font-size: 1.25em; } h4 { font-size: 1em; margin: 24px 0 16px; }
table { border-collapse: collapse; display: block; width: max-content; max-width: 100%;
  overflow: auto; margin: 0 0 16px; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
th { font-weight: 600; } tr:nth-child(2n) { background: #f6f8fa; }
code { font: 85% ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", "DejaVu Sans Mono", monospace; background: #818b981f;
  padding: .2em .4em; border-radius: 6px; white-space: break-spaces; }
details { margin: 0 0 16px; } summary { cursor: pointer; }
"""


def markdown_page(markdown: str, *, open_details: bool = False) -> str:
    """report.md as GitHub shows it: cmark-gfm with raw HTML kept (GitHub then sanitizes,
    keeping <details>), in a GitHub-like page."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    body = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    if open_details:
        body = body.replace("<details>", "<details open>")
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>{GITHUB_LIKE}</style></head>"
        f'<body><article class="markdown-body">{body}</article></body></html>'
    )


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_TERMINAL_COLOURS = {"31": "#ff6b6b", "32": "#5fd75f", "33": "#e5c07b", "36": "#56b6c2"}
TERMINAL = """
body { margin: 0; background: #1e1e1e; }
pre { box-sizing: content-box; width: 80ch; margin: 0; padding: 14px 16px; color: #d4d4d4;
  font: 14px/1.35 "DejaVu Sans Mono", "Liberation Mono", ui-monospace, monospace; }
.prompt { color: #9cdcfe; }
"""


def terminal_page(lines: list[str], command: str) -> str:
    """Terminal output (with SGR colour codes) as an HTML page 80 characters wide."""
    out = []
    for line in lines:
        parts, style, pos = [], "", 0
        for m in _SGR.finditer(line):
            parts.append(_span(line[pos : m.start()], style))
            codes = m.group(1).split(";")
            style = "" if codes in (["0"], [""]) else _css(codes)
            pos = m.end()
        parts.append(_span(line[pos:], style))
        out.append("".join(parts))
    prompt = f'<span class="prompt">$</span> {html.escape(command)}'
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>{TERMINAL}</style></head><body><pre>{prompt}\n"
        + "\n".join(out)
        + "</pre></body></html>"
    )


def _css(codes: list[str]) -> str:
    bold = "font-weight:bold;" if "1" in codes else ""
    colour = next((_TERMINAL_COLOURS[c] for c in codes if c in _TERMINAL_COLOURS), "")
    return bold + (f"color:{colour};" if colour else "")


def _span(text: str, style: str) -> str:
    text = html.escape(text)
    return f'<span style="{style}">{text}</span>' if style and text else text


def terminal_lines(doc: dict[str, object], report_dir: str) -> list[str]:
    """What `mlops-gates check` prints for the example in an 80-column terminal."""
    from mlops_gates.report.text import render_table

    lines = render_table(doc, width=80, verbose=False, colour=True)
    return [*lines, f"report: {report_dir}/report.json, {report_dir}/report.md"]


def mlflow_shots(doc: dict[str, object]) -> list[Path]:
    """Log the example's report to a fresh `mlflow server` on loopback and photograph the
    run page and its plots in the MLflow UI."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mlflow_server import MlflowServer  # the tests' server: the same start and stop

    from mlops_gates.tracking import track

    written = []
    with tempfile.TemporaryDirectory() as tmp:
        server = MlflowServer(Path(tmp) / "server")
        server.start()
        try:
            os.environ.update(
                MLFLOW_TRACKING_URI=server.url,
                MLFLOW_DISABLE_TELEMETRY="true",
                MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
            )
            report_dir = Path(tmp) / "report"
            report_dir.mkdir()
            logged, outcome = track(json.loads(json.dumps(doc)), report_dir, None)
            mlflow = (logged.get("context") or {}).get("mlflow") or {}  # type: ignore[union-attr]
            if not mlflow.get("run_id"):
                sys.exit(f"the run was not logged: {outcome}")
            run = f"{server.url}/#/experiments/{mlflow['experiment_id']}/runs/{mlflow['run_id']}"
            shots = {
                "mlflow-run.png": (run, 1500),
                "mlflow-plots.png": (f"{run}/artifacts/plots/gate-accuracy-by-slice.png", 1100),
            }
            # MLflow 3.17 opens its assistant panel on a first visit and keeps it open
            # (local storage), so the pictures show it.
            for name, (url, height) in shots.items():
                shoot(url, IMAGES / name, height=height, wait_ms=25_000)
                written.append(IMAGES / name)
        finally:
            server.stop()
    return written


def main() -> None:
    from mlops_gates.report.writer import REPORT_HTML, REPORT_MD, write_report

    parser = argparse.ArgumentParser(description="Regenerate the screenshots in docs/images/.")
    parser.add_argument("--mlflow", action="store_true", help="also the MLflow run")
    parser.add_argument("--only-mlflow", action="store_true", help="only the MLflow run")
    args = parser.parse_args()
    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    IMAGES.mkdir(exist_ok=True)
    if args.mlflow or args.only_mlflow:
        print("wrote", ", ".join(str(p) for p in mlflow_shots(doc)))
    if args.only_mlflow:
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_report(doc, tmp, html="on")  # every plot, as `report.html: on` draws them
        page = Path(tmp) / "terminal.html"
        command = "mlops-gates check --config examples/adult/mlops-gates.yaml"
        lines = terminal_lines(doc, "mlops-gates-report")
        page.write_text(terminal_page(lines, command), encoding="utf-8")
        shoot(page, IMAGES / "terminal.png", width=760, height=470)
        shoot(Path(tmp) / REPORT_HTML, IMAGES / "report-html.png")
        page = Path(tmp) / "report-md.html"
        markdown = (Path(tmp) / REPORT_MD).read_text(encoding="utf-8")
        page.write_text(markdown_page(markdown), encoding="utf-8")
        shoot(page, IMAGES / "report-md.png", height=1500)
        page.write_text(markdown_page(promotion_body()), encoding="utf-8")
        shoot(page, IMAGES / "promotion-body.png", height=1500)
    print(f"wrote {IMAGES}/report-html.png, report-md.png, promotion-body.png, terminal.png")


def promotion_body() -> str:
    """The promotion pull request body `mlops-gates promote` opens for the example (from the
    report tests/promote/test_body.py pins: the golden's digests and clock are placeholders)."""
    from mlops_gates.promote.plan import PromoteOptions, make_plan

    doc = json.loads((ROOT / "tests" / "fixtures" / "adult-report.json").read_text("utf-8"))
    options = PromoteOptions(model="adult-income", version="7")
    return make_plan(doc, options, now="2026-11-23T10:00:00Z").body("main", None)


if __name__ == "__main__":
    main()
