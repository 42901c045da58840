"""Regenerate the screenshots in docs/images/ from the example's report.

    python bench/screenshots.py

Renders report.html from tests/golden/adult-report.json (the Adult example's report.json,
pinned by tests/test_example_adult.py) and photographs it with headless Chromium
(`apt-get install chromium`), with networking disabled. Needs matplotlib (the `plots` extra).
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


def main() -> None:
    from mlops_gates.report.writer import REPORT_HTML, write_report

    doc = json.loads(GOLDEN.read_text(encoding="utf-8"))
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_report(doc, tmp)
        shoot(Path(tmp) / REPORT_HTML, IMAGES / "report-html.png")
    print(f"wrote {IMAGES / 'report-html.png'}")


if __name__ == "__main__":
    main()
