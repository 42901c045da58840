"""GitOps promotion: the deploy manifest, promotion pull requests, the sticky report comment.

Cheap to import: PyGithub, jinja2, PyYAML and jsonschema load inside the functions that
need them (`mlops_gates.promote.github` imports PyGithub when it is itself imported).
"""

from __future__ import annotations

from mlops_gates.promote.manifest import (
    build_manifest,
    dump_manifest,
    load_manifest,
    manifest_path,
    validate_manifest,
)

__all__ = [
    "build_manifest",
    "dump_manifest",
    "load_manifest",
    "manifest_path",
    "validate_manifest",
]
