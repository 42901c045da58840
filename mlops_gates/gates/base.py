"""The gate interface: a registry from a gate kind to the function that evaluates it.

Each kind registers `evaluate(gate, run) -> list[GateResult]` and declares what it needs
from the run:

- ``table``: the evaluation rows as read (`Run.table`);
- ``inputs``: labels and predictions, encoded (`Run.inputs`);
- ``reduced``: the per-slice sufficient statistics (`Run.reduced`);
- ``candidate_model``: the candidate model, loaded once per run (`Run.candidate_model`).

The runner evaluates a gate only when what it *needs* is there; otherwise the gate gets one
`error` verdict saying why, in the words of `not_evaluated`. What a gate only *wants* (it
judges the rest without it: a staleness gate's data age without the model) is read with
`Run.need`, which raises `NotEvaluated` with the same words. A gate's verdicts carry the
outcome (`fail`), and the runner applies the gate's severity (`warn`), once for all kinds.

The built-in kinds live in `mlops_gates.gates.<kind>` and register on import; the runner
imports a kind's module only when a config uses it (pandera and hypothesis stay unloaded
otherwise). A kind defined elsewhere (a plug-in, a test) registers with `register` too.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from mlops_gates.errors import MlopsGatesError
from mlops_gates.gates.result import GateResult

if TYPE_CHECKING:
    from mlops_gates.config import Config
    from mlops_gates.gates.common import Context
    from mlops_gates.sources.data import Table
    from mlops_gates.sources.evaluation import EvalData
    from mlops_gates.sources.models import LoadedModel

__all__ = [
    "NEEDS",
    "Evaluator",
    "Need",
    "NotEvaluated",
    "Run",
    "evaluator_for",
    "not_evaluated",
    "register",
    "registered",
    "unregister",
]

Need = Literal["table", "inputs", "reduced", "candidate_model"]
NEEDS: tuple[Need, ...] = ("table", "inputs", "reduced", "candidate_model")

Evaluate = Callable[[Any, "Run"], list[GateResult]]
NeedsOf = Callable[[Any], Iterable[Need]]
F = TypeVar("F", bound=Evaluate)


def not_evaluated(why: str | None) -> str:
    """The one wording of "this gate (or check) could not be evaluated, because ..."."""
    return f"not evaluated: {why}"


class NotEvaluated(MlopsGatesError):
    """Something a gate reads is missing from the run; the message says why."""

    def __init__(self, why: str | None) -> None:
        super().__init__(not_evaluated(why))


@dataclass
class Run:
    """What one run made available to the gates. Each part is None when it could not be
    made, and `why[need]` then says why (the first problem that stopped it)."""

    config: Config
    data_path: Path
    table: Table | None = None
    inputs: EvalData | None = None
    reduced: Context | None = None
    candidate_model: LoadedModel | None = None
    why: dict[Need, str] = field(default_factory=dict)
    # The registry alias of the baseline is not set yet (a first model): why, in words.
    no_baseline: str | None = None

    def has(self, need: Need) -> bool:
        """Is this part of the run available?"""
        return getattr(self, need) is not None

    @overload
    def need(self, need: Literal["table"]) -> Table: ...
    @overload
    def need(self, need: Literal["inputs"]) -> EvalData: ...
    @overload
    def need(self, need: Literal["reduced"]) -> Context: ...
    @overload
    def need(self, need: Literal["candidate_model"]) -> LoadedModel: ...

    def need(self, need: Need) -> Any:
        """The part, or `NotEvaluated` saying why it is missing."""
        value = getattr(self, need)
        if value is None:
            raise NotEvaluated(self.why.get(need, f"no {need.replace('_', ' ')} in this run"))
        return value

    def missing(self, needs: Iterable[Need]) -> str | None:
        """Why the first of `needs` that is unavailable is missing; None when all are there."""
        for need in needs:
            if not self.has(need):
                return self.why.get(need, f"no {need.replace('_', ' ')} in this run")
        return None


@dataclass(frozen=True)
class Evaluator:
    """How one gate kind is evaluated, and what it reads from the run."""

    kind: str
    evaluate: Evaluate
    needs: NeedsOf  # without these the gate is `error`, and `evaluate` is not called
    wants: NeedsOf  # read when there (with `Run.need`): the runner makes them if it can

    def reads(self, gate: Any) -> set[Need]:
        """Everything the gate reads: what the runner should make for it."""
        return {*self.needs(gate), *self.wants(gate)}


_REGISTRY: dict[str, Evaluator] = {}


def _constant(needs: Iterable[Need] | NeedsOf) -> NeedsOf:
    if callable(needs):
        return needs
    fixed = tuple(needs)
    unknown = [n for n in fixed if n not in NEEDS]
    if unknown:
        raise ValueError(f"unknown need(s) {unknown}; choose from {', '.join(NEEDS)}")
    return lambda gate: fixed


def register(
    kind: str,
    *,
    needs: Iterable[Need] | NeedsOf = (),
    wants: Iterable[Need] | NeedsOf = (),
    replace: bool = False,
) -> Callable[[F], F]:
    """Register the decorated `evaluate(gate, run)` as the evaluator of gates of `kind`.

    `needs` and `wants` are names from `NEEDS`, or a function `gate -> names` when they
    depend on the gate's settings. Registering a kind twice is refused unless
    `replace=True` (a test standing in its own evaluator)."""

    needs_of, wants_of = _constant(needs), _constant(wants)

    def decorate(fn: F) -> F:
        if kind in _REGISTRY and not replace:
            raise ValueError(f"gate kind {kind!r} already has an evaluator")
        _REGISTRY[kind] = Evaluator(kind, fn, needs_of, wants_of)
        return fn

    return decorate


def unregister(kind: str) -> None:
    """Forget a kind's evaluator (a test's own kind, once the test is done)."""
    _REGISTRY.pop(kind, None)


def evaluator_for(kind: str) -> Evaluator:
    """The evaluator of `kind`, importing the built-in module that registers it."""
    if kind not in _REGISTRY and kind.isidentifier():
        module = f"{__package__}.{kind}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    found = _REGISTRY.get(kind)
    if found is None:
        known = ", ".join(sorted(_REGISTRY)) or "none registered"
        raise MlopsGatesError(
            f"gate kind {kind!r} has no evaluator (registered: {known}); register one with "
            "mlops_gates.gates.base.register"
        )
    return found


def registered() -> dict[str, Evaluator]:
    """The kinds registered so far (built-in ones appear once a config used them)."""
    return dict(_REGISTRY)
