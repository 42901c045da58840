"""`behaviour` gate: the candidate behaves as declared on rows it has never seen.

- invariance: replacing a column's value (a name, an id, a sampling weight) changes at
  most `max_flip_rate` of the predictions;
- directional: raising a numeric column by `delta` moves the score the declared way on
  all but `max_violation_rate` of the examples;
- cases: hand-written rows get the expected label and score.

Examples come from hypothesis, seeded, so the same config finds the same examples. The
rate is measured on the examples of one seeded generation pass (scored in one model call,
original and changed rows together);
when it breaks the bound, a second pass with the same seed lets hypothesis shrink the
first violation to a small counterexample, which the verdict shows.

Modules, each importing only those listed before it: `strategies` (the seeded hypothesis
search), `rows` (example rows from a schema or the data), `model` (the candidate as a
function of a frame), `cases` (hand-written rows), `gate` (the evaluator, registered as
kind `behaviour`).
"""

from __future__ import annotations

from mlops_gates.gates.behaviour.gate import describe, evaluate, evaluate_behaviour

__all__ = ["describe", "evaluate", "evaluate_behaviour"]
