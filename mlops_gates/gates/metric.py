"""`metric` gate: a metric within bounds, overall and on every slice."""

from __future__ import annotations

from mlops_gates.config import MetricGate, gate_id
from mlops_gates.gates.common import Context, judge, slicings, support
from mlops_gates.gates.result import Bound, GateResult
from mlops_gates.stats.metrics import metric_values
from mlops_gates.stats.reduce import marginalize


def evaluate_metric(gate: MetricGate, ctx: Context) -> list[GateResult]:
    gid = gate_id(gate)
    bound = Bound(gate.min, gate.max)
    results = []
    for columns in slicings(gate.overall, gate.slices):
        g2s, values = ctx.grouping.slicing(columns)
        table = marginalize(ctx.stats, g2s, len(values))
        observed = metric_values(gate.metric, table, model="candidate")
        rows = support(table)
        for i, slc in enumerate(values):
            results.append(
                judge(
                    gate_id=gid,
                    kind="metric",
                    severity=gate.severity,
                    metric=gate.metric,
                    slc=slc,
                    observed=float(observed[i]),
                    bound=bound,
                    support=int(rows[i]),
                    min_support=gate.min_support if columns else 0,
                    on_insufficient=gate.on_insufficient,
                    what=gate.metric,
                )
            )
    return results
