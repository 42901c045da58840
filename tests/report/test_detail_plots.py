"""The pictures of the details: drift histograms (bin counts that numpy.histogram and
pandas agree with, drawn as shares) and the worst slices' ROC / PR curves (points on
scikit-learn's curves of those slices' rows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from mlops_gates.report.bounded import worst_first
from mlops_gates.report.plots import plots_for
from mlops_gates.report.plots_detail import drift_figure, drift_panels, slice_curve_figure

from .conftest import reference_frame

pytest.importorskip("matplotlib")


def _doc(picture_report: tuple[Path, pd.DataFrame]) -> dict[str, Any]:
    out, _ = picture_report
    doc: dict[str, Any] = json.loads((out / "report.json").read_text())
    return doc


def _drift(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["slice"]["feature"]: g for g in doc["gates"] if g["kind"] == "drift"}


def test_numeric_bin_counts_are_numpys_histogram(
    picture_report: tuple[Path, pd.DataFrame],
) -> None:
    doc = _drift(_doc(picture_report))
    _, frame = picture_report
    ref = reference_frame()
    for feature in ("score_b", "score_c"):
        hist = doc[feature]["details"]["histogram"]
        edges = np.asarray(hist["edges"])
        assert len(edges) == doc[feature]["details"]["bins"] + 1
        for side, values in (("reference", ref[feature]), ("current", frame[feature])):
            x = values.to_numpy(dtype=float)
            inner, _ = np.histogram(x, bins=edges)  # its last bin is closed, as ours
            below, above = int((x < edges[0]).sum()), int((x > edges[-1]).sum())
            assert hist[side] == [below, *inner.tolist(), above], (feature, side)
        assert hist["missing"] == {"reference": 0, "current": 0}
        # The reference's own values all fall inside its edges.
        assert hist["reference"][0] == hist["reference"][-1] == 0


def test_category_counts_are_the_value_counts(picture_report: tuple[Path, pd.DataFrame]) -> None:
    hist = _drift(_doc(picture_report))["region"]["details"]["histogram"]
    _, frame = picture_report
    ref, cur = reference_frame()["region"].value_counts(), frame["region"].value_counts()
    got_ref = dict(zip(hist["categories"], hist["reference"], strict=True))
    got_cur = dict(zip(hist["categories"], hist["current"], strict=True))
    assert {k: v for k, v in got_ref.items() if v} == ref.to_dict()
    assert {k: v for k, v in got_cur.items() if v} == cur.to_dict()
    assert got_cur["east"] == 0  # renamed in the current data: a vanished category
    # The reference listed every region, so the hostile one is a new category, listed last.
    assert hist["categories"][-1] == frame["region"][~frame["region"].isin(ref.index)].iloc[0]
    assert hist["other"] == {"reference": 0, "current": 0}


def test_drifted_features_are_drawn_as_shares(picture_report: tuple[Path, pd.DataFrame]) -> None:
    doc = _doc(picture_report)
    drifted = [g for g in doc["gates"] if g["kind"] == "drift" and g["status"] != "pass"]
    assert {g["slice"]["feature"] for g in drifted} == {"score_b", "region"}
    panels = drift_panels(doc)
    assert [p.feature for p in panels] == [g["slice"]["feature"] for g in worst_first(drifted)]
    names = [p.name for p in plots_for(doc)]
    assert [n for n in names if n.startswith("drift-")] == [
        f"drift-drift-{p.feature}" for p in panels
    ]
    for panel in panels:
        g = next(g for g in drifted if g["slice"]["feature"] == panel.feature)
        hist = g["details"]["histogram"]
        ax = drift_figure(panel).axes[0]
        ref_bars, cur_bars = ax.containers
        size = (lambda b: b.get_height()) if panel.numeric else (lambda b: b.get_width())
        for bars, side in ((ref_bars, "reference"), (cur_bars, "current")):
            counts = list(hist[side])
            total = sum(counts) + hist["missing"][side] + (hist.get("other") or {}).get(side, 0)
            drawn = [size(b) * total for b in bars]
            # Every bin with rows is drawn at its share; empty out-of-range bins are left out.
            assert sum(drawn) == pytest.approx(total)
            assert sorted(round(d) for d in drawn if round(d)) == sorted(c for c in counts if c)


@pytest.mark.parametrize("model, column", [("candidate", "score_c"), ("baseline", "score_b")])
def test_worst_slices_curves_lie_on_sklearns(
    picture_report: tuple[Path, pd.DataFrame], model: str, column: str
) -> None:
    doc = _doc(picture_report)
    _, frame = picture_report
    worst = doc["context"]["overview"]["slice_curves"]
    # The worst metric verdicts whose slice the score tables can form (the score gates
    # slice by sex and region), each slice once, at most three.
    score_columns = {"sex", "region"}
    expected: list[dict[str, Any]] = []
    metric = [g for g in doc["gates"] if g["kind"] == "metric" and g["slice"]]
    for g in worst_first(metric):
        if set(g["slice"]) <= score_columns and g["slice"] not in expected:
            expected.append(g["slice"])
    assert [w["slice"] for w in worst] == expected[:3]
    for w in worst:
        rows = frame
        for col, value in w["slice"].items():
            rows = rows[rows[col] == value]
        y, s = rows["y"].to_numpy(), rows[column].to_numpy()
        curves = w["curves"][model]
        assert (curves["positives"], curves["negatives"]) == (int(y.sum()), int((1 - y).sum()))
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        got = list(zip(curves["roc"]["fpr"], curves["roc"]["tpr"], strict=True))
        _on_curve(got, np.column_stack([fpr, tpr]))
        assert got[-1] == (1.0, 1.0)
        precision, recall, _ = precision_recall_curve(y, s, drop_intermediate=False)
        got_pr = list(zip(curves["pr"]["recall"], curves["pr"]["precision"], strict=True))
        _on_curve(got_pr, np.column_stack([recall, precision]))


def test_slice_curve_figure_draws_each_slice(picture_report: tuple[Path, pd.DataFrame]) -> None:
    doc = _doc(picture_report)
    worst = doc["context"]["overview"]["slice_curves"]
    names = [p.name for p in plots_for(doc)]
    assert "roc-curve-slices" in names and "pr-curve-slices" in names
    fig = slice_curve_figure(worst, "roc")
    assert len(fig.axes) == len(worst)
    for ax, w in zip(fig.axes, worst, strict=True):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        cand = lines["candidate"]
        assert list(cand.get_xdata()) == w["curves"]["candidate"]["roc"]["fpr"]
        assert list(cand.get_ydata()) == w["curves"]["candidate"]["roc"]["tpr"]
        label = ", ".join(f"{k}={v}" for k, v in w["slice"].items())
        label = label if len(label) <= 40 else label[:39] + "…"  # long labels are cut
        rows = w["curves"]["candidate"]["positives"] + w["curves"]["candidate"]["negatives"]
        assert ax.get_title(loc="left") == f"{label} ({rows:,} rows)"


def _on_curve(points: list[tuple[float, float]], exact: np.ndarray) -> None:
    """Every point is one of the exact curve's (to the 6 decimals report.json keeps)."""
    for point in points:
        nearest = np.abs(exact - np.asarray(point)).max(axis=1).min()
        assert nearest <= 5e-7, point
