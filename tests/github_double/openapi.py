"""Check requests and responses against GitHub's OpenAPI description (the pruned subset).

Validation is plain `jsonschema` (Draft 4, which is what OpenAPI 3.0's schema objects are
built on) after one conversion: OpenAPI 3.0's `nullable: true` becomes a `"null"` type.
Operations are matched on method and path template; parameters marked `x-multi-segment`
(file paths, refs) may span `/`, which is the same as percent-encoding `/` before matching.

The module also builds minimal valid instances of a schema (`skeleton`), so the double only
has to fill in the fields it keeps state for and every other required field is still there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SUBSET = Path(__file__).with_name("openapi-subset.json")
_URN = "urn:github-openapi-subset"

# Statuses GitHub answers on any operation although the description lists them on few:
# authentication, permission, rate limits and outages. Their bodies are still checked.
GENERIC_ERRORS = {401, 403, 404, 422, 429, 500, 502, 503, 504}


@dataclass
class Operation:
    op_id: str
    method: str
    template: str
    spec: dict[str, Any]
    pointer: str  # JSON pointer of the operation inside the subset
    api: OpenAPI
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        multi = {p["name"] for p in self.parameters if p.get("x-multi-segment")}
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", self.template):
            if part.startswith("{"):
                name = part[1:-1]
                pattern += f"(?P<{name}>.+)" if name in multi else f"(?P<{name}>[^/]+)"
            else:
                pattern += re.escape(part)
        self.regex = re.compile(f"^{pattern}$")

    @cached_property
    def parameters(self) -> list[dict[str, Any]]:
        return [self.api.deref(p) for p in self.spec.get("parameters", [])]


class Violation(AssertionError):
    """A request or response that GitHub's description does not allow."""


class OpenAPI:
    def __init__(self, path: Path = SUBSET) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        self.doc = _convert(raw)
        self.registry: Registry[Any] = Registry().with_resource(
            _URN, Resource.from_contents(self.doc, default_specification=DRAFT4)
        )
        self.operations: list[Operation] = []
        for template, methods in self.doc["paths"].items():
            for method, op in methods.items():
                pointer = f"/paths/{_escape(template)}/{method}"
                self.operations.append(
                    Operation(op["operationId"], method.upper(), template, op, pointer, self)
                )
        # Literal paths before templated ones, longer before shorter: /git/refs/{ref} must not
        # be taken for /{owner}/{repo} with a multi-segment tail.
        self.operations.sort(key=lambda o: (-o.template.count("/"), o.template.count("{")))
        self._validators: dict[str, jsonschema.Draft4Validator] = {}

    def deref(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.resolve(node["$ref"])
        return node

    def resolve(self, ref: str) -> Any:
        assert ref.startswith("#/"), ref
        node: Any = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def schema(self, name: str) -> dict[str, Any]:
        """A component schema, fully dereferenced at the top level."""
        return self.deref(self.doc["components"]["schemas"][name])

    # -- matching ----------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        for op in self.operations:
            if op.method != method:
                continue
            m = op.regex.match(path)
            if m:
                return op, {k: unquote(v) for k, v in m.groupdict().items()}
        raise Violation(f"{method} {path}: no such operation in GitHub's description")

    # -- validation --------------------------------------------------------------------
    def check_request(
        self,
        op: Operation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        body: Any,
        content_type: str | None,
    ) -> None:
        where = f"{op.method} {op.template} ({op.op_id})"
        declared = {(p["in"], p["name"]): p for p in op.parameters}
        for name, value in path_params.items():
            param = declared.get(("path", name))
            if param is None:
                raise Violation(f"{where}: undeclared path parameter {name}")
            self._check_value(param["schema"], _coerce(value, param["schema"]), f"{where} {name}")
        for name, values in query.items():
            param = declared.get(("query", name))
            if param is None:
                raise Violation(f"{where}: undeclared query parameter {name!r}")
            for value in values:
                self._check_value(
                    param["schema"], _coerce(value, param["schema"]), f"{where} ?{name}"
                )
        for (loc, name), param in declared.items():
            if param.get("required") and loc == "query" and name not in query:
                raise Violation(f"{where}: missing required query parameter {name!r}")
        request_body = op.spec.get("requestBody")
        if request_body is None:
            if body is not None:
                raise Violation(f"{where}: sends a body the operation does not take")
            return
        request_body = self.deref(request_body)
        if body is None:
            if request_body.get("required"):
                raise Violation(f"{where}: the request body is required")
            return
        if content_type is None or not content_type.startswith("application/json"):
            raise Violation(f"{where}: request content type {content_type!r} is not JSON")
        if "application/json" not in request_body["content"]:
            raise Violation(f"{where}: the operation takes no JSON body")
        pointer = f"{op.pointer}/requestBody/content/application~1json/schema"
        self._validate(pointer, body, f"{where} request body")

    def check_response(self, op: Operation, status: int, body: Any) -> None:
        where = f"{op.method} {op.template} ({op.op_id}) -> {status}"
        responses = op.spec["responses"]
        key = str(status)
        if key not in responses:
            if status in GENERIC_ERRORS:
                name = "validation-error" if status == 422 else "basic-error"
                self._validate(f"/components/schemas/{name}", body, where)
                return
            raise Violation(f"{where}: status {status} is not described for this operation")
        response = responses[key]
        pointer = f"{op.pointer}/responses/{key}"
        if "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.deref(response)
        content = response.get("content")
        if not content and status >= 400 and body is not None:
            # Some error responses are described without a body, but GitHub sends its
            # usual error document with them.
            name = "validation-error" if status == 422 else "basic-error"
            self._validate(f"/components/schemas/{name}", body, where)
            return
        if not content:
            if body not in (None, b"", ""):
                raise Violation(f"{where}: the description says no body, got one")
            return
        media = "application/json" if "application/json" in content else next(iter(content))
        self._validate(f"{pointer}/content/{_escape(media)}/schema", body, where)

    def _validate(self, pointer: str, instance: Any, where: str) -> None:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = jsonschema.Draft4Validator(
                {"$ref": f"{_URN}#{pointer}"},
                registry=self.registry,
                format_checker=_FORMATS,
            )
            self._validators[pointer] = validator
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [
                f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
                for e in errors[:5]
            ]
            raise Violation(f"{where} does not match GitHub's description:\n" + "\n".join(lines))

    def _check_value(self, schema: dict[str, Any], value: Any, where: str) -> None:
        validator = jsonschema.Draft4Validator(schema, registry=self.registry)
        for error in validator.iter_errors(value):
            raise Violation(f"{where}: {error.message}")

    # -- instances ---------------------------------------------------------------------
    def skeleton(self, schema: dict[str, Any], base_url: str = "https://example.invalid") -> Any:
        """A minimal instance: required properties only, first choice of every union."""
        return _skeleton(self, schema, base_url, depth=0)


def _skeleton(api: OpenAPI, schema: dict[str, Any], base_url: str, depth: int) -> Any:
    schema = api.deref(schema)
    if depth > 12:
        return None
    nullable = schema.get("nullable") or "null" in _types(schema)
    if nullable and depth > 0 and "properties" in schema:
        return None  # nested optional objects stay empty: the double fills what it needs
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            part = _skeleton(api, sub, base_url, depth + 1)
            if isinstance(part, dict):
                merged.update(part)
        return merged
    for union in ("oneOf", "anyOf"):
        if union in schema:
            return _skeleton(api, schema[union][0], base_url, depth + 1)
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    types = [t for t in _types(schema) if t != "null"]
    kind = types[0] if types else ("object" if "properties" in schema else "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: _skeleton(api, props.get(name, {}), base_url, depth + 1)
            for name in schema.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt in ("uri", "uri-template", "url"):
        return f"{base_url}/unused"
    if fmt == "email":
        return "someone@example.invalid"
    return "x" * max(schema.get("minLength", 1), 1)


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema Draft 4 (`nullable` -> a `"null"` type).

    GitHub's description also uses `oneOf` for alternatives that overlap (a 409 is
    `basic-error` or `repository-rule-violation-error`, and every basic error is both), so
    no real answer could satisfy "exactly one": it is read as `anyOf`.
    """
    if isinstance(node, list):
        return [_convert(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {("anyOf" if k == "oneOf" else k): _convert(v) for k, v in node.items()}
    if out.get("nullable") is True:
        if "type" in out:
            out["type"] = [*_types(out), "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            rest = {k: v for k, v in out.items() if k != "nullable"}
            out = {"anyOf": [rest, {"type": "null"}], "nullable": True}
    return out


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """Path and query values arrive as text; compare them as the type they declare."""
    types = _types(schema)
    try:
        if "integer" in types:
            return int(value)
        if "number" in types:
            return float(value)
    except ValueError:
        return value
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    # PyGithub parses every date-time it reads; a malformed one would break it, not us.
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


_SPEC = OpenAPI()


def spec() -> OpenAPI:
    """The parsed subset, shared: loading it once per test session is enough."""
    return _SPEC
