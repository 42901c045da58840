"""The deploy manifest `deploy/<model>.yaml`: build it from report.json, validate, read, write.

The manifest is the GitOps source of truth: the version it names is the one deployed. Its
JSON Schema ships as `mlops_gates/schemas/manifest.schema.json`; `validate_manifest` checks
against that file (not a copy of it in code), so the deploy step and editors agree with
promote on what a valid manifest is.
"""

from __future__ import annotations

import importlib
import json
import re
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlops_gates.errors import PromotionError

__all__ = [
    "build_manifest",
    "dump_manifest",
    "load_manifest",
    "manifest_path",
    "manifest_schema",
    "parse_manifest",
    "same_candidate",
    "validate_manifest",
]

SCHEMA_VERSION = 1
DEFAULT_DIR = "deploy"
DEFAULT_ALIAS = "production"
# Volatile fields: two manifests that differ only here describe the same candidate.
_VOLATILE = ("promoted_at",)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of the deploy manifest (package data)."""
    text = resources.files("mlops_gates").joinpath("schemas/manifest.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def manifest_path(model: str, directory: str = DEFAULT_DIR) -> str:
    """Repository path of a model's manifest (POSIX, relative to the repository root)."""
    if not _NAME.match(model) or model.endswith((".", ".lock")) or ".." in model:
        raise PromotionError(
            f"model name {model!r} cannot name a manifest file and a branch: use letters, "
            "digits, '.', '_' and '-' (at most 100, starting with a letter or digit)"
        )
    parts = [p for p in directory.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or directory.startswith("/"):
        raise PromotionError(
            f"manifest directory {directory!r} must be a path inside the repository, e.g. `deploy`"
        )
    return "/".join([*parts, f"{model}.yaml"])


def build_manifest(
    doc: dict[str, Any],
    *,
    model: str,
    version: str,
    uri: str,
    promoted_at: str,
    alias: str = DEFAULT_ALIAS,
    training_run_id: str | None = None,
    gates_run_id: str | None = None,
    attestation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest for a candidate judged by the report `doc` (report.json, parsed);
    `attestation`: the signed bundle's reference (attest.ref.bundle_reference), recorded
    so deploy verifies exactly the bundle the reviewers saw listed."""
    fp = doc.get("fingerprint") or {}
    tool = (doc.get("context") or {}).get("tool") or {}
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": model, "version": str(version), "uri": uri},
        "alias": alias,
        "mlflow": {"training_run_id": training_run_id, "gates_run_id": gates_run_id},
        "digests": {
            "config": fp.get("config"),
            "data": fp.get("data"),
            "code": fp.get("code"),
            "models": dict(fp.get("models") or {}),
        },
        "gates": {
            "status": doc.get("status"),
            "summary": dict(doc.get("summary") or {}),
            "report_started_at": doc.get("started_at"),
            "tool_version": tool.get("version"),
        },
        "promoted_at": promoted_at,
    }
    if attestation is not None:
        manifest["attestation"] = dict(attestation)
    return validate_manifest(manifest)


def validate_manifest(data: Any, *, source: str = "manifest") -> dict[str, Any]:
    """Check `data` against the shipped JSON Schema; every problem is named by its field
    path in one `PromotionError`. Returns `data` unchanged."""
    # Through import_module: jsonschema ships no type information, and this keeps mypy
    # strict without a stubs package.
    jsonschema = importlib.import_module("jsonschema")
    validator = jsonschema.Draft202012Validator(manifest_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return data  # type: ignore[no-any-return]
    lines = [f"{source}: {_describe(e)}" for e in errors[:10]]
    if len(errors) > 10:
        lines.append(f"{source}: ... and {len(errors) - 10} more problems")
    raise PromotionError("\n".join(lines))


def _describe(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    where = path or "(top level)"
    value, schema, kind = error.instance, error.schema, error.validator
    hint = schema.get("description") if isinstance(schema, dict) else None
    if kind == "required":
        missing = re.match(r"'([^']+)'", error.message)
        name = missing.group(1) if missing else error.message
        return f"{path + '.' if path else ''}{name}: required field is missing"
    if kind == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))
        known = ", ".join(schema.get("properties", {}))
        names = ", ".join(f"{path + '.' if path else ''}{k}" for k in extra)
        return f"{names}: unknown field (known here: {known})"
    if kind == "type":
        want = schema["type"]
        want = " or ".join(want) if isinstance(want, list) else want
        quote = " (quote it)" if "string" in want and isinstance(value, int | float) else ""
        return f"{where}: expected {want}, got {_short(value)}{quote}"
    if kind in ("const", "enum"):
        choices = [schema["const"]] if kind == "const" else schema["enum"]
        return f"{where}: {_short(value)} is not one of {', '.join(map(_short, choices))}"
    if kind in ("pattern", "not", "minLength", "maxLength", "minimum"):
        return f"{where}: {_short(value)} is not allowed" + (f": {hint}" if hint else "")
    return f"{where}: {error.message}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def load_manifest(path: Path | str) -> dict[str, Any]:
    """Read and validate a manifest file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromotionError(f"{p}: cannot read the manifest ({exc.strerror or exc})") from None
    return parse_manifest(text, source=str(p))


def parse_manifest(text: str, *, source: str = "manifest") -> dict[str, Any]:
    """A manifest from YAML text, validated; errors name `source`, the line and the field."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise PromotionError(f"{source}{where}: not valid YAML: {exc}") from None
    return validate_manifest(_plain(data), source=source)


def _plain(node: Any) -> Any:
    # A person editing the file may write timestamps unquoted; YAML turns those into
    # datetime objects, which are still the same instant: accept them as ISO text.
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime | date):
        return node.isoformat()
    return node


def dump_manifest(manifest: dict[str, Any]) -> str:
    """YAML text of a manifest, with a header saying where it comes from."""
    import yaml

    body = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
    return (
        "# Deploy manifest written by `mlops-gates promote`: merging the pull request that\n"
        "# changes this file deploys the version below; reverting it rolls back.\n"
        "# Schema: mlops_gates/schemas/manifest.schema.json\n" + body
    )


def same_candidate(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Do two manifests promote the same thing (ignoring when it was prepared)?"""
    if a is None or b is None:
        return False
    return _stable(a) == _stable(b)


def _stable(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in _VOLATILE}
