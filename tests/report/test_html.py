"""report.html: written beside report.json, self-contained, escaped, and every plot renders in
a real browser (headless Chromium) with no network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Project

from mlops_gates.report import writer
from mlops_gates.report.plots import AUTO_PLOTS, chosen_plots, plots_for

from .conftest import HOSTILE, picture_config, picture_frame

pytest.importorskip("matplotlib")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1280


def test_report_html_beside_the_json(picture_report: tuple[Path, pd.DataFrame]) -> None:
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    html = (out / "report.html").read_text()
    # Every plot inline, one figure each, as SVG.
    figures = re.findall(r'<figure id="plot-([^"]+)" data-plot="[^"]+">\s*<svg', html)
    assert figures == [p.name for p in plots_for(doc)]
    # Every verdict is a table row.
    assert html.count("<tr data-status=") == len(doc["gates"])
    # Nothing to fetch: no external URL in any src/href, no @import, a CSP that forbids it.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)
    assert "default-src 'none'" in html
    # report.md does not send the reader to install what they have.
    assert "mlops-gates[plots]" not in (out / "report.md").read_text()


def test_values_from_data_are_escaped(picture_report: tuple[Path, pd.DataFrame]) -> None:
    out, _ = picture_report
    html = (out / "report.html").read_text()
    assert HOSTILE not in html
    assert "<img" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    assert "--&gt;&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;amp;" in html
    assert html.count("<script") == 1  # the filter's own
    assert "<!--" not in html  # no comment a value could close


@pytest.mark.parametrize("html", ["auto", "on"])
def test_without_matplotlib_the_page_is_written_and_says_what_it_left_out(
    picture_report: tuple[Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, html: str
) -> None:
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    every = plots_for(doc)
    ours = [p.name for p in every if p.panel is not None]  # drawn without matplotlib
    theirs = [p.name for p in every if p.panel is None]
    assert ours and theirs, "the fixture should need both kinds of plot"
    # As if the extra were not installed: importing matplotlib is blocked.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    writer.write_report(doc, out, html=html)  # type: ignore[arg-type]
    page = (out / "report.html").read_text()
    drawn = re.findall(r'<figure id="plot-([^"]+)" data-plot="[^"]+">\s*<svg', page)
    wanted = [p.name for p in (every if html == "on" else chosen_plots(every))]
    assert drawn == [name for name in wanted if name in ours]
    left = [name for name in wanted if name in theirs]
    if left:
        assert f"{len(left)} more plot" in page and "pip install 'mlops-gates[plots]'" in page
    else:
        assert 'id="plots-need-extra"' not in page
    # report.md points at the page it sits beside, and no longer asks for the extra.
    md = (out / "report.md").read_text()
    assert "report.html" in md and "mlops-gates[plots]" not in md
    assert html == "auto" or left, "with every plot asked for, some need matplotlib"


def test_html_off_writes_no_page_and_removes_an_older_one(
    picture_report: tuple[Path, pd.DataFrame],
) -> None:
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    assert (out / "report.html").exists()
    writer.write_report(doc, out, html="off")
    assert not (out / "report.html").exists(), "a stale page would contradict report.json"
    assert "report.html" not in (out / "report.md").read_text()


_PROBE = """
<script>
window.addEventListener("load", function () {
  var first = Array.from(document.querySelectorAll("#verdicts tbody tr"))
    .filter(function (r) { return !r.hidden; }).length;
  // Filter first, measure after: the screenshot run applies the same filter.
  var filter = document.getElementById("filter");
  filter.value = "dp-sex"; filter.dispatchEvent(new Event("input"));
  var rows = Array.from(document.querySelectorAll("#verdicts tbody tr"));
  var visible = rows.filter(function (r) { return !r.hidden; }).length;
  var out = [];
  document.querySelectorAll("figure[data-plot]").forEach(function (f) {
    var svg = f.querySelector("svg"), r = svg ? svg.getBoundingClientRect() : null;
    out.push({name: f.dataset.plot, x: r && r.left + window.scrollX,
              y: r && r.top + window.scrollY, w: r && r.width, h: r && r.height,
              shapes: svg ? svg.querySelectorAll("path, use, line, circle, rect").length : 0});
  });
  var pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify(
    {plots: out, height: document.documentElement.scrollHeight, visible: visible, first: first});
  document.body.appendChild(pre);
});
</script>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # No network: names resolve nowhere and any proxy use hits a closed port.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_every_plot_renders_in_headless_chromium(
    picture_report: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    from PIL import Image

    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"))
    # The same width in both runs: the plots wrap into rows by the window's width.
    dom = _chromium(tmp_path, "--dump-dom", f"--window-size={WIDTH},1000", probe.as_uri()).stdout
    found: dict[str, Any] = json.loads(
        re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)  # type: ignore[union-attr]
    )
    names = [p.name for p in plots_for(doc)]
    assert [p["name"] for p in found["plots"]] == names
    for p in found["plots"]:
        assert p["w"] > 150 and p["h"] > 100 and p["shapes"] > 10, p
    # The filter's few lines of script work: at first only what needs a look is shown,
    # then with "dp-sex" typed only its (warn) verdicts stay.
    assert found["first"] == sum(g["status"] != "pass" for g in doc["gates"]) == 6
    assert found["visible"] == sum(g["gate"] == "dp-sex" for g in doc["gates"]) == 1

    # A screenshot of the whole page; each plot's region has ink, not a blank box.
    shot = tmp_path / "report.png"
    height = int(found["height"]) + 20
    _chromium(tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{height}", probe.as_uri())
    image = Image.open(shot).convert("L")
    for p in found["plots"]:
        box = (int(p["x"]), int(p["y"]), int(p["x"] + p["w"]), int(p["y"] + p["h"]))
        region = image.crop(box)
        histogram = region.histogram()
        dark = sum(histogram[:128]) / (region.width * region.height)
        assert 0.005 < dark < 0.6, (p["name"], dark)


def _figures(html: str) -> list[str]:
    return re.findall(r'<figure id="plot-([^"]+)" data-plot="[^"]+">\s*<svg', html)


def test_by_default_the_page_draws_the_plots_of_gates_that_did_not_pass(
    picture_report: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    every = plots_for(doc)
    writer.write_report(doc, tmp_path / "auto")  # report.html: auto, the default
    html = (tmp_path / "auto" / "report.html").read_text()
    # The gates with a slice that did not pass and the features that drifted, in reading
    # order, at most AUTO_PLOTS; nothing else.
    problems = {g["gate"] for g in doc["gates"] if g["status"] != "pass"}
    expected = [
        p.name
        for p in every
        if p.name.removeprefix("gate-") in problems or p.name.startswith("drift-")
    ][:AUTO_PLOTS]
    assert expected and len(expected) < len(every)
    assert _figures(html) == expected
    assert f"{len(every) - len(expected)} more" in html and "--html on" in html
    assert html.count("<tr data-status=") == len(doc["gates"])  # the table is whole


def test_a_run_where_every_gate_passed_imports_no_matplotlib(
    picture_report: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, _ = picture_report
    doc = json.loads((out / "report.json").read_text())
    for g in doc["gates"]:
        g["status"] = "pass"
    src = tmp_path / "all-pass.json"
    src.write_text(json.dumps(doc))
    script = (
        "import json, sys; from mlops_gates.report.writer import write_report; "
        f"write_report(json.loads(open({str(src)!r}).read()), {str(tmp_path / 'r')!r}); "
        "print('matplotlib' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "False"
    html = (tmp_path / "r" / "report.html").read_text()
    assert _figures(html) == []
    assert f"{len(plots_for(doc))} more" in html


def test_html_off_writes_no_page_and_the_flag_beats_the_config(
    make_project: Project, tmp_path: Path
) -> None:
    from mlops_gates.cli import main

    path = make_project(picture_config(), picture_frame())  # the config says `html: on`
    out = tmp_path / "off"
    (out).mkdir()
    (out / "report.html").write_text("an older run's page")
    main(["check", "--config", str(path), "--report-dir", str(out), "--html", "off"])
    assert not (out / "report.html").exists(), "a stale page would contradict report.json"
    md = (out / "report.md").read_text()
    assert "report.html" not in md  # neither a link nor the install hint
    assert (out / "report.json").is_file()
