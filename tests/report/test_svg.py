"""report.html's own SVG (report/svg.py): the interval plots and drift histograms a default
page draws without matplotlib.

The geometry is read back from outside the renderer: the SVG is parsed, the axis is
recovered from its tick labels and their positions, and every point, interval end, bound
and bar must land on report.json's numbers within half a pixel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Project

from mlops_gates.report.html import render_html
from mlops_gates.report.plot_style import STATUS_COLOURS
from mlops_gates.report.plots import interval_panels
from mlops_gates.report.svg import panel_svg
from mlops_gates.report.svg_base import nice_ticks

from .conftest import HOSTILE, picture_config, picture_frame, reference_frame

NS = {"s": "http://www.w3.org/2000/svg"}
HALF_PIXEL = 0.5
RANK = {"error": 0, "fail": 1, "warn": 2, "skip": 3, "pass": 4}


def _native(html: str) -> dict[str, ET.Element]:
    """The page's own SVG figures by plot name, parsed as XML."""
    found = {}
    pattern = r'<figure id="plot-([^"]+)" data-plot="[^"]+">\s*(<svg[^>]*class="mg-plot".*?</svg>)'
    for name, svg in re.findall(pattern, html, re.S):
        found[name] = ET.fromstring(svg)
    return found


def _axis(svg: ET.Element, cls: str, coord: str) -> tuple[float, float]:
    """(pixels per unit, pixel of zero) fitted to the tick labels and where they stand."""
    ticks = svg.findall(f".//s:text[@class='{cls}']", NS)
    values = [float(str(t.text).replace("\u2212", "-")) for t in ticks]
    pixels = [float(t.attrib[coord]) for t in ticks]
    assert len(values) >= 2, "an axis needs two ticks to be read"
    slope, zero = np.polyfit(values, pixels, 1)
    # The labels are the values at those positions: a straight line through every one.
    residual = np.abs(np.polyval([slope, zero], values) - pixels)
    assert residual.max() < 0.05, (values, pixels)
    return float(slope), float(zero)


def _close(pixel: float, value: float, axis: tuple[float, float]) -> bool:
    return abs(axis[0] * value + axis[1] - pixel) <= HALF_PIXEL


def _centre(point: ET.Element) -> tuple[float, float, str]:
    """A marker's centre and colour: a dot (circle) or a cross (two strokes)."""
    if point.tag.endswith("circle"):
        return float(point.attrib["cx"]), float(point.attrib["cy"]), point.attrib["fill"]
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", point.attrib["d"])]
    xs, ys = nums[0::2], nums[1::2]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, point.attrib["stroke"]


def _slice_text(s: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items()) if s else "overall"


def _slack(g: dict[str, Any]) -> float:
    bound = g["bound"] or {}
    sides = [g["observed"] - bound["min"]] if bound.get("min") is not None else []
    sides += [bound["max"] - g["observed"]] if bound.get("max") is not None else []
    return min(sides) if sides else float("inf")


@pytest.fixture
def page(picture_report: tuple[Path, pd.DataFrame]) -> tuple[dict[str, Any], str]:
    pytest.importorskip("matplotlib")  # the page is written only with the `plots` extra
    out, _ = picture_report  # `report.html: on`: every plot
    return json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def test_interval_plots_put_every_number_where_report_json_says(
    page: tuple[dict[str, Any], str],
) -> None:
    doc, html = page
    figures = _native(html)
    gates = {n.removeprefix("gate-") for n in figures if n.startswith("gate-")}
    assert gates == {"acc", "auc", "dp-sex", "auc-vs-baseline"}
    for gate in sorted(gates):
        svg = figures[f"gate-{gate}"]
        verdicts = [g for g in doc["gates"] if g["gate"] == gate and g["observed"] is not None]
        axis = _axis(svg, "tick-x", "x")
        rows = svg.findall(".//s:g[@class='row']", NS)
        assert len(rows) == len(verdicts), gate
        drawn = []
        for row in rows:
            label = str(row.find("s:text[@class='label']", NS).text)  # type: ignore[union-attr]
            text, status = re.fullmatch(r"(.*) \((\w+)\)", label).groups()  # type: ignore[union-attr]
            # Long labels end in "…": the rest must start the slice's text.
            (g,) = [
                v
                for v in verdicts
                if _slice_text(v["slice"]) == text
                or (text.endswith("…") and _slice_text(v["slice"]).startswith(text[:-1]))
            ]
            assert status == row.attrib["data-status"] == g["status"]
            x, y, colour = _centre(row.find("s:*[@class='point']", NS))  # type: ignore[arg-type]
            assert _close(x, g["observed"], axis), (gate, label, x, g["observed"])
            assert colour == STATUS_COLOURS[g["status"]]
            ci = row.find("s:line[@class='ci']", NS)
            assert ci is not None and g["ci"] is not None
            assert _close(float(ci.attrib["x1"]), g["ci"][0], axis), (gate, label)
            assert _close(float(ci.attrib["x2"]), g["ci"][1], axis), (gate, label)
            assert ci.attrib["stroke"] == colour
            drawn.append((g, y))
        # Worst first, top down: by status, then closest to the bound.
        keys = [(RANK[g["status"]], _slack(g)) for g, _ in drawn]
        assert keys == sorted(keys), gate
        assert [y for _, y in drawn] == sorted(y for _, y in drawn)
        bound = verdicts[0]["bound"]
        lines = svg.findall(".//s:line[@class='bound']", NS)
        assert {ln.attrib["data-side"] for ln in lines} == {
            k for k, v in bound.items() if v is not None
        }
        for line in lines:
            assert _close(float(line.attrib["x1"]), bound[line.attrib["data-side"]], axis), gate
    # The failing slices are crosses, the passing ones dots.
    marks = {
        row.attrib["data-status"]: row.find("s:*[@class='point']", NS).tag.split("}")[1]  # type: ignore[union-attr]
        for svg in figures.values()
        for row in svg.findall(".//s:g[@class='row']", NS)
    }
    assert marks == {"pass": "circle", "fail": "path", "warn": "path"}


def _expected_bins(hist: dict[str, Any]) -> tuple[list[str] | None, list[int], list[int]]:
    """Each side's counts per drawn bin: numeric bins (out-of-range ones only when used),
    or categories then "other", then missing values, when there are any."""
    ref, cur = list(hist["reference"]), list(hist["current"])
    labels = None
    if "edges" in hist:
        keep = [i for i in range(len(ref)) if 0 < i < len(ref) - 1 or ref[i] or cur[i]]
        ref, cur = [ref[i] for i in keep], [cur[i] for i in keep]
    else:
        labels = list(hist["categories"])
        other = hist.get("other") or {}
        if other.get("reference") or other.get("current"):
            labels.append("(other)")
            ref.append(other.get("reference") or 0)
            cur.append(other.get("current") or 0)
    missing = hist.get("missing") or {}
    if missing.get("reference") or missing.get("current"):
        labels = None if labels is None else [*labels, "(missing)"]
        ref.append(missing.get("reference") or 0)
        cur.append(missing.get("current") or 0)
    return labels, ref, cur


def test_drift_histograms_draw_each_sides_share_of_rows(
    page: tuple[dict[str, Any], str],
) -> None:
    doc, html = page
    figures = _native(html)
    drifted = [g for g in doc["gates"] if g["kind"] == "drift" and g["status"] in ("fail", "warn")]
    assert {g["slice"]["feature"] for g in drifted} == {"region", "score_b"}
    for g in drifted:
        feature = g["slice"]["feature"]
        svg = figures[f"drift-drift-{feature}"]
        labels, ref, cur = _expected_bins(g["details"]["histogram"])
        numeric = labels is None
        axis = _axis(svg, "tick-y", "y") if numeric else _axis(svg, "tick-x", "x")
        bins = svg.findall(".//s:g[@class='bin']", NS)
        assert len(bins) == len(ref), feature
        for i, b in enumerate(bins):
            for side, counts in (("reference", ref), ("current", cur)):
                share = counts[i] / sum(counts)
                bar = b.find(f"s:rect[@data-side='{side}']", NS)
                assert bar is not None
                x, y = float(bar.attrib["x"]), float(bar.attrib["y"])
                w, h = float(bar.attrib["width"]), float(bar.attrib["height"])
                if numeric:  # from the axis (0) up to the share
                    assert _close(y + h, 0.0, axis) and _close(y, share, axis), (feature, i)
                else:  # from the axis (0) right to the share
                    assert _close(x, 0.0, axis) and _close(x + w, share, axis), (feature, i)
            if labels is not None:
                label = b.find("s:text[@class='label']", NS)
                cut = labels[i] if len(labels[i]) <= 40 else labels[i][:39] + "…"
                assert label is not None and label.text == cut, (feature, i)
        legend = [str(t.text) for t in svg.findall(".//s:text[@class='legend']", NS)]
        assert legend == [f"reference ({sum(ref):,} rows)", f"current ({sum(cur):,} rows)"]
        title = str(svg.find("s:text[@class='title']", NS).text)  # type: ignore[union-attr]
        assert title.startswith(f"{feature}: ") and title.endswith(f"({g['status']})")


def test_the_title_counts_the_slices_left_out() -> None:
    verdicts = [
        {
            "gate": "acc",
            "kind": "metric",
            "metric": "accuracy",
            "slice": {"shop": f"s{i:02d}"},
            "status": "pass" if i >= 3 else "fail",
            # Failing: 0.50, 0.51, 0.52; then passing from 0.87 down to 0.56.
            "observed": 0.5 + i / 100 if i < 3 else 0.9 - i / 100,
            "ci": [0.45 + i / 100, 0.55 + i / 100] if i < 3 else [0.85 - i / 100, 0.95 - i / 100],
            "bound": {"min": 0.52, "max": None},
        }
        for i in range(35)
    ]
    (panel,) = interval_panels({"gates": verdicts})
    svg = ET.fromstring(panel_svg(panel))
    title = svg.find("s:text[@class='title']", NS)
    assert title is not None and title.text == "acc (worst 30; 5 more slices in report.json)"
    labels = [str(t.text).split(" (")[0] for t in svg.findall(".//s:g[@class='row']/s:text", NS)]
    # The 3 failing slices first (farthest below the bound first), then the passing ones
    # closest to the bound; the 5 farthest above it (s03 to s07) are left out.
    assert labels == [f"shop=s{i:02d}" for i in (0, 1, 2, *range(34, 7, -1))]
    # Sized to its rows: one slice more is one row taller.
    (fewer,) = interval_panels({"gates": verdicts[:29]})
    height = float(svg.attrib["height"])
    assert height - float(ET.fromstring(panel_svg(fewer)).attrib["height"]) == 26


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.starts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append(tag)


def test_a_slice_value_is_text_never_markup(page: tuple[dict[str, Any], str]) -> None:
    doc, _ = page
    nasty = '<script>alert(1)</script> & "x"'
    # The same report, with the region that was HOSTILE renamed to `nasty` everywhere.
    text = json.dumps(doc).replace(json.dumps(HOSTILE)[1:-1], json.dumps(nasty)[1:-1])
    html = render_html(json.loads(text), plots="all")
    assert "<script>alert" not in html
    parser = _Tags()
    parser.feed(html)
    assert parser.starts.count("script") == 1  # the page's own filter
    assert "img" not in parser.starts
    figures = _native(html)
    seen = [
        str(t.text)
        for svg in figures.values()
        for t in svg.iter()
        if t.tag.endswith(("text", "title")) and t.text and nasty in t.text
    ]
    # In the interval plots' labels and tooltips, and the drift histogram's category.
    assert f"region={nasty} (pass)" in seen
    assert nasty in seen
    assert len(seen) >= 4


def test_ticks_are_matplotlibs() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.ticker import MaxNLocator

    rng = np.random.default_rng(16)
    for _ in range(500):
        lo = rng.uniform(-2, 2) * 10.0 ** rng.integers(-3, 3)
        hi = lo + rng.uniform(0.01, 3) * 10.0 ** rng.integers(-3, 3)
        most = int(rng.integers(3, 10))
        ours, _ = nice_ticks(lo, hi, most)
        locator = MaxNLocator(nbins=most, steps=[1, 2, 2.5, 5, 10])
        theirs = [t for t in locator.tick_values(lo, hi) if lo - 1e-12 <= t <= hi + 1e-12]
        assert ours == pytest.approx(theirs, abs=1e-9 * max(abs(lo), abs(hi))), (lo, hi, most)


def _check(config: Path, out: Path, html: str) -> set[str]:
    """Run `mlops-gates check` in a fresh interpreter; the modules it imported."""
    env = {**os.environ, "MLOPS_GATES_TRACKING": "off"}
    args = ["check", "--config", str(config), "--report-dir", str(out), "--html", html]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlops_gates", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the picture project fails
    return {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_a_default_check_never_imports_matplotlib(make_project: Project, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # installed, and still not imported
    config = picture_config()
    del config["report"]  # `report.html: auto`, the default
    path = make_project(config, picture_frame())
    reference_frame().to_csv(path.parent / "ref.csv", index=False)
    modules = _check(path, tmp_path / "auto", "auto")
    assert "mlops_gates.report.svg" in modules
    assert not [m for m in modules if m.split(".")[0] == "matplotlib"]
    html = (tmp_path / "auto" / "report.html").read_text()
    # It drew the failing gates and the drifted features, itself.
    assert set(_native(html)) == {
        "gate-acc",
        "gate-dp-sex",
        "drift-drift-region",
        "drift-drift-score_b",
    }
    # `on` draws the other kinds too, and those are matplotlib's.
    modules = _check(path, tmp_path / "on", "on")
    assert "matplotlib.figure" in modules
    html = (tmp_path / "on" / "report.html").read_text()
    # matplotlib's SVG: its metadata, then the figure as `<g id="figure_1">`.
    confusion = re.search(r'id="plot-confusion-matrix"[^>]*>\s*<svg([^>]*)>\s*<metadata>', html)
    assert confusion and "mg-plot" not in confusion.group(1)
    assert '<g id="figure_1">' in html[confusion.end() :][:2000]
    assert "gate-acc" in _native(html)


@pytest.mark.parametrize(
    ("observed", "ci", "bound"),
    [
        ([0.5], [None], {"min": None, "max": None}),  # one value, no interval, no bound
        ([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], {"min": 0.0, "max": None}),  # no spread at all
        ([-0.031, 0.012], [[-0.05, -0.01], [-0.004, 0.03]], {"min": -0.02, "max": None}),
        ([2.5e6, 2.6e6], [[2.4e6, 2.6e6], [2.5e6, 2.7e6]], {"min": None, "max": 2.55e6}),
    ],
    ids=["one-value", "no-spread", "negative", "millions"],
)
def test_odd_ranges_still_read_back(
    observed: list[float], ci: list[list[float] | None], bound: dict[str, float | None]
) -> None:
    verdicts = [
        {
            "gate": "g",
            "kind": "baseline",
            "metric": "accuracy",
            "slice": {"s": str(i)},
            "status": "pass",
            "observed": o,
            "ci": c,
            "bound": bound,
        }
        for i, (o, c) in enumerate(zip(observed, ci, strict=True))
    ]
    (panel,) = interval_panels({"gates": verdicts})
    svg = ET.fromstring(panel_svg(panel))
    axis = _axis(svg, "tick-x", "x")
    for row in svg.findall(".//s:g[@class='row']", NS):
        i = int(str(row.find("s:text", NS).text).split("=")[1].split(" ")[0])  # type: ignore[union-attr]
        x, _, _ = _centre(row.find("s:*[@class='point']", NS))  # type: ignore[arg-type]
        assert _close(x, observed[i], axis)
    x_label = svg.find(".//s:text[@class='axis-label']", NS)
    assert x_label is not None and x_label.text == "accuracy: candidate \u2212 baseline"


def test_a_drift_histogram_with_nothing_in_it_is_still_a_picture() -> None:
    from mlops_gates.report.plots_detail import DriftPanel

    for numeric in (True, False):
        panel = DriftPanel("d", "f", numeric, "fail", "psi", None, [], [], [], (0, 0))
        svg = ET.fromstring(panel_svg(panel))
        assert svg.findall(".//s:g[@class='bin']", NS) == []
        assert float(svg.attrib["width"]) > 0 and float(svg.attrib["height"]) > 0
