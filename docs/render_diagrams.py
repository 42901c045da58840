"""Render the documentation's diagrams to SVG once, so the site serves pictures and loads
no script from a CDN (mkdocs.yml: pages must work offline).

Sources are Mermaid files in docs/diagrams/*.mmd; each becomes docs/images/diagrams/*.svg,
drawn by a pinned Mermaid (fetched with `npm pack`, the npm registry being the one place it
comes from) in headless Chromium. Every SVG starts with a comment holding the SHA-256 of its
source, so tests/docs/test_diagrams.py can tell a stale picture without a browser.

    python docs/render_diagrams.py            # fetches mermaid@MERMAID with npm
    python docs/render_diagrams.py --mermaid path/to/mermaid.min.js
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DOCS = Path(__file__).parent
SOURCES = DOCS / "diagrams"
OUT = DOCS / "images" / "diagrams"
MERMAID = "11.17.2"
_STAMP = re.compile(r"^<!-- source sha256 ([0-9a-f]{64}) ")


def digest(source: Path) -> str:
    """The SHA-256 of a diagram's source, as stamped into its SVG."""
    return hashlib.sha256(source.read_bytes()).hexdigest()


def stamped(svg: Path) -> str | None:
    """The source digest an SVG was drawn from, or None if it carries none."""
    m = _STAMP.match(svg.read_text(encoding="utf-8")) if svg.exists() else None
    return m.group(1) if m else None


def stale() -> list[str]:
    """Diagrams whose SVG is missing or was drawn from another version of the source."""
    return [
        src.name
        for src in sorted(SOURCES.glob("*.mmd"))
        if stamped(OUT / f"{src.stem}.svg") != digest(src)
    ]


def _fetch_mermaid(into: Path) -> Path:
    subprocess.run(
        ["npm", "pack", f"mermaid@{MERMAID}", "--silent"], cwd=into, check=True, capture_output=True
    )
    (tarball,) = into.glob("mermaid-*.tgz")
    with tarfile.open(tarball) as tar:
        member = tar.getmember("package/dist/mermaid.min.js")
        data = tar.extractfile(member)
        assert data is not None
        path = into / "mermaid.min.js"
        path.write_bytes(data.read())
    return path


def _render(source: Path, mermaid_js: Path, work: Path) -> str:
    # Labels as SVG text (no <foreignObject> HTML), ids from a fixed seed: the same source
    # gives the same file, and the picture shows inside an <img>.
    options = {
        "startOnLoad": False,
        "securityLevel": "strict",
        "theme": "neutral",
        "htmlLabels": False,
        "flowchart": {"htmlLabels": False, "wrappingWidth": 260},
        "deterministicIds": True,
        "deterministicIDSeed": source.stem,
    }
    page = work / f"{source.stem}.html"
    page.write_text(
        '<!doctype html><html><body><pre id="out"></pre>'
        f'<script src="{mermaid_js.resolve().as_uri()}"></script><script>'
        f"mermaid.initialize({json.dumps(options)});"
        f"mermaid.render({json.dumps(source.stem)}, {json.dumps(source.read_text())}).then("
        "r => { document.getElementById('out').textContent = r.svg; },"
        "e => { document.getElementById('out').textContent = 'ERROR ' + e; });"
        "</script></body></html>",
        encoding="utf-8",
    )
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    svg = html.unescape(m.group(1)) if m else ""
    if not svg.startswith("<svg"):
        sys.exit(f"{source}: Mermaid did not draw it: {svg[:300] or 'no output'}")
    return svg


def main(argv: list[str] | None = None) -> int:
    """Render every stale diagram (all of them with --all)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mermaid", type=Path, help="a mermaid.min.js to use instead of npm")
    parser.add_argument("--all", action="store_true", help="render fresh diagrams too")
    args = parser.parse_args(argv)
    todo = [
        SOURCES / n for n in (stale() if not args.all else [p.name for p in SOURCES.glob("*.mmd")])
    ]
    if not todo:
        print("every diagram is current")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mermaid_js = args.mermaid or _fetch_mermaid(work)
        for source in sorted(todo):
            svg = _render(source, mermaid_js, work)
            stamp = (
                f"<!-- source sha256 {digest(source)} docs/diagrams/{source.name}, "
                f"mermaid {MERMAID} -->\n"
            )
            (OUT / f"{source.stem}.svg").write_text(stamp + svg + "\n", encoding="utf-8")
            print(f"wrote docs/images/diagrams/{source.stem}.svg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
