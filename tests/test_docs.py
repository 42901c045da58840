"""Docs stay true: config snippets validate, every config key is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlops_gates.config import (
    BaselineGate,
    Config,
    DataConfig,
    FairnessGate,
    MetricGate,
    ModelConfig,
    SchemaGate,
    TaskConfig,
    config_from_dict,
)

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _config_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in PAGES:
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            if re.search(r"^version: 1$", block, re.M):
                blocks.append((f"{page.name}#{i}", block))
    return blocks


@pytest.mark.parametrize(("where", "block"), _config_blocks(), ids=lambda v: str(v)[:30])
def test_config_snippets_validate(where: str, block: str) -> None:
    config_from_dict(yaml.safe_load(block))


def test_every_config_key_is_in_the_reference() -> None:
    text = (ROOT / "docs" / "config.md").read_text()
    models = (
        Config,
        DataConfig,
        TaskConfig,
        ModelConfig,
        SchemaGate,
        MetricGate,
        FairnessGate,
        BaselineGate,
    )
    for model in models:
        for name, field in model.model_fields.items():
            key = field.alias or name
            assert f"`{key}`" in text, f"{model.__name__}.{key} is not in docs/config.md"


def test_linked_pages_exist() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+\.md)\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to missing {target}"
