"""Gate numbers carry their uncertainty: intervals, judge modes, multiplicity, McNemar."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from conftest import Project
from helpers import base_config, binary_frame, validate_report

from mlops_gates.config import ConfigError, config_from_dict, load_config
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.runner import run_gates
from mlops_gates.stats.inference import holm


def _run(make_project: Project, gates: list[dict], **cfg: object) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates, **cfg))))
    validate_report(report.to_dict())
    return report


def _ids(report: Report) -> dict[str, GateResult]:
    return {g.id: g for g in report.gates}


SLICED = {"kind": "metric", "slices": ["region"], "min_support": 30}


@pytest.mark.parametrize(
    ("metric", "method"),
    [
        ("accuracy", "bootstrap"),
        ("f1", "bootstrap"),
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
    gate = [{**SLICED, "id": "m", "metric": "accuracy", "min": 0}]
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
    acc = {**SLICED, "id": "acc", "metric": "accuracy", "min": 0}
    alone = _ids(_run(make_project, [acc]))
    together = _ids(
        _run(
            make_project,
            [
                {**SLICED, "id": "recall", "metric": "recall", "min": 0},
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
    assert g.details["ci_method"] == "stratified bootstrap"
    assert g.ci is not None and g.ci[0] <= g.observed <= g.ci[1]  # type: ignore[operator]


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
