"""The docs' diagrams are pictures served by the site itself: SVG files drawn once from
Mermaid sources by docs/render_diagrams.py, current with those sources, and no page asks the
theme to draw Mermaid (it would fetch mermaid.js from a CDN)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def _renderer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_diagrams", DOCS / "render_diagrams.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_page_has_a_mermaid_fence() -> None:
    fenced = [str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "```mermaid" in p.read_text()]
    assert not fenced, (
        f"{', '.join(fenced)}: a ```mermaid block makes the theme load mermaid.js from a CDN; "
        "put the diagram in docs/diagrams/NAME.mmd, run `python docs/render_diagrams.py` and "
        "show images/diagrams/NAME.svg"
    )


def test_every_diagram_is_drawn_from_its_current_source() -> None:
    module = _renderer()
    sources = sorted(p.stem for p in (DOCS / "diagrams").glob("*.mmd"))
    assert sources == ["attestation-flow", "data-flow", "promotion-flow"]
    assert module.stale() == [], "a diagram changed: run `python docs/render_diagrams.py`"


def test_diagrams_are_self_contained_svg() -> None:
    for svg in sorted((DOCS / "images" / "diagrams").glob("*.svg")):
        text = svg.read_text()
        assert "<svg" in text and "<script" not in text, svg.name
        # Labels are SVG text, not HTML in <foreignObject> (which some viewers leave blank),
        # and nothing is fetched from elsewhere.
        assert "foreignObject" not in text, svg.name
        assert not re.search(r"(?:href|src)=\"https?:", text), svg.name
        # Every label of the source is in the picture.
        source = (DOCS / "diagrams" / f"{svg.stem}.mmd").read_text()
        for label in re.findall(r"\[\"?([^\]\"<]+)", source):
            first = label.split()[0]
            assert first in text, (svg.name, label)


def test_every_diagram_is_shown_on_a_page() -> None:
    pages = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    for svg in (DOCS / "images" / "diagrams").glob("*.svg"):
        assert f"images/diagrams/{svg.name})" in pages, svg.name
