"""Which gates need only the table: the one answer, for the runner and for `monitor`.

Each gate kind declares what it reads when it registers (`gates/base.py`): schema gates
read the rows as they are, drift on features counts them, and skew gates read their own
training and serving tables; none needs a label or a model. Every other gate (metric,
fairness, baseline, staleness with its model age, behaviour, drift of the model's output)
reads the labels and the models' output.
"""

from __future__ import annotations

from typing import Any

from mlops_gates.errors import MlopsGatesError
from mlops_gates.gates.base import evaluator_for

__all__ = ["needs_inputs"]

# What is made from labels and the models' output.
_FROM_INPUTS = frozenset({"inputs", "reduced", "candidate_model"})


def needs_inputs(gate: Any) -> bool:
    """Whether `gate` needs labels and the models' output (encoded inputs).

    The runner builds inputs only when some gate needs them, so a config of table-only
    gates (monitoring unlabelled production rows) never fails on a label column it does
    not use; `monitor` runs the table-only gates on every row of its window and the others
    on the rows whose label has arrived. A kind with no evaluator needs inputs: asking for
    labels it does not use is safer than judging without them.
    """
    try:
        evaluator = evaluator_for(gate.kind)
    except MlopsGatesError:
        return True
    return bool(evaluator.reads(gate) & _FROM_INPUTS)
