"""The in-toto Statement of a gates run: model files as subjects, the verdict as predicate.

Subjects follow the file manifest of OpenSSF model-signing: every regular file under the
model directory (or the one model file), named by its POSIX path relative to that
directory, with its sha256, sorted by name. A symbolic link is refused rather than
followed: what it points to can change without the attested directory changing.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlops_gates._version import __version__
from mlops_gates.attest import PREDICATE_TYPE, STATEMENT_TYPE, AttestationError

__all__ = [
    "build_statement",
    "file_subjects",
    "model_digest",
    "sha256_file",
    "statement_schema",
    "validate_statement",
]


_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def file_subjects(path: Path) -> list[dict[str, Any]]:
    """`[{name, digest: {sha256}}]` for every regular file of a model directory or file."""
    if not path.exists():
        raise AttestationError(f"{path}: no such model file or directory")
    if path.is_symlink():
        raise AttestationError(f"{path}: is a symbolic link; give the model directory itself")
    if path.is_file():
        return [{"name": path.name, "digest": {"sha256": sha256_file(path)}}]
    subjects = []
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            raise AttestationError(
                f"{p}: symbolic link inside the model directory; attestations cover regular "
                "files only (copy the target in, or remove the link)"
            )
        if p.is_file():
            name = p.relative_to(path).as_posix()
            subjects.append({"name": name, "digest": {"sha256": sha256_file(p)}})
    if not subjects:
        raise AttestationError(f"{path}: the model directory holds no files")
    return sorted(subjects, key=lambda s: str(s["name"]))


def model_digest(root: Path) -> str:
    """The `sha256:` digest the gates report records for a model: of the file itself, or
    `sources.mlflow_models.tree_digest` of a directory (paths and bytes, sorted)."""
    if root.is_file():
        return "sha256:" + sha256_file(root)
    from mlops_gates.sources.mlflow_models import tree_digest

    return tree_digest(root)


def _model_ref(info: dict[str, Any] | None) -> dict[str, Any] | None:
    if not info:
        return None
    keep = ("source", "name", "version", "uri", "resolved_uri", "path", "run_id", "digest")
    return {k: (None if info.get(k) is None else str(info[k])) for k in keep}


def build_statement(
    doc: dict[str, Any], report_sha256: str, subjects: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Statement for report `doc` (report.json parsed, whose bytes hash to
    `report_sha256`) about the model files `subjects`."""
    ctx = doc.get("context") or {}
    models = ctx.get("models") or {}
    fp = doc.get("fingerprint") or {}
    ml = ctx.get("mlflow") or None
    predicate: dict[str, Any] = {
        "status": doc.get("status"),
        "report": {"sha256": report_sha256, "schema_version": doc.get("schema_version")},
        "started_at": doc.get("started_at"),
        "summary": dict(doc.get("summary") or {}),
        "fingerprint": {
            "config": fp.get("config"),
            "data": fp.get("data"),
            "code": fp.get("code"),
            "models": dict(fp.get("models") or {}),
        },
        "candidate": _model_ref(models.get("candidate")),
        "baseline": _model_ref(models.get("baseline")),
        "mlflow": None
        if not ml
        else {
            "run_id": str(ml.get("run_id")),
            "experiment_id": str(ml.get("experiment_id")),
            "tracking_uri": str(ml.get("tracking_uri")),
        },
        "tool": {"name": "mlops-gates", "version": __version__},
    }
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    validate_statement(statement)
    return statement


@cache
def statement_schema() -> dict[str, Any]:
    """The shipped JSON Schema of our Statement (subjects + gates predicate v1)."""
    text = resources.files("mlops_gates").joinpath("schemas/attestation.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_statement(data: Any) -> dict[str, Any]:
    """Check a Statement against the shipped schema; one AttestationError naming the field."""
    jsonschema = importlib.import_module("jsonschema")  # untyped: keeps mypy strict quiet
    validator = jsonschema.Draft202012Validator(statement_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise AttestationError(
            f"attestation statement: {where}: {first.message} (schema "
            f"mlops_gates/schemas/attestation.schema.json)"
        )
    return data  # type: ignore[no-any-return]
