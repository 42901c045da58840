"""Finding, reading and validating `mlops-gates.yaml`, and its JSON Schema."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlops_gates.config.messages import format_validation_error
from mlops_gates.config.model import Config
from mlops_gates.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "config_from_dict",
    "find_config",
    "gate_lines",
    "json_schema",
    "load_config",
]

CONFIG_FILENAME = "mlops-gates.yaml"
CONFIG_ENV = "MLOPS_GATES_CONFIG"


def find_config(given: Path | str | None = None, *, candidates: Sequence[Path] = ()) -> Path:
    """The config a command or the pytest plugin uses, found the same way by all of them:
    the path given (--config / --mlops-gates-config), else $MLOPS_GATES_CONFIG, else the
    first of `candidates` that exists (default: `mlops-gates.yaml` in the working
    directory). With none existing, the first candidate: the not-found message names it."""
    if given is not None:
        return Path(given)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    places = list(candidates) or [Path.cwd() / CONFIG_FILENAME]
    return next((p for p in places if p.is_file()), places[0])


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file; every problem is one `ConfigError`."""
    cfg_path = find_config(path)
    if not cfg_path.is_file():
        where = ""
        if path is None:
            where = f" (${CONFIG_ENV})" if os.environ.get(CONFIG_ENV) else f" in {Path.cwd()}"
        raise ConfigError(
            f"{cfg_path}: config file not found{where}. Create one with `mlops-gates init` "
            f"or pass its path with --config / --mlops-gates-config."
        )
    try:
        raw = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{cfg_path}: cannot read the config file: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{cfg_path}{where}: not valid YAML: {problem}") from None
    return config_from_dict(raw, source=cfg_path)


def gate_lines(path: Path) -> list[int]:
    """The 1-based line where each entry of `gates:` starts in the config file at `path`,
    so pytest can point a verdict at its gate; [] when the file does not parse."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "gates" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def config_from_dict(raw: Any, *, source: Path | None = None) -> Config:
    """Validate a config already parsed from YAML (or built in code); `source` is the file
    it came from, against whose folder relative paths resolve. Problems: one ConfigError."""
    name = str(source) if source is not None else "config"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{name}: expected a mapping with `version: 1` at the top, got {type(raw).__name__}"
        )
    try:
        return Config.model_validate(raw, context={"source": source})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(name, raw, exc)) from None


def json_schema() -> dict[str, Any]:
    """JSON Schema of mlops-gates.yaml (for editors and the docs)."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlops-gates.dev/schemas/config.schema.json"
    schema["title"] = "mlops-gates.yaml"
    return schema
