"""pydantic's validation errors -> one line per problem that names the file, the dotted
field path as the user wrote it, the bad value and, where there is a fixed set, the
valid choices (keys, gate kinds, metric names)."""

from __future__ import annotations

import difflib
import json
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from mlops_gates.config.base import FieldError
from mlops_gates.config.gates import gate_kinds, gate_model
from mlops_gates.config.model import Config

__all__ = ["format_validation_error"]

_MISSING = object()


def format_validation_error(name: str, raw: Any, exc: ValidationError) -> str:
    """One line per error in `exc`, for the config `raw` read from the file `name`."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = _drop_union_tags(tuple(err["loc"]))
        msg = err["msg"]
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, FieldError):
            loc = loc + ctx_error.loc
            msg = ctx_error.msg
        field = ".".join(str(p) for p in loc) or "(top level)"
        etype = err["type"]
        if etype == "extra_forbidden":
            siblings = _known_fields(loc[:-1], raw)
            hint = difflib.get_close_matches(str(loc[-1]), siblings, n=1)
            msg = "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            if siblings:
                msg += f"; valid keys here: {', '.join(siblings)}"
        elif etype == "union_tag_invalid":
            msg = f"unknown gate kind; valid: {', '.join(gate_kinds())}"
            loc = (*loc, "kind")
            field = ".".join(str(p) for p in loc)
        elif etype == "union_tag_not_found":
            msg = f"each gate needs `kind:` ({', '.join(gate_kinds())})"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = _lookup(raw, loc)
        shown = "" if value is _MISSING or etype == "missing" else f" (got {_short(value)})"
        lines.append(f"{name}: {field}: {msg}{shown}")
    return "\n".join(lines)


def _drop_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator value into the location (gates.3.metric.min);
    # users think of gates.3.min.
    if len(loc) >= 3 and loc[0] == "gates" and loc[2] in gate_kinds():
        return loc[:2] + loc[3:]
    return loc


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    cur = raw
    for part in loc:
        if (isinstance(cur, dict) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            cur = cur[part]
        else:
            return _MISSING
    return cur


def _section(annotation: Any) -> type[BaseModel] | None:
    """The config section (model) a field holds directly, or with `| None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) not in (list, dict) and len(args) == 1:
        return _section(args[0])
    return None


def _known_fields(loc: tuple[Any, ...], raw: Any) -> list[str]:
    """The keys valid at `loc` (a section of the config), to suggest the one meant."""
    model: type[BaseModel] | None = Config
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if model is None:
            return []
        if model is Config and part == "gates":
            if not parts:
                return []
            # The gate's own keys depend on its kind; walk on into its nested sections.
            gate = _lookup(raw, ("gates", parts.pop(0)))
            kind = gate.get("kind") if isinstance(gate, dict) else None
            model = gate_model(str(kind))
            continue
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        model = _section(ann)
        # Lists and mappings of sections (behaviour checks, skew tolerances): the next
        # part is an index or a key, and the section's keys are those of the item model.
        if model is None and parts:
            args = get_args(ann) if get_origin(ann) in (list, dict) else ()
            item = _section(args[-1]) if args else None
            if item is not None:
                parts.pop(0)
                model = item
    if model is None:
        return []
    return [(f.alias or n) for n, f in model.model_fields.items()]


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
