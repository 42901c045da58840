"""Regenerate the screenshots in docs/images/ from the example's report.

    python bench/screenshots.py

Renders report.html from tests/golden/adult-report.json (the Adult example's report.json,
pinned by tests/test_example_adult.py) and photographs it with headless Chromium
(`apt-get install chromium`), with networking disabled. Needs matplotlib (the `plots` extra).
report.md is turned into HTML by cmarkgfm (GitHub's own cmark-gfm; the `test` extra), with
`<details>` opened as a reader would click them, in a page styled like GitHub's Markdown
(its width, tables, code font), and photographed the same way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "adult-report.json"
IMAGES = ROOT / "docs" / "images"


def shoot(page: Path, out: Path, *, width: int = 1280, height: int = 2200) -> None:
    """A PNG of `page` as a 1280-pixel-wide browser shows it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--proxy-server=127.0.0.1:9",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--window-size={width},{height}",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
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


def main() -> None:
    from mlops_gates.report.writer import REPORT_HTML, REPORT_MD, write_report

    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_report(doc, tmp)
        shoot(Path(tmp) / REPORT_HTML, IMAGES / "report-html.png")
        page = Path(tmp) / "report-md.html"
        markdown = (Path(tmp) / REPORT_MD).read_text(encoding="utf-8")
        page.write_text(markdown_page(markdown), encoding="utf-8")
        shoot(page, IMAGES / "report-md.png", height=1500)
        page.write_text(markdown_page(promotion_body()), encoding="utf-8")
        shoot(page, IMAGES / "promotion-body.png", height=1500)
    print(f"wrote {IMAGES / 'report-html.png'}, {IMAGES / 'report-md.png'}, promotion-body.png")


def promotion_body() -> str:
    """The promotion pull request body `mlops-gates promote` opens for the example (from the
    report tests/promote/test_body.py pins: the golden's digests and clock are placeholders)."""
    from mlops_gates.promote.plan import PromoteOptions, make_plan

    doc = json.loads((ROOT / "tests" / "fixtures" / "adult-report.json").read_text("utf-8"))
    options = PromoteOptions(model="adult-income", version="7")
    return make_plan(doc, options, now="2026-11-23T10:00:00Z").body("main", None)


if __name__ == "__main__":
    main()
