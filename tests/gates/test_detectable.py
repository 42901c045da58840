"""Every metric and baseline verdict states its minimum detectable effect (issue 23 item 3).

Oracles: statsmodels' power classes (``NormalIndPower(ratio=0)`` is the one-sample z-test,
``proportion_effectsize`` Cohen's h), scikit-learn's ROC AUC with an independent DeLong
standard error computed here from the rows, scipy's root finder on Connor's closed form
for McNemar, and a seeded simulation of the gate's own interval judgement at the MDE.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats
from conftest import Project
from helpers import base_config, binary_frame, validate_report
from statsmodels.stats.power import NormalIndPower  # type: ignore[import-untyped]
from statsmodels.stats.proportion import proportion_effectsize  # type: ignore[import-untyped]

from mlops_gates.config import load_config
from mlops_gates.gates.result import GateResult, Report, describe_detectable
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown
from mlops_gates.report.text import render_table
from mlops_gates.stats import proportions


def _run(make_project: Project, gates: list[dict], frame: pd.DataFrame | None = None) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates), frame)))
    validate_report(report.to_dict())
    return report


def _ids(report: Report) -> dict[str, GateResult]:
    return {g.id: g for g in report.gates}


def _z_sum(alpha: float) -> float:
    """``z_a + z_b`` as statsmodels solves it: the standardised effect one row detects."""
    return float(
        NormalIndPower().solve_power(
            effect_size=None, nobs1=1, alpha=alpha, power=0.8, ratio=0, alternative="larger"
        )
    )


@pytest.mark.parametrize(("judge", "alpha"), [("interval", 0.025), ("significance", 0.05)])
def test_a_proportion_verdict_detects_what_statsmodels_says(
    make_project: Project, judge: str, alpha: float
) -> None:
    df = binary_frame(600, seed=3)
    gate = {"id": "rec", "kind": "metric", "metric": "recall", "min": 0.2, "judge": judge}
    g = _run(make_project, [gate], df).gates[0]
    d = g.detectable
    assert d is not None and d["formula"] == "arcsine" and d["alpha"] == pytest.approx(alpha)
    positives = int((df["y"] == 1).sum())
    p = int(((df["y"] == 1) & (df["pred_c"] == 1)).sum()) / positives
    assert d["unit"] == "positives" and g.support == positives
    # statsmodels' power of a one-sided test of p against p - MDE from the positives: 0.8.
    es = proportion_effectsize(p, p - d["effect"])
    achieved = NormalIndPower().power(
        es, nobs1=positives, alpha=alpha, ratio=0, alternative="larger"
    )
    assert achieved == pytest.approx(0.8, abs=1e-6)
    # The rows one point needs: statsmodels' sample size for h(p, p - 0.01), rounded up.
    rows = NormalIndPower().solve_power(
        proportion_effectsize(p, p - 0.01), alpha=alpha, power=0.8, ratio=0, alternative="larger"
    )
    assert d["rows_for_per"] == math.ceil(rows)


@pytest.mark.parametrize(
    ("metric", "ways"), [("fpr", ("rise",)), ("selection_rate", ("drop", "rise"))]
)
def test_an_error_rate_detects_a_rise_and_an_undirected_rate_the_larger_change(
    make_project: Project, metric: str, ways: tuple[str, ...]
) -> None:
    # FPR should stay low: the MDE is the rise statsmodels' one-sided test detects with
    # 80 % power. Selection rate has no direction: the larger of the drop and the rise.
    df = binary_frame(600, seed=4)
    g = _run(make_project, [{"id": "m", "kind": "metric", "metric": metric, "max": 0.9}], df)
    d = g.gates[0].detectable
    assert d is not None and d["formula"] == "arcsine"
    assert d["direction"] == ("rise" if metric == "fpr" else "change")
    if metric == "fpr":
        n = int((df["y"] == 0).sum())
        p = int(((df["y"] == 0) & (df["pred_c"] == 1)).sum()) / n
    else:
        n, p = len(df), float(df["pred_c"].mean())
    effects = []
    for way in ways:
        sign = 1 if way == "rise" else -1
        # The change whose one-sided power is 0.8: solve h(p ± e, p) = (z_a + z_b) / √n.
        h = (scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)) / math.sqrt(n)
        phi = math.asin(math.sqrt(p)) + sign * h / 2
        effects.append(abs(math.sin(phi) ** 2 - p))
        achieved = NormalIndPower().power(
            abs(proportion_effectsize(p + sign * effects[-1], p)),
            nobs1=n, alpha=0.025, ratio=0, alternative="larger",
        )  # fmt: skip
        assert achieved == pytest.approx(0.8, abs=1e-6)
    assert d["effect"] == pytest.approx(max(effects), rel=1e-9)


def _delong_se(y: np.ndarray, s: np.ndarray) -> float:
    """DeLong's standard error of the AUC from its placement values, written out here."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return math.sqrt(v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg))


def test_a_roc_auc_verdict_detects_z_times_the_delong_se(make_project: Project) -> None:
    from sklearn.metrics import roc_auc_score

    df = binary_frame(500, seed=5)
    gate = {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5, "judge": "interval"}
    g = _run(make_project, [gate], df).gates[0]
    assert g.observed == pytest.approx(roc_auc_score(df["y"], df["score_c"]))
    d = g.detectable
    assert d is not None and d["formula"] == "normal se"
    se = _delong_se(df["y"].to_numpy(), df["score_c"].to_numpy())
    assert d["effect"] == pytest.approx(_z_sum(0.025) * se, rel=1e-6)
    # A point needs the rows that shrink the MDE to 0.01 (se ∝ 1/√n).
    assert d["rows_for_per"] == math.ceil(500 * (d["effect"] / 0.01) ** 2)


def test_a_paired_accuracy_verdict_solves_connors_formula(make_project: Project) -> None:
    df = binary_frame(800, seed=7)
    gate = {"id": "vs", "kind": "baseline", "metric": "accuracy", "max_drop": 0.02}
    g = _ids(_run(make_project, [gate], df))["vs"]
    d = g.detectable
    assert d is not None and d["formula"] == "mcnemar (connor)"
    right_c, right_b = df["y"] == df["pred_c"], df["y"] == df["pred_b"]
    psi = float((right_c != right_b).mean())
    za, zb = scipy.stats.norm.ppf(1 - 0.025), scipy.stats.norm.ppf(0.8)

    def connor(delta: float) -> float:
        return (za * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2 - len(df)

    expected = scipy.optimize.brentq(connor, 1e-6, psi)
    assert d["effect"] == pytest.approx(expected, rel=1e-6)


def test_an_insufficient_verdict_says_what_it_could_detect(make_project: Project) -> None:
    df = binary_frame(400, seed=0)
    gate = {
        "id": "acc",
        "kind": "metric",
        "metric": "accuracy",
        "min": 0.5,
        "slices": ["region"],
        "min_support": 30,
        "on_insufficient": "warn",
    }
    report = _run(make_project, [gate], df)
    tiny = _ids(report)["acc[region=tiny]"]
    assert tiny.reason == "insufficient_support"
    sentence = describe_detectable(tiny.detectable)
    assert sentence.startswith("this slice could only detect a drop of ≥ ")
    assert "rows would detect 1 point" in sentence
    assert sentence in tiny.message
    # Conclusive verdicts carry the number but keep their sentence short.
    overall = _ids(report)["acc"]
    assert overall.detectable is not None and "could only detect" not in overall.message
    doc = report.to_dict()
    assert "detectable" in render_markdown(doc)
    lines = render_table(doc, width=80)
    assert max(len(line) for line in lines) <= 80
    assert any("detects >=" in line for line in lines)
    wide = render_table(doc, width=None)
    assert "detect" in wide[0] and any(">=" in line and " pt" in line for line in wide[2:])


def test_an_inconclusive_interval_verdict_reads_the_mde(make_project: Project) -> None:
    """The point estimate holds the bound, the interval does not: say what would."""
    df = binary_frame(400, seed=0)
    acc = float((df["y"] == df["pred_c"]).mean())
    gate = {"id": "acc", "kind": "metric", "metric": "accuracy", "min": acc - 0.01}
    gate["judge"] = "interval"
    g = _run(make_project, [gate], df).gates[0]
    assert g.status == "fail" and "these rows could only detect a drop of ≥" in g.message


def test_power_at_the_reported_mde_is_about_80_percent() -> None:
    """Seeded simulation of the gate's own judgement (`judge: interval`, Wilson): with the
    true accuracy exactly the MDE above the bound, the interval clears the bound in about
    80 % of data sets."""
    from mlops_gates.stats.power import mde_proportion

    rng = np.random.default_rng(23)
    n, bound = 1500, 0.8
    # The MDE is stated around the observed value; plan at the bound's neighbourhood.
    mde = float(mde_proportion(bound, n, alpha=0.025, direction="rise")[()])
    truth = bound + mde
    k = rng.binomial(n, truth, size=4000)
    lo, _ = proportions.proportion_interval("wilson", k, np.full_like(k, n), level=0.95)
    rate = float(np.mean(lo >= bound))
    assert 0.76 <= rate <= 0.84, rate


def test_without_intervals_there_is_no_detectable_effect(make_project: Project) -> None:
    cfg = base_config(gates=[{"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5}])
    cfg["statistics"] = {"intervals": False}
    report = run_gates(load_config(make_project(cfg)))
    assert report.gates[0].detectable is None
    validate_report(report.to_dict())
