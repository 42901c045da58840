"""The gates evidence as a CycloneDX 1.6 ML-BOM, for security and inventory tools.

One `machine-learning-model` component for the candidate (and one for the baseline when
there is one), with its digest, and its model card's quantitative analysis holding every
gate number the report has: metric, slice, value, interval. Rendered from report.json
only, never recomputed. CycloneDX wants numbers as strings; `repr` keeps every digit.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlops_gates._version import __version__

__all__ = [
    "ml_bom",
]


SPEC_VERSION = "1.6"


def _model_component(role: str, info: dict[str, Any], ref: str) -> dict[str, Any]:
    name = info.get("name") or info.get("path") or info.get("uri") or role
    component: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": ref,
        "name": str(name),
    }
    if info.get("version"):
        component["version"] = str(info["version"])
    digest = str(info.get("digest") or "")
    props = [{"name": "mlops-gates:role", "value": role}]
    if info.get("source") == "file" and digest.startswith("sha256:"):
        # A single file: its sha256 is the file's hash in CycloneDX's sense.
        component["hashes"] = [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}]
    elif digest:
        props.append({"name": "mlops-gates:tree-digest", "value": digest})
    for key in ("uri", "resolved_uri", "run_id"):
        if info.get(key):
            props.append({"name": f"mlops-gates:{key}", "value": str(info[key])})
    component["properties"] = props
    return component


def _slice(gate: dict[str, Any]) -> str | None:
    s = gate.get("slice")
    if not s:
        return None
    return ", ".join(f"{k}={v}" for k, v in s.items())


def _metrics(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for gate in doc.get("gates") or []:
        value = gate.get("observed")
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        metric: dict[str, Any] = {
            "type": str(gate.get("metric") or gate.get("kind")),
            "value": repr(float(value)),
        }
        where = _slice(gate)
        if where:
            metric["slice"] = where
        ci = gate.get("ci")
        if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
            metric["confidenceInterval"] = {
                "lowerBound": repr(float(ci[0])),
                "upperBound": repr(float(ci[1])),
            }
        out.append(metric)
    return out


def ml_bom(doc: dict[str, Any], report_sha256: str) -> dict[str, Any]:
    """A CycloneDX 1.6 BOM of the report `doc` (whose bytes hash to `report_sha256`)."""
    models = (doc.get("context") or {}).get("models") or {}
    components = []
    for role in ("candidate", "baseline"):
        info = models.get(role)
        # A baseline given as a column of predictions has no bytes to inventory.
        if info and (role == "candidate" or info.get("source") != "column"):
            component = _model_component(role, info, f"model-{role}")
            if role == "candidate":
                component["modelCard"] = {
                    "quantitativeAnalysis": {"performanceMetrics": _metrics(doc)},
                }
            components.append(component)
    fp = doc.get("fingerprint") or {}
    props = [
        {"name": "mlops-gates:status", "value": str(doc.get("status"))},
        {"name": "mlops-gates:report-sha256", "value": report_sha256},
    ]
    props += [
        {"name": f"mlops-gates:{key}-digest", "value": str(fp[key])}
        for key in ("config", "data", "code")
        if fp.get(key)
    ]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        # Same report, same serial number: the BOM names this evidence, not this export.
        "serialNumber": f"urn:uuid:{uuid.UUID(report_sha256[:32])}",
        "version": 1,
        "metadata": {
            **({"timestamp": doc["started_at"]} if doc.get("started_at") else {}),
            "tools": {
                "components": [
                    {"type": "application", "name": "mlops-gates", "version": __version__}
                ]
            },
            "properties": props,
        },
        "components": components,
    }
