"""The deploy manifest: built from report.json, validated against the shipped JSON Schema,
errors named by field path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlops_gates.errors import PromotionError
from mlops_gates.promote import (
    build_manifest,
    dump_manifest,
    load_manifest,
    manifest_path,
    validate_manifest,
)
from mlops_gates.promote.manifest import manifest_schema, parse_manifest, same_candidate

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCHEMA = Path(__file__).parents[2] / "mlops_gates" / "schemas" / "manifest.schema.json"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "adult-report.json").read_text())
    return data


def _manifest(doc: dict[str, Any], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        model="adult-income",
        version="7",
        uri="models:/adult-income/7",
        promoted_at="2026-11-23T10:00:00Z",
    )
    args.update(kw)
    return build_manifest(doc, **args)


def test_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert manifest_schema() == schema


def test_manifest_carries_the_reports_digests_and_status(doc: dict[str, Any]) -> None:
    m = _manifest(doc, training_run_id="a" * 32)
    assert m["model"] == {"name": "adult-income", "version": "7", "uri": "models:/adult-income/7"}
    assert m["alias"] == "production"
    assert m["mlflow"] == {"training_run_id": "a" * 32, "gates_run_id": None}
    fp = doc["fingerprint"]
    assert m["digests"] == {
        "config": fp["config"],
        "data": fp["data"],
        "code": fp["code"],
        "models": fp["models"],
    }
    assert m["gates"]["status"] == "pass"
    assert m["gates"]["summary"] == doc["summary"]
    assert m["gates"]["report_started_at"] == doc["started_at"]


def test_yaml_round_trip_and_load(doc: dict[str, Any], tmp_path: Path) -> None:
    m = _manifest(doc)
    text = dump_manifest(m)
    assert text.startswith("# Deploy manifest written by `mlops-gates promote`")
    assert "version: '7'" in text  # quoted: a bare 7 would read back as a number
    path = tmp_path / "adult-income.yaml"
    path.write_text(text)
    assert load_manifest(path) == m


def test_unquoted_timestamps_written_by_hand_are_accepted(doc: dict[str, Any]) -> None:
    text = dump_manifest(_manifest(doc)).replace("'2026-11-23T10:00:00Z'", "2026-11-23T10:00:00Z")
    assert "promoted_at: 2026-11-23T10:00:00Z" in text
    assert parse_manifest(text)["promoted_at"].startswith("2026-11-23T10:00:00")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["model"].pop("version"), "model.version: required field is missing"),
        (
            lambda m: m["model"].update(version=7),
            "model.version: expected string, got 7 (quote it)",
        ),
        (
            lambda m: m.update(alias="latest"),
            'alias: "latest" is not allowed: MLflow registry alias',
        ),
        (lambda m: m.update(alias="v3"), 'alias: "v3" is not allowed'),
        (lambda m: m.update(colour="red"), "colour: unknown field (known here: schema_version"),
        (lambda m: m["gates"].update(status="maybe"), 'gates.status: "maybe" is not one of'),
        (lambda m: m.update(schema_version=2), "schema_version: 2 is not one of 1"),
        (lambda m: m.update(promoted_at="yesterday"), 'promoted_at: "yesterday" is not allowed'),
        (lambda m: m["digests"].update(code="not a sha"), 'digests.code: "not a sha"'),
        (
            lambda m: m["model"].update(name="my model"),
            'model.name: "my model" is not allowed: Registered model name',
        ),
    ],
    ids=[
        "missing",
        "number-version",
        "reserved-alias",
        "v-alias",
        "unknown-field",
        "status",
        "schema-version",
        "timestamp",
        "code-digest",
        "name",
    ],
)
def test_validation_errors_name_the_field(doc: dict[str, Any], change: Any, expected: str) -> None:
    m = copy.deepcopy(_manifest(doc))
    change(m)
    with pytest.raises(PromotionError) as info:
        validate_manifest(m, source="deploy/adult-income.yaml")
    assert str(info.value).startswith("deploy/adult-income.yaml: ")
    assert expected in str(info.value)


def test_every_problem_is_reported_at_once(doc: dict[str, Any]) -> None:
    m = copy.deepcopy(_manifest(doc))
    m["alias"] = "latest"
    m["model"]["version"] = 7
    with pytest.raises(PromotionError) as info:
        validate_manifest(m)
    message = str(info.value)
    assert "alias:" in message and "model.version:" in message


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(PromotionError, match=r"bad.yaml \(line \d+, column \d+\): not valid YAML"):
        load_manifest(bad)
    with pytest.raises(PromotionError, match=r"\(top level\): expected object"):
        parse_manifest("- a list\n")
    with pytest.raises(PromotionError, match="cannot read the manifest"):
        load_manifest(tmp_path / "missing.yaml")


def test_manifest_path() -> None:
    assert manifest_path("adult-income") == "deploy/adult-income.yaml"
    assert manifest_path("m", "ops/deploy/") == "ops/deploy/m.yaml"
    assert manifest_path("m", "./deploy") == "deploy/m.yaml"
    for name in ("my model", "../etc", "x/y", "", "m.lock", "-x"):
        with pytest.raises(PromotionError, match="cannot name a manifest file"):
            manifest_path(name)
    for directory in ("../elsewhere", "/abs"):
        with pytest.raises(PromotionError, match="must be a path inside the repository"):
            manifest_path("m", directory)


def test_same_candidate_ignores_when_it_was_prepared(doc: dict[str, Any]) -> None:
    a = _manifest(doc)
    b = _manifest(doc, promoted_at="2027-01-01T00:00:00Z")
    assert same_candidate(a, b)
    assert not same_candidate(a, _manifest(doc, version="8", uri="models:/adult-income/8"))
    assert not same_candidate(a, None)


def test_the_manifest_in_the_docs_is_valid() -> None:
    import re

    page = (Path(__file__).parents[2] / "docs" / "promotion.md").read_text()
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "schema_version" in b]
    manifest = parse_manifest(block, source="docs/promotion.md")
    assert manifest["model"]["name"] == "adult-income"
