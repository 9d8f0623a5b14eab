"""Fields nothing implements yet are refused, by the generated CRDs and the local models alike.

The cases are `REFUSED` in tests/cases/invalid.py; the cluster tier sends the same manifests to
a real API server. Here: the CRD carries each refusal on the object holding the field, with a
message naming it, and the refusals reject only use, never the defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard_api import RESOURCES
from switchboard_api.crdgen import crd_manifest
from switchboard_api.manifests import ManifestError, parse_manifest
from tests.cases.invalid import NOT_YET, REFUSED, InvalidCase, example, with_changes

pytestmark = pytest.mark.unit

_KINDS = {"tenant.yaml": "Tenant", "receptionist.yaml": "VoiceAgent"}


def _rules(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(path the rule reports on, rule) for every CEL rule under `node`."""
    for rule in node.get("x-kubernetes-validations", []):
        yield path + rule.get("fieldPath", ""), rule
    for name, sub in node.get("properties", {}).items():
        yield from _rules(sub, f"{path}.{name}")


def _crd_rules(kind: str) -> list[tuple[str, dict[str, str]]]:
    (resource,) = [r for r in RESOURCES if r.crd.kind == kind]
    root = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return list(_rules(root["properties"]["spec"], "spec"))


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_the_crd_refuses_the_field_with_a_message_naming_it(case: InvalidCase) -> None:
    matching = [
        rule
        for path, rule in _crd_rules(_KINDS[case.base])
        if path == case.field and rule["rule"] == case.rule
    ]
    assert len(matching) == 1, f"no rule on {case.field}: run `switchboard crds`"
    (rule,) = matching
    assert case.fragment in rule["message"]
    assert rule["reason"] == "FieldValueForbidden"
    # The rule sits on the parent object, so `self.<field>` names the refused field itself.
    assert f"self.{rule['fieldPath'].lstrip('.').split('.')[0]}" in rule["rule"]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_the_local_models_refuse_the_field_saying_it_is_not_available_yet(
    case: InvalidCase,
) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest(case.manifest(), case.id)
    assert f"{case.field}: {case.fragment}" in str(raised.value)
    assert NOT_YET in str(raised.value)


def test_the_refusals_accept_the_features_switched_off() -> None:
    agent = with_changes(
        example("receptionist.yaml"),
        {
            "spec.channels": {"twilio": {"enabled": False}, "jambonz": {"enabled": False}},
            "spec.callPolicy": {"recording": False},
            "spec.pipeline.turn": {"strategy": "silence"},
        },
    )
    parse_manifest(agent, "switched-off")
    tenant = with_changes(
        example("tenant.yaml"), {"spec.secrets": {"providerCredentials": []}, "spec.retention": {}}
    )
    parsed = parse_manifest(tenant, "no-recordings")
    assert parsed.spec.to_wire()["retention"] == {"transcriptsDays": 30}, "no recordings default"
