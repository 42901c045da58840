"""Drift and staleness at scale: DuckDB and Spark give the in-memory verdicts.

The engines count the current rows into the reference's bins, profile a data-file
reference themselves, and take the newest timestamp with a MAX; counts must be equal
exactly, statistics to 1e-9.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_gates.cli import main
from mlops_gates.gates.result import Report

from .test_engines import SPARK, assert_same, project, run


def _data(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Numeric, zero-inflated, integer, text with missing values, boolean and timestamp
    columns, with a model's labels and scores; `shift` moves some of them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.5 + rng.normal(0.25 + shift / 5, 0.2, n), 0, 1).round(3)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.02] = np.nan
    x[0] = np.inf  # missing, like NaN
    palette = ["red", "green", "blue"] + (["violet"] if shift else [])
    color = rng.choice(palette, n).astype(object)
    color[rng.random(n) < 0.05] = None
    start = pd.Timestamp("2026-11-01") + pd.Timedelta(days=20 * shift)
    return pd.DataFrame(
        {
            "y": y,
            "pred_c": (score >= 0.5).astype(int),
            "score_c": score,
            "x": x,
            "gain": np.where(rng.random(n) < 0.85, 0.0, rng.integers(1, 500, n).astype(float)),
            "k": rng.integers(0, 4, n) + (1 if shift else 0),
            "color": color,
            "member": rng.random(n) < 0.3 + shift / 5,
            "seen": start + pd.to_timedelta(rng.integers(0, 86_400 * 7, n), unit="s"),
        }
    )


COLUMNS = ["x", "gain", "k", "color", "member", "pred_c"]


def _gates(reference: str) -> list[dict[str, Any]]:
    return [
        {"id": "psi", "kind": "drift", "reference": reference, "statistic": "psi", "max": 0.1,
         "exclude": ["y"], "predictions": True},
        {"id": "js", "kind": "drift", "reference": reference, "statistic": "js", "max": 0.1,
         "features": ["x", "color", "member", "k"]},
        {"id": "chi2", "kind": "drift", "reference": reference, "statistic": "chi2",
         "max": 0.1, "features": ["color", "gain"]},
        {"id": "wass", "kind": "drift", "reference": reference, "statistic": "wasserstein",
         "max": 0.2, "features": ["x", "gain", "k"]},
        {"id": "ks", "kind": "drift", "reference": reference, "statistic": "ks", "max": 0.1,
         "features": ["x", "score_c"]},
        {"id": "fresh", "kind": "staleness", "data": {"column": "seen", "max_age": "30d"}},
    ]  # fmt: skip


def _project(root: Path, engine: str, reference: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _data(2000, 1).to_parquet(root / "ref.parquet", index=False)
    return project(root, _data(3000, 2, shift=0.5), engine, gates=_gates(reference), baseline=False)


# Clock readings just before and just after a run.
Clock = tuple[pd.Timestamp, pd.Timestamp]


def _without_staleness(
    a: tuple[Report, Clock], b: tuple[Report, Clock], newest: pd.Timestamp
) -> tuple[Report, Report]:
    """The same newest row and verdict; each age is the clock of its own run minus that row.

    The two runs read the clock minutes apart on a loaded machine, so their ages are not
    compared with each other: each must lie between the clock readings taken just before
    and just after its own run (an engine that got the newest row or its time zone wrong
    is off by far more than a run takes)."""
    (ra, ca), (rb, cb) = a, b
    for x, y in zip(ra.gates, rb.gates, strict=True):
        if x.kind == "staleness":
            assert (x.status, x.support) == (y.status, y.support)
            stamp = newest.to_pydatetime().isoformat()
            assert x.details["timestamp"] == y.details["timestamp"] == stamp
            for verdict, (before, after) in ((x, ca), (y, cb)):
                days = [(t - newest).total_seconds() / 86_400 for t in (before, after)]
                assert days[0] - 1e-9 <= verdict.observed <= days[1] + 1e-9, (verdict, days)
    return tuple(  # type: ignore[return-value]
        replace(r, gates=[g for g in r.gates if g.kind != "staleness"]) for r in (ra, rb)
    )


def _timed(path: Path) -> tuple[Report, Clock]:
    """A run and the clock readings that enclose it."""
    before = pd.Timestamp.now(tz="UTC")
    report = run(path)
    return report, (before, pd.Timestamp.now(tz="UTC"))


@pytest.mark.parametrize("engine", ["duckdb", SPARK])
@pytest.mark.parametrize("reference", ["ref.parquet", "ref.json"])
@pytest.mark.usefixtures("engine_ready")
def test_drift_and_staleness_agree_with_memory(tmp_path: Path, engine: str, reference: str) -> None:
    paths = {e: _project(tmp_path / e, e, reference) for e in ("memory", engine)}
    if reference == "ref.json":
        for cfg in paths.values():
            profile = [
                "profile",
                str(cfg.parent / "ref.parquet"),
                "-o",
                str(cfg.parent / "ref.json"),
            ]
            assert main([*profile, "--config", str(cfg)]) == 0
    (mem, mem_clock), (other, other_clock) = _timed(paths["memory"]), _timed(paths[engine])
    by = {g.id: g for g in mem.gates}
    # The shifted features fail, the untouched one passes, new categories are named.
    assert by["psi[feature=x]"].status == "fail" and by["psi[feature=gain]"].status == "pass"
    assert by["psi[prediction=scores]"].observed > 0
    assert "violet" in str(by["psi[feature=color]"].details)
    assert by["fresh[age=data]"].details["timestamp"].startswith("2026-11-")
    # The newest row, as pandas reads it from the file both engines read.
    seen = pd.read_parquet(paths[engine].parent / "eval.parquet")["seen"]
    newest = seen.max().tz_localize("UTC")
    assert_same(*_without_staleness((mem, mem_clock), (other, other_clock), newest))
    for x, y in zip(mem.gates, other.gates, strict=True):
        if x.kind == "drift":
            assert x.details["rows"] == y.details["rows"]
            assert x.details["missing_share"] == y.details["missing_share"]


@pytest.mark.parametrize("engine", ["duckdb"])
def test_bad_columns_are_errors_naming_them(tmp_path: Path, engine: str) -> None:
    root = tmp_path / engine
    root.mkdir()
    _data(500, 1).to_parquet(root / "ref.parquet", index=False)
    current = _data(500, 2)
    current["x"] = current["x"].astype(str).where(current.index != 3, "n/a")
    current["seen"] = current["seen"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    gates = [
        {"id": "d", "kind": "drift", "reference": "ref.parquet", "features": ["x", "nope"],
         "max": 0.1},
        {"id": "fresh", "kind": "staleness", "data": {"column": "seen", "max_age": "30d"}},
        {"id": "gone", "kind": "staleness", "data": {"column": "nope", "max_age": "30d"}},
    ]  # fmt: skip
    report = run(project(root, current, engine, gates=gates, baseline=False))
    by = {g.id: g for g in report.gates}
    assert by["d[feature=x]"].status == "error"
    assert "non-numeric values such as ['n/a']" in by["d[feature=x]"].message
    assert by["d[feature=nope]"].status == "error" and "'nope'" in by["d[feature=nope]"].message
    assert by["fresh[age=data]"].status == "error"
    assert (
        "'seen'" in by["fresh[age=data]"].message and "timestamp" in by["fresh[age=data]"].message
    )
    assert by["gone[age=data]"].status == "error" and "'nope'" in by["gone[age=data]"].message


@pytest.mark.parametrize("engine", ["duckdb", SPARK])
@pytest.mark.usefixtures("engine_ready")
def test_profile_command_at_scale_equals_memory(tmp_path: Path, engine: str) -> None:
    """`mlops-gates profile --config` with an engine reads a folder of Parquet files and
    writes the in-memory profile: the same bins and counts, summaries to 1e-9."""
    df = _data(3000, 1)
    parts = tmp_path / "parts"
    for i in range(3):
        (parts / f"day={i}").mkdir(parents=True)
        df.iloc[i * 1000 : (i + 1) * 1000].to_parquet(
            parts / f"day={i}" / "part.parquet", index=False
        )
    df.to_parquet(tmp_path / "all.parquet", index=False)
    docs = {}
    for e, data in (("memory", tmp_path / "all.parquet"), (engine, parts)):
        cfg = project(tmp_path / e, df, e, gates=_gates("ref.json"), baseline=False)
        out = tmp_path / f"{e}.json"
        args = ["profile", str(data), "--config", str(cfg), "-o", str(out)]
        assert main([*args, "--columns", *COLUMNS]) == 0
        docs[e] = json.loads(out.read_text())
    mem, other = docs["memory"], docs[engine]
    assert other["rows"] == mem["rows"] == len(df)
    for part in ("features", "predictions"):
        assert other[part].keys() == mem[part].keys()
        for name, want in mem[part].items():
            got = other[part][name]
            _same_profile(got, want, name)


def test_profile_command_at_scale_reads_the_format_it_is_told(tmp_path: Path) -> None:
    """`--format csv` holds at scale too: a CSV file without a .csv suffix is profiled by
    DuckDB as the in-memory reader profiles it, and the source digest is the file's."""
    from mlops_gates.sources.data import file_digest

    df = _data(600, 2)
    df.loc[0, "x"] = 0.5  # DuckDB's CSV sniffer takes a column holding `inf` for text
    data = tmp_path / "export.txt"
    df.to_csv(data, index=False)
    docs = {}
    for e in ("memory", "duckdb"):
        cfg = project(tmp_path / e, df, e, gates=_gates("ref.json"), baseline=False)
        out = tmp_path / f"{e}.json"
        args = ["profile", str(data), "--format", "csv", "--config", str(cfg), "-o", str(out)]
        assert main([*args, "--columns", *COLUMNS]) == 0
        docs[e] = json.loads(out.read_text())
    mem, other = docs["memory"], docs["duckdb"]
    assert other["rows"] == mem["rows"] == len(df)
    assert other["source"]["digest"] == file_digest(data)
    for name, want in mem["features"].items():
        _same_profile(other["features"][name], want, name)


def _same_profile(got: dict[str, Any], want: dict[str, Any], name: str) -> None:
    """Counts exactly; edges, bin means and summaries to 1e-12 (the engines interpolate
    quantiles and sum with their own arithmetic: a few units in the last place)."""
    same = ("type", "rows", "missing", "categories")
    assert {k: got.get(k) for k in same} == {k: want.get(k) for k in same}, name
    if want["type"] == "categorical":
        return
    g, w = got["histogram"], want["histogram"]
    for key in ("counts", "underflow", "overflow", "edges", "means"):
        _same_numbers(g[key], w[key], rel=1e-12, abs_=0.0, where=f"{name}.histogram.{key}")
    _same_numbers(got["summary"], want["summary"], rel=1e-9, abs_=1e-12, where=f"{name}.summary")


def _same_numbers(got: Any, want: Any, *, rel: float, abs_: float, where: str) -> None:
    """JSON values alike: the same keys and lengths, None (an empty bin's mean) and whole
    numbers (counts) exactly, floats to the tolerance. pytest.approx(None, rel=...) raises
    since pytest 9.2, so None never reaches it."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            _same_numbers(got[k], want[k], rel=rel, abs_=abs_, where=f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (u, v) in enumerate(zip(got, want, strict=True)):
            _same_numbers(u, v, rel=rel, abs_=abs_, where=f"{where}[{i}]")
    elif want is None or isinstance(want, bool | int | str):
        assert got == want, where
    else:
        assert got == pytest.approx(want, rel=rel, abs=abs_, nan_ok=True), where


SCHEMA = """
import pandera.pandas as pa

schema = pa.DataFrameSchema(
    {
        "x": pa.Column(float, pa.Check.in_range(-3, 3), nullable=True),
        "k": pa.Column(int, [pa.Check.ge(0), pa.Check.lt(4)], unique=False),
        "gain": pa.Column(float, pa.Check.isin([0.0, 1.0, 2.0]), nullable=False),
        "color": pa.Column(str, [pa.Check.isin(["red", "green", "blue"]),
                                 pa.Check.str_matches("^[a-z]+$")], nullable=False),
        "id": pa.Column(int, pa.Check.gt(0), unique=True),
        "absent": pa.Column(int, required=True),
    }
)
"""


@pytest.mark.parametrize("engine", ["duckdb", SPARK])
@pytest.mark.usefixtures("engine_ready")
def test_schema_checks_every_row_where_sql_can(tmp_path: Path, engine: str) -> None:
    """Violations in a handful of rows are all counted at scale, as pandera counts them in
    memory, although the seeded sample (50 of 3,000 rows) holds none of them; a regex,
    which SQL does not run, is checked on the sample."""
    df = _data(3000, 4)
    df["id"] = np.arange(1, 3001)
    df.loc[[10, 2500], "id"] = 7  # two duplicates of an existing id: three rows
    df.loc[[5, 1777], "x"] = 3.5
    df.loc[2222, "k"] = 9
    df.loc[[100, 200], "color"] = "Purple"
    # A module name of its own: imported modules are cached for the whole test session.
    gates = [{"id": "schema", "kind": "schema", "schema": "wide_schema:schema"}]
    reports = {}
    for e in ("memory", engine):
        cfg = project(tmp_path / e, df, e, gates=gates, baseline=False)
        (cfg.parent / "wide_schema.py").write_text(SCHEMA)
        text = cfg.read_text().replace("score_bins: exact", "score_bins: exact\n  sample_rows: 50")
        cfg.write_text(text)
        reports[e] = run(cfg)
    counts = {}
    for e, report in reports.items():
        (verdict,) = report.gates
        assert verdict.status == "fail"
        counts[e] = {(f["column"], f["check"]): f["count"] for f in verdict.details["failures"]}
    mem, other = counts["memory"], counts[engine]
    for key in [
        ("x", "in_range(-3, 3)"),
        ("k", "less_than(4)"),
        ("gain", "isin([0.0, 1.0, 2.0])"),
        ("color", "isin(['red', 'green', 'blue'])"),
        ("id", "field_uniqueness"),
        (None, "column_in_dataframe"),
    ]:
        assert other[key] == mem[key], key
    assert other[("x", "in_range(-3, 3)")] == int(df["x"].abs().gt(3).sum())  # inf too
    assert ("color", "str_matches('^[a-z]+$')") in mem  # the sample's job at scale
    (verdict,) = reports[engine].gates
    assert "checks over all 3,000 rows" in verdict.message
    assert verdict.details["sample_rows"] == 50


@pytest.mark.parametrize("engine", ["duckdb", SPARK])
@pytest.mark.usefixtures("engine_ready")
def test_a_profile_takes_four_queries_whatever_its_columns(tmp_path: Path, engine: str) -> None:
    """`profile_table` profiles every column in at most four queries (one Spark job each),
    and gives what profiling the columns one by one gives: the same summaries, bins and
    counts (zero-inflated, few-valued, text with missing values, boolean, with NaN and inf)."""
    from mlops_gates.backends import open_table
    from mlops_gates.backends.profile_jobs import profile_table
    from mlops_gates.config import load_config
    from mlops_gates.sources.profile import _feature_to_dict

    df = _data(3000, 1)
    for i in range(4):  # more columns must not mean more queries
        df[f"gain{i}"] = df["gain"] * (i + 1)
    cfg = project(tmp_path, df, engine, gates=_gates("ref.json"), baseline=False)
    columns = [*COLUMNS, *(f"gain{i}" for i in range(4))]
    with open_table(load_config(cfg)) as table:
        queries: list[str] = []
        run = table.run

        def counted(sql: str) -> pd.DataFrame:
            queries.append(sql)
            return run(sql)

        table.run = counted
        profile = profile_table(table, columns=columns, bins=10, top_k=5)
        assert len(queries) <= 4
        table.run = run
        assert profile.rows == len(df)
        for c in columns:
            one = _feature_to_dict(table.profile(c, bins=10, top_k=5))
            _same_profile(_feature_to_dict(profile.features[c]), one, c)
        # A continuous column alone: no heavy value anywhere, so no value after one.
        alone = profile_table(table, columns=["x"], bins=10, top_k=5).features["x"]
        _same_profile(
            _feature_to_dict(alone), _feature_to_dict(table.profile("x", bins=10, top_k=5)), "x"
        )
