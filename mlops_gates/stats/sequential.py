"""Anytime-valid inference: confidence sequences, e-values and e-BH on running counts and sums.

A fixed-level test checked every day is a new 5% chance of a false alarm every day. The
tools here keep their error rate however often they are looked at. A *confidence sequence*
(CS) covers the true value at every sample size at once:
``P(forall n: theta in CS_n) >= 1 - alpha``. An *e-process* ``E_n`` under the null
satisfies ``P(exists n: E_n >= 1/alpha) <= alpha`` (Ville's inequality for a nonnegative
supermartingale with ``E_0 = 1``). Both work on sufficient statistics (``n`` and a sum),
which :class:`Running` carries from batch to batch.

Constructions (``S_n`` a sum of ``n`` observations in ``[lo, hi]``, ``theta`` their mean):

- **Proportions** (counts: accuracy as correct / rows, recall as caught / positives, ...):
  the conjugate beta-binomial mixture (Robbins 1970; Howard et al. 2021, sec. 3).
  ``M_n(p) = B(a + S, b + n - S) / B(a, b) / (p^S (1 - p)^(n - S))`` is the likelihood ratio
  of a Beta(a, b) mixture of alternatives against ``p``: a martingale with mean 1 when the
  truth is ``p``. The CS is ``{p : M_n(p) < 1/alpha}``, an interval because ``log M_n`` is
  convex in ``p``. For a one-sided null (``p >= p0``, "accuracy has not dropped below p0")
  the mixture is truncated to ``[0, p0]``: every alternative ``q < p0`` has
  ``E_p[(q/p0)^X ((1-q)/(1-p0))^(1-X)] <= 1`` for all ``p >= p0``, so the e-value is a
  supermartingale under the whole null.
- **Bounded means** (score metrics): Robbins' normal mixture with the sub-Gaussian
  (Hoeffding) variance proxy, intrinsic time ``V_n = n (hi - lo)^2 / 4``. Mixing
  ``exp(lambda S - lambda^2 V / 2)`` over ``lambda ~ N(0, 1/rho)`` gives
  ``M_n = sqrt(rho / (V + rho)) exp(S^2 / (2 (V + rho)))`` and the two-sided boundary
  ``|S_n - n theta| < sqrt((V + rho) log((V + rho) / (rho alpha^2)))`` (Howard, Ramdas,
  McAuliffe and Sekhon 2021, eq. 3.7 two-sided). ``rho`` is chosen to make the boundary
  tightest at ``V = v_opt``: ``rho = v_opt / (2 log(1/alpha) + log(1 + 2 log(1/alpha)))``.
  The one-sided e-value mixes over a half-normal ``lambda <= 0``:
  ``M_n = 2 sqrt(rho / (V + rho)) exp(S^2 / (2 (V + rho))) Phi(-S / sqrt(V + rho))``.
- **Differences** (canary minus stable): the two CSs at ``alpha / 2`` each (a union bound),
  so ``[lo_1 - hi_2, hi_1 - lo_2]`` covers ``theta_1 - theta_2`` at all times with
  probability ``>= 1 - alpha`` whatever the traffic split.
- **Many slices**: e-BH (Wang and Ramdas 2022) rejects the ``k*`` largest of ``K`` e-values,
  ``k* = max{k : e_(k) >= K / (alpha k)}``; it controls the false discovery rate at
  ``alpha`` under any dependence. Under the global null it rejects anything only when the
  mean of the e-values reaches ``1/alpha``; the mean of test supermartingales is one, so the
  probability of *ever* a false alarm over every slice and every look is ``<= alpha``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special  # type: ignore[import-untyped]

from mlops_gates.stats.intervals import Interval

__all__ = [
    "Running",
    "difference_cs",
    "e_bh",
    "mean_cs",
    "mean_evalue",
    "normal_mixture_radius",
    "normal_mixture_rho",
    "proportion_cs",
    "proportion_evalue",
]

FloatArray = NDArray[np.float64]
Alternative = Literal["below", "above"]
# Bisection steps for the beta-binomial CS ends: 2^-45 of [0, 1] (3e-14) is far below any
# difference a gate acts on.
_STEPS = 45


@dataclass(frozen=True)
class Running:
    """Running sufficient statistics of one stream of observations in ``[lo, hi]``: how
    many (``n``) and their sum (``total``). Extend it batch by batch, merge two of them,
    and store it as JSON between scheduled runs; the confidence sequences take it as is.
    For a proportion ``lo, hi = 0, 1`` and ``total`` counts the successes."""

    n: int = 0
    total: float = 0.0
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise ValueError(f"the range needs finite lo < hi, got [{self.lo}, {self.hi}]")
        if self.n < 0 or self.n != int(self.n):
            raise ValueError(f"n must be a whole number >= 0, got {self.n}")
        slack = 1e-9 * max(1, self.n) * (self.hi - self.lo)
        if not (self.n * self.lo - slack <= self.total <= self.n * self.hi + slack):
            raise ValueError(
                f"total {self.total} is impossible for {self.n} observations in "
                f"[{self.lo}, {self.hi}]"
            )

    @property
    def mean(self) -> float:
        """The running mean; NaN before the first observation."""
        return self.total / self.n if self.n else math.nan

    def add(self, n: int, total: float) -> Running:
        """This state plus a batch already reduced to its count and sum."""
        return Running(self.n + int(n), self.total + float(total), self.lo, self.hi)

    def extend(self, values: ArrayLike) -> Running:
        """This state plus a batch of raw observations (each must lie in the range)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size and not (np.all(np.isfinite(x)) and x.min() >= self.lo and x.max() <= self.hi):
            raise ValueError(
                f"observations must be finite and within [{self.lo}, {self.hi}]; "
                f"got values in [{np.nanmin(x)}, {np.nanmax(x)}]"
            )
        return self.add(x.size, float(x.sum()))

    def merge(self, other: Running) -> Running:
        """Both streams as one (e.g. two runners' shards of the same day)."""
        if (other.lo, other.hi) != (self.lo, self.hi):
            raise ValueError(
                f"cannot merge states over different ranges [{self.lo}, {self.hi}] and "
                f"[{other.lo}, {other.hi}]"
            )
        return self.add(other.n, other.total)

    def to_json(self) -> str:
        """A JSON object with the four fields; :meth:`from_json` reads it back."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any], *, where: str = "state") -> Running:
        """Read a state written by :meth:`to_json` (text or parsed mapping). ``where``
        names the file or key in the error message when the document is not one."""
        try:
            data = json.loads(text) if isinstance(text, str) else dict(text)
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: not a JSON object ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a JSON object with n, total, lo, hi")
        fields = {"n", "total", "lo", "hi"}
        if set(data) != fields:
            raise ValueError(
                f"{where}: expected exactly the fields {sorted(fields)}, got {sorted(data)}"
            )
        for key in sorted(fields):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
        if data["n"] != int(data["n"]):
            raise ValueError(f"{where}.n: expected a whole number, got {data['n']!r}")
        try:
            return cls(int(data["n"]), float(data["total"]), float(data["lo"]), float(data["hi"]))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None


# --- normal mixture (bounded means) ----------------------------------------------------


def normal_mixture_rho(v_opt: float, *, alpha: float = 0.05) -> float:
    """Mixture precision ``rho`` that makes the two-sided boundary tightest near intrinsic
    time ``v_opt`` (Howard et al. 2021, sec. 3.5): ``v_opt / (L + log(1 + L))``,
    ``L = 2 log(1/alpha)``."""
    _alpha(alpha)
    if not (v_opt > 0 and math.isfinite(v_opt)):
        raise ValueError(f"v_opt must be a positive intrinsic time, got {v_opt}")
    big_l = 2.0 * math.log(1.0 / alpha)
    return v_opt / (big_l + math.log1p(big_l))


def normal_mixture_radius(v: ArrayLike, *, rho: float, alpha: float = 0.05) -> FloatArray:
    """Two-sided normal-mixture boundary on ``|S_n - n theta|`` at intrinsic time ``v``:
    ``sqrt((v + rho) log((v + rho) / (rho alpha^2)))``."""
    _alpha(alpha)
    vv = np.asarray(v, dtype=np.float64)
    return np.asarray(
        np.sqrt((vv + rho) * (np.log((vv + rho) / rho) + 2.0 * math.log(1.0 / alpha))),
        dtype=np.float64,
    )


def mean_cs(
    n: ArrayLike,
    total: ArrayLike,
    *,
    lo: float = 0.0,
    hi: float = 1.0,
    alpha: float = 0.05,
    n_opt: float = 1000.0,
) -> Interval:
    """Confidence sequence for the mean of observations in ``[lo, hi]`` after ``n`` of them
    summing to ``total`` (elementwise over slices): valid at every ``n`` at once. ``n_opt``
    is the sample size where it is tightest (it stays valid everywhere). NaN where n = 0."""
    nn, tt = _counts(n, total)
    v = nn * (hi - lo) ** 2 / 4.0
    rho = normal_mixture_rho(n_opt * (hi - lo) ** 2 / 4.0, alpha=alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = tt / nn
        half = normal_mixture_radius(v, rho=rho, alpha=alpha) / nn
    out_lo = np.where(nn > 0, np.maximum(centre - half, lo), np.nan)
    out_hi = np.where(nn > 0, np.minimum(centre + half, hi), np.nan)
    return Interval(np.asarray(out_lo, np.float64), np.asarray(out_hi, np.float64))


def mean_evalue(
    n: ArrayLike,
    total: ArrayLike,
    bound: float,
    *,
    alternative: Alternative = "below",
    lo: float = 0.0,
    hi: float = 1.0,
    alpha: float = 0.05,
    n_opt: float = 1000.0,
) -> FloatArray:
    """e-process against "the mean is on the good side of ``bound``": with ``alternative``
    "below" the null is ``mean >= bound`` and the e-value grows as evidence that the mean
    fell below it accumulates ("above": null ``mean <= bound``). One-sided normal mixture
    (half-normal over ``lambda``) with the Hoeffding proxy; its expectation is at most 1
    under the null at every stopping time, so ``e >= 1/alpha`` is an alarm at level alpha."""
    if alternative not in ("below", "above"):
        raise ValueError(f"alternative must be 'below' or 'above', got {alternative!r}")
    nn, tt = _counts(n, total)
    sign = 1.0 if alternative == "below" else -1.0
    s = sign * (tt - nn * bound)  # negative when the data sit on the alarm side
    rho = normal_mixture_rho(n_opt * (hi - lo) ** 2 / 4.0, alpha=alpha)
    vr = nn * (hi - lo) ** 2 / 4.0 + rho
    log_e = (
        math.log(2.0)
        + 0.5 * np.log(rho / vr)
        + s**2 / (2.0 * vr)
        + special.log_ndtr(-s / np.sqrt(vr))
    )
    with np.errstate(over="ignore"):  # overwhelming evidence is +inf, still an alarm
        return np.asarray(np.exp(log_e), dtype=np.float64)


# --- beta-binomial mixture (proportions) -----------------------------------------------


def proportion_cs(
    successes: ArrayLike,
    n: ArrayLike,
    *,
    alpha: float = 0.05,
    prior: tuple[float, float] = (1.0, 1.0),
) -> Interval:
    """Confidence sequence for a proportion after ``successes`` out of ``n``
    (elementwise): the beta-binomial mixture ``{p : M_n(p) < 1/alpha}`` with a Beta
    ``prior`` over the alternatives. Exact for Bernoulli trials at every ``n`` at once;
    ``[0, 1]`` when n = 0."""
    _alpha(alpha)
    t, x = _counts(n, successes, whole=True)
    a, b = _prior(prior)
    log_mix = special.betaln(a + x, b + t - x) - special.betaln(a, b)
    level = math.log(1.0 / alpha)

    def inside(p: FloatArray) -> NDArray[np.bool_]:
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = special.xlogy(x, p) + special.xlog1py(t - x, -p)
        return np.asarray(log_mix - ll < level)

    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(t > 0, x / np.where(t > 0, t, 1.0), 0.5)
    lo = _edge(inside, centre, np.zeros_like(centre))
    hi = _edge(inside, centre, np.ones_like(centre))
    return Interval(lo, hi)


def proportion_evalue(
    successes: ArrayLike,
    n: ArrayLike,
    bound: float,
    *,
    alternative: Alternative = "below",
    prior: tuple[float, float] = (1.0, 1.0),
) -> FloatArray:
    """e-process against "the proportion is on the good side of ``bound``": "below" tests
    the null ``p >= bound`` (e.g. accuracy has not dropped below it), "above" the null
    ``p <= bound`` (e.g. an error rate has not risen above it). The Beta ``prior`` is
    truncated to the alternative side, so the e-value is a supermartingale under the whole
    composite null: ``P(ever e >= 1/alpha) <= alpha``."""
    if not 0.0 < bound < 1.0:
        raise ValueError(f"bound must be strictly between 0 and 1, got {bound}")
    if alternative not in ("below", "above"):
        raise ValueError(f"alternative must be 'below' or 'above', got {alternative!r}")
    t, x = _counts(n, successes, whole=True)
    a, b = _prior(prior)
    f = t - x
    if alternative == "above":  # mirror: failures below 1 - bound
        x, f, a, b, bound = f, x, b, a, 1.0 - bound
    with np.errstate(divide="ignore"):
        # log of the prior mass on [0, bound] and of the posterior-weighted mass there
        log_num = special.betaln(a + x, b + f) + np.log(special.betainc(a + x, b + f, bound))
        log_den = special.betaln(a, b) + math.log(special.betainc(a, b, bound))
    log_e = log_num - log_den - x * math.log(bound) - f * math.log1p(-bound)
    with np.errstate(over="ignore"):  # overwhelming evidence is +inf, still an alarm
        return np.asarray(np.exp(log_e), dtype=np.float64)


# --- differences and multiplicity -------------------------------------------------------


def difference_cs(first: Interval, second: Interval) -> Interval:
    """Confidence sequence for ``theta_1 - theta_2`` from two confidence sequences each
    computed at ``alpha / 2`` (union bound): ``[lo_1 - hi_2, hi_1 - lo_2]``."""
    return Interval(
        np.asarray(np.asarray(first.lo) - np.asarray(second.hi), dtype=np.float64),
        np.asarray(np.asarray(first.hi) - np.asarray(second.lo), dtype=np.float64),
    )


def e_bh(e_values: ArrayLike, *, alpha: float = 0.05) -> NDArray[np.bool_]:
    """e-BH (Wang and Ramdas 2022): which of ``K`` hypotheses to reject so that the false
    discovery rate is at most ``alpha`` under any dependence between the e-values. NaN
    e-values (slices not evaluated) count towards ``K`` and are never rejected."""
    _alpha(alpha)
    e = np.asarray(e_values, dtype=np.float64)
    if e.ndim != 1:
        raise ValueError(f"e_values must be one-dimensional, got shape {e.shape}")
    if np.any(e < 0):
        raise ValueError("e-values must be nonnegative")
    k = e.shape[0]
    filled = np.where(np.isnan(e), 0.0, e)
    order = np.argsort(-filled, kind="stable")
    ranks = np.arange(1, k + 1)
    ok = filled[order] * alpha * ranks >= k
    reject = np.zeros(k, dtype=bool)
    if ok.any():
        k_star = int(ranks[ok].max())
        reject[order[:k_star]] = True
    return reject


# --- helpers ----------------------------------------------------------------------------


def _edge(inside: Any, centre: FloatArray, outer: FloatArray) -> FloatArray:
    """Vectorised bisection between a point inside the set and an end of [0, 1]."""
    good = centre.copy()
    bad = outer.copy()
    at_end = inside(outer)
    for _ in range(_STEPS):
        mid = (good + bad) / 2.0
        ins = inside(mid)
        good = np.where(ins, mid, good)
        bad = np.where(ins, bad, mid)
    return np.asarray(np.where(at_end, outer, good), dtype=np.float64)


def _counts(
    n: ArrayLike, total: ArrayLike, *, whole: bool = False
) -> tuple[FloatArray, FloatArray]:
    nn = np.asarray(n, dtype=np.float64)
    tt = np.asarray(total, dtype=np.float64)
    if np.any(nn < 0) or np.any(~np.isfinite(nn)) or np.any(~np.isfinite(tt)):
        raise ValueError("counts must be finite and n must be >= 0")
    nn, tt = np.broadcast_arrays(nn, tt)
    if whole and np.any((tt < 0) | (tt > nn) | (tt != np.floor(tt)) | (nn != np.floor(nn))):
        raise ValueError("successes and n must be whole numbers with 0 <= successes <= n")
    return np.array(nn), np.array(tt)


def _prior(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = float(prior[0]), float(prior[1])
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"prior must be two positive Beta parameters, got {prior}")
    return a, b


def _alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05; got {alpha}")
    return alpha
