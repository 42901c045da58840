"""GitOps promotion: the deploy manifest (`manifest`), what a promotion writes (`plan`),
the promotion pull request (`pr`, over `branch` and `pulls`), its body (`body`) and the
sticky report comment (`comment`).

Cheap to import: PyGithub, jinja2, PyYAML and jsonschema load inside the functions that
need them (`branch`, `pulls`, `comment` and `pr` import PyGithub through
`mlops_gates.github` when they are themselves imported).
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
