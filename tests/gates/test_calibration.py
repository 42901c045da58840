"""`calibration` gate end to end: every number equals an outside oracle (scikit-learn's
calibration_curve, an ECE written here from the rows with numpy, statsmodels' intervals and
logistic fit), and a gate that cannot judge never passes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import Project
from helpers import base_config, validate_report
from sklearn.calibration import calibration_curve
from statsmodels.stats.proportion import proportion_confint

from mlops_gates.config import load_config
from mlops_gates.gates.result import GateResult, fmt
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown


def scored_frame(n: int = 4000, seed: int = 0, power: float = 1.0) -> pd.DataFrame:
    """A calibrated baseline score (`score_b`: y ~ Bernoulli(score)) and a candidate that
    is the same score bent by `power` (1: calibrated too), with slices."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, n)
    y = (rng.random(n) < p).astype(int)
    score_c = np.round(p**power, 4)
    score_b = np.round(p, 4)
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": (score_c >= 0.5).astype(int),
            "score_c": score_c,
            "pred_b": (score_b >= 0.5).astype(int),
            "score_b": score_b,
            "sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
            "region": rng.choice(["north", "south", "tiny"], n, p=[0.6, 0.39, 0.01]),
        }
    )


def run(make_project: Project, frame: pd.DataFrame, gates: list[dict[str, Any]], **cfg: Any):
    report = run_gates(load_config(make_project(base_config(gates=gates, **cfg), frame)))
    validate_report(report.to_dict())
    return report


def by_id(report: Any) -> dict[str, GateResult]:
    return {g.id: g for g in report.gates}


def parts(frame: pd.DataFrame, gid: str, by: str) -> list[tuple[str, pd.DataFrame]]:
    return [(gid, frame)] + [(f"{gid}[{by}={v}]", g) for v, g in frame.groupby(by)]


# -- oracles written here, from the rows ---------------------------------------------------


def numpy_bins(y: np.ndarray, s: np.ndarray, n_bins: int, strategy: str) -> list[np.ndarray]:
    """Rows per bin: uniform edges over [0, 1] or the scores' quantiles; a score on an
    inner edge goes to the bin below it."""
    if strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        edges = np.percentile(s, np.linspace(0, 100, n_bins + 1))
    which = np.digitize(s, edges[1:-1], right=True)
    return [which == b for b in range(n_bins) if (which == b).any()]


def numpy_ece(y: np.ndarray, s: np.ndarray, n_bins: int = 10, strategy: str = "uniform") -> float:
    return float(
        sum(
            m.sum() / len(y) * abs(s[m].mean() - y[m].mean())
            for m in numpy_bins(y, s, n_bins, strategy)
        )
    )


def ece_interval_oracle(
    y: np.ndarray, s: np.ndarray, level: float, n_bins: int = 10, tail_bins: int | None = None
) -> tuple[float, float]:
    """The documented construction, with statsmodels' Clopper-Pearson ("beta") per bin at
    the Bonferroni level over the occupied bins."""
    masks = numpy_bins(y, s, n_bins, "uniform")
    k = tail_bins or len(masks)
    lo = hi = 0.0
    for m in masks:
        w, mean = m.sum() / len(y), s[m].mean()
        a, b = proportion_confint(y[m].sum(), m.sum(), alpha=(1 - level) / k, method="beta")
        lo += w * (a - mean if mean < a else mean - b if mean > b else 0.0)
        hi += w * max(abs(mean - a), abs(mean - b))
    return lo, hi


# -- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_and_its_curve_equal_numpy_and_sklearn(make_project: Project, strategy: str) -> None:
    df = scored_frame(power=1.6)
    gate = {
        "id": "cal",
        "kind": "calibration",
        "max": 1,
        "bins": 8,
        "strategy": strategy,
        "slices": ["sex"],
        "min_support": 0,
    }
    got = by_id(run(make_project, df, [gate]))
    for rid, part in parts(df, "cal", "sex"):
        y, s = part["y"].to_numpy(), part["score_c"].to_numpy()
        v = got[rid]
        assert v.kind == "calibration" and v.metric == "ece"
        assert v.observed == pytest.approx(numpy_ece(y, s, 8, strategy), abs=1e-12), rid
        prob_true, prob_pred = calibration_curve(y, s, n_bins=8, strategy=strategy)
        curve = v.details["curve"]
        assert np.allclose(curve["observed_rate"], prob_true, atol=1e-12), rid
        assert np.allclose(curve["mean_score"], prob_pred, atol=1e-12), rid
        assert sum(curve["rows"]) == len(part) == v.support
        assert v.details["bins"] == 8 and v.details["strategy"] == strategy
        assert v.details["ci_method"] == "clopper_pearson_bonferroni"


def test_ece_interval_equals_the_bonferroni_clopper_pearson_construction(
    make_project: Project,
) -> None:
    df = scored_frame(n=3000, power=1.3)
    gate = {"id": "cal", "kind": "calibration", "max": 1, "slices": ["sex"], "min_support": 0}
    got = by_id(run(make_project, df, [gate], statistics={"confidence": 0.9}))
    for rid, part in parts(df, "cal", "sex"):
        lo, hi = ece_interval_oracle(part["y"].to_numpy(), part["score_c"].to_numpy(), 0.9)
        assert got[rid].ci == pytest.approx((lo, hi), abs=1e-9), rid


def test_calibration_in_the_large_equals_mean_score_minus_rate_with_wilson(
    make_project: Project,
) -> None:
    df = scored_frame(power=0.8)  # scores too high: CITL > 0
    gate = {
        "id": "citl",
        "kind": "calibration",
        "statistic": "citl",
        "min": -0.02,
        "max": 0.02,
        "slices": ["region"],
        "min_support": 0,
    }
    got = by_id(run(make_project, df, [gate]))
    for rid, part in parts(df, "citl", "region"):
        y, s = part["y"], part["score_c"]
        v = got[rid]
        assert v.observed == pytest.approx(s.mean() - y.mean(), abs=1e-12), rid
        lo, hi = proportion_confint(y.sum(), len(y), alpha=0.05, method="wilson")
        assert v.ci == pytest.approx((s.mean() - hi, s.mean() - lo), abs=1e-12), rid
        assert v.details["mean_score"] == pytest.approx(s.mean())
        assert v.details["observed_rate"] == pytest.approx(y.mean())
    assert got["citl"].status == "fail" and got["citl"].reason == "above_max"


def test_slope_and_intercept_equal_statsmodels_logistic_fit(make_project: Project) -> None:
    df = scored_frame(power=1.5)
    gates = [
        {"id": "slope", "kind": "calibration", "statistic": "slope", "min": 0.9, "max": 1.1},
        {"id": "icpt", "kind": "calibration", "statistic": "intercept", "min": -0.1, "max": 0.1},
    ]
    got = by_id(run(make_project, df, gates))
    s = df["score_c"].to_numpy()
    x = sm.add_constant(np.log(s / (1 - s)))
    fit = sm.GLM(df["y"].to_numpy(), x, family=sm.families.Binomial()).fit()
    ci = fit.conf_int(alpha=0.05)
    assert got["icpt"].observed == pytest.approx(fit.params[0], rel=1e-7)
    assert got["slope"].observed == pytest.approx(fit.params[1], rel=1e-7)
    assert got["icpt"].ci == pytest.approx(tuple(ci[0]), rel=1e-6)
    assert got["slope"].ci == pytest.approx(tuple(ci[1]), rel=1e-6)
    # s = p^1.5 under-states high scores less than low ones: slope < 1, and it fails.
    assert got["slope"].status == "fail" and got["slope"].observed < 0.9


def test_candidate_vs_baseline_shows_the_better_calibrated_model(make_project: Project) -> None:
    """A calibrated candidate against a bent baseline: ECE difference < 0, shown by its
    interval; the roles swapped, the same gate fails."""
    df = scored_frame(n=20000, seed=3, power=1.0)
    bent = np.round(df["score_b"] ** 2.0, 4)
    good = df.assign(score_b=bent, pred_b=(bent >= 0.5).astype(int))
    gate = {
        "id": "vs",
        "kind": "calibration",
        "compare": "baseline",
        "max": 0.0,
        "judge": "interval",
    }
    v = by_id(run(make_project, good, [gate]))["vs"]
    y = good["y"].to_numpy()
    ece_c = numpy_ece(y, good["score_c"].to_numpy())
    ece_b = numpy_ece(y, good["score_b"].to_numpy())
    assert v.observed == pytest.approx(ece_c - ece_b, abs=1e-12)
    assert v.details["candidate"] == pytest.approx(ece_c, abs=1e-12)
    assert v.details["baseline"] == pytest.approx(ece_b, abs=1e-12)
    # Bonferroni over both models' occupied bins (10 + 10 here).
    c_lo, c_hi = ece_interval_oracle(y, good["score_c"].to_numpy(), 0.95, tail_bins=20)
    b_lo, b_hi = ece_interval_oracle(y, good["score_b"].to_numpy(), 0.95, tail_bins=20)
    assert v.ci == pytest.approx((c_lo - b_hi, c_hi - b_lo), abs=1e-9)
    assert v.status == "pass" and v.ci is not None and v.ci[1] < 0
    md = render_markdown(run(make_project, good, [gate]).to_dict())
    cand, base = fmt(ece_c), fmt(ece_b)
    assert f"| ECE {base} → {cand} · better |" in md, md
    # Swapped: the candidate is the bent one.
    bad = good.assign(score_c=good["score_b"], score_b=good["score_c"])
    w = by_id(run(make_project, bad, [gate]))["vs"]
    assert w.status == "fail" and w.ci is not None and w.ci[0] > 0


def test_a_small_slice_is_insufficient_and_an_undefined_fit_is_an_error(
    make_project: Project,
) -> None:
    df = scored_frame()
    df.loc[df.index[:3], "score_c"] = 1.0  # a score of exactly 1: no logit, no slope
    gates = [
        {"id": "ece", "kind": "calibration", "max": 0.5, "slices": ["region"]},
        {"id": "slope", "kind": "calibration", "statistic": "slope", "min": 0.5},
    ]
    got = by_id(run(make_project, df, gates))
    tiny = got["ece[region=tiny]"]
    assert tiny.status == "skip" and tiny.reason == "insufficient_support"
    assert "min_support 100" in tiny.message
    assert got["slope"].status == "error" and got["slope"].reason == "undefined"
    assert "score of exactly 0 or 1" in got["slope"].message
    # A gate that judged nothing (every slice short of rows) is an error, not a pass.
    none = {"id": "none", "kind": "calibration", "max": 0.5, "slices": ["region"]}
    report = run(make_project, df, [{**none, "overall": False, "min_support": 10_000}])
    assert {g.status for g in report.gates} == {"error"}
    assert "the gate judged nothing" in report.gates[0].message


def test_scores_outside_0_1_are_one_clear_error(make_project: Project) -> None:
    df = scored_frame()
    df["score_c"] = df["score_c"] * 4 - 1  # a margin, not a probability
    report = run(make_project, df, [{"id": "ece", "kind": "calibration", "max": 0.1}])
    (v,) = report.gates
    assert v.status == "error"
    assert "candidate's scores leave [0, 1]" in v.message and "Traceback" not in v.message


def test_without_a_baseline_the_comparison_takes_its_if_no_baseline_outcome(
    make_project: Project,
) -> None:
    cfg = base_config(
        gates=[{"id": "vs", "kind": "calibration", "compare": "baseline", "max": 0.0}]
    )
    del cfg["baseline"]
    report = run_gates(load_config(make_project(cfg, scored_frame())))
    (v,) = report.gates
    assert v.status == "skip" and v.reason == "no_baseline"
    assert "if_no_baseline: skip" in v.message


def test_markdown_row_shows_mean_score_and_observed_rate(make_project: Project) -> None:
    df = scored_frame(power=0.8)
    gate = {"id": "citl", "kind": "calibration", "statistic": "citl", "max": 0.01}
    md = render_markdown(run(make_project, df, [gate]).to_dict())
    assert "| calibration |" in md
    s, y = df["score_c"].mean(), df["y"].mean()
    assert f"mean score {fmt(s)} · observed {fmt(y)}" in md


def test_paired_squared_l2_shows_a_difference_the_unpaired_ece_cannot(
    make_project: Project,
) -> None:
    """A calibrated candidate against a slightly bent baseline on 20,000 rows: the unpaired
    ECE interval crosses 0, the paired squared-l2 one lies below it. Both errors equal
    Kumar, Liang & Ma's package per slice; the roles swapped, the paired gate fails."""
    from calibration import utils as kumar

    df = scored_frame(n=20000, seed=3, power=1.0)
    bent = np.round(df["score_b"] ** 1.15, 4)
    good = df.assign(score_b=bent, pred_b=(bent >= 0.5).astype(int))
    common = {"kind": "calibration", "compare": "baseline", "max": 0.0, "judge": "interval"}
    gates = [
        {"id": "ece", **common},
        {"id": "l2", **common, "statistic": "squared_l2", "slices": ["sex"]},
    ]
    report = run(make_project, good, gates)
    got = by_id(report)
    assert got["ece"].ci is not None and got["ece"].ci[0] < 0 < got["ece"].ci[1]
    for gid, rows in parts(good, "l2", "sex"):
        v = got[gid]
        y = rows["y"].to_numpy()
        want = {}
        for role, col in (("candidate", "score_c"), ("baseline", "score_b")):
            edges = list(np.linspace(0, 1, 11)[1:])
            data = list(zip(rows[col].to_numpy(), y, strict=True))
            want[role] = kumar.unbiased_square_ce(kumar.fast_bin(data, edges))
            assert v.details[role] == pytest.approx(want[role], abs=1e-14)
        assert v.observed == pytest.approx(want["candidate"] - want["baseline"], abs=1e-14)
    v = got["l2"]
    assert v.status == "pass" and v.ci is not None and v.ci[1] < 0
    assert v.details["ci_method"] == "paired_exact_variance"
    md = render_markdown(report.to_dict())
    cand, base = fmt(v.details["candidate"]), fmt(v.details["baseline"])
    assert f"| ℓ2² {base} → {cand} · better |" in md, md
    bad = good.assign(score_c=good["score_b"], score_b=good["score_c"])
    w = by_id(run(make_project, bad, gates))["l2"]
    assert w.status == "fail" and w.ci is not None and w.ci[0] > 0
