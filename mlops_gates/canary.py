"""The canary judge: is the canary no worse than stable, on the traffic each has served?

The logged predictions hold one row per request, with the variant that answered it
(``canary`` or ``stable``), the prediction, and, when they are there, the label or business
metric columns. Each variant is reduced to running sufficient statistics (how many rows, how
many correct or the sum of a bounded metric: `stats.sequential.Running`) and compared with
an anytime-valid confidence sequence for *canary minus stable* (`difference_cs`), so the
judge may be asked after every batch, every minute, for as long as the bake lasts:

- ``fail``: the sequence shows the canary worse than stable by more than the margin;
- ``pass``: it shows the canary no worse than stable by more than the margin;
- ``bake``: neither yet: keep baking (more traffic will decide).

Guarantee: with ``alpha`` split evenly over the metrics, the chance that the judge *ever*
answers ``fail`` while the canary is within the margin, or *ever* answers ``pass`` while it
is worse by more than the margin, is at most ``alpha`` however often it is asked, provided
each variant's rows are independent draws from a process that does not change during the
bake. `mlops-gates canary` (mlops_gates.cli.canary) asks it once or serves it over HTTP
(`serve`) in the shapes Argo Rollouts' ``web`` metric provider and Flagger's webhooks read.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlops_gates.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlops_gates.stats.sequential import Running

__all__ = [
    "GUARANTEE",
    "CanarySpec",
    "Metric",
    "MetricVerdict",
    "Verdict",
    "classify",
    "judge",
    "judge_file",
    "proportion_difference_cs",
    "serve",
]

Answer = Literal["pass", "bake", "fail"]
GUARANTEE = (
    "anytime-valid: confidence sequences for canary minus stable, alpha split over the "
    "metrics; the chance of ever a wrong pass or fail is at most alpha however often the "
    "judge is asked (rows of each variant independent, traffic stationary during the bake)"
)


@dataclass(frozen=True)
class Metric:
    """One comparison: ``accuracy`` (prediction equals label; ``column`` None) or the mean of
    a business metric ``column`` whose values lie in ``[lo, hi]``."""

    name: str
    column: str | None = None
    lo: float = 0.0
    hi: float = 1.0
    better: Literal["higher", "lower"] = "higher"

    @classmethod
    def parse(cls, text: str) -> Metric:
        """``COLUMN:LO:HI[:higher|lower]``, e.g. ``revenue:0:500`` or ``latency_s:0:2:lower``."""
        parts = text.split(":")
        if len(parts) not in (3, 4) or not parts[0]:
            raise ValueError(
                f"--metric {text!r}: expected COLUMN:LO:HI[:higher|lower], e.g. revenue:0:500"
            )
        try:
            lo, hi = float(parts[1]), float(parts[2])
        except ValueError:
            raise ValueError(f"--metric {text!r}: LO and HI must be numbers") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"--metric {text!r}: needs finite LO < HI")
        better = parts[3] if len(parts) == 4 else "higher"
        if better not in ("higher", "lower"):
            raise ValueError(f"--metric {text!r}: the last part is 'higher' or 'lower'")
        return cls(parts[0], parts[0], lo, hi, better)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CanarySpec:
    """Where the variants, labels and metrics are in the logged predictions, and how strict
    the judge is. ``margin`` is the tolerated regression as a fraction of each metric's
    range (0.02: two accuracy points)."""

    variant_column: str = "variant"
    canary: str = "canary"
    stable: str = "stable"
    label: str | None = None
    prediction: str | None = None
    metrics: tuple[Metric, ...] = ()
    margin: float = 0.02
    alpha: float = 0.05
    time_column: str | None = None
    since: datetime | None = None

    def comparisons(self) -> list[Metric]:
        """Accuracy when labels and predictions are named, then the business metrics."""
        out = [Metric("accuracy")] if self.label and self.prediction else []
        return out + list(self.metrics)


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's answer: both variants' running statistics and the confidence sequence of
    the improvement (canary minus stable, sign flipped when lower is better)."""

    metric: Metric
    answer: Answer
    canary: Running
    stable: Running
    improvement: tuple[float, float]
    margin: float  # absolute, in the metric's units
    message: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN as null)."""
        return {
            "metric": self.metric.name,
            "better": self.metric.better,
            "verdict": self.answer,
            "canary": {"n": self.canary.n, "mean": _num(self.canary.mean)},
            "stable": {"n": self.stable.n, "mean": _num(self.stable.mean)},
            "improvement_cs": [_num(self.improvement[0]), _num(self.improvement[1])],
            "margin": self.margin,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    """The judge's answer over every metric: ``fail`` if any fails, ``pass`` if all pass,
    else ``bake``."""

    answer: Answer
    metrics: list[MetricVerdict]
    rows: dict[str, int]
    alpha: float
    guarantee: str = GUARANTEE
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One sentence per metric, joined."""
        return "; ".join(m.message for m in self.metrics) or "nothing compared"

    def to_json(self) -> dict[str, Any]:
        """The document `mlops-gates canary --json` prints and the HTTP endpoint answers."""
        return {
            "verdict": self.answer,
            "pass": self.answer == "pass",
            "fail": self.answer == "fail",
            "rows": self.rows,
            "alpha": self.alpha,
            "guarantee": self.guarantee,
            "message": self.message,
            "metrics": [m.to_json() for m in self.metrics],
            "notes": self.notes,
        }


def judge(frame: pd.DataFrame, spec: CanarySpec, *, source: str = "predictions") -> Verdict:
    """Compare the canary's rows of `frame` with stable's; `source` names the data in
    messages. A missing column or a value outside a metric's range is a `DataError`."""
    import numpy as np

    from mlops_gates.stats.sequential import Running, difference_cs, mean_cs

    wanted = spec.comparisons()
    if not wanted:
        raise DataError(
            "nothing to compare: name the label and prediction columns (--label, "
            "--prediction) or a business metric (--metric COLUMN:LO:HI)"
        )
    if not 0.0 <= spec.margin < 1.0:
        raise DataError(f"the margin must be in [0, 1) of each metric's range, got {spec.margin}")
    need = [spec.variant_column, *(m.column for m in wanted if m.column)]
    if any(m.column is None for m in wanted):
        need += [str(spec.label), str(spec.prediction)]
    if spec.since is not None and spec.time_column:
        need.append(spec.time_column)
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column {', '.join(map(repr, missing))} not found; columns: "
            f"{', '.join(map(str, frame.columns[:20]))}"
        )
    frame = _since(frame, spec, source)
    variant = frame[spec.variant_column].astype(str)
    groups = {"canary": frame[variant == spec.canary], "stable": frame[variant == spec.stable]}
    rows = {k: len(v) for k, v in groups.items()}
    notes = []
    if rows["canary"] + rows["stable"] < len(frame):
        seen = sorted(set(variant) - {spec.canary, spec.stable})[:5]
        notes.append(
            f"{len(frame) - rows['canary'] - rows['stable']} rows belong to neither "
            f"{spec.canary!r} nor {spec.stable!r} ({spec.variant_column}: {', '.join(seen)}); "
            "left out"
        )
    each = spec.alpha / len(wanted) / 2.0  # per metric, then per variant (union bound)
    verdicts = []
    for m in wanted:
        states: dict[str, Running] = {}
        for name, part in groups.items():
            if m.column is None:
                labelled = part[part[str(spec.label)].notna()]
                hits = _agree(labelled[str(spec.prediction)], labelled[str(spec.label)])
                states[name] = Running(len(labelled), float(hits))
            else:
                values = part[m.column].dropna().to_numpy(dtype=np.float64)
                try:
                    states[name] = Running(lo=m.lo, hi=m.hi).extend(values)
                except ValueError as exc:
                    raise DataError(f"{source}: column {m.column!r}: {exc}") from None
        if m.column is None:
            lo, hi = proportion_difference_cs(
                states["canary"].total, states["canary"].n,
                states["stable"].total, states["stable"].n,
                alpha=2 * each,
            )  # fmt: skip
        else:
            c, st = states["canary"], states["stable"]
            diff = difference_cs(
                mean_cs(c.n, c.total, lo=m.lo, hi=m.hi, alpha=each),
                mean_cs(st.n, st.total, lo=m.lo, hi=m.hi, alpha=each),
            )
            lo, hi = np.asarray(diff.lo), np.asarray(diff.hi)
        lo, hi = float(lo), float(hi)
        if m.better == "lower":
            lo, hi = -hi, -lo
        verdicts.append(_answer(m, states["canary"], states["stable"], (lo, hi), spec))
    answers = {v.answer for v in verdicts}
    overall: Answer = "fail" if "fail" in answers else ("pass" if answers == {"pass"} else "bake")
    return Verdict(overall, verdicts, rows, spec.alpha, notes=notes)


def proportion_difference_cs(
    canary_hits: Any, canary_n: Any, stable_hits: Any, stable_n: Any, *, alpha: float
) -> tuple[Any, Any]:
    """Confidence sequence (valid at every look at once, level ``1 - alpha``) for the canary's
    proportion minus stable's, elementwise: each variant's beta-binomial sequence at
    ``alpha / 2`` (`stats.sequential.difference_cs`)."""
    import numpy as np

    from mlops_gates.stats.sequential import difference_cs, proportion_cs

    diff = difference_cs(
        proportion_cs(np.rint(canary_hits), canary_n, alpha=alpha / 2),
        proportion_cs(np.rint(stable_hits), stable_n, alpha=alpha / 2),
    )
    return diff.lo, diff.hi


def classify(lo: Any, hi: Any, margin: float) -> Any:
    """The answers for improvement sequences ``[lo, hi]`` (elementwise): "fail" when the
    whole sequence is below ``-margin``, "pass" when it is above, "bake" otherwise."""
    import numpy as np

    lo, hi = np.asarray(lo), np.asarray(hi)
    return np.where(hi < -margin, "fail", np.where(lo > -margin, "pass", "bake"))


def judge_file(
    path: Path, spec: CanarySpec, fmt: Literal["parquet", "csv"] | None = None
) -> Verdict:
    """`judge` on the logged predictions in `path` (read afresh: the file grows)."""
    from mlops_gates.sources.data import read_table

    return judge(read_table(Path(path), fmt), spec, source=str(path))


def _answer(
    m: Metric, canary: Running, stable: Running, cs: tuple[float, float], spec: CanarySpec
) -> MetricVerdict:
    margin = spec.margin * (m.hi - m.lo)
    lo, hi = cs
    between = f"improvement between {lo:.4g} and {hi:.4g}"
    answer: Answer = "bake"
    if canary.n == 0 or stable.n == 0:
        empty = "canary" if canary.n == 0 else "stable"
        text = f"{m.name}: no {empty} rows{' with a label' if m.column is None else ''} yet"
    elif str(classify(lo, hi, margin)) == "fail":
        answer = "fail"
        text = f"{m.name}: canary is worse than stable by more than {margin:g} ({between})"
    elif str(classify(lo, hi, margin)) == "pass":
        answer = "pass"
        text = f"{m.name}: canary is no worse than stable by more than {margin:g} ({between})"
    else:
        text = (
            f"{m.name}: undecided, keep baking ({between}, {m.better} is better, margin "
            f"{margin:g}; canary n={canary.n}, stable n={stable.n})"
        )
    return MetricVerdict(m, answer, canary, stable, cs, margin, text)


def _agree(pred: pd.Series[Any], label: pd.Series[Any]) -> int:
    # Logged predictions often come back as text while labels are numbers (or the other
    # way round): compare as text when the kinds differ.
    if pred.dtype != label.dtype:
        pred, label = pred.astype(str), label.astype(str)
    return int((pred.to_numpy() == label.to_numpy()).sum())


def _since(frame: pd.DataFrame, spec: CanarySpec, source: str) -> pd.DataFrame:
    if spec.since is None or not spec.time_column:
        return frame
    import pandas as pd

    try:
        stamps = pd.to_datetime(frame[spec.time_column], utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"{source}: column {spec.time_column!r} (--time-column) does not hold timestamps "
            f"({exc})"
        ) from None
    return frame[stamps >= pd.Timestamp(spec.since)].reset_index(drop=True)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --- HTTP: Argo Rollouts' web metric provider and Flagger's webhooks ---------------------

# Flagger reads only the status: 2xx is a pass. A rollout hook that fails stops the
# canary's advance (and rolls it back after the failure threshold); a confirm-promotion
# hook that fails holds the promotion while the analysis goes on.
ROUTES = {
    "/": "verdict",
    "/verdict": "verdict",
    "/flagger/rollout": "rollout",
    "/flagger/confirm-promotion": "promotion",
    "/healthz": "health",
}
HTTP_FAIL = 412  # Precondition Failed: the canary is worse
HTTP_BAKE = 425  # Too Early: not decided yet


def serve(
    ask: Callable[[], Verdict], *, host: str = "127.0.0.1", port: int = 0
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving: call ``serve_forever``, or use the returned
    server's ``server_address`` and run it in a thread) that judges afresh on each request.

    - ``GET /`` (or ``/verdict``): always 200 with the verdict document (`Verdict.to_json`):
      Argo Rollouts' web provider reads ``jsonPath: "{$.verdict}"`` with
      ``successCondition: result == "pass"`` and ``failureCondition: result == "fail"``
      (anything else is inconclusive, which pauses the rollout).
    - ``POST /flagger/rollout``: 200 unless the canary fails (412).
    - ``POST /flagger/confirm-promotion``: 200 only when it passes (425 while baking, 412
      when it fails).
    When the data cannot be judged every route answers 503 with ``{"verdict": "error"}``:
    an error, never a pass.
    """

    lock = threading.Lock()  # one judgement at a time: each reads the whole file

    class Handler(BaseHTTPRequestHandler):
        server_version = "mlops-gates-canary"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if body:
                try:
                    json.loads(body)
                except ValueError:
                    self._send(400, {"error": "the request body is not JSON"})
                    return
            self._answer()

        def _answer(self) -> None:
            route = ROUTES.get(self.path.split("?", 1)[0].rstrip("/") or "/")
            if route is None:
                self._send(404, {"error": f"no route {self.path}; routes: {', '.join(ROUTES)}"})
                return
            if route == "health":
                self._send(200, {"status": "ok"})
                return
            try:
                with lock:
                    verdict = ask()
            except DataError as exc:
                self._send(
                    503, {"verdict": "error", "pass": False, "fail": False, "error": str(exc)}
                )
                return
            doc = verdict.to_json()
            code = 200
            if route == "rollout" and verdict.answer == "fail":
                code = HTTP_FAIL
            elif route == "promotion" and verdict.answer != "pass":
                code = HTTP_FAIL if verdict.answer == "fail" else HTTP_BAKE
            self._send(code, doc)

        def _send(self, code: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the CLI prints one line per verdict instead

    return ThreadingHTTPServer((host, port), Handler)
