"""The canary judge (mlops_gates.canary, `mlops-gates canary`): its numbers against
scikit-learn, its error rates against a seeded simulation of polling, its exit codes, and
its HTTP answers as Argo Rollouts' web provider and Flagger's webhooks read them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from mlops_gates.canary import (
    CanarySpec,
    Metric,
    classify,
    judge,
    judge_file,
    proportion_difference_cs,
    serve,
)
from mlops_gates.cli.main import main
from mlops_gates.errors import DataError

SPEC = CanarySpec(label="y", prediction="pred", margin=0.02)


def traffic(n_canary: int, acc_canary: float, n_stable: int, acc_stable: float, seed: int = 0):
    """Logged predictions: each row right with the variant's accuracy."""
    rng = np.random.default_rng(seed)
    rows = []
    for variant, n, acc in (("canary", n_canary, acc_canary), ("stable", n_stable, acc_stable)):
        y = rng.integers(0, 2, n)
        right = rng.random(n) < acc
        rows.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "y": y,
                    "pred": np.where(right, y, 1 - y),
                    "latency_s": rng.uniform(0, 1, n) * (1.5 if acc < acc_stable else 1.0),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_counts_match_sklearn_and_the_three_answers() -> None:
    worse = traffic(3000, 0.70, 3000, 0.90)
    v = judge(worse, SPEC)
    for name in ("canary", "stable"):
        part = worse[worse.variant == name]
        got = next(m for m in v.metrics if m.metric.name == "accuracy")
        state = got.canary if name == "canary" else got.stable
        assert state.n == len(part)
        assert state.mean == pytest.approx(accuracy_score(part.y, part.pred), abs=1e-12)
    assert v.answer == "fail" and "worse than stable" in v.message

    same = traffic(20_000, 0.90, 20_000, 0.90, seed=1)
    assert judge(same, SPEC).answer == "pass"
    few = traffic(50, 0.90, 50, 0.90, seed=2)
    assert judge(few, SPEC).answer == "bake"
    # Labels not arrived yet count for nothing; a variant with no labelled rows bakes.
    unlabelled = few.assign(y=np.where(few.variant == "canary", np.nan, few.y))
    out = judge(unlabelled, SPEC)
    assert out.answer == "bake" and "no canary rows with a label yet" in out.message


def test_a_business_metric_where_lower_is_better() -> None:
    frame = traffic(4000, 0.80, 4000, 0.90, seed=3)  # canary: 1.5x the latency
    spec = CanarySpec(metrics=(Metric.parse("latency_s:0:2:lower"),), margin=0.02)
    v = judge(frame, spec)
    assert v.answer == "fail"
    m = v.metrics[0]
    assert m.canary.mean == pytest.approx(frame[frame.variant == "canary"].latency_s.mean())
    lo, hi = m.improvement  # stable minus canary: negative, canary is slower
    assert hi < -0.04 and lo < hi
    with pytest.raises(ValueError, match="COLUMN:LO:HI"):
        Metric.parse("latency_s:0")
    out_of_range = frame.assign(latency_s=frame.latency_s * 10)
    with pytest.raises(DataError, match=r"'latency_s'.*within \[0.0, 2.0\]"):
        judge(out_of_range, spec)


def test_polling_keeps_both_error_rates_below_alpha_and_still_detects() -> None:
    """500 bakes, each judged after every one of 80 batches of 300 requests per variant.
    Canary worse by exactly the 0.02 margin (the hardest case for a wrong fail): the chance
    of *ever* a fail is <= alpha (+3 sd). Canary worse by 0.05: ever a pass <= alpha, and
    it is caught by the last look in >= 95% of bakes."""
    rng = np.random.default_rng(20261206)
    reps, looks, batch, alpha, margin = 500, 80, 300, 0.05, 0.02
    sd = np.sqrt(alpha * (1 - alpha) / reps)

    def ever(p_canary: float, p_stable: float) -> tuple[np.ndarray, np.ndarray]:
        c = rng.binomial(batch, p_canary, (reps, looks)).cumsum(axis=1)
        s = rng.binomial(batch, p_stable, (reps, looks)).cumsum(axis=1)
        n = batch * np.arange(1, looks + 1)
        lo, hi = proportion_difference_cs(c, n, s, n, alpha=alpha)
        return classify(lo, hi, margin), n

    at_margin, _ = ever(0.83, 0.85)
    assert (at_margin == "fail").any(axis=1).mean() <= alpha + 3 * sd
    healthy, _ = ever(0.85, 0.85)
    assert (healthy == "fail").any(axis=1).mean() <= alpha + 3 * sd
    assert (healthy == "pass").any(axis=1).mean() > 0.5  # and it does get to pass
    # A fixed-level z test at each look cries wolf far more often: the reason for the above.
    c = rng.binomial(batch, 0.85, (reps, looks)).cumsum(axis=1)
    s = rng.binomial(batch, 0.85, (reps, looks)).cumsum(axis=1)
    n = batch * np.arange(1, looks + 1)
    pool = (c + s) / (2 * n)
    z = (c / n - s / n) / np.sqrt(pool * (1 - pool) * 2 / n)
    assert (z < -1.645).any(axis=1).mean() > 3 * alpha

    worse, n = ever(0.80, 0.85)
    assert (worse == "pass").any(axis=1).mean() <= alpha + 3 * sd
    caught = (worse == "fail").any(axis=1)
    assert caught.mean() >= 0.95
    first = np.argmax(worse == "fail", axis=1)[caught]
    # Measured: median detection after 10,500 requests per variant (docs/how-to).
    assert np.median(n[first]) <= 12_000


def test_cli_exit_codes_and_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(frame: pd.DataFrame, *extra: str) -> int:
        path = tmp_path / "log.parquet"
        frame.to_parquet(path)
        return main(["canary", "--data", str(path), "--label", "y", "--prediction", "pred", *extra])

    assert run(traffic(20_000, 0.9, 20_000, 0.9, seed=4)) == 0
    assert "canary: pass" in capsys.readouterr().out
    assert run(traffic(3000, 0.7, 3000, 0.9, seed=5)) == 1
    assert "canary: fail" in capsys.readouterr().out
    assert run(traffic(50, 0.9, 50, 0.9, seed=6), "--json") == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "bake" and doc["metrics"][0]["canary"]["n"] == 50

    assert run(traffic(50, 0.9, 50, 0.9).drop(columns="variant")) == 2
    assert "column 'variant' not found" in capsys.readouterr().err
    assert main(["canary", "--data", str(tmp_path / "log.parquet")]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert main(["canary", "--data", str(tmp_path / "absent.csv"), "--metric", "x:0:1"]) == 2
    assert "absent.csv" in capsys.readouterr().err


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "log.csv"
    server = serve(lambda: judge_file(path, SPEC))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}", path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# What Flagger POSTs to a webhook (docs.flagger.app/usage/webhooks).
FLAGGER = {
    "name": "podinfo",
    "namespace": "test",
    "phase": "Progressing",
    "checksum": "85d557f47b",
    "metadata": {"type": "rollout"},
}


def argo(doc: dict[str, Any]) -> str:
    """An AnalysisTemplate with jsonPath "{$.verdict}", successCondition result == "pass",
    failureCondition result == "fail": Successful, Failed or Inconclusive."""
    result = doc["verdict"]
    return "Successful" if result == "pass" else "Failed" if result == "fail" else "Inconclusive"


def test_http_answers_as_argo_and_flagger_read_them(endpoint: tuple[str, Path]) -> None:
    url, path = endpoint
    # No data yet: an error (503), never a pass.
    status, doc = call(url + "/")
    assert status == 503 and doc["verdict"] == "error" and "not found" in doc["error"]

    traffic(50, 0.9, 50, 0.9).to_csv(path, index=False)
    status, doc = call(url + "/")
    assert status == 200 and argo(doc) == "Inconclusive"
    assert call(url + "/flagger/rollout", FLAGGER)[0] == 200  # baking is no failure
    assert call(url + "/flagger/confirm-promotion", FLAGGER)[0] == 425  # not yet

    traffic(20_000, 0.9, 20_000, 0.9, seed=1).to_csv(path, index=False)  # the log grew
    status, doc = call(url + "/verdict")
    assert status == 200 and argo(doc) == "Successful"
    assert call(url + "/flagger/confirm-promotion", FLAGGER)[0] == 200

    traffic(3000, 0.7, 3000, 0.9).to_csv(path, index=False)
    status, doc = call(url + "/")
    assert status == 200 and argo(doc) == "Failed"
    assert call(url + "/flagger/rollout", FLAGGER)[0] == 412
    assert call(url + "/flagger/confirm-promotion", FLAGGER)[0] == 412
    assert call(url + "/elsewhere")[0] == 404


def test_serve_from_the_command_line(tmp_path: Path) -> None:
    from mlflow_server import free_port

    path = tmp_path / "log.csv"
    traffic(20_000, 0.9, 20_000, 0.9, seed=1).to_csv(path, index=False)
    port = free_port()
    cmd = [sys.executable, "-m", "mlops_gates.cli", "canary", "--serve", "--port", str(port)]
    cmd += ["--data", str(path), "--label", "y", "--prediction", "pred"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"mlops-gates canary: serving on http://127.0.0.1:{port}/"
        status, doc = call(f"http://127.0.0.1:{port}/flagger/confirm-promotion", FLAGGER)
        assert status == 200 and doc["verdict"] == "pass"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
