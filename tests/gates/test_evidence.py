"""Gate numbers carry their uncertainty: intervals, judge modes, multiplicity, McNemar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import Project
from helpers import base_config, binary_frame, validate_report
from statsmodels.stats.proportion import confint_proportions_2indep  # type: ignore[import-untyped]

from mlops_gates.config import ConfigError, config_from_dict, load_config
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.runner import run_gates
from mlops_gates.stats.inference import holm


def _run(
    make_project: Project, gates: list[dict], frame: pd.DataFrame | None = None, **cfg: object
) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates, **cfg), frame)))
    validate_report(report.to_dict())
    return report


def _ids(report: Report) -> dict[str, GateResult]:
    return {g.id: g for g in report.gates}


SLICED = {"kind": "metric", "slices": ["region"], "min_support": 30}


@pytest.mark.parametrize(
    ("metric", "method"),
    [
        ("accuracy", "wilson"),
        ("recall", "wilson"),
        ("f1", "smoothed bootstrap"),
        ("roc_auc", "delong"),
        ("brier", "normal"),
        ("average_precision", "bootstrap"),
    ],
)
def test_every_verdict_has_an_interval_around_its_estimate(
    make_project: Project, metric: str, method: str
) -> None:
    report = _run(make_project, [{**SLICED, "id": "m", "metric": metric, "min": 0}])
    for g in report.gates:
        if g.reason == "insufficient_support":
            continue
        assert g.ci is not None, g.id
        assert g.ci[0] <= g.observed <= g.ci[1], g.id  # type: ignore[operator]
        assert g.details["ci_method"] == method
        assert g.details["confidence"] == 0.95
        assert "[" in g.message  # the message shows the interval


def test_same_seed_same_intervals_other_seed_other_intervals(make_project: Project) -> None:
    gate = [{**SLICED, "id": "m", "metric": "f1", "min": 0}]
    a = _run(make_project, gate, statistics={"seed": 1})
    b = _run(make_project, gate, statistics={"seed": 1})
    c = _run(make_project, gate, statistics={"seed": 2})
    assert [g.ci for g in a.gates] == [g.ci for g in b.gates]
    assert [g.ci for g in a.gates] != [g.ci for g in c.gates]


def test_wilson_interval_equals_scipy(make_project: Project) -> None:
    df = binary_frame()
    report = _run(
        make_project,
        [{"id": "m", "kind": "metric", "metric": "accuracy", "min": 0}],
        statistics={"interval": "wilson"},
    )
    k = int((df["y"] == df["pred_c"]).sum())
    expected = scipy.stats.binomtest(k, len(df)).proportion_ci(0.95, method="wilson")
    ci = report.gates[0].ci
    assert ci == pytest.approx((expected.low, expected.high), rel=1e-9)
    assert report.gates[0].details["ci_method"] == "wilson"


def test_each_slice_gets_its_own_numbers(make_project: Project) -> None:
    # Recall per region and per (region, sex) against pandas and statsmodels' Wilson
    # interval computed from that slice's rows alone: estimate, interval, support (the
    # positives), rows and the MDE's denominator all belong to the slice the verdict names.
    from statsmodels.stats.proportion import proportion_confint

    df = binary_frame(n=1500, seed=3)
    slices = ["region", ["region", "sex"]]
    gate = {"id": "r", "kind": "metric", "metric": "recall", "min": 0.5, "slices": slices}
    report = _run(make_project, [{**gate, "min_support": 1}], df)
    seen = 0
    for g in report.gates:
        if not g.slice:
            continue
        rows = df.loc[np.logical_and.reduce([df[c] == v for c, v in g.slice.items()])]
        positives = rows[rows["y"] == 1]
        k, n = int((positives["pred_c"] == 1).sum()), len(positives)
        assert g.observed == pytest.approx(k / n, rel=1e-12), g.id
        assert g.ci == pytest.approx(proportion_confint(k, n, method="wilson"), rel=1e-9), g.id
        assert (g.support, g.details["rows"]) == (n, len(rows)), g.id
        # Cohen's h solved for the drop this slice's n detects (one-sided 2.5 %, 80 %).
        z = scipy.stats.norm.ppf(0.975) + scipy.stats.norm.ppf(0.8)
        step = np.arcsin(np.sqrt(k / n)) - z / (2 * np.sqrt(n))
        drop = k / n - np.sin(step) ** 2 if step >= 0 else None
        assert g.detectable is not None and g.detectable["unit"] == "positives"
        assert g.detectable["effect"] == (None if drop is None else pytest.approx(drop)), g.id
        seen += 1
    assert seen == 4 + 8


def test_intervals_off(make_project: Project) -> None:
    report = _run(
        make_project,
        [{"id": "m", "kind": "metric", "metric": "accuracy", "min": 0}],
        statistics={"intervals": False},
    )
    assert report.gates[0].ci is None


def test_judge_interval_is_stricter_than_the_estimate(make_project: Project) -> None:
    """A bound just under the estimate passes on the estimate but not on the lower bound."""
    est = _run(make_project, [{"id": "m", "kind": "metric", "metric": "accuracy", "min": 0}])
    value = est.gates[0].observed
    bound = value - 0.01  # type: ignore[operator]
    gates = [
        {"id": "e", "kind": "metric", "metric": "accuracy", "min": bound},
        {"id": "i", "kind": "metric", "metric": "accuracy", "min": bound, "judge": "interval"},
    ]
    got = _ids(_run(make_project, gates))
    assert got["e"].status == "pass"
    assert (got["i"].status, got["i"].reason) == ("fail", "below_min")
    assert "its interval is below the minimum" in got["i"].message


def test_judge_significance_with_holm(make_project: Project) -> None:
    """A bound a little above every slice's estimate: the estimate fails everywhere, but
    only slices whose Holm-adjusted p-value is below 0.05 fail on significance."""
    gates = [
        {**SLICED, "id": "e", "metric": "accuracy", "min": 0.9},
        {**SLICED, "id": "s", "metric": "accuracy", "min": 0.9, "judge": "significance"},
    ]
    got = _run(make_project, gates)
    sig = [g for g in got.gates if g.gate == "s" and g.reason != "insufficient_support"]
    raw = np.array([g.details["p_value"] for g in sig])
    adjusted = np.array([g.details["p_adjusted"] for g in sig])
    assert adjusted == pytest.approx(holm(raw))
    assert all(g.details["multiplicity"] == "holm" for g in sig)
    for g in sig:
        assert (g.status == "fail") == (g.details["p_adjusted"] < 0.05), g.id
    est = [g for g in got.gates if g.gate == "e" and g.reason != "insufficient_support"]
    assert sum(g.status == "fail" for g in est) > sum(g.status == "fail" for g in sig)


def test_a_slicing_is_resampled_once_for_every_gate_that_reads_it(
    make_project: Project,
) -> None:
    """Two gates on one slicing read the same replicates (same metric, same interval),
    and a gate's interval does not change when other gates join the config."""
    acc = {**SLICED, "id": "acc", "metric": "f1", "min": 0}
    alone = _ids(_run(make_project, [acc]))
    together = _ids(
        _run(
            make_project,
            [
                {**SLICED, "id": "bacc", "metric": "balanced_accuracy", "min": 0},
                {**acc, "id": "acc-again"},
                acc,
                {"id": "b", "kind": "baseline", "metric": "accuracy", "max_drop": 0.5},
                {
                    "id": "dp",
                    "kind": "fairness",
                    "metric": "demographic_parity_difference",
                    "sensitive": "region",
                    "max": 1,
                },
            ],
        )
    )
    for gid, g in alone.items():
        assert g.ci is not None
        assert together[gid].ci == g.ci
        assert together[gid.replace("acc", "acc-again", 1)].ci == g.ci


def test_baseline_paired_interval_and_mcnemar(make_project: Project) -> None:
    df = binary_frame()
    report = _run(
        make_project,
        [{"id": "b", "kind": "baseline", "metric": "accuracy", "max_drop": 0, "judge": "interval"}],
    )
    g = report.gates[0]
    right_c, right_b = df["y"] == df["pred_c"], df["y"] == df["pred_b"]
    b = int((right_c & ~right_b).sum())
    c = int((~right_c & right_b).sum())
    if b + c < 25:
        expected = scipy.stats.binomtest(b, b + c, 0.5).pvalue
    else:
        expected = scipy.stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1)
    assert g.details["mcnemar_p"] == pytest.approx(expected, rel=1e-9)
    assert g.details["ci_method"] == "paired bootstrap"
    assert g.ci is not None and g.ci[0] > 0  # the candidate is clearly better here
    assert g.status == "pass"


def test_fairness_interval(make_project: Project) -> None:
    report = _run(
        make_project,
        [
            {
                "id": "dp",
                "kind": "fairness",
                "metric": "demographic_parity_difference",
                "sensitive": "sex",
                "max": 0.5,
            }
        ],
    )
    g = report.gates[0]
    assert g.details["ci_method"] == "simultaneous wilson (Newcombe, Bonferroni)"
    assert g.ci is not None and g.ci[0] <= g.observed <= g.ci[1]  # type: ignore[operator]
    # Two groups: one pair, so the gap's interval is the Newcombe interval of |difference|.
    df = binary_frame()
    (x1, n1), (x2, n2) = (
        (int(part["pred_c"].sum()), len(part)) for _, part in sorted(df.groupby("sex"))
    )
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert g.ci == pytest.approx((max(lo, -hi, 0.0), max(abs(lo), abs(hi))), rel=1e-9, abs=1e-12)


def test_thirty_rows_all_correct_fail_min_095_on_the_interval(make_project: Project) -> None:
    """The acceptance case of issue 19: no zero-width interval from 30 rows."""
    df = binary_frame().head(30).copy()
    df["pred_c"] = df["y"]
    gate = {"id": "m", "kind": "metric", "metric": "accuracy", "min": 0.95, "judge": "interval"}
    g = _run(make_project, [gate], df).gates[0]
    assert (g.status, g.reason) == ("fail", "below_min")
    assert g.ci is not None and round(g.ci[0], 3) == 0.886 and g.ci[1] == 1.0
    assert "[0.886, 1]" in g.message, g.message


def test_support_is_the_metric_denominator(make_project: Project) -> None:
    """FNR from a handful of positives is insufficient evidence however many rows."""
    df = binary_frame()
    positives = int((df["y"] == 1).sum())
    negatives = len(df) - positives
    gates = [
        {"id": "fnr", "kind": "metric", "metric": "fnr", "max": 1, "slices": ["sex"],
         "min_support": 10_000},
        {"id": "fpr", "kind": "metric", "metric": "fpr", "max": 1},
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0},
    ]  # fmt: skip
    got = _ids(_run(make_project, gates))
    assert got["fpr"].support == negatives
    assert got["fpr"].details["rows"] == len(df)
    assert f"{negatives} negatives of {len(df)} rows" in got["fpr"].message
    assert got["acc"].support == len(df) and "rows" not in got["acc"].details
    for g in got.values():
        if g.gate == "fnr" and g.slice:
            part = df[df["sex"] == g.slice["sex"]]
            assert g.reason == "insufficient_support"
            assert g.support == int((part["y"] == 1).sum())
            assert f"{g.support} positives of {len(part)} rows" in g.message
    assert got["fnr"].support == positives


def test_judge_needs_intervals() -> None:
    cfg = base_config(
        statistics={"intervals": False},
        gates=[{"kind": "metric", "metric": "accuracy", "min": 0.5, "judge": "interval"}],
    )
    with pytest.raises(ConfigError, match=r"gates\.0\.judge: judge: interval needs intervals"):
        config_from_dict(cfg)


def test_regression_metric_without_interval_says_why(make_project: Project) -> None:
    rng = np.random.default_rng(0)
    import pandas as pd

    y = rng.normal(0, 1, 200)
    frame = pd.DataFrame({"y": y, "p": y + rng.normal(0, 0.1, 200)})
    gates = [
        {"id": "mse", "kind": "metric", "metric": "mse", "max": 1},
        {"id": "mae", "kind": "metric", "metric": "mae", "max": 1, "judge": "interval"},
        {"id": "mse-i", "kind": "metric", "metric": "mse", "max": 1, "judge": "interval"},
    ]
    report = run_gates(
        load_config(
            make_project(
                base_config(
                    task={"type": "regression", "label": "y"},
                    candidate={"predictions": "p"},
                    baseline=None,
                    gates=gates,
                ),
                frame,
            )
        )
    )
    got = _ids(report)
    assert got["mse"].ci is None and "fourth moments" in got["mse"].details["ci_note"]
    assert got["mae"].status == "pass" and got["mae"].details["ci_method"] == "normal"
    assert (got["mse-i"].status, got["mse-i"].reason) == ("error", "undefined")


def test_a_gap_with_one_defined_group_is_never_a_pass(make_project: Project) -> None:
    """No positives among the men: TPR is defined for one group only, so the equal
    opportunity gap is undefined (an error on the whole data), not `0 [0, 0]`."""
    df = binary_frame()
    df.loc[df["sex"] == "M", "y"] = 0
    gates = [
        {"id": judge, "kind": "fairness", "metric": "equal_opportunity_difference",
         "sensitive": "sex", "max": 0.1, "min_support": 1, "judge": judge}
        for judge in ("estimate", "interval", "significance")
    ]  # fmt: skip
    for g in _run(make_project, gates, df).gates:
        assert g.status == "error" and g.reason == "undefined", g.message
        assert "fewer than 2 groups with a defined tpr" in g.message
        assert g.observed is None


def test_identical_groups_pass_on_significance_and_differences_fail(
    make_project: Project,
) -> None:
    """Six groups with the same selection rate: the family-wise p-value is 1. Make one
    group's rate far higher and the gap is significant."""
    rng = np.random.default_rng(5)
    n = 6 * 200
    df = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "pred_c": np.tile([1] * 60 + [0] * 140, 6),
            "score_c": 0.5,
            "pred_b": 0,
            "score_b": 0.5,
            "grp": np.repeat(list("abcdef"), 200),
        }
    )
    gate = {"id": "dp", "kind": "fairness", "metric": "demographic_parity_difference",
            "sensitive": "grp", "max": 0.05, "judge": "significance"}  # fmt: skip
    g = _run(make_project, [gate], df).gates[0]
    assert (g.status, g.observed, g.details["p_value"]) == ("pass", 0.0, 1.0)
    df.loc[df["grp"] == "f", "pred_c"] = np.r_[[1] * 140, [0] * 60]
    g = _run(make_project, [gate], df).gates[0]
    assert g.status == "fail" and g.details["p_value"] < 1e-6
    assert g.observed == pytest.approx(0.4)


def test_baseline_roc_auc_is_paired_delong(make_project: Project) -> None:
    """The candidate − baseline AUC interval comes from paired DeLong; a model compared
    with itself gets a difference of 0, the interval [0, 0] and p = 1."""
    gate = {"id": "b", "kind": "baseline", "metric": "roc_auc", "max_drop": 0.0,
            "judge": "significance", "slices": ["sex"], "min_support": 1}  # fmt: skip
    report = _run(make_project, [gate])
    for g in report.gates:
        assert g.details["ci_method"] == "paired delong", g.id
        assert "ci_note" not in g.details
    df = binary_frame()
    df["score_b"], df["pred_b"] = df["score_c"], df["pred_c"]
    for g in _run(make_project, [gate], df).gates:
        assert (g.observed, g.ci, g.details["p_value"]) == (0.0, (0.0, 0.0), 1.0), g.id
        assert g.status == "pass"
