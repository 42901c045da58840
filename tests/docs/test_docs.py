"""Docs stay true: config snippets validate, every config key is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml
from pydantic import BaseModel

from mlops_gates.config import Config, config_from_dict, gate_kinds, gate_model

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _config_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in PAGES:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            if re.search(r"^version: 1$", block, re.M):
                blocks.append((f"{page.relative_to(ROOT)}#{i}", block))
    return blocks


@pytest.mark.parametrize(("where", "block"), _config_blocks(), ids=lambda v: str(v)[:30])
def test_config_snippets_validate(where: str, block: str) -> None:
    config_from_dict(yaml.safe_load(block))


def _config_models() -> list[type[BaseModel]]:
    """Config, every registered gate kind and every model reachable from them, found by
    walking the annotations, so a new gate kind or block is checked without editing this
    test. (Config.gates is typed as their base class; the kinds come from the registry.)"""
    seen: list[type[BaseModel]] = []
    todo: list[object] = [Config, *(gate_model(kind) for kind in gate_kinds())]
    while todo:
        ann = todo.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if ann in seen:
                continue
            seen.append(ann)
            todo += [f.annotation for f in ann.model_fields.values()]
        else:
            todo += list(get_args(ann))
    return seen


def test_every_config_key_is_in_the_reference() -> None:
    # The reference is generated from the JSON Schema (docs/gen_reference.py); this checks
    # that the schema, and so the page, reaches every model the config is built from.
    text = (ROOT / "docs" / "reference" / "config.md").read_text()
    models = _config_models()
    assert {"SchemaGate", "MetricGate", "FairnessGate", "BaselineGate"} <= {
        m.__name__ for m in models
    }
    for model in models:
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in text, (
                f"{model.__name__}.{key} is not in docs/reference/config.md: "
                "run `python docs/gen_reference.py`"
            )


def test_linked_pages_exist() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\((?!https?:)([^)#]+\.md)\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to missing {target}"
