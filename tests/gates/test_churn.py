"""`churn` gate end to end: flip shares and their intervals equal counts from the rows and
statsmodels' proportion intervals; the equivalence form equals statsmodels' ttost_paired."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Project
from helpers import base_config, validate_report
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

from mlops_gates.config import load_config
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown


def flip_frame(n: int = 5000, seed: int = 0, flip: float = 0.03) -> pd.DataFrame:
    """A baseline and a candidate that disagrees on about `flip` of the rows, more often
    on one slice."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred_b = np.where(rng.random(n) < 0.85, y, 1 - y)
    region = rng.choice(["north", "south", "tiny"], n, p=[0.6, 0.395, 0.005])
    rate = np.where(region == "south", 2 * flip, flip)
    pred_c = np.where(rng.random(n) < rate, 1 - pred_b, pred_b)
    score = rng.random(n)
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": pred_c,
            "score_c": score,
            "pred_b": pred_b,
            "score_b": score,
            "sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
            "region": region,
        }
    )


def run(
    make_project: Project, frame: pd.DataFrame, gates: list[dict[str, Any]], **cfg: Any
) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates, **cfg), frame)))
    validate_report(report.to_dict())
    return report


def by_id(report: Report) -> dict[str, GateResult]:
    return {g.id: g for g in report.gates}


def parts(frame: pd.DataFrame, gid: str, by: str) -> list[tuple[str, pd.DataFrame]]:
    return [(gid, frame)] + [(f"{gid}[{by}={v}]", g) for v, g in frame.groupby(by)]


@pytest.mark.parametrize(
    ("interval", "sm_method"), [("auto", "wilson"), ("clopper_pearson", "beta")]
)
def test_flip_shares_and_intervals_equal_counts_and_statsmodels(
    make_project: Project, interval: str, sm_method: str
) -> None:
    df = flip_frame()
    gate = {
        "id": "churn",
        "kind": "churn",
        "max": 0.05,
        "slices": ["sex", "region"],
        "min_support": 0,
        "judge": "significance",
        "multiplicity": "none",
    }
    got = by_id(run(make_project, df, [gate], statistics={"interval": interval}))
    for by in ("sex", "region"):
        for rid, part in parts(df, "churn", by):
            v = got[rid]
            n = len(part)
            n2p = int(((part.pred_b == 0) & (part.pred_c == 1)).sum())
            p2n = int(((part.pred_b == 1) & (part.pred_c == 0)).sum())
            flips = n2p + p2n
            assert v.support == n and v.observed == pytest.approx(flips / n, abs=1e-15), rid
            assert v.details["neg_to_pos"]["count"] == n2p
            assert v.details["pos_to_neg"]["count"] == p2n
            assert v.details["flips"]["share"] == pytest.approx(flips / n)
            for key, k in (("flips", flips), ("neg_to_pos", n2p), ("pos_to_neg", p2n)):
                lo, hi = proportion_confint(k, n, alpha=0.05, method=sm_method)
                assert v.details[key]["ci"] == pytest.approx([lo, hi], abs=1e-9), (rid, key)
            assert v.ci == pytest.approx(tuple(v.details["flips"]["ci"]), abs=0)
            # judge: significance tests with the exact binomial tail (auto) or its own.
            if interval != "auto":
                continue
            exact = binomtest(flips, n, 0.05, alternative="greater").pvalue
            assert v.details["p_value"] == pytest.approx(exact, rel=1e-6), rid
    # south flips at twice the rate: 6% against a max of 5%.
    assert got["churn[region=south]"].observed > 0.05


def test_a_max_on_one_direction_bounds_that_direction(make_project: Project) -> None:
    df = flip_frame(flip=0.02)
    gate = {"id": "c", "kind": "churn", "max": 0.005, "direction": "pos_to_neg"}
    (v,) = run(make_project, df, [gate]).gates
    p2n = int(((df.pred_b == 1) & (df.pred_c == 0)).sum())
    assert v.metric == "pos_to_neg"
    assert v.observed == pytest.approx(p2n / len(df))
    assert v.status == ("fail" if p2n / len(df) > 0.005 else "pass")
    assert "positive→negative flips" in v.message


def test_insufficient_slices_never_pass(make_project: Project) -> None:
    df = flip_frame()
    gate = {"id": "c", "kind": "churn", "max": 0.5, "slices": ["region"], "min_support": 100}
    v = by_id(run(make_project, df, [gate]))["c[region=tiny]"]
    assert v.status == "skip" and v.reason == "insufficient_support"
    # A gate that judged nothing (every slice short of rows) is an error, not a pass.
    tiny = {**gate, "overall": False, "min_support": 10_000}
    report = run(make_project, df, [tiny])
    assert {g.status for g in report.gates} == {"error"}
    assert "the gate judged nothing" in report.gates[0].message


@pytest.mark.parametrize("metric", ["accuracy", "recall", "fpr", "selection_rate"])
def test_equivalence_equals_statsmodels_ttost_paired(make_project: Project, metric: str) -> None:
    df = flip_frame(n=6000, flip=0.01)
    gate = {
        "id": "eq",
        "kind": "churn",
        "metric": metric,
        "within": 0.01,
        "slices": ["sex"],
        "min_support": 0,
    }
    got = by_id(run(make_project, df, [gate]))
    for rid, part in parts(df, "eq", "sex"):
        rows = {
            "accuracy": part,
            "recall": part[part.y == 1],
            "fpr": part[part.y == 0],
            "selection_rate": part,
        }[metric]
        if metric in ("accuracy", "recall"):
            xc, xb = (rows.pred_c == rows.y), (rows.pred_b == rows.y)
        else:
            xc, xb = (rows.pred_c == 1), (rows.pred_b == 1)
        xc, xb = xc.to_numpy(float), xb.to_numpy(float)
        p, _, _ = ttost_paired(xc, xb, -0.01, 0.01)
        v = got[rid]
        assert v.observed == pytest.approx(xc.mean() - xb.mean(), abs=1e-12), rid
        assert v.details["tost_p"] == pytest.approx(p, rel=1e-6), rid
        assert v.support == len(rows)
        assert v.status == ("pass" if p < 0.05 else "fail"), (rid, p, v.message)
        said = "shown equivalent" if p < 0.05 else "not shown equivalent"
        assert said in v.message


def test_equivalence_passes_for_a_refactor_and_fails_for_a_change(make_project: Project) -> None:
    same = flip_frame(n=20000, flip=0.002)
    gate = {"id": "eq", "kind": "churn", "metric": "accuracy", "within": 0.01}
    (v,) = run(make_project, same, [gate]).gates
    assert v.status == "pass" and "shown equivalent within ±0.01" in v.message
    # A candidate whose errors moved: accuracy drops by about 3 points.
    rng = np.random.default_rng(9)
    worse = same.copy()
    right = (worse.pred_c == worse.y).to_numpy() & (rng.random(len(worse)) < 0.035)
    worse.loc[right, "pred_c"] = 1 - worse.loc[right, "y"]
    (w,) = run(make_project, worse, [gate]).gates
    assert w.status == "fail" and "not shown equivalent" in w.message


def test_without_a_baseline_the_outcome_is_if_no_baseline(make_project: Project) -> None:
    cfg = base_config(gates=[{"id": "c", "kind": "churn", "max": 0.02, "if_no_baseline": "warn"}])
    del cfg["baseline"]
    report = run_gates(load_config(make_project(cfg, flip_frame())))
    (v,) = report.gates
    assert v.status == "warn" and v.reason == "no_baseline"


def test_multiclass_flips(make_project: Project) -> None:
    rng = np.random.default_rng(4)
    n = 3000
    y = rng.integers(0, 3, n)
    pred_b = np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n))
    pred_c = np.where(rng.random(n) < 0.05, (pred_b + 1) % 3, pred_b)
    df = pd.DataFrame({"y": y, "pred_c": pred_c, "pred_b": pred_b})
    cfg = base_config(
        task={"type": "multiclass", "label": "y"},
        candidate={"predictions": "pred_c"},
        baseline={"predictions": "pred_b"},
        gates=[{"id": "c", "kind": "churn", "max": 0.1}],
    )
    (v,) = run_gates(load_config(make_project(cfg, df))).gates
    assert v.observed == pytest.approx(float((pred_c != pred_b).mean()))
    assert "neg_to_pos" not in v.details and v.status == "pass"


def test_markdown_rows_show_both_directions(make_project: Project) -> None:
    df = flip_frame()
    gates = [
        {"id": "c", "kind": "churn", "max": 0.05, "slices": ["sex"]},
        {"id": "eq", "kind": "churn", "metric": "accuracy", "within": 0.05},
    ]
    md = render_markdown(run(make_project, df, gates).to_dict())
    n2p = int(((df.pred_b == 0) & (df.pred_c == 1)).sum())
    assert "| decisions |" in md
    assert f"neg→pos {n2p:,} \\(" in md
    assert "TOST p" in md


def test_pr_body_tables_have_the_kinds_columns(make_project: Project) -> None:
    """The promotion PR body builds its own table headers: the calibration and churn
    cells must have a column each, not be dropped as excess cells."""
    from mlops_gates.promote.plan import PromoteOptions, make_plan

    gates = [
        {"id": "c", "kind": "churn", "max": 0.01, "slices": ["sex"]},
        {"id": "cal", "kind": "calibration", "max": 0.001},
    ]
    doc = run(make_project, flip_frame(), gates).to_dict()
    options = PromoteOptions(model="m", version="2", training_run_id="a" * 32)
    body = make_plan(doc, options, now="2026-12-06T10:00:00Z").body("main", "0" * 40)
    tables = [line for line in body.splitlines() if line.startswith("|")]
    header_decisions = [t for t in tables if t.endswith("| decisions |")]
    header_calibration = [t for t in tables if t.endswith("| calibration |")]
    assert header_decisions and header_calibration, body
    n2p = int(((flip_frame().pred_b == 0) & (flip_frame().pred_c == 1)).sum())
    assert f"neg→pos {n2p:,}" in body
    # Every row of a table has as many cells as its header.
    import re

    blocks: list[list[str]] = [[]]
    for line in body.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    for block in filter(None, blocks):
        cells = {len(re.findall(r"(?<!\\)\|", line)) for line in block}
        assert len(cells) == 1, block
