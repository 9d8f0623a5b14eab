"""The chart's ClusterRole is exactly what the operator used in this session's tests.

The API server audits every request of the operator's identity (tests/cluster/apiserver.py).
This module runs after the operator tests (file order) and compares: a request outside the
rules would have been a 403 (asserted: none happened), a rule nobody used is privilege to drop.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard_api.chartgen import DEFAULT_STORE_SOURCE_VERBS, OPERATOR_RULES
from tests.cluster.apiserver import OPERATOR_USER, ApiServer
from tests.tools import in_ci

pytestmark = pytest.mark.cluster

#: Checked by RBAC's escalation guard, not requested: a Tenant with `admins` (test_operator_tenant)
#: is bound to the `admin` ClusterRole only because of this grant.
DECISION = "authorization.k8s.io/decision"
AUTHORIZATION_ONLY = {("rbac.authorization.k8s.io", "clusterroles", "bind")}


def _events(apiserver: ApiServer) -> list[dict[str, Any]]:
    lines = apiserver.audit_log.read_text().splitlines() if apiserver.audit_log.exists() else []
    events = [json.loads(line) for line in lines]
    return [
        e
        for e in events
        if e["user"]["username"] == OPERATOR_USER
        and e["stage"] == "ResponseComplete"
        and e.get("objectRef")
    ]


def _keys(event: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) the request was authorized for.

    A server-side apply that creates its object (201) is authorized as `patch` and `create`.
    """
    ref = event["objectRef"]
    resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    verbs = {event["verb"]}
    if event["verb"] == "patch" and event["responseStatus"]["code"] == 201:
        verbs.add("create")
    return {(ref.get("apiGroup", ""), resource, verb) for verb in verbs}


def _granted() -> set[tuple[str, str, str]]:
    """The ClusterRole's rules and the Role on the default knowledge store's Secret."""
    return {
        (group, resource, verb)
        for rule in OPERATOR_RULES
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    } | {("", "secrets", verb) for verb in DEFAULT_STORE_SOURCE_VERBS}


def test_every_rule_was_used_and_nothing_was_denied(
    apiserver: ApiServer, operator_env: None
) -> None:
    events = _events(apiserver)
    used = set().union(*(_keys(e) for e in events))
    if not any(group == "switchboard.dev" for group, _, _ in used):
        reason = "the operator made no requests: run with tests/cluster/test_operator_*.py"
        if in_ci():  # CI runs the whole tier; nothing to compare there is a defect
            pytest.fail(reason)
        pytest.skip(reason)
    # RBAC's refusals only (a write into a terminating namespace is a 403 from admission).
    refused = [e for e in events if e.get("annotations", {}).get(DECISION) == "forbid"]
    denied = sorted(set().union(*(_keys(e) for e in refused)))
    assert denied == [], f"the operator was refused: {denied}"
    unused = sorted(_granted() - used - AUTHORIZATION_ONLY)
    assert unused == [], f"granted but never used by the operator's tests: {unused}"
    assert used <= _granted()
