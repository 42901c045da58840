"""Plots: the numbers drawn are the report's (interval plots) and scikit-learn's (confusion
matrix, ROC / PR / reliability points), and the files are the same bytes every time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from mlops_gates.report import plots
from mlops_gates.report.bounded import worst_first
from mlops_gates.report.plots import (
    Plot,
    confusion_figure,
    interval_figure,
    interval_panels,
    plots_for,
    render,
    write_plots,
)

pytest.importorskip("matplotlib")


def _doc(picture_report: tuple[Path, pd.DataFrame]) -> dict[str, Any]:
    out, _ = picture_report
    doc: dict[str, Any] = json.loads((out / "report.json").read_text())
    return doc


def test_every_picture_of_the_report(picture_report: tuple[Path, pd.DataFrame]) -> None:
    doc = _doc(picture_report)
    names = [p.name for p in plots_for(doc)]
    assert names == [
        "gate-acc",
        "gate-auc",
        "gate-dp-sex",
        "gate-auc-vs-baseline",
        "confusion-matrix",
        "roc-curve",
        "pr-curve",
        "reliability",
        "roc-curve-slices",
        "pr-curve-slices",
        "drift-drift-region",
        "drift-drift-score_b",
    ]


def test_interval_plot_draws_the_report_numbers(
    picture_report: tuple[Path, pd.DataFrame],
) -> None:
    doc = _doc(picture_report)
    statuses = {g["status"] for g in doc["gates"] if g["gate"] == "acc"}
    assert {"pass", "fail"} <= statuses, "the fixture must give passing and failing slices"
    for panel in interval_panels(doc):
        verdicts = [g for g in doc["gates"] if g["gate"] == panel.gate]
        want = [g for g in worst_first(verdicts) if g["observed"] is not None]
        fig = interval_figure(panel)
        (ax,) = fig.axes
        # Bounds: the dashed vertical lines sit at the report's bound.
        bound = want[0]["bound"]
        vlines = sorted(line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--")
        assert vlines == sorted(v for v in (bound["min"], bound["max"]) if v is not None)
        # Points: one marker per verdict at (observed, its row); the worst is at the top.
        markers = [line for line in ax.lines if line.get_marker() in ("o", "X")]
        assert len(markers) == len(want)
        tops = sorted(markers, key=lambda line: -line.get_ydata()[0])
        for line, g in zip(tops, want, strict=True):
            assert line.get_xdata()[0] == g["observed"]
            assert line.get_marker() == ("o" if g["status"] == "pass" else "X")
        # Intervals: a solid segment from ci[0] to ci[1] on the verdict's row.
        segments = {
            float(line.get_ydata()[0]): list(line.get_xdata())
            for line in ax.lines
            if line.get_marker() in ("None", "", None) and line.get_linestyle() == "-"
        }
        for line, g in zip(tops, want, strict=True):
            if g["ci"] is not None:
                assert segments[float(line.get_ydata()[0])] == g["ci"]
        # The top label names the worst slice (long names cut with an ellipsis).
        labels = [t.get_text() for t in ax.get_yticklabels()]
        by_y = dict(zip(ax.get_yticks(), labels, strict=True))
        top = by_y[tops[0].get_ydata()[0]]
        status = f" ({want[0]['status']})"
        assert top.endswith(status)
        name, text = top[: -len(status)], want[0]["id"].partition("[")[2][:-1] or "overall"
        assert name == text or (name.endswith("…") and text.startswith(name[:-1]))


def test_confusion_matrix_is_sklearns(picture_report: tuple[Path, pd.DataFrame]) -> None:
    doc = _doc(picture_report)
    _, frame = picture_report
    confusion = doc["context"]["overview"]["confusion"]
    assert confusion["labels"] == ["0", "1"]
    for model, column in (("candidate", "pred_c"), ("baseline", "pred_b")):
        want = confusion_matrix(frame["y"], frame[column], labels=[0, 1])
        assert confusion[model] == want.tolist()
    fig = confusion_figure(confusion)
    drawn = [np.asarray(ax.images[0].get_array()) for ax in fig.axes]
    assert [d.tolist() for d in drawn] == [confusion["candidate"], confusion["baseline"]]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"{v:,}" for row in confusion["candidate"] for v in row]


@pytest.mark.parametrize("model, column", [("candidate", "score_c"), ("baseline", "score_b")])
def test_curve_points_lie_on_sklearns_curves(
    picture_report: tuple[Path, pd.DataFrame], model: str, column: str
) -> None:
    doc = _doc(picture_report)
    _, frame = picture_report
    curves = doc["context"]["overview"]["curves"][model]
    y, s = frame["y"].to_numpy(), frame[column].to_numpy()

    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    got = list(zip(curves["roc"]["fpr"], curves["roc"]["tpr"], strict=True))
    _on_curve(got, np.column_stack([fpr, tpr]))
    assert got[0] == (0.0, 0.0) and got[-1] == (1.0, 1.0)
    assert len(got) > 50

    precision, recall, _ = precision_recall_curve(y, s, drop_intermediate=False)
    got_pr = list(zip(curves["pr"]["recall"], curves["pr"]["precision"], strict=True))
    _on_curve(got_pr, np.column_stack([recall, precision]))
    assert got_pr[-1][0] == 1.0

    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    rel = curves["reliability"]
    assert rel["observed_rate"] == pytest.approx(prob_true, abs=1e-6)
    assert rel["mean_score"] == pytest.approx(prob_pred, abs=1e-6)
    assert sum(rel["rows"]) == len(frame)


def _on_curve(points: list[tuple[float, float]], exact: np.ndarray) -> None:
    """Every point is one of the exact curve's (to the 6 decimals report.json keeps)."""
    for point in points:
        nearest = np.abs(exact - np.asarray(point)).max(axis=1).min()
        assert nearest <= 5e-7, point


def test_same_report_same_bytes(
    picture_report: tuple[Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _doc(picture_report)
    first = write_plots(doc, tmp_path / "a")
    # Drawn again from scratch, not from what `render` keeps for the report: the same bytes.
    monkeypatch.setattr(plots, "_RENDERED", {})
    second = write_plots(doc, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    assert {p.suffix for p in first} == {".svg", ".png"}
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    svg = (tmp_path / "a" / "gate-acc.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
    png = (tmp_path / "a" / "gate-acc.png").read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png


def test_thousands_of_slices_draw_the_worst(tmp_path: Path) -> None:
    gates = [
        {
            "id": f"acc[id={i}]",
            "gate": "acc",
            "kind": "metric",
            "metric": "accuracy",
            "status": "fail" if i < 3 else "pass",
            "observed": 0.5 + i / 10_000,
            "ci": [0.4 + i / 10_000, 0.6 + i / 10_000],
            "bound": {"min": 0.5003, "max": None},
            "slice": {"id": str(i)},
        }
        for i in range(5000)
    ]
    (panel,) = interval_panels({"gates": gates})
    assert len(panel.rows) == 30 and panel.hidden == 4970
    assert [r.label for r in panel.rows[:3]] == ["id=0", "id=1", "id=2"]
    (plot,) = plots_for({"gates": gates})
    assert "4,970 more slices" in plot.title
    assert render(plot, "svg").startswith(b"<?xml")


def test_no_picture_without_numbers() -> None:
    gates = [
        {"id": "s", "gate": "s", "kind": "schema", "status": "pass", "observed": 0.0},
        {"id": "m", "gate": "m", "kind": "metric", "status": "error", "observed": None},
    ]
    assert plots_for({"gates": gates, "context": {"overview": None}}) == []


def test_the_page_and_the_mlflow_upload_draw_each_plot_once(
    picture_report: tuple[Path, pd.DataFrame],
) -> None:
    doc = _doc(picture_report)
    doc["gates"][0]["observed"] = 0.51  # a report no earlier test drew (the fixture's page did)
    drawn: list[str] = []

    def counted(plot: Plot) -> Plot:
        def draw() -> Any:
            drawn.append(plot.name)
            return plot.draw()

        return replace(plot, draw=draw)

    # Plots of another report (one verdict changed) are drawn again.
    other = json.loads(json.dumps(doc))
    other["gates"][0]["observed"] = 0.5
    for report in (doc, doc, other):
        for plot in plots_for(report)[:2]:
            svg = render(counted(plot), "svg")
            assert svg.startswith(b"<?xml")
    names = [p.name for p in plots_for(doc)[:2]]
    assert drawn.count(names[0]) == 2 and drawn.count(names[1]) == 2  # once per report
    assert plots_for(doc)[0].key == plots_for(json.loads(json.dumps(doc)))[0].key
    assert plots_for(doc)[0].key != plots_for(other)[0].key


def test_the_upload_draws_each_plot_once_for_both_formats(
    picture_report: tuple[Path, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib.figure import Figure

    doc = _doc(picture_report)
    monkeypatch.setattr(plots, "_RENDERED", {})
    built: list[int] = []
    original = Figure.__init__

    def counted(self: Figure, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "__init__", counted)
    written = write_plots(doc, tmp_path / "both")
    assert len(built) == len(plots_for(doc)) and len(written) == 2 * len(built)
    # Saved from one figure, each format has the bytes a figure of its own gives.
    for plot in plots_for(doc):
        monkeypatch.setattr(plots, "_RENDERED", {})
        alone = {fmt: render(plot, fmt) for fmt in ("svg", "png")}
        assert (tmp_path / "both" / f"{plot.name}.svg").read_bytes() == alone["svg"], plot.name
        assert (tmp_path / "both" / f"{plot.name}.png").read_bytes() == alone["png"], plot.name
