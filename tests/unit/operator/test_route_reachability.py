"""The tenant's `gateway-ingress` policy lets a route implementation's pods reach the gateways."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant
from switchboard_operator.render.network import network_policies
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.netpol import Pod, connects

pytestmark = pytest.mark.unit

OWNER = {
    "apiVersion": "switchboard.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme", "uid": "u"},
}
GATEWAY = Pod("acme", {"app.kubernetes.io/component": "gateway"})
ENVOY = Pod("envoy-gateway-system", {"app.kubernetes.io/name": "envoy"})
NGINX = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})


def rendered(**network: Any) -> list[dict[str, Any]]:
    tenant = Tenant.model_validate(
        {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}, "network": network}}
    )
    return network_policies(
        tenant, OWNER, OperatorSettings(operator_namespace="switchboard-system")
    )


@pytest.mark.parametrize("proxy", [ENVOY, NGINX])
@pytest.mark.parametrize("port", [8080, 50051])
def test_by_default_any_namespaces_proxy_reaches_both_gateway_ports(proxy: Pod, port: int) -> None:
    assert connects(rendered(), proxy, GATEWAY, port)


@pytest.mark.parametrize("port", [8080, 50051])
def test_with_listed_caller_namespaces_the_proxys_namespace_must_be_listed(port: int) -> None:
    assert not connects(rendered(allowIngressFromNamespaces=["frontend"]), ENVOY, GATEWAY, port)
    listed = rendered(allowIngressFromNamespaces=["frontend", "envoy-gateway-system"])
    assert connects(listed, ENVOY, GATEWAY, port)
    assert not connects(listed, NGINX, GATEWAY, port)


def test_a_host_network_proxy_is_not_a_namespace_once_callers_are_listed() -> None:
    # By default the policy's 0.0.0.0/0 block admits the node's address; listed namespaces do not.
    policies = rendered(allowIngressFromNamespaces=["ingress-nginx"])
    assert all(
        peer.get("ipBlock") is None
        for policy in policies
        if policy["metadata"]["name"] == "gateway-ingress"
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
    )
    assert any(
        peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
        for policy in rendered()
        if policy["metadata"]["name"] == "gateway-ingress"
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
    )
