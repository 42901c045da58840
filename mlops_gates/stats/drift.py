"""Drift statistics from two small tables: reference and current counts over the same bins.

A reference profile fixes the bins once (numeric: edges from the reference's quantiles;
categorical: the reference's categories); current data are counted into the *same* bins,
so every statistic below is a function of two count vectors, never of rows.

Bins compared, in this order:

- numeric: ``[missing, underflow, bin 0, ..., bin B-1, overflow]``; bin ``i`` is
  ``[edges[i], edges[i+1])`` and the last bin also holds ``edges[-1]`` (the reference
  maximum), underflow is below ``edges[0]`` (the reference minimum), overflow above
  ``edges[-1]``. Wasserstein and KS use the non-missing part only, in order.
- categorical: ``[reference categories..., new categories..., other, missing]``.

Statistics (scipy names are the test oracles; scipy is never imported here):

- PSI ``Σ (q - p) ln(q / p)`` after adding ``PSEUDO_COUNT`` (0.5) to both counts of every
  bin that is non-empty on at least one side; bins empty on both sides are left out.
- Jensen-Shannon distance, base 2 (in [0, 1]): ``scipy.spatial.distance.jensenshannon(p,
  q, base=2)``; no smoothing (0 log 0 = 0).
- chi-square test of homogeneity of the 2 × k table (no continuity correction):
  ``scipy.stats.chi2_contingency(table, correction=False)`` after dropping empty columns;
  its effect size is Cramér's V, ``sqrt(chi2 / n)`` for two rows.
- Wasserstein-1 between the two histograms with each bin's mass at its own mean:
  ``scipy.stats.wasserstein_distance(ref_means, cur_means, ref_counts, cur_counts)``.
- Kolmogorov-Smirnov: the largest gap between the binned CDFs, which equals
  ``scipy.stats.ks_2samp`` on the bin indices; the p-value is the asymptotic Kolmogorov
  one, ``scipy.stats.kstwobign.sf(sqrt(n m / (n + m)) D)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "NUMERIC_ONLY",
    "PSEUDO_COUNT",
    "SUMMARY_QUANTILES",
    "CategoryCounts",
    "Chi2Result",
    "Drift",
    "KSResult",
    "NumericHistogram",
    "Statistic",
    "category_counts",
    "category_table",
    "chi2_homogeneity",
    "chi2_sf",
    "compare_categorical",
    "compare_numeric",
    "count_into",
    "count_table_into",
    "edges_from",
    "histogram",
    "histogram_details",
    "js_distance",
    "kolmogorov_sf",
    "ks_binned",
    "numeric_summary",
    "psi",
    "quantile_edges",
    "wasserstein",
]


FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Statistic = Literal["psi", "js", "wasserstein", "chi2", "ks"]

# Added to both counts of every bin in PSI, so that a bin empty on one side gives a large
# but finite term; it scales with the sample, unlike a fixed epsilon on the proportions.
PSEUDO_COUNT = 0.5
SUMMARY_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUMERIC_ONLY: frozenset[str] = frozenset({"wasserstein", "ks"})
MAX_LISTED = 20  # new / vanished categories named in the details


# ---------------------------------------------------------------- binning (the one pass)


def quantile_edges(values: ArrayLike, bins: int) -> FloatArray:
    """Bin edges for a reference sample: ``[min, cuts..., max]``, or empty if no values.

    - At most ``bins`` distinct values: one bin per value (cuts halfway between
      neighbours), so discrete features are compared value by value, exactly.
    - Otherwise cuts at the ``i / bins`` quantiles (linear interpolation), plus a bin of
      its own for every value holding at least ``1 / bins`` of the rows (cuts at the value
      and halfway to the next one): a zero-inflated feature such as a capital gain keeps
      its zeros apart from the rest instead of collapsing into one bin.

    NaN values are ignored. A constant sample gives ``[v, v]``: one bin.
    """
    _check_bins(bins)
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[~np.isnan(x)])
    if x.size == 0:
        return np.empty(0, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("values must be finite (or NaN for missing)")
    distinct, counts = np.unique(x, return_counts=True)
    if distinct.size <= bins:
        return edges_from(float(x[0]), float(x[-1]), distinct=distinct)
    heavy = np.flatnonzero(counts * bins >= x.size)
    return edges_from(
        float(x[0]),
        float(x[-1]),
        quantiles=np.quantile(x, np.arange(1, bins) / bins),
        heavy=distinct[heavy],
        after=distinct[np.minimum(heavy + 1, distinct.size - 1)],
    )


def edges_from(
    lo: float,
    hi: float,
    *,
    distinct: ArrayLike | None = None,
    quantiles: ArrayLike | None = None,
    heavy: ArrayLike | None = None,
    after: ArrayLike | None = None,
) -> FloatArray:
    """The edges of :func:`quantile_edges` from what it needs of the sample, so an engine
    that computes those by aggregation gets the same edges: the minimum and maximum, and
    either all ``distinct`` values (when there are at most ``bins``) or the ``i / bins``
    ``quantiles``, the ``heavy`` values (each holding at least ``1 / bins`` of the rows)
    and the distinct value ``after`` each heavy one (itself for the maximum)."""
    if distinct is not None:
        d = np.asarray(distinct, dtype=np.float64)
        cuts = (d[:-1] + d[1:]) / 2.0
    else:
        h = np.asarray(heavy, dtype=np.float64)
        cuts = np.unique(
            np.concatenate(
                [np.asarray(quantiles, dtype=np.float64), h, (h + np.asarray(after)) / 2]
            )
        )
        # A cut at the maximum is kept: it gives a heavy maximum a bin of its own.
        cuts = cuts[(cuts > lo) & (cuts <= hi)]
    return np.concatenate([[lo], cuts, [hi]]).astype(np.float64)


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")


@dataclass(frozen=True)
class NumericHistogram:
    """Counts (and sums, for the bin means) of one numeric column over fixed edges.

    ``counts`` and ``sums`` have ``B + 2`` entries: underflow, ``B`` bins, overflow, with
    ``B = len(edges) - 1`` (0 when the reference had no values: everything present is
    then overflow).
    """

    edges: FloatArray
    counts: IntArray
    sums: FloatArray
    missing: int

    @property
    def present(self) -> int:
        """Values counted (under- and overflow included), missing ones not."""
        return int(self.counts.sum())

    @property
    def rows(self) -> int:
        """All rows counted, missing values included."""
        return self.present + self.missing

    def means(self) -> FloatArray:
        """Mean of the values in each bin (NaN for an empty bin)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = self.sums / self.counts
        return out


def histogram(values: ArrayLike, edges: ArrayLike) -> NumericHistogram:
    """Count ``values`` (NaN = missing) into the bins of ``edges`` (see the module doc)."""
    x = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    missing = np.isnan(x)
    present = x[~missing]
    n_bins = max(e.size - 1, 0)
    if e.size == 0:
        slot = np.full(present.shape, n_bins + 1, dtype=np.int64)
    else:
        slot = np.searchsorted(e[1:-1], present, side="right").astype(np.int64) + 1
        slot[present < e[0]] = 0
        slot[present > e[-1]] = n_bins + 1
    counts = np.bincount(slot, minlength=n_bins + 2).astype(np.int64)
    sums = np.bincount(slot, weights=present, minlength=n_bins + 2).astype(np.float64)
    return NumericHistogram(e, counts, sums, int(missing.sum()))


def numeric_summary(values: ArrayLike) -> dict[str, Any]:
    """n, mean, std (ddof=1, as pandas), min, max and quantiles of the non-missing values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    qs = np.quantile(x, SUMMARY_QUANTILES)
    return {
        "n": n,
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if n > 1 else None,
        "min": float(x.min()),
        "max": float(x.max()),
        "quantiles": {str(q): float(v) for q, v in zip(SUMMARY_QUANTILES, qs, strict=True)},
    }


@dataclass(frozen=True)
class CategoryCounts:
    """Counts of one categorical column: listed categories, an ``other`` bucket, missing.

    A reference keeps its ``top_k`` most frequent categories; the rest are summed into
    ``other`` (``other_distinct`` of them). Counted against a reference, current data keep
    the reference's categories in the same order, followed by categories the reference
    never saw (only when the reference listed all of its categories; otherwise those rows
    go to ``other``, since they may be rare reference categories).
    """

    categories: tuple[str, ...]
    counts: IntArray
    other: int = 0
    other_distinct: int = 0
    missing: int = 0
    # Values the reference does not list, with their counts (current data only).
    new: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """All rows counted: listed categories, the `other` bucket and missing values."""
        return int(self.counts.sum()) + self.other + self.missing

    @property
    def complete(self) -> bool:
        """Does the table list every category it saw (no ``other`` bucket)?"""
        return self.other_distinct == 0


def category_counts(values: ArrayLike, *, missing: int = 0, top_k: int = 50) -> CategoryCounts:
    """A reference table: the ``top_k`` most frequent values (ties by name), the rest as
    ``other``. ``values`` holds the non-missing values as strings."""
    names, counts = _unique(values)
    return category_table(names, counts, missing=missing, top_k=top_k)


def category_table(
    names: list[str], counts: list[int], *, missing: int = 0, top_k: int = 50
) -> CategoryCounts:
    """:func:`category_counts` from the distinct values and their counts."""
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    order = sorted(range(len(names)), key=lambda i: (-int(counts[i]), names[i]))
    kept, rest = order[:top_k], order[top_k:]
    return CategoryCounts(
        categories=tuple(names[i] for i in kept),
        counts=np.asarray([counts[i] for i in kept], dtype=np.int64),
        other=int(sum(int(counts[i]) for i in rest)),
        other_distinct=len(rest),
        missing=int(missing),
    )


def count_into(reference: CategoryCounts, values: ArrayLike, *, missing: int = 0) -> CategoryCounts:
    """Count current ``values`` (strings, non-missing) into ``reference``'s categories."""
    names, counts = _unique(values)
    return count_table_into(reference, names, counts, missing=missing)


def count_table_into(
    reference: CategoryCounts, names: list[str], counts: list[int], *, missing: int = 0
) -> CategoryCounts:
    """:func:`count_into` from the distinct current values and their counts."""
    index = {c: i for i, c in enumerate(reference.categories)}
    listed = np.zeros(len(reference.categories), dtype=np.int64)
    new: dict[str, int] = {}
    for name, count in zip(names, counts, strict=True):
        if name in index:
            listed[index[name]] = count
        else:
            new[name] = int(count)
    ordered = sorted(new, key=lambda k: (-new[k], k))
    if not reference.complete:
        # Unlisted values may be rare reference categories: they belong in `other`.
        return CategoryCounts(
            reference.categories,
            listed,
            other=sum(new.values()),
            other_distinct=len(new),
            missing=int(missing),
            new={k: new[k] for k in ordered},
        )
    return CategoryCounts(
        reference.categories + tuple(ordered),
        np.concatenate([listed, np.asarray([new[k] for k in ordered], dtype=np.int64)]),
        missing=int(missing),
        new={k: new[k] for k in ordered},
    )


def _unique(values: ArrayLike) -> tuple[list[str], list[int]]:
    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return [], []
    names, counts = np.unique(arr.astype(str), return_counts=True)
    return [str(n) for n in names], [int(c) for c in counts]


# ---------------------------------------------------------------- statistics on two tables


def psi(reference: ArrayLike, current: ArrayLike, *, pseudo_count: float = PSEUDO_COUNT) -> float:
    """Population stability index of two count vectors over the same bins.

    ``Σ (q_i - p_i) ln(q_i / p_i)`` with ``p, q`` the shares after ``pseudo_count`` is
    added to both counts of every bin non-empty on at least one side. NaN if a side has
    no rows.
    """
    r, c = _pair(reference, current)
    if r.sum() == 0 or c.sum() == 0:
        return math.nan
    keep = (r + c) > 0
    r, c = r[keep] + pseudo_count, c[keep] + pseudo_count
    p, q = r / r.sum(), c / c.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: ArrayLike, current: ArrayLike) -> float:
    """Jensen-Shannon distance (square root of the divergence), base 2, in [0, 1]."""
    r, c = _pair(reference, current)
    if r.sum() == 0 or c.sum() == 0:
        return math.nan
    p, q = r / r.sum(), c / c.sum()
    m = (p + q) / 2
    divergence = 0.5 * (_kl_bits(p, m) + _kl_bits(q, m))
    return math.sqrt(max(divergence, 0.0))


def _kl_bits(p: FloatArray, m: FloatArray) -> float:
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))


@dataclass(frozen=True)
class Chi2Result:
    """A chi-square homogeneity test of two count vectors: statistic, degrees of freedom, p-value
    and Cramér's V."""

    statistic: float
    dof: int
    p_value: float
    cramers_v: float  # sqrt(statistic / n): the effect size for a 2 x k table


def chi2_homogeneity(reference: ArrayLike, current: ArrayLike) -> Chi2Result:
    """Chi-square test that both count vectors come from one distribution (2 × k table,
    empty columns dropped, no continuity correction)."""
    r, c = _pair(reference, current)
    nr, nc = r.sum(), c.sum()
    if nr == 0 or nc == 0:
        return Chi2Result(math.nan, 0, math.nan, math.nan)
    keep = (r + c) > 0
    observed = np.stack([r[keep], c[keep]])
    if observed.shape[1] < 2:
        return Chi2Result(0.0, 0, 1.0, 0.0)
    n = nr + nc
    expected = np.outer([nr, nc], observed.sum(axis=0)) / n
    stat = float(np.sum((observed - expected) ** 2 / expected))
    dof = observed.shape[1] - 1
    return Chi2Result(stat, dof, chi2_sf(stat, dof), math.sqrt(stat / n))


@dataclass(frozen=True)
class KSResult:
    """A two-sample Kolmogorov-Smirnov test on binned counts: the statistic at the bin edges, its
    asymptotic p-value and an upper bound of the unbinned statistic."""

    statistic: float
    p_value: float
    upper_bound: float  # the unbinned statistic is at most this


def ks_binned(reference: ArrayLike, current: ArrayLike) -> KSResult:
    """Two-sample Kolmogorov-Smirnov statistic from counts over *ordered* bins.

    ``D`` is the largest gap between the two CDFs at the bin boundaries: a lower bound of
    the statistic on the unbinned values, exact when every bin holds a single value.
    Within a bin either CDF grows by at most its share there, so the unbinned statistic
    is at most ``D + max_i max(p_i, q_i)`` (``upper_bound``).
    """
    r, c = _pair(reference, current)
    n, m = r.sum(), c.sum()
    if n == 0 or m == 0:
        return KSResult(math.nan, math.nan, math.nan)
    p, q = r / n, c / m
    d = float(np.max(np.abs(np.cumsum(p) - np.cumsum(q))))
    d = min(max(d, 0.0), 1.0)
    en = n * m / (n + m)
    upper = min(1.0, d + float(np.max(np.maximum(p, q))))
    return KSResult(d, kolmogorov_sf(math.sqrt(en) * d), upper)


def wasserstein(
    u_values: ArrayLike,
    v_values: ArrayLike,
    u_weights: ArrayLike | None = None,
    v_weights: ArrayLike | None = None,
) -> float:
    """Wasserstein-1 distance between two weighted point sets, ``∫ |U(x) - V(x)| dx``."""
    u = np.asarray(u_values, dtype=np.float64)
    v = np.asarray(v_values, dtype=np.float64)
    uw = np.ones_like(u) if u_weights is None else np.asarray(u_weights, dtype=np.float64)
    vw = np.ones_like(v) if v_weights is None else np.asarray(v_weights, dtype=np.float64)
    if u.size == 0 or v.size == 0 or uw.sum() <= 0 or vw.sum() <= 0:
        return math.nan
    everything = np.sort(np.concatenate([u, v]))
    steps = np.diff(everything)
    return float(
        np.sum(
            np.abs(_cdf(u, uw, everything[:-1]) - _cdf(v, vw, everything[:-1])) * steps,
        )
    )


def _cdf(points: FloatArray, weights: FloatArray, at: FloatArray) -> FloatArray:
    order = np.argsort(points, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])
    out: FloatArray = cumulative[np.searchsorted(points[order], at, side="right")] / cumulative[-1]
    return out


def _pair(reference: ArrayLike, current: ArrayLike) -> tuple[FloatArray, FloatArray]:
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(f"count vectors must be 1-d and aligned, got {r.shape} and {c.shape}")
    if np.any(r < 0) or np.any(c < 0) or not (np.isfinite(r).all() and np.isfinite(c).all()):
        raise ValueError("counts must be finite and non-negative")
    return r, c


# ---------------------------------------------------------------- distributions (no scipy)


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for X ~ chi-square(dof): the regularized upper incomplete gamma Q(dof/2, x/2)."""
    if dof <= 0:
        return 1.0
    if math.isnan(x):
        return math.nan
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        # Series for the lower function P; here Q >= ~0.3, so 1 - P loses nothing.
        term = total = 1.0 / a
        denom = a
        for _ in range(100_000):
            denom += 1
            term *= x / denom
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Continued fraction for Q (modified Lentz): accurate far into the tail.
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(log_front) * h)


def kolmogorov_sf(z: float) -> float:
    """P(K > z) for Kolmogorov's limiting distribution (scipy's ``kstwobign``)."""
    if math.isnan(z):
        return math.nan
    if z <= 0:
        return 1.0
    if z < 1.18:
        # The theta-function form converges fast for small z.
        y = math.exp(-(math.pi**2) / (8 * z * z))
        cdf = math.sqrt(2 * math.pi) / z * sum(y ** ((2 * k - 1) ** 2) for k in range(1, 8))
        return min(1.0, max(0.0, 1.0 - cdf))
    total = math.fsum((-1.0) ** (k - 1) * math.exp(-2.0 * k * k * z * z) for k in range(1, 101))
    return min(1.0, max(0.0, 2 * total))


# ---------------------------------------------------------------- one feature, one number


@dataclass(frozen=True)
class Drift:
    """One feature's drift: the effect size gated on, and the test behind its p-value."""

    value: float  # the effect size: psi, js, wasserstein / scale, Cramér's V, or KS D
    p_value: float  # that both samples come from one distribution (chi-square or KS)
    test: str
    test_statistic: float
    support: int  # the smaller of the two row counts the number rests on
    details: dict[str, Any] = field(default_factory=dict)


def compare_numeric(
    reference: NumericHistogram,
    current: NumericHistogram,
    statistic: Statistic,
    *,
    scale: float | None = None,
) -> Drift:
    """Drift of a numeric column; both histograms must share the reference's edges.

    ``scale`` (the reference standard deviation) divides the Wasserstein distance so that
    one bound fits features of any unit; missing, zero or NaN means "do not divide".
    """
    if not np.array_equal(reference.edges, current.edges):
        raise ValueError("both histograms must use the same edges")
    details: dict[str, Any] = {
        "bins": max(reference.edges.size - 1, 0),
        "out_of_range": {"below": int(current.counts[0]), "above": int(current.counts[-1])},
        "histogram": histogram_details(reference, current),
    }
    full_r = np.concatenate([[reference.missing], reference.counts])
    full_c = np.concatenate([[current.missing], current.counts])
    if statistic in ("psi", "js", "chi2"):
        return _on_table(statistic, full_r, full_c, details)
    support = min(reference.present, current.present)
    chi = chi2_homogeneity(reference.counts, current.counts)
    if statistic == "ks":
        ks = ks_binned(reference.counts, current.counts)
        details["ks_upper_bound"] = ks.upper_bound
        return Drift(ks.statistic, ks.p_value, "kolmogorov-smirnov", ks.statistic, support, details)
    if statistic != "wasserstein":
        raise ValueError(f"unknown statistic {statistic!r}")
    rm, cm = reference.means(), current.means()
    rk, ck = reference.counts > 0, current.counts > 0
    distance = wasserstein(rm[rk], cm[ck], reference.counts[rk], current.counts[ck])
    usable = scale is not None and math.isfinite(scale) and scale > 0
    details["wasserstein"] = distance
    details["scale"] = scale if usable else None
    value = distance / scale if usable and scale is not None else distance
    return Drift(value, chi.p_value, "chi-square", chi.statistic, support, details | _dof(chi))


def compare_categorical(
    reference: CategoryCounts, current: CategoryCounts, statistic: Statistic
) -> Drift:
    """Drift of a categorical column; ``current`` comes from :func:`count_into`."""
    if statistic in NUMERIC_ONLY:
        raise ValueError(f"{statistic} needs an ordered (numeric) feature")
    if current.categories[: len(reference.categories)] != reference.categories:
        raise ValueError("current counts must be made with count_into(reference, ...)")
    extra = len(current.categories) - len(reference.categories)
    r = np.concatenate([reference.counts, np.zeros(extra, np.int64), [reference.other]])
    c = np.concatenate([current.counts, [current.other]])
    r = np.append(r, reference.missing)
    c = np.append(c, current.missing)
    listed = current.counts[: len(reference.categories)]
    vanished = [
        name
        for name, rc, cc in zip(reference.categories, reference.counts, listed, strict=True)
        if rc > 0 and cc == 0
    ]
    details: dict[str, Any] = {
        "bins": len(r),
        "vanished_categories": vanished[:MAX_LISTED],
        "histogram": histogram_details(reference, current),
    }
    # Only a complete reference can tell a new category from a rare one it lumped in `other`.
    key = "new_categories" if reference.complete else "unlisted_categories"
    details[key] = dict(list(current.new.items())[:MAX_LISTED])
    if len(current.new) > MAX_LISTED or len(vanished) > MAX_LISTED:
        details["listed_up_to"] = MAX_LISTED
    return _on_table(statistic, r, c, details)


def histogram_details(
    reference: NumericHistogram | CategoryCounts, current: NumericHistogram | CategoryCounts
) -> dict[str, Any]:
    """The two count tables a drift number came from, small enough for the report, so a
    reader (and report/plots.py) can draw reference against current without the rows.

    Numeric: ``edges`` and, for ``reference`` and ``current``, the counts over ``[below
    edges[0], bin 0, ..., bin B-1, above edges[-1]]`` (``numpy.histogram`` over ``edges``
    gives the inner bins). Categorical: ``categories`` (the reference's, then at most
    ``MAX_LISTED`` new ones, most frequent first), their counts, and ``other`` (the
    reference's lumped categories; for current also the new ones not listed). Both carry
    ``missing``.
    """
    if isinstance(reference, NumericHistogram):
        assert isinstance(current, NumericHistogram)
        return {
            "edges": [float(e) for e in reference.edges],
            "reference": [int(c) for c in reference.counts],
            "current": [int(c) for c in current.counts],
            "missing": {"reference": int(reference.missing), "current": int(current.missing)},
        }
    assert isinstance(current, CategoryCounts)
    listed = len(reference.categories)
    shown = min(len(current.categories), listed + MAX_LISTED)
    # New categories past the listed ones are summed into `other`: a column of ids must not
    # put a million names into the report.
    folded = int(current.counts[shown:].sum())
    return {
        "categories": list(current.categories[:shown]),
        "reference": [int(c) for c in reference.counts] + [0] * (shown - listed),
        "current": [int(c) for c in current.counts[:shown]],
        "other": {"reference": int(reference.other), "current": int(current.other) + folded},
        "missing": {"reference": int(reference.missing), "current": int(current.missing)},
    }


def _on_table(statistic: Statistic, r: ArrayLike, c: ArrayLike, details: dict[str, Any]) -> Drift:
    r_arr, c_arr = _pair(r, c)
    support = int(min(r_arr.sum(), c_arr.sum()))
    chi = chi2_homogeneity(r_arr, c_arr)
    details = details | _dof(chi)
    if statistic == "psi":
        value = psi(r_arr, c_arr)
        n, m, k = r_arr.sum(), c_arr.sum(), int(((r_arr + c_arr) > 0).sum())
        # PSI is about chi2 * (1/n + 1/m), so with no drift it averages (k - 1)(1/n + 1/m).
        details["expected_if_no_drift"] = (k - 1) * (1 / n + 1 / m) if n and m else None
    elif statistic == "js":
        value = js_distance(r_arr, c_arr)
    elif statistic == "chi2":
        value = chi.cramers_v
    else:
        raise ValueError(f"{statistic} needs an ordered (numeric) feature")
    return Drift(value, chi.p_value, "chi-square", chi.statistic, support, details)


def _dof(chi: Chi2Result) -> dict[str, Any]:
    return {"dof": chi.dof}
