"""The one list of gate kinds.

`Config.gates` is a union of the registered kinds, discriminated on `kind`; the loader, the
error messages ("unknown gate kind; valid: ...") and the JSON Schema all read the list
here. The built-in kinds register at the bottom; another one joins with
`register_gate_kind` (see its docstring). The models themselves live in metric_gates.py,
data_gates.py and behaviour.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import Field, GetCoreSchemaHandler

from mlops_gates.config.base import GateBase
from mlops_gates.config.behaviour import BehaviourGate
from mlops_gates.config.calibration_churn import CalibrationGate, ChurnGate
from mlops_gates.config.data_gates import DriftGate, SkewGate, StalenessGate
from mlops_gates.config.metric_gates import BaselineGate, FairnessGate, MetricGate, SchemaGate
from mlops_gates.config.slice_discovery import SliceDiscoveryGate

__all__ = [
    "Gate",
    "GateKinds",
    "gate_id",
    "gate_kinds",
    "gate_model",
    "register_gate_kind",
    "unregister_gate_kind",
]

_KINDS: dict[str, type[GateBase]] = {}
_BUILT_IN: frozenset[str] = frozenset()
# Called after the list changes: models whose validation embeds the union (Config) rebuild.
_ON_CHANGE: list[Callable[[], None]] = []

G = TypeVar("G", bound=type[GateBase])


def _kind_of(model: type[GateBase]) -> str:
    field = model.model_fields.get("kind")
    args = get_args(field.annotation) if field is not None else ()
    if field is None or get_origin(field.annotation) is not Literal or len(args) != 1:
        raise TypeError(
            f"{model.__name__}: a gate kind declares `kind: Literal['<name>']` (one string)"
        )
    kind = args[0]
    if not isinstance(kind, str):
        raise TypeError(f"{model.__name__}: `kind` must be a Literal string, got {kind!r}")
    return kind


def register_gate_kind(model: G) -> G:
    """Add a gate kind: `model` joins the union `Config.gates` validates against, the
    loader, the error messages and `json_schema()`. Returns `model`, so it works as a
    class decorator.

    A gate kind is a subclass of `GateBase` (id, severity, description) that narrows
    `kind` to one `Literal` string and adds its own keys, optionally mixing in `Sliced`
    (overall, slices, min_support, on_insufficient) and `Judged` (judge, multiplicity)::

        from typing import Literal
        from pydantic import Field
        from mlops_gates.config import GateBase, register_gate_kind

        @register_gate_kind
        class RowCountGate(GateBase):
            kind: Literal["row_count"]
            min: int = Field(ge=0, description="Fewest rows the data may have.")

    Its id defaults to `<kind>-<metric>` (or `<kind>`); override `default_id()` to change
    that. The evaluator that turns such a gate into verdicts is registered in
    `mlops_gates.gates`. Registering a kind whose name is taken by another class is a
    TypeError; registering the same class again changes nothing. `unregister_gate_kind`
    takes it out again (tests).
    """
    if not (isinstance(model, type) and issubclass(model, GateBase)):
        raise TypeError(f"{model!r} is not a subclass of GateBase")
    kind = _kind_of(model)
    known = _KINDS.get(kind)
    if known is model:
        return model
    if known is not None:
        raise TypeError(f"gate kind {kind!r} is already registered by {known.__name__}")
    _KINDS[kind] = model
    _changed()
    return model


def unregister_gate_kind(kind: str) -> None:
    """Take a kind added with `register_gate_kind` out of the list again; the built-in
    kinds stay."""
    if kind in _BUILT_IN:
        raise ValueError(f"{kind!r} is a built-in gate kind and stays registered")
    if _KINDS.pop(kind, None) is not None:
        _changed()


def _changed() -> None:
    for rebuild in _ON_CHANGE:
        rebuild()


def gate_kinds() -> tuple[str, ...]:
    """Names of the registered gate kinds, built-in first, in registration order."""
    return tuple(_KINDS)


def gate_model(kind: str) -> type[GateBase] | None:
    """The model of gate kind `kind`, or None when no such kind is registered."""
    return _KINDS.get(kind)


class GateKinds:
    """Marks a field as "a gate of any registered kind": pydantic validates it against
    the union of the registered models, discriminated on `kind`, built when the model
    holding it is (re)built."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> Any:  # a pydantic-core CoreSchema (pydantic-core is pydantic's, not ours to import)
        union: Any = Union[tuple(_KINDS.values())]  # noqa: UP007 (a runtime tuple of types)
        return handler.generate_schema(Annotated[union, Field(discriminator="kind")])


# A gate of any registered kind (statically: its common base).
Gate = Annotated[GateBase, GateKinds()]

for _model in (
    SchemaGate,
    MetricGate,
    FairnessGate,
    BaselineGate,
    DriftGate,
    StalenessGate,
    SkewGate,
    BehaviourGate,
    CalibrationGate,
    ChurnGate,
    SliceDiscoveryGate,
):
    register_gate_kind(_model)
_BUILT_IN = frozenset(_KINDS)


def gate_id(gate: GateBase) -> str:
    """The gate's id, set once at load; kept for callers written before `gate.id`."""
    return gate.id
