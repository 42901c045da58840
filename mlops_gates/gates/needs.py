"""Which gates need only the table: the one answer, for the runner and for `monitor`.

Schema gates read the rows as they are, drift on features counts them, and skew gates read
their own training and serving tables; none needs a label or a model. Every other gate
(metric, fairness, baseline, staleness with its model age, behaviour, drift of the
model's output) needs the labels and the models' output.
"""

from __future__ import annotations

from typing import Any

from mlops_gates.config import DriftGate, SchemaGate, SkewGate

__all__ = ["needs_inputs"]


def needs_inputs(gate: Any) -> bool:
    """Whether `gate` needs labels and the models' output (encoded inputs).

    The runner builds inputs only when some gate needs them, so a config of table-only
    gates (monitoring unlabelled production rows) never fails on a label column it does
    not use; `monitor` runs the table-only gates on every row of its window and the others
    on the rows whose label has arrived. A kind this function does not know needs inputs:
    asking for labels it does not use is safer than judging without them.
    """
    if isinstance(gate, SchemaGate | SkewGate):
        return False
    return not (isinstance(gate, DriftGate) and not gate.predictions)
