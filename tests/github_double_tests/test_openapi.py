"""The GitHub double's own guarantees: its OpenAPI subset is complete and current, and its
checker does reject what GitHub's description does not allow."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from github import Auth, Github
from github_double import GitHubDouble
from github_double import prune_openapi as prune
from github_double.openapi import SUBSET, OpenAPI, Violation


@pytest.fixture
def gh() -> Iterator[GitHubDouble]:
    with GitHubDouble() as double:
        yield double


def _pygithub(gh: GitHubDouble) -> Github:
    return Github(
        auth=Auth.Token(gh.token),
        base_url=gh.base_url,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def _refs(node: Any) -> set[str]:
    return prune._refs(node)


def test_subset_holds_exactly_the_served_operations_and_everything_they_reference() -> None:
    doc = json.loads(SUBSET.read_text())
    served = {
        (method, path, op["operationId"])
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    }
    assert served == {(m, p, op_id) for op_id, (m, p) in prune.OPERATIONS.items()}
    for ref in _refs(doc):
        _, _, kind, name = ref.split("/", 3)
        assert name in doc["components"][kind], f"{ref} is referenced but not in the subset"
    assert '"examples":' not in json.dumps(doc), "examples are documentation, not contract"


def test_pruning_follows_references_transitively_and_drops_examples() -> None:
    paths: dict[str, Any] = {}
    for op_id, (method, path) in prune.OPERATIONS.items():
        paths.setdefault(path, {})[method] = {"operationId": op_id, "responses": {}}
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.github.com"}],
        "paths": paths,
        "components": {
            "schemas": {
                "a": {"$ref": "#/components/schemas/b", "example": {"x": 1}},
                "b": {"type": "object"},
                "unused": {"type": "string"},
            }
        },
    }
    spec["paths"]["/repos/{owner}/{repo}"]["get"]["responses"] = {
        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/a"}}}}
    }
    out = prune.prune(spec)
    assert sorted(out["components"]["schemas"]) == ["a", "b"]
    assert "example" not in out["components"]["schemas"]["a"]


@pytest.mark.skipif(
    not (os.environ.get("MLOPS_GATES_NPM_TESTS") and shutil.which("npm")),
    reason="MLOPS_GATES_NPM_TESTS=1 re-derives the subset from npm (~5 s, needs the registry)",
)
def test_committed_subset_is_what_the_script_derives_from_the_published_package() -> None:
    assert prune.main(["--check"]) == 0


def test_pygithub_add_to_labels_is_caught_as_off_spec(gh: GitHubDouble) -> None:
    # FACTS: PullRequest.add_to_labels() posts a bare array, which GitHub's description does
    # not list; mlops-gates sends {"labels": [...]}. The double must notice the difference.
    g = _pygithub(gh)
    repo = g.get_repo("acme/models")
    sha = repo.get_git_ref("heads/main").object.sha
    repo.create_git_ref("refs/heads/b", sha)
    repo.create_file("f.txt", "m", "x", branch="b")
    pr = repo.create_pull(base="main", head="b", title="t")
    with pytest.raises(Exception, match="400"):
        pr.add_to_labels("bug")
    assert len(gh.violations) == 1 and "issues/add-labels" in gh.violations[0]


def test_unknown_operations_and_bad_parameters_are_violations(gh: GitHubDouble) -> None:
    g = _pygithub(gh)
    with pytest.raises(Exception, match="400"):
        g.requester.requestJsonAndCheck("GET", "/repos/acme/models/actions/runs")
    with pytest.raises(Exception, match="400"):
        g.requester.requestJsonAndCheck("GET", "/repos/acme/models/pulls/abc")
    with pytest.raises(Exception, match="400"):
        g.requester.requestJsonAndCheck("GET", "/repos/acme/models/pulls", parameters={"x": 1})
    assert [v.split(":")[0] for v in gh.violations] == [
        "GET /repos/acme/models/actions/runs",
        "GET /repos/{owner}/{repo}/pulls/{pull_number} (pulls/get) pull_number",
        "GET /repos/{owner}/{repo}/pulls (pulls/list)",
    ]


def test_a_response_missing_a_required_field_is_a_violation(gh: GitHubDouble) -> None:
    original = gh._ref

    def broken(name: str) -> dict[str, Any]:
        ref = original(name)
        del ref["object"]
        return ref

    gh._ref = broken  # type: ignore[method-assign]
    _pygithub(gh).get_repo("acme/models").get_git_ref("heads/main")
    assert len(gh.violations) == 1
    assert "git/get-ref) -> 200 does not match" in gh.violations[0]
    assert "'object' is a required property" in gh.violations[0]


def test_multi_segment_parameters_match_with_or_without_encoding() -> None:
    api = OpenAPI()
    for raw in ("/repos/o/r/contents/deploy/m.yaml", "/repos/o/r/contents/deploy%2Fm.yaml"):
        op, params = api.match("GET", raw)
        assert (op.op_id, params["path"]) == ("repos/get-content", "deploy/m.yaml")
    op, params = api.match("PATCH", "/repos/o/r/git/refs/heads/mlops-gates/promote/m/1")
    assert (op.op_id, params["ref"]) == ("git/update-ref", "heads/mlops-gates/promote/m/1")
    with pytest.raises(Violation):
        api.match("GET", "/repos/o/r/git/refs/heads/main")  # list-refs is not served
