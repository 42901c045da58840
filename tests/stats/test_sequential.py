"""Anytime-valid inference: closed forms against scipy, guarantees against seeded simulations.

Simulation sizes are modest (a few seconds); bench/anytime.py runs the same experiments
larger and prints the numbers quoted in docs/explanation/monitoring-over-time.md. A
simulated rate ``r`` from ``R`` replicates is compared with ``alpha + 3 sd``,
``sd = sqrt(alpha (1 - alpha) / R)``: a correct method fails that by chance about once in
700 runs (and the seeds are fixed), a broken one (a fixed-level interval) by a wide margin.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from mlops_gates.stats.sequential import (
    Running,
    difference_cs,
    e_bh,
    mean_cs,
    mean_evalue,
    normal_mixture_radius,
    normal_mixture_rho,
    proportion_cs,
    proportion_evalue,
)

ALPHA = 0.05
ROOT = Path(__file__).parents[2]


def _tolerance(replicates: int, rate: float = ALPHA) -> float:
    return 3.0 * math.sqrt(rate * (1.0 - rate) / replicates)


# --- running state ----------------------------------------------------------------------


def test_running_state_extends_merges_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    batches = [rng.uniform(0.2, 0.9, size=k) for k in (5, 0, 17, 3)]
    state = Running(lo=0.0, hi=1.0)
    for batch in batches:
        state = state.extend(batch)
    everything = np.concatenate(batches)
    assert state.n == everything.size
    assert state.total == pytest.approx(everything.sum(), rel=1e-12)
    assert state.mean == pytest.approx(everything.mean(), rel=1e-12)
    halves = Running().extend(everything[:10]).merge(Running().extend(everything[10:]))
    assert halves.n == state.n and halves.total == pytest.approx(state.total, rel=1e-12)
    assert Running.from_json(state.to_json()) == state
    assert Running.from_json(json.loads(state.to_json())) == state
    assert math.isnan(Running().mean)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[1, 2]", r"monitor\.json: expected a JSON object"),
        ("{not json", r"monitor\.json: not a JSON object"),
        ('{"n": 3, "total": 1, "lo": 0}', r"exactly the fields \['hi', 'lo', 'n', 'total'\]"),
        ('{"n": "3", "total": 1, "lo": 0, "hi": 1}', r"monitor\.json\.n: expected a number"),
        ('{"n": 2.5, "total": 1, "lo": 0, "hi": 1}', r"monitor\.json\.n: expected a whole"),
        ('{"n": 3, "total": 7, "lo": 0, "hi": 1}', r"total 7.0 is impossible for 3"),
        ('{"n": 3, "total": 1, "lo": 1, "hi": 0}', r"finite lo < hi"),
    ],
    ids=["array", "garbage", "missing-field", "string", "fraction", "impossible", "range"],
)
def test_a_bad_state_document_names_the_file_and_field(document: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Running.from_json(document, where="monitor.json")


def test_out_of_range_observations_and_mismatched_merges_are_refused() -> None:
    with pytest.raises(ValueError, match=r"within \[0.0, 1.0\]"):
        Running().extend([0.5, 1.5])
    with pytest.raises(ValueError, match="different ranges"):
        Running().merge(Running(lo=-1.0, hi=1.0))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: proportion_evalue(5, 3, 0.9), r"0 <= successes <= n"),
        (lambda: proportion_evalue(5, 10, 1.0), r"bound must be strictly between 0 and 1"),
        (lambda: proportion_evalue(5, 10, 0.5, alternative="less"), r"'below' or 'above'"),
        (lambda: proportion_cs(1, 2, alpha=5), r"alpha must be in \(0, 1\)"),
        (lambda: proportion_cs(1, 2, prior=(0, 1)), r"two positive Beta parameters"),
        (lambda: mean_cs(-1, 0), r"n must be >= 0"),
        (lambda: e_bh([1.0, -2.0]), r"nonnegative"),
    ],
    ids=["successes>n", "bound", "alternative", "alpha", "prior", "negative-n", "negative-e"],
)
def test_bad_arguments_say_which_and_what_is_allowed(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# --- closed forms against numerical integration (scipy) ---------------------------------


@pytest.mark.parametrize(("s", "v"), [(0.0, 10.0), (7.5, 40.0), (-12.0, 40.0), (30.0, 250.0)])
def test_normal_mixture_boundary_is_where_the_mixture_martingale_reaches_one_over_alpha(
    s: float, v: float
) -> None:
    rho = normal_mixture_rho(100.0, alpha=ALPHA)

    def mixture(total: float) -> float:
        def f(lam: float) -> float:
            return math.exp(lam * total - lam**2 * v / 2) * stats.norm.pdf(lam, scale=rho**-0.5)

        return float(integrate.quad(f, -np.inf, np.inf)[0])

    radius = float(normal_mixture_radius(v, rho=rho, alpha=ALPHA))
    assert mixture(radius) == pytest.approx(1 / ALPHA, rel=1e-6)
    # the one-sided (half-normal) e-value of the module against the same integral over
    # lambda <= 0, twice the density: observations with mean 0.5 + s / n against bound 0.5
    n = v * 4.0  # Hoeffding proxy on [0, 1]: v = n / 4
    e = float(mean_evalue(n, n * 0.5 + s, 0.5, alpha=ALPHA, n_opt=400.0))
    half = integrate.quad(
        lambda lam: 2 * math.exp(lam * s - lam**2 * v / 2) * stats.norm.pdf(lam, scale=rho**-0.5),
        -np.inf,
        0.0,
    )[0]
    assert e == pytest.approx(half, rel=1e-6)


def test_rho_makes_the_boundary_nearly_tightest_at_v_opt() -> None:
    for v_opt in (10.0, 250.0, 1e4):
        ours = float(normal_mixture_radius(v_opt, rho=normal_mixture_rho(v_opt), alpha=ALPHA))
        best = optimize.minimize_scalar(
            lambda r, v=v_opt: float(normal_mixture_radius(v, rho=math.exp(r), alpha=ALPHA)),
            bounds=(math.log(v_opt) - 10, math.log(v_opt) + 5),
            method="bounded",
        )
        assert ours <= best.fun * 1.001


@pytest.mark.parametrize(("x", "n"), [(0, 0), (0, 12), (9, 12), (40, 50), (180, 200), (7, 7)])
def test_proportion_cs_ends_are_where_beta_binomial_over_binomial_is_one_over_alpha(
    x: int, n: int
) -> None:
    cs = proportion_cs(x, n, alpha=ALPHA)
    lo, hi = float(cs.lo), float(cs.hi)
    assert 0.0 <= lo <= (x / n if n else 0.5) <= hi <= 1.0

    # M_n(p) = mixture likelihood / likelihood at p; the binomial coefficients cancel, so it
    # is scipy's beta-binomial pmf over its binomial pmf.
    def m(p: float) -> float:
        return float(stats.betabinom.pmf(x, n, 1, 1) / stats.binom.pmf(x, n, p))

    for end, edge in ((lo, 0.0), (hi, 1.0)):
        if end == edge:
            assert m(edge) < 1 / ALPHA if 0 < edge < 1 or n == 0 else True
        else:
            assert m(end) == pytest.approx(1 / ALPHA, rel=1e-6)


@pytest.mark.parametrize("alternative", ["below", "above"])
@pytest.mark.parametrize(("x", "n"), [(0, 0), (170, 200), (195, 200), (60, 80)])
def test_proportion_evalue_is_the_truncated_beta_mixture(alternative: str, x: int, n: int) -> None:
    bound, (a, b) = 0.9, (2.0, 3.0)
    lo, hi = (0.0, bound) if alternative == "below" else (bound, 1.0)
    prior_mass = stats.beta.cdf(hi, a, b) - stats.beta.cdf(lo, a, b)
    ratio = lambda q: (  # noqa: E731
        stats.binom.pmf(x, n, q) / stats.binom.pmf(x, n, bound) * stats.beta.pdf(q, a, b)
    )
    expected = integrate.quad(ratio, lo, hi, epsabs=0, epsrel=1e-10, limit=200)[0] / prior_mass
    got = float(proportion_evalue(x, n, bound, alternative=alternative, prior=(a, b)))  # type: ignore[arg-type]
    assert got == pytest.approx(expected, rel=1e-6)


def test_e_bh_is_bh_on_one_over_e() -> None:
    # e-BH rejects exactly what Benjamini-Hochberg rejects on the p-values min(1, 1/e)
    rng = np.random.default_rng(3)
    for _ in range(200):
        e = np.exp(rng.normal(0, 3, size=20))
        p = np.minimum(1.0, 1.0 / e)
        expected = stats.false_discovery_control(p, method="bh") <= ALPHA
        np.testing.assert_array_equal(e_bh(e, alpha=ALPHA), expected)
    assert not e_bh([np.nan, 1e9], alpha=ALPHA)[0] and e_bh([np.nan, 1e9], alpha=ALPHA)[1]


# --- coverage at all times (simulation) -------------------------------------------------


def _ever_outside(lo: np.ndarray, hi: np.ndarray, truth: float) -> float:
    return float(np.mean(np.any((lo > truth) | (hi < truth), axis=1)))


def test_every_confidence_sequence_covers_at_all_times() -> None:
    rng = np.random.default_rng(20240)
    reps, steps = 300, 900
    looks = np.arange(1, steps + 1)
    # proportion: Bernoulli(0.9) streams, checked after every observation
    p = 0.9
    successes = np.cumsum(rng.random((reps, steps)) < p, axis=1)
    prop = proportion_cs(successes, looks, alpha=ALPHA)
    # bounded mean: Beta(2, 5) scores (mean 2/7) in [0, 1]
    scores = rng.beta(2, 5, size=(reps, steps))
    mean = mean_cs(looks, np.cumsum(scores, axis=1), alpha=ALPHA, n_opt=300)
    # difference of two proportions with unequal traffic (canary 1 row for every 3 stable)
    canary = np.cumsum(rng.random((reps, steps // 3)) < 0.8, axis=1)
    stable = np.cumsum(rng.random((reps, steps)) < 0.85, axis=1)[:, 2::3]
    diff = difference_cs(
        proportion_cs(canary, np.arange(1, steps // 3 + 1), alpha=ALPHA / 2),
        proportion_cs(stable, np.arange(3, steps + 1, 3), alpha=ALPHA / 2),
    )
    # difference of two bounded means (scores of canary and stable, equal traffic)
    other = np.cumsum(rng.beta(5, 2, size=(reps, steps)), axis=1)
    mean_diff = difference_cs(
        mean_cs(looks, np.cumsum(scores, axis=1), alpha=ALPHA / 2, n_opt=300),
        mean_cs(looks, other, alpha=ALPHA / 2, n_opt=300),
    )
    tol = _tolerance(reps)
    rates = {
        "mean difference": _ever_outside(mean_diff.lo, mean_diff.hi, 2 / 7 - 5 / 7),
        "proportion": _ever_outside(prop.lo, prop.hi, p),
        "mean": _ever_outside(mean.lo, mean.hi, 2 / 7),
        "difference": _ever_outside(diff.lo, diff.hi, 0.8 - 0.85),
    }
    assert all(r <= ALPHA + tol for r in rates.values()), rates
    # the same data through a fixed-level interval looked at every time: far above alpha,
    # which is what the sequences exist to prevent (and what would fail if they were one)
    z = stats.norm.ppf(1 - ALPHA / 2)
    phat = successes / looks
    wald = z * np.sqrt(np.maximum(phat * (1 - phat), 1e-12) / looks)
    assert _ever_outside(phat - wald, phat + wald, p) > 0.3


# --- a year of daily monitoring across 20 slices -----------------------------------------

DAYS, SLICES, ROWS, BOUND = 365, 20, 200, 0.9


def _year(rng: np.random.Generator, reps: int, accuracy: np.ndarray) -> np.ndarray:
    """Correct predictions per (replicate, day, slice), ``ROWS`` rows a slice a day."""
    return rng.binomial(ROWS, np.broadcast_to(accuracy, (reps, DAYS, SLICES)))


def _alarm_day(correct: np.ndarray) -> np.ndarray:
    """First day (1-based) e-BH over the slices' e-processes raises any alarm; 0 if never."""
    totals = np.cumsum(correct, axis=1)
    n = ROWS * np.arange(1, DAYS + 1)[None, :, None]
    e = proportion_evalue(totals, n, BOUND, alternative="below")
    reps = correct.shape[0]
    first = np.zeros(reps, dtype=int)
    for r in range(reps):
        # e-BH rejects anything iff some k has e_(k) >= K / (alpha k): check that per day
        sorted_e = -np.sort(-e[r], axis=1)
        any_day = np.any(sorted_e * ALPHA * np.arange(1, SLICES + 1) >= SLICES, axis=1)
        if any_day.any():
            first[r] = int(np.argmax(any_day)) + 1
            assert e_bh(e[r, first[r] - 1], alpha=ALPHA).any()
    return first


def test_a_healthy_year_of_daily_checks_rarely_ever_alarms_and_fixed_level_always_does() -> None:
    rng = np.random.default_rng(365)
    reps = 200
    # healthy at the boundary of the null (accuracy exactly at the bound): the worst case
    correct = _year(rng, reps, np.full(SLICES, BOUND))
    ever_anytime = float(np.mean(_alarm_day(correct) > 0))
    assert ever_anytime <= ALPHA + _tolerance(reps)
    # what `monitor` does today: a one-sided exact binomial test at 5% of each day's window
    daily_p = stats.binom.cdf(correct, ROWS, BOUND)
    ever_fixed = float(np.mean(np.any(daily_p <= ALPHA, axis=(1, 2))))
    assert ever_fixed > 0.99
    # even Bonferroni over slices each day leaves a year of looks: still most years alarm
    ever_bonferroni = float(np.mean(np.any(daily_p <= ALPHA / SLICES, axis=(1, 2))))
    assert ever_bonferroni > 0.5


def test_a_five_point_drop_in_one_slice_is_found_within_two_weeks() -> None:
    rng = np.random.default_rng(7)
    reps = 100
    accuracy = np.full(SLICES, BOUND)
    accuracy[0] = BOUND - 0.05
    day = _alarm_day(_year(rng, reps, accuracy))
    assert np.all(day > 0)
    assert np.quantile(day, 0.95) <= 14, np.quantile(day, [0.5, 0.95])


def test_the_score_mean_evalue_also_keeps_its_level_over_a_year() -> None:
    rng = np.random.default_rng(11)
    reps, rows = 200, 100
    mean = 2 / 7  # Beta(2, 5) scores, e.g. a daily mean of a [0, 1] score metric
    totals = np.cumsum(rng.beta(2, 5, size=(reps, DAYS, rows)).sum(axis=2), axis=1)
    e = mean_evalue(rows * np.arange(1, DAYS + 1), totals, mean, alternative="above")
    assert float(np.mean(np.any(e >= 1 / ALPHA, axis=1))) <= ALPHA + _tolerance(reps)


def test_a_model_better_than_its_bound_is_inside_the_null_too() -> None:
    # The null of a gate is composite (accuracy >= bound). A mixture over alternatives on
    # both sides of the bound would treat a model that is *better* than required as
    # evidence against the bound and alarm on it; the one-sided mixtures must not.
    rng = np.random.default_rng(13)
    reps, rows = 300, 200
    n = rows * np.arange(1, DAYS + 1)
    better = np.cumsum(rng.binomial(rows, 0.93, size=(reps, DAYS)), axis=1)
    e_prop = proportion_evalue(better, n, BOUND, alternative="below")
    e_mean = mean_evalue(n, better, BOUND, alternative="below")
    # ...while the two-sided mixture (the CS) does exclude the bound: it is not a test of it
    lo = proportion_cs(better[:, -1], n[-1], alpha=ALPHA).lo
    assert np.all(lo > BOUND)
    for e in (e_prop, e_mean):
        assert float(np.mean(np.any(e >= 1 / ALPHA, axis=1))) == 0.0


def test_e_bh_controls_the_false_discovery_rate() -> None:
    rng = np.random.default_rng(5)
    reps, k, k1, n = 1000, 20, 5, 1000
    p = np.full(k, BOUND)
    p[:k1] = BOUND - 0.06  # five slices really dropped
    x = rng.binomial(n, np.broadcast_to(p, (reps, k)))
    e = proportion_evalue(x, n, BOUND, alternative="below")
    fdp = []
    power = []
    for r in range(reps):
        rejected = e_bh(e[r], alpha=ALPHA)
        false = int(rejected[k1:].sum())
        fdp.append(false / max(int(rejected.sum()), 1))
        power.append(rejected[:k1].mean())
    # FDR <= alpha * K0 / K; the tolerance uses the worst-case sd of a proportion in [0, 1]
    assert float(np.mean(fdp)) <= ALPHA * (k - k1) / k + 3 * 0.5 / math.sqrt(reps)
    assert float(np.mean(power)) > 0.5


# --- the docs page runs ------------------------------------------------------------------


def test_the_monitoring_page_snippets_run() -> None:
    page = ROOT / "docs" / "explanation" / "monitoring-over-time.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks, "docs/explanation/monitoring-over-time.md has no python snippet"
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
