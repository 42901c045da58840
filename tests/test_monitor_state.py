"""The running state behind `monitor.guarantee: anytime` (mlops_gates.monitor_state): runs
extend one sequence, the verdict on it is the one-sided e-process + e-BH of the summed
counts, and the state file round-trips or starts over with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import integrate, stats

from mlops_gates.gates.result import Bound, GateResult, Report
from mlops_gates.monitor_state import SequenceState, extend, load_state, save_state


def report(k: int = 3, bound: float = 0.9) -> Report:
    gates = [
        GateResult(
            id=f"acc[s={i}]",
            gate="acc",
            kind="metric",
            status="pass",
            severity="block",
            message="",
            reason="ok",
            metric="accuracy",
            bound=Bound(min=bound),
            observed=0.9,
            support=100,
        )
        for i in range(k)
    ]
    return Report(status="pass", started_at="t", finished_at="t", fingerprint={}, gates=gates)


def e_value_by_quadrature(hits: int, n: int, bound: float) -> float:
    """The one-sided beta-binomial mixture e-value, straight from its definition: the
    uniform prior truncated to [0, bound] mixed by scipy's quadrature, over the null's
    likelihood at the bound."""
    mix, _ = integrate.quad(lambda q: stats.binom.pmf(hits, n, q), 0.0, bound, points=[hits / n])
    return mix / bound / stats.binom.pmf(hits, n, bound)


def test_runs_extend_one_sequence_judged_on_the_summed_counts() -> None:
    rep = report()
    days = [{"acc[s=0]": (100, 84), "acc[s=1]": (100, 91), "acc[s=2]": (100, 80)}] * 2
    days += [{"acc[s=0]": (50, 40), "acc[s=2]": (100, 79)}]  # slice 1 had no new rows
    state = SequenceState(model="m/1", started_at="2026-11-01T00:00:00Z")
    for counts in days:
        new, state, guarantee = extend(rep, state, counts=counts, alpha=0.05, through=None)
    assert state.runs == 3
    assert (state.streams["acc[s=0]"].n, state.streams["acc[s=0]"].total) == (250, 208)
    by_id = {g.id: g for g in new.gates}
    for gid, (n, hits) in {
        "acc[s=0]": (250, 208),
        "acc[s=1]": (200, 182),
        "acc[s=2]": (300, 239),
    }.items():
        g = by_id[gid]
        assert (g.support, g.observed) == (n, pytest.approx(hits / n))
        assert g.details["e_value"] == pytest.approx(e_value_by_quadrature(hits, n, 0.9), rel=1e-6)
        assert guarantee[gid].startswith("anytime-valid") and "3 runs" in guarantee[gid]
    # e-BH over 3: slice 2 (0.797 on 300 against >= 0.9) alarms, the others do not.
    assert by_id["acc[s=2]"].status == "fail" and by_id["acc[s=2]"].reason == "below_min"
    assert by_id["acc[s=1]"].status == "pass" and new.status == "fail"
    assert "no new rows" in by_id["acc[s=1]"].details["window"]


def test_the_state_file_round_trips_and_starts_over_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state, why = load_state(path, model="m/1", now="t0")
    assert state.runs == 0 and "no monitor state yet" in str(why)
    _, state, _ = extend(report(), state, counts={"acc[s=0]": (100, 90)}, alpha=0.05, through="t1")
    save_state(path, state)
    again, why = load_state(path, model="m/1", now="t2")
    assert why is None and again == state
    other, why = load_state(path, model="m/2", now="t2")
    assert other.runs == 0 and other.through == "t1" and "changed from m/1 to m/2" in str(why)
    doc = json.loads(path.read_text())
    for broken in (
        "[]",
        json.dumps({**doc, "runs": -1}),
        json.dumps({**doc, "streams": {"a": {"n": 5, "hits": 9}}}),
    ):
        path.write_text(broken)
        fresh, why = load_state(path, model="m/1", now="t3")
        assert fresh.runs == 0 and fresh.through is None
        assert str(why).startswith(f"{path}: unreadable monitor state")


def test_a_bound_the_e_process_cannot_test_keeps_the_fixed_verdict() -> None:
    rep = report(k=1, bound=1.0)
    new, _, guarantee = extend(
        rep, SequenceState("m", "t"), counts={"acc[s=0]": (100, 99)}, alpha=0.05, through=None
    )
    assert new.gates[0] == rep.gates[0] and guarantee["acc[s=0]"].startswith("fixed-level")


def test_the_shipped_judge_finds_a_drop_when_the_simulated_detector_does() -> None:
    """The year-long simulations (tests/stats/test_sequential.py, bench/anytime.py) measure
    e-processes + e-BH on summed counts; this runs the code `monitor` ships (`extend`, one
    call per daily run) on 20 slices, one of them 5 points below its bound, and checks that
    it alarms on exactly the slices and days that detector does, within two weeks."""
    import numpy as np

    from mlops_gates.stats.sequential import e_bh, proportion_evalue

    rng = np.random.default_rng(24)
    rep, slices = report(k=20, bound=0.9), 20
    accuracy = np.array([0.85] + [0.9] * (slices - 1))
    found = []
    for _ in range(20):
        state, totals, n = SequenceState("m/1", "t"), np.zeros(slices), 0
        for d in range(1, 61):
            correct = rng.binomial(200, accuracy)
            counts = {f"acc[s={i}]": (200, int(correct[i])) for i in range(slices)}
            new, state, _ = extend(rep, state, counts=counts, alpha=0.05, through=None)
            totals, n = totals + correct, n + 200
            expected = e_bh(proportion_evalue(totals, n, 0.9, alternative="below"), alpha=0.05)
            assert [g.status == "fail" for g in new.gates] == list(expected), d
            if new.status == "fail":
                found.append(d)
                break
    assert len(found) == 20
    assert np.quantile(found, 0.95) <= 14, sorted(found)
