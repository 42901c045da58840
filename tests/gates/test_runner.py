"""run_gates end to end: numbers equal the oracles, bad input gets a clear verdict."""

from __future__ import annotations

from pathlib import Path

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from conftest import Project
from helpers import base_config, binary_frame, validate_report

from mlops_gates.config import load_config
from mlops_gates.gates.result import Report
from mlops_gates.gates.runner import run_gates


def _run(
    make_project: Project, gates: list[dict], frame: pd.DataFrame | None = None, **cfg: object
) -> Report:
    report = run_gates(load_config(make_project(base_config(gates=gates, **cfg), frame)))
    validate_report(report.to_dict())
    return report


def _by_id(report: Report) -> dict[str, object]:
    return {g.id: g for g in report.gates}


SK = {
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "precision": lambda y, p: skm.precision_score(y, p, zero_division=np.nan),
    "recall": lambda y, p: skm.recall_score(y, p, zero_division=np.nan),
    "f1": lambda y, p: skm.f1_score(y, p, zero_division=np.nan),
    "specificity": lambda y, p: skm.recall_score(y, p, pos_label=0, zero_division=np.nan),
    "selection_rate": lambda y, p: flm.selection_rate(y, p),
    "fpr": lambda y, p: flm.false_positive_rate(y, p),
    "fnr": lambda y, p: flm.false_negative_rate(y, p),
}
SK_SCORE = {
    "roc_auc": skm.roc_auc_score,
    "average_precision": skm.average_precision_score,
    "log_loss": lambda y, s: skm.log_loss(y, s, labels=[0, 1]),
    "brier": skm.brier_score_loss,
}


@pytest.mark.parametrize("metric", [*SK, *SK_SCORE])
def test_binary_metrics_per_slice_equal_sklearn(make_project: Project, metric: str) -> None:
    df = binary_frame()
    report = _run(
        make_project,
        [
            {
                "id": "m",
                "kind": "metric",
                "metric": metric,
                "min": -1e9,
                "slices": ["region", ["sex", "region"]],
                "min_support": 0,
            }
        ],
        df,
    )
    gates = _by_id(report)
    for keys, part in (
        [((), df)]
        + [((("region", r),), g) for r, g in df.groupby("region")]
        + [((("sex", s), ("region", r)), g) for (s, r), g in df.groupby(["sex", "region"])]
    ):
        rid = "m" if not keys else "m[" + ",".join(f"{k}={v}" for k, v in keys) + "]"
        if metric in SK:
            expected = SK[metric](part["y"], part["pred_c"])
        else:
            expected = SK_SCORE[metric](part["y"], part["score_c"])
        got = gates[rid].observed  # type: ignore[attr-defined]
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), rid


def test_overall_score_metrics_count_the_rows_whose_slice_value_is_missing(
    make_project: Project,
) -> None:
    """The whole data's score tables are summed from a slicing's (fewer entries than the
    groups'): rows with no value in the slice column are a slice of their own there, and
    count overall."""
    df = binary_frame(n=600, seed=3)
    df.loc[df.index % 7 == 0, "region"] = None
    report = _run(
        make_project,
        [
            {
                "id": m,
                "kind": "metric",
                "metric": m,
                "min": -1e9,
                "slices": ["region", ["sex", "region"]],
            }
            for m in ("roc_auc", "average_precision")
        ],
        df,
    )
    gates = _by_id(report)
    for metric in ("roc_auc", "average_precision"):
        expected = SK_SCORE[metric](df["y"], df["score_c"])
        assert gates[metric].observed == pytest.approx(expected, rel=1e-12)  # type: ignore[attr-defined]
        missing = df[df["region"].isna()]
        got = gates[f"{metric}[region=<missing>]"]
        assert got.observed == pytest.approx(  # type: ignore[attr-defined]
            SK_SCORE[metric](missing["y"], missing["score_c"]), rel=1e-12
        )


def test_fairness_equals_fairlearn(make_project: Project) -> None:
    df = binary_frame()
    gates = [
        {
            "id": "dpd",
            "kind": "fairness",
            "metric": "demographic_parity_difference",
            "sensitive": "region",
            "max": 1,
            "min_support": 0,
        },
        {
            "id": "dpr",
            "kind": "fairness",
            "metric": "demographic_parity_ratio",
            "sensitive": "region",
            "min": 0,
            "min_support": 0,
        },
        {
            "id": "eod",
            "kind": "fairness",
            "metric": "equalized_odds_difference",
            "sensitive": "region",
            "max": 1,
            "min_support": 0,
        },
        {
            "id": "eor",
            "kind": "fairness",
            "metric": "equalized_odds_ratio",
            "sensitive": "sex",
            "min": 0,
            "min_support": 0,
        },
        {
            "id": "eop",
            "kind": "fairness",
            "metric": "equal_opportunity_difference",
            "sensitive": "region",
            "max": 1,
            "min_support": 0,
        },
        {
            "id": "auc-gap",
            "kind": "fairness",
            "metric": "roc_auc",
            "measure": "difference",
            "sensitive": "sex",
            "max": 1,
            "min_support": 0,
        },
        {
            "id": "dpd-ctl",
            "kind": "fairness",
            "metric": "demographic_parity_difference",
            "sensitive": "sex",
            "control": ["region"],
            "max": 1,
            "min_support": 0,
        },
    ]
    got = _by_id(_run(make_project, gates, df))
    y, p, a = df["y"], df["pred_c"], df["region"]
    expect = {
        "dpd": flm.demographic_parity_difference(y, p, sensitive_features=a),
        "dpr": flm.demographic_parity_ratio(y, p, sensitive_features=a),
        "eod": flm.equalized_odds_difference(y, p, sensitive_features=a),
        "eor": flm.equalized_odds_ratio(y, p, sensitive_features=df["sex"]),
        "eop": flm.equal_opportunity_difference(y, p, sensitive_features=a),
        "auc-gap": flm.MetricFrame(
            metrics=skm.roc_auc_score, y_true=y, y_pred=df["score_c"], sensitive_features=df["sex"]
        ).difference(),
    }
    for gid, value in expect.items():
        assert got[gid].observed == pytest.approx(value, rel=1e-9), gid  # type: ignore[attr-defined]
    frame = flm.MetricFrame(
        metrics=flm.selection_rate,
        y_true=y,
        y_pred=p,
        sensitive_features=df["sex"],
        control_features=a,
    )
    for region, value in frame.difference().items():
        observed = got[f"dpd-ctl[region={region}]"].observed  # type: ignore[attr-defined]
        assert observed == pytest.approx(value, rel=1e-9)


def test_fairness_leaves_out_small_groups(make_project: Project) -> None:
    gate = {
        "id": "dp",
        "kind": "fairness",
        "metric": "demographic_parity_difference",
        "sensitive": "region",
        "max": 1,
        "min_support": 30,
    }
    result = _run(make_project, [gate]).gates[0]
    included = {g["group"]: g["included"] for g in result.details["groups"]}
    assert included == {"east": True, "north": True, "south": True, "tiny": False}
    assert result.support == 390


def test_baseline_margins_and_direction(make_project: Project) -> None:
    df = binary_frame()
    acc_c = skm.accuracy_score(df["y"], df["pred_c"])
    acc_b = skm.accuracy_score(df["y"], df["pred_b"])
    ll_c = skm.log_loss(df["y"], df["score_c"])
    ll_b = skm.log_loss(df["y"], df["score_b"])
    gates = [
        {"id": "acc", "kind": "baseline", "metric": "accuracy", "max_drop": 0.0},
        {"id": "gain", "kind": "baseline", "metric": "accuracy", "min_gain": 0.5},
        {"id": "ll", "kind": "baseline", "metric": "log_loss", "max_relative_drop": 0.01},
        {"id": "rel", "kind": "baseline", "metric": "log_loss", "min_relative_gain": 0.05},
        {
            "id": "both",
            "kind": "baseline",
            "metric": "accuracy",
            "max_drop": 0.2,
            "min_relative_gain": 0.5,
        },
        {
            "id": "rev",
            "kind": "baseline",
            "metric": "accuracy",
            "max_drop": 0,
            "greater_is_better": False,
            "severity": "warn",
        },
    ]
    got = _by_id(_run(make_project, gates, df))
    assert got["acc"].status == "pass"  # type: ignore[attr-defined]
    assert got["acc"].observed == pytest.approx(acc_c - acc_b)  # type: ignore[attr-defined]
    assert got["gain"].status == "fail"  # type: ignore[attr-defined]
    assert got["gain"].bound.min == 0.5  # type: ignore[attr-defined]
    assert got["ll"].status == "pass"  # type: ignore[attr-defined]
    assert got["ll"].bound.max == pytest.approx(0.01 * ll_b)  # type: ignore[attr-defined]
    assert got["ll"].details["candidate"] == pytest.approx(ll_c)  # type: ignore[attr-defined]
    assert got["rev"].status == "warn"  # type: ignore[attr-defined]
    # Lower log loss is better: at least 5% of the baseline's lower, so at most -0.05 ll_b.
    assert got["rel"].bound.max == pytest.approx(-0.05 * ll_b)  # type: ignore[attr-defined]
    assert got["rel"].status == ("pass" if ll_c <= 0.95 * ll_b else "fail")  # type: ignore[attr-defined]
    # All margins hold at once: the stricter one (a 50% relative gain) sets the bound.
    assert got["both"].bound.min == pytest.approx(0.5 * acc_b)  # type: ignore[attr-defined]
    assert got["both"].status == "fail"  # type: ignore[attr-defined]


@pytest.mark.parametrize("outcome", ["skip", "pass", "warn", "fail"])
def test_no_baseline_outcome_is_explicit(make_project: Project, outcome: str) -> None:
    gate = {
        "id": "vs",
        "kind": "baseline",
        "metric": "accuracy",
        "max_drop": 0,
        "if_no_baseline": outcome,
    }
    result = _run(make_project, [gate], baseline=None).gates[0]
    assert (result.status, result.reason) == (outcome, "no_baseline")
    assert "no baseline configured" in result.message


def test_insufficient_support_is_not_a_pass(make_project: Project) -> None:
    gates = [
        {
            "id": "a",
            "kind": "metric",
            "metric": "accuracy",
            "min": 0.0,
            "slices": ["region"],
            "min_support": 30,
            "on_insufficient": "fail",
        }
    ]
    tiny = _by_id(_run(make_project, gates))["a[region=tiny]"]
    assert (tiny.status, tiny.reason, tiny.support) == ("fail", "insufficient_support", 10)  # type: ignore[attr-defined]


def test_undefined_metric_on_a_slice_and_overall(make_project: Project) -> None:
    df = binary_frame()
    df.loc[df["region"] == "east", "pred_c"] = 0  # no predicted positives there
    gates = [
        {
            "id": "p",
            "kind": "metric",
            "metric": "precision",
            "min": 0.1,
            "slices": ["region"],
            "min_support": 0,
        }
    ]
    got = _by_id(_run(make_project, gates, df))
    east = got["p[region=east]"]
    assert (east.status, east.reason, east.observed) == ("skip", "undefined", None)  # type: ignore[attr-defined]
    df["pred_c"] = 0
    overall = _run(make_project, gates, df).gates[0]
    assert (overall.status, overall.reason) == ("error", "undefined")


def test_multiclass_and_regression(make_project: Project, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 300
    y = rng.choice(["cat", "dog", "fox"], n)
    pred = np.where(rng.random(n) < 0.7, y, rng.choice(["cat", "dog", "fox"], n))
    df = pd.DataFrame({"y": y, "pred_c": pred, "g": rng.choice(["a", "b"], n)})
    gates = [
        {"id": m, "kind": "metric", "metric": m, "min": 0, "slices": ["g"]}
        for m in ("f1_macro", "precision_weighted", "balanced_accuracy")
    ]
    got = _by_id(
        _run(
            make_project,
            gates,
            df,
            task={"type": "multiclass", "label": "y"},
            candidate={"predictions": "pred_c"},
            baseline=None,
        )
    )
    for gid, fn in {
        "f1_macro": lambda a, b: skm.f1_score(a, b, average="macro"),
        "precision_weighted": lambda a, b: skm.precision_score(a, b, average="weighted"),
        "balanced_accuracy": skm.balanced_accuracy_score,
    }.items():
        part = df[df["g"] == "b"]
        assert got[f"{gid}[g=b]"].observed == pytest.approx(fn(part["y"], part["pred_c"]))  # type: ignore[attr-defined]

    yr = rng.normal(1e6, 3, n)
    reg = pd.DataFrame({"y": yr, "pred_c": yr + rng.normal(0.5, 1, n), "g": df["g"]})
    gates = [
        {"id": m, "kind": "metric", "metric": m, "min": -1e12, "slices": ["g"]}
        for m in ("mae", "rmse", "r2", "mean_error")
    ]
    got = _by_id(
        _run(
            make_project,
            gates,
            reg,
            task={"type": "regression", "label": "y"},
            candidate={"predictions": "pred_c"},
            baseline=None,
        )
    )
    part = reg[reg["g"] == "a"]
    assert got["r2[g=a]"].observed == pytest.approx(
        skm.r2_score(part["y"], part["pred_c"]),  # type: ignore[attr-defined]
        rel=1e-9,
    )
    assert got["rmse"].observed == pytest.approx(  # type: ignore[attr-defined]
        skm.root_mean_squared_error(reg["y"], reg["pred_c"]), rel=1e-9
    )
    assert got["mean_error"].observed == pytest.approx((reg["pred_c"] - reg["y"]).mean())  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_models_from_files(make_project: Project, tmp_path: Path, fmt: str) -> None:
    import joblib
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    df = binary_frame()
    df["x1"] = df["score_c"] + 0.01 * np.arange(len(df)) % 3
    model = LogisticRegression().fit(df[["x1"]], df["y"])
    path = tmp_path / f"model.{fmt}"
    joblib.dump(model, path) if fmt == "joblib" else sio.dump(model, path)
    gates = [
        {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5},
        {"id": "vs", "kind": "baseline", "metric": "roc_auc", "max_drop": 1},
    ]
    # A pickle loads only when the config says so (tests/sources/test_model_safety.py).
    candidate = {"model": path.name, "allow_pickle": fmt == "joblib"}
    report = _run(make_project, gates, df, candidate=candidate)
    expected = skm.roc_auc_score(df["y"], model.predict_proba(df[["x1"]])[:, 1])
    assert report.gates[0].observed == pytest.approx(expected, rel=1e-12)
    assert report.context["models"]["candidate"]["digest"].startswith("sha256:")
    assert report.status == "pass"


# ---- bad input: one clear message each, and the report is still produced -------------

BAD_DATA = [
    (
        "labels-outside-classes",
        {"task": {"type": "binary", "label": "y", "classes": [0, 1], "positive_label": 1}},
        lambda df: df.assign(y=df["y"].where(df.index % 50 != 0, 7)),
        "column 'y' (task.label): 8 rows hold values outside the classes [0, 1]: ['7']",
    ),
    (
        "missing-labels",
        {},
        lambda df: df.assign(y=df["y"].astype(float).where(df.index != 3)),
        "column 'y' (task.label): 1 rows are missing (first at row 3)",
    ),
    (
        "three-labels-binary",
        {},
        lambda df: df.assign(pred_c=df["pred_c"].where(df.index != 5, 2)),
        "a binary task, but labels and predictions hold 3 values",
    ),
    (
        "missing-prediction-column",
        {"candidate": {"predictions": "nope", "scores": "score_c"}},
        lambda df: df,
        "column 'nope' named in `candidate` not found; the data has: y, pred_c",
    ),
    (
        "nan-scores",
        {},
        lambda df: df.assign(score_c=df["score_c"].where(df.index != 9)),
        "candidate.scores (score_c): 1 rows are missing or not finite (first at row 9)",
    ),
    (
        "no-positive-label",
        {},
        lambda df: df.assign(
            y=np.where(df["y"] == 1, "yes", "no"), pred_c=np.where(df["pred_c"] == 1, "yes", "no")
        ),
        "say which one is positive with `task.positive_label`",
    ),
]


@pytest.mark.parametrize(
    ("cfg", "mutate", "message"), [c[1:] for c in BAD_DATA], ids=[c[0] for c in BAD_DATA]
)
def test_bad_data_is_reported(make_project: Project, cfg: dict, mutate, message: str) -> None:
    gates = [
        {"id": "schema", "kind": "schema", "schema": "schema.yaml", "severity": "warn"},
        {"id": "acc", "kind": "metric", "metric": "accuracy", "min": 0.5},
    ]
    path = make_project(base_config(gates=gates, **cfg), mutate(binary_frame()))
    (path.parent / "schema.yaml").write_text(_SCHEMA)
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    assert report.status == "error"
    assert any(message in e for e in report.errors), report.errors
    acc = _by_id(report)["acc"]
    assert acc.status == "error" and message in acc.message  # type: ignore[attr-defined]
    assert _by_id(report)["schema"].status in ("pass", "warn")  # type: ignore[attr-defined]


_SCHEMA = """
schema_type: dataframe
version: 0.35.0
columns:
  sex:
    dtype: null
    nullable: false
    checks:
      isin: {value: [F, M]}
  region:
    dtype: null
    nullable: false
"""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PAR1\x00\x01garbage", "cannot read it as PARQUET"),
        (b"", "cannot read it as PARQUET"),
    ],
    ids=["corrupt", "empty"],
)
def test_corrupt_parquet(make_project: Project, content: bytes, message: str) -> None:
    path = make_project(base_config(data={"path": "eval.parquet"}), data_name="eval.parquet")
    (path.parent / "eval.parquet").write_bytes(content)
    report = run_gates(load_config(path))
    validate_report(report.to_dict())
    assert report.status == "error"
    assert str(path.parent / "eval.parquet") in report.errors[0]
    assert message in report.errors[0]
    assert report.gates[0].status == "error"


def test_schema_gate_lists_every_failure(make_project: Project) -> None:
    df = binary_frame()
    df.loc[[1, 2, 3], "sex"] = "X"
    df.loc[4, "region"] = None
    path = make_project(
        base_config(gates=[{"id": "s", "kind": "schema", "schema": "schema.yaml"}]), df
    )
    (path.parent / "schema.yaml").write_text(_SCHEMA)
    result = run_gates(load_config(path)).gates[0]
    assert (result.status, result.observed, result.reason) == ("fail", 4.0, "schema_failures")
    failures = {(f["column"], f["check"]): f for f in result.details["failures"]}
    isin = failures[("sex", "isin(['F', 'M'])")]
    assert (isin["count"], isin["failure_cases"], isin["rows"]) == (3, ["X"] * 3, [1, 2, 3])
    assert failures[("region", "not_nullable")]["count"] == 1


def test_schema_from_python_object(make_project: Project) -> None:
    path = make_project(
        base_config(gates=[{"id": "s", "kind": "schema", "schema": "my_schemas:EVAL"}])
    )
    (path.parent / "my_schemas.py").write_text(
        "import pandera.pandas as pa\n"
        "EVAL = pa.DataFrameSchema({'y': pa.Column(int, pa.Check.isin([0, 1]))})\n"
    )
    assert run_gates(load_config(path)).gates[0].status == "pass"


def test_missing_schema_file_is_an_error_not_a_pass(make_project: Project) -> None:
    path = make_project(base_config(gates=[{"id": "s", "kind": "schema", "schema": "no.yaml"}]))
    result = run_gates(load_config(path)).gates[0]
    assert result.status == "error"
    assert "no.yaml: schema file not found" in result.message


def test_empty_data(make_project: Project) -> None:
    df = binary_frame().iloc[:0]
    gates = [{"id": "a", "kind": "metric", "metric": "accuracy", "min": 0.5, "slices": ["sex"]}]
    report = _run(make_project, gates, df)
    overall = report.gates[0]
    # No rows, no verdict: the gate is an error that says why, and so is the run.
    assert (overall.status, report.status) == ("error", "error")
    assert "has no rows" in overall.message and overall.observed is None
    assert any("has no rows" in e for e in report.errors)


def test_parquet_text_slices_are_counted_without_decoding_their_text(
    make_project: Project,
) -> None:
    """Metric gates on Parquet text slices read them as dictionary codes and never build
    their text; the run's verdicts equal the CSV run's, and the frame handed to custom
    gates (`EvalData.frame`) is still exactly what pandas reads, built on first use."""
    from mlops_gates.gates.runner import evaluate

    gates = [
        {
            "id": "acc",
            "kind": "metric",
            "metric": "accuracy",
            "min": 0.5,
            "slices": ["region", ["sex", "region"]],
            "min_support": 5,
        },
        {"id": "auc", "kind": "metric", "metric": "roc_auc", "min": 0.5, "slices": ["sex"]},
        {
            "id": "dp",
            "kind": "fairness",
            "metric": "demographic_parity_difference",
            "sensitive": "sex",
            "max": 0.5,
        },
    ]
    frame = binary_frame()
    frame.loc[::7, "region"] = None  # a missing slice value
    parquet = make_project(
        base_config(data={"path": "eval.parquet"}, gates=gates),
        frame,
        data_name="eval.parquet",
    )
    evaluation = evaluate(load_config(parquet))
    assert evaluation.data is not None
    assert evaluation.data.table._frame is None, "the text columns were decoded"
    csv = make_project(base_config(gates=gates), frame, where=parquet.parent / "csv")
    from_csv = run_gates(load_config(csv)).to_dict()["gates"]
    from_parquet = evaluation.report.to_dict()["gates"]
    assert len(from_parquet) == len(from_csv) > 10
    for a, b in zip(from_parquet, from_csv, strict=True):
        assert (a["id"], a["status"], a["slice"], a["support"]) == (
            b["id"],
            b["status"],
            b["slice"],
            b["support"],
        )
        assert a["observed"] == pytest.approx(b["observed"], nan_ok=True)
    pd.testing.assert_frame_equal(
        evaluation.data.frame, pd.read_parquet(parquet.parent / "eval.parquet")
    )


def test_the_overview_ranks_each_slices_worst_metric_verdict() -> None:
    # Two gates on the same three slices (the same dict objects, as the context hands
    # them out). Worked by hand: s1's worst is b's fail (0.05 under), s2's a's fail (0.1
    # under), s3's b's undefined pass (undefined ranks first among passes); report order.
    from mlops_gates.gates.result import Bound, GateResult
    from mlops_gates.gates.runner import _worst_of_each_slice

    s1, s2, s3 = {"r": "s1"}, {"r": "s2"}, {"r": "s3"}
    bound = Bound(min=0.8)

    def v(gate: str, slc: dict[str, str], status: str, observed: float | None) -> GateResult:
        return GateResult(
            id=f"{gate}[{slc['r']}]", gate=gate, kind="metric", status=status,  # type: ignore[arg-type]
            severity="block", message="", reason="", slice=slc, observed=observed, bound=bound,
        )  # fmt: skip

    results = [
        v("a", s1, "pass", 0.9),
        v("a", s2, "fail", 0.7),
        v("a", s3, "pass", 0.81),
        v("b", s1, "fail", 0.75),
        v("b", s2, "pass", 0.95),
        v("b", s3, "pass", float("nan")),
        GateResult(id="d", gate="d", kind="drift", status="fail", severity="block",
                   message="", reason="", slice={"r": "s4"}, observed=0.0, bound=bound),
    ]  # fmt: skip
    assert [r.id for r in _worst_of_each_slice(results)] == ["a[s2]", "b[s1]", "b[s3]"]
