"""`slice_discovery`: a planted weak slice is found and confirmed; clean data stay quiet.

Oracles: pandas' groupby for the search counts, statsmodels' ``test_proportions_2indep``
(Agresti-Caffo) for the confirmation test, statsmodels' ``multipletests`` (Holm) for the
family, and a seeded simulation of the confirmed-false-discovery rate on clean data.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import Project
from helpers import validate_report
from statsmodels.stats import proportion as sm_proportion  # type: ignore[import-untyped]
from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

from mlops_gates.config import ConfigError, config_from_dict, load_config
from mlops_gates.gates.result import fmt
from mlops_gates.gates.runner import run_gates
from mlops_gates.report.markdown import render_markdown
from mlops_gates.sources.profile import build_profile, write_profile
from mlops_gates.stats.inference import holm
from mlops_gates.stats.slices import confirm, search

FEATURES = ["age", "hours", "sex", "region", "job"]


def planted(n: int = 20_000, seed: int = 1, weak: bool = True) -> pd.DataFrame:
    """Five features, 10 % wrong predictions everywhere, and (``weak``) 25 % more wrong
    in the slice region=c AND job=z."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "hours": rng.normal(40, 10, n).round(),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(list("abcde"), n),
            "job": rng.choice(["x", "y", "z"], n),
        }
    )
    y = rng.integers(0, 2, n)
    wrong = rng.random(n) < 0.10
    if weak:
        wrong |= (
            (df["region"] == "c").to_numpy()
            & (df["job"] == "z").to_numpy()
            & (rng.random(n) < 0.25)
        )
    df["y"] = y
    df["pred"] = np.where(wrong, 1 - y, y)
    return df


def _config(gate: dict, **extra: object) -> dict:
    return {
        "version": 1,
        "data": {"path": "eval.csv"},
        "task": {"type": "binary", "label": "y"},
        "candidate": {"predictions": "pred"},
        "gates": [{"kind": "slice_discovery", "features": FEATURES, **gate}],
        **extra,
    }


def test_a_planted_weak_slice_is_found_and_confirmed(make_project: Project) -> None:
    cfg = _config({"max_drop": 0.02, "max_order": 2})
    report = run_gates(load_config(make_project(cfg, planted())))
    doc = report.to_dict()
    validate_report(doc)
    failed = [g for g in report.gates if g.status == "fail"]
    assert {"region": "c", "job": "z"} in [g.slice for g in failed]
    g = next(g for g in failed if g.slice == {"region": "c", "job": "z"})
    assert g.reason == "below_min" and g.observed is not None and g.observed < -0.1
    assert g.details["p_adjusted"] < 0.05 and g.details["multiplicity"] == "holm"
    assert g.ci is not None and g.ci[1] < -0.02
    # The search half and the confirmation half split the rows.
    assert g.details["search_rows"] + g.details["confirm_rows"] == 20_000
    assert "region=c, job=z" in render_markdown(doc)


def test_clean_data_pass_with_one_verdict_saying_what_was_searched(make_project: Project) -> None:
    cfg = _config({"max_drop": 0.05, "max_order": 2})
    report = run_gates(load_config(make_project(cfg, planted(weak=False))))
    validate_report(report.to_dict())
    assert all(g.status == "pass" for g in report.gates)


def test_search_counts_equal_pandas_groupby() -> None:
    df = planted(6000, seed=3)
    codes = [pd.factorize(df[c])[0] for c in ("sex", "region", "job")]
    cards = [int(c.max()) + 1 for c in codes]
    bad = (df["y"] != df["pred"]).to_numpy()
    found, scored = search(codes, cards, bad, max_order=2, min_support=50, top_k=1000)
    frame = pd.DataFrame({"sex": codes[0], "region": codes[1], "job": codes[2], "bad": bad})
    names = ["sex", "region", "job"]
    expected = {}
    for order in (1, 2):
        for combo in itertools.combinations(range(3), order):
            grouped = frame.groupby([names[j] for j in combo])["bad"].agg(["size", "sum"])
            for key, row in grouped.iterrows():
                key = key if isinstance(key, tuple) else (key,)
                expected[(combo, tuple(int(k) for k in key))] = (int(row["size"]), row["sum"])
    assert found and scored > 0
    for c in found:
        assert expected[(c.features, c.values)] == (c.size, c.bad)


def test_confirmation_equals_statsmodels_agresti_caffo() -> None:
    rng = np.random.default_rng(0)
    codes = [rng.integers(0, 3, 3000)]
    bad = rng.random(3000) < np.where(codes[0] == 2, 0.3, 0.2)
    found, _ = search(codes, [3], bad, max_order=1, min_support=100, top_k=3)
    (k,) = confirm(codes, bad, found[:1], tolerance=0.01)
    share = k.size / (k.size + k.rest_size)
    sm = sm_proportion.test_proportions_2indep(
        k.bad,
        k.size,
        k.rest_bad,
        k.rest_size,
        value=0.01 / (1 - share),
        method="agresti-caffo",
        compare="diff",
        alternative="larger",
    )
    assert k.p_value == pytest.approx(sm.pvalue, rel=1e-9)
    assert k.gap == pytest.approx(k.bad / k.size - bad.mean())


def test_confirmed_false_discoveries_stay_within_alpha_over_seeds() -> None:
    """Clean data (errors independent of every feature), tolerance 0 (the hardest null):
    the share of data sets with any confirmed slice stays at most α = 0.05 (300 seeds;
    the bound allows two binomial standard errors)."""
    runs, alpha, hits = 300, 0.05, 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        n = 4000
        codes = [rng.integers(0, k, n) for k in (2, 3, 4, 5, 10)]
        bad = rng.random(n) < 0.15
        half = rng.random(n) < 0.5
        found, _ = search(
            [c[half] for c in codes],
            [2, 3, 4, 5, 10],
            bad[half],
            max_order=2,
            min_support=50,
            top_k=10,
        )
        if not found:
            continue
        checked = confirm([c[~half] for c in codes], bad[~half], found, tolerance=0.0)
        # The gate's Holm (the Judge's); equal to statsmodels' (checked once below).
        hits += bool((holm(np.array([k.p_value for k in checked])) < alpha).any())
    rate = hits / runs
    assert rate <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs), rate
    p = np.random.default_rng(1).random(10) ** 3
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_numeric_features_are_cut_at_the_reference_profiles_edges(make_project: Project) -> None:
    """Errors planted under age 30; the profile's edges (18, 38.67, 59.33, 80) make the
    slice `[18, 38.67)`, which is found and confirmed."""
    df = planted(8000, seed=2, weak=False)
    rng = np.random.default_rng(5)
    young = (df["age"] < 30).to_numpy() & (rng.random(len(df)) < 0.3)
    df["pred"] = np.where(young, 1 - df["y"], df["pred"])
    cfg = _config({"features": ["age", "sex"], "reference": "ref.json", "max_order": 1})
    root = make_project(cfg, df)
    write_profile(
        build_profile(pd.DataFrame({"age": np.arange(18, 81)}), bins=3), root.parent / "ref.json"
    )
    edges = json.loads((root.parent / "ref.json").read_text())["features"]["age"]["histogram"]
    e = [fmt(x) for x in edges["edges"]]
    report = run_gates(load_config(root))
    failed = [g.slice for g in report.gates if g.status == "fail"]
    assert failed == [{"age": f"[{e[0]}, {e[1]})"}], [g.message for g in report.gates]


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="max_order"):
        config_from_dict(_config({"max_order": 5}))
    with pytest.raises(ConfigError, match="features"):
        config_from_dict(_config({"features": []}))
    with pytest.raises(ConfigError, match="metric"):
        config_from_dict(_config({"metric": "roc_auc"}))


def test_a_missing_feature_is_one_error_naming_it(make_project: Project) -> None:
    cfg = _config({"features": ["age", "nope"]})
    report = run_gates(load_config(make_project(cfg, planted(2000))))
    (g,) = report.gates
    assert g.status == "error" and "nope" in g.message and "features" in g.message


def test_sql_engines_refuse_it_naming_the_engine(make_project: Project) -> None:
    pytest.importorskip("duckdb")
    cfg = _config({}, backend={"engine": "duckdb"})
    report = run_gates(load_config(make_project(cfg, planted(2000))))
    (g,) = report.gates
    assert g.status == "error" and "backend.engine: duckdb" in g.message


def test_too_few_rows_for_both_halves_is_insufficient_not_pass(make_project: Project) -> None:
    cfg = _config({"max_drop": 0.02, "min_support": 200, "on_insufficient": "warn"})
    report = run_gates(load_config(make_project(cfg, planted(n=600))))
    validate_report(report.to_dict())
    (g,) = report.gates
    assert (g.status, g.reason) == ("warn", "insufficient_support")
    halves = g.details["search_rows"], g.details["confirm_rows"]
    assert sum(halves) == 600 and g.details["slices_scored"] == 0
    assert f"{halves[0]} and {halves[1]} rows on the search and confirmation" in g.message
    assert "min_support 200 needs 400 on each" in g.message


def _items(pytester: pytest.Pytester, frame: pd.DataFrame, *args: str) -> pytest.RunResult:
    frame.to_csv(pytester.path / "eval.csv", index=False)
    cfg = _config({"id": "slices", "max_drop": 0.02, "max_order": 2})
    (pytester.path / "mlops-gates.yaml").write_text(json.dumps(cfg), encoding="utf-8")
    return pytester.runpytest("--mlops-gates", "-p", "no:cacheprovider", *args)


def test_pytest_item_ids_do_not_depend_on_the_data(pytester: pytest.Pytester) -> None:
    """One item per gate: `-k slices` and node ids stay put whatever slices the data hold."""
    listed = []
    for frame in (planted(), planted(seed=2, weak=False)):
        result = _items(pytester, frame, "--co", "-q")
        listed.append([line for line in result.outlines if "::" in line])
    assert (
        listed[0]
        == listed[1]
        == ["mlops-gates.yaml::mlops-gates-inputs", "mlops-gates.yaml::slices"]
    )


def test_the_one_item_fails_with_every_confirmed_slice(pytester: pytest.Pytester) -> None:
    result = _items(pytester, planted(), "-k", "slices")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*gate 'slices' FAIL*", "*region=c, job=z*"])
    report = json.loads((pytester.path / "mlops-gates-report" / "report.json").read_text())
    # The report keeps a verdict per candidate slice.
    assert len(report["gates"]) > 1 and {g["gate"] for g in report["gates"]} == {"slices"}
