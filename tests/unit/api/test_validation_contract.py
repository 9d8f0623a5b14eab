"""The local models and the API server agree: every CEL rule has a negative case, and the
models reject each case with the same field path the server names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard_api import RESOURCES
from switchboard_api.crdgen import crd_manifest
from switchboard_api.manifests import ManifestError, parse_manifest
from tests.cases.invalid import CASES, EXAMPLES, TRANSITION_RULES, InvalidCase, example

pytestmark = pytest.mark.unit


def _rules(node: dict[str, Any]) -> Iterator[str]:
    for rule in node.get("x-kubernetes-validations", []):
        yield rule["rule"]
    for sub in node.get("properties", {}).values():
        yield from _rules(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _rules(node[key])


def test_every_cel_rule_has_a_negative_case() -> None:
    rules = {
        rule
        for resource in RESOURCES
        for rule in _rules(
            crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        )
    }
    covered = {case.rule for case in CASES} | TRANSITION_RULES
    assert rules - covered == set(), "add a case to tests/cases/invalid.py"
    assert len(CASES) >= 10


def test_cases_have_unique_ids() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "name", sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.yaml"))
)
def test_examples_are_valid(name: str) -> None:
    parse_manifest(example(name), name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_local_models_reject_the_case_naming_the_field(case: InvalidCase) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest(case.manifest(), case.id)
    message = str(raised.value)
    assert f"{case.field}" in message, message
    if case.rule is not None:
        assert (case.local_fragment or case.fragment) in message, message
