"""A tenant's `quotas.maxConcurrentCalls` reaches its gateways: config, token, RBAC, egress."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.chartgen import CALL_SLOT_ROLE, CALL_SLOT_RULES, OPERATOR_RULES
from switchboard_api.gateway import CallQuotaConfig, GatewayConfig
from switchboard_operator.naming import GATEWAY_SERVICE_ACCOUNT
from switchboard_operator.render.network import api_server, network_policies
from switchboard_operator.render.quota import LEASE_PREFIX
from switchboard_operator.render.tenant import tenant_children
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.gateway_render import rendered_gateway
from tests.unit.operator.netpol import External, Pod, connects

pytestmark = pytest.mark.unit

OWNER = {
    "apiVersion": "switchboard.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme", "uid": "u-1"},
}
SLICE = {
    "endpoints": [{"addresses": ["10.77.0.1"]}],
    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
}
GATEWAY = Pod("acme-voice", {"app.kubernetes.io/component": "gateway"})
ADMIN_POD = Pod("acme-voice", {"run": "debug"})
API = External("10.77.0.1")


def tenant(max_calls: int | None) -> Tenant:
    quotas = {} if max_calls is None else {"maxConcurrentCalls": max_calls}
    return Tenant.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"namespace": {"name": "acme-voice"}, "quotas": quotas},
        }
    )


AGENT = VoiceAgent.model_validate(
    {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "front", "namespace": "acme-voice"},
        "spec": {"prompt": {"system": "Be brief."}},
    }
)


def rendered(t: Tenant) -> tuple[GatewayConfig, dict[str, Any]]:
    config, deployment = rendered_gateway(AGENT, t)
    return config, deployment["spec"]["template"]["spec"]


def test_the_quota_reaches_the_gateway_config_with_the_tenant_namespace() -> None:
    config, pod = rendered(tenant(7))

    assert config.call_quota == CallQuotaConfig(
        limit=7, namespace="acme-voice", tenant="acme", lease_prefix=LEASE_PREFIX
    )
    assert pod["automountServiceAccountToken"] is True  # the gateway talks to the API server


def test_without_a_quota_the_gateway_gets_no_quota_and_no_api_token() -> None:
    config, pod = rendered(tenant(None))

    assert config.call_quota is None
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == GATEWAY_SERVICE_ACCOUNT


def test_a_quota_of_zero_is_rendered_not_dropped() -> None:
    config, _ = rendered(tenant(0))
    assert config.call_quota is not None
    assert config.call_quota.limit == 0


def bindings(t: Tenant) -> list[dict[str, Any]]:
    return [
        c
        for c in tenant_children(t, OWNER, OperatorSettings())
        if c["kind"] == "RoleBinding" and c["roleRef"]["name"] == CALL_SLOT_ROLE
    ]


def test_the_gateways_are_bound_to_the_call_slot_role_in_their_namespace_only() -> None:
    (binding,) = bindings(tenant(3))

    assert binding["metadata"]["namespace"] == "acme-voice"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": CALL_SLOT_ROLE,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": GATEWAY_SERVICE_ACCOUNT, "namespace": "acme-voice"}
    ]
    assert binding["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert bindings(tenant(None)) == []


def test_the_call_slot_role_holds_lease_rights_only_and_the_operator_none() -> None:
    (rule,) = CALL_SLOT_RULES
    assert rule["apiGroups"] == ["coordination.k8s.io"]
    assert rule["resources"] == ["leases"]
    assert sorted(rule["verbs"]) == ["create", "delete", "get", "list", "update"]
    # The operator grants it by `bind` on that role's name, holding no Lease rights itself.
    assert not [r for r in OPERATOR_RULES if "leases" in r["resources"]]
    (bind,) = [r for r in OPERATOR_RULES if "bind" in r["verbs"]]
    assert CALL_SLOT_ROLE in bind["resourceNames"]


def test_gateways_reach_the_api_server_only_when_the_tenant_has_a_quota() -> None:
    api = api_server(SLICE)
    limited = network_policies(tenant(3), OWNER, OperatorSettings(), api)
    unlimited = network_policies(tenant(None), OWNER, OperatorSettings(), api)

    assert connects(limited, GATEWAY, API, 6443)
    assert not connects(limited, GATEWAY, API, 443)
    assert not connects(limited, ADMIN_POD, API, 6443)
    assert not connects(unlimited, GATEWAY, API, 6443)
    assert not connects(
        network_policies(tenant(3), OWNER, OperatorSettings(), None), GATEWAY, API, 6443
    )


def test_a_tenant_may_set_the_quota_again() -> None:
    assert tenant(200).spec.quotas.max_concurrent_calls == 200
