"""An exposed agent's routes on a real API server, validated by the real upstream CRD schemas.

One API server holds both worlds in turn: first without the Gateway API (the operator renders
Ingresses; cert-manager is absent too, which the agent's condition says), then with the Gateway
API's standard channel and cert-manager's Certificate CRD installed from their Go modules (a
fresh operator discovers them and swaps the Ingresses for an HTTPRoute and a GRPCRoute).
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from tests.cluster.conftest import server_side_apply
from tests.cluster.operator_runner import condition_is, get, running_operator, wait_for

pytestmark = pytest.mark.cluster

API = "switchboard.dev/v1alpha1"
NS = "hooli"
AGENT = "front"
HOST = "front.hooli.example"
ROUTES = "gateway.networking.k8s.io/v1"
EG = "gateway.envoyproxy.io/v1alpha1"
EXPOSURE = {
    "hostname": HOST,
    "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
    "ingressClassName": "nginx",
    "tls": {
        "secretName": "front-tls",
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
    },
}


@pytest.fixture(scope="module")
def exposed_agent(operator_env: None, dyn: dynamic.DynamicClient) -> dict[str, Any]:
    server_side_apply(
        dyn,
        {
            "apiVersion": API,
            "kind": "Tenant",
            "metadata": {"name": NS},
            "spec": {
                "namespace": {"name": NS},
                "allowedModels": {"llm": ["smollm2-135m-instruct"]},
            },
        },
    )
    return {
        "apiVersion": API,
        "kind": "VoiceAgent",
        "metadata": {"name": AGENT, "namespace": NS},
        "spec": {"prompt": {"system": "You are helpful."}, "exposure": EXPOSURE},
    }


def _crd_exists(api_client: client.ApiClient, name: str) -> bool:
    try:
        client.ApiextensionsV1Api(api_client).read_custom_resource_definition(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _endpoints(dyn: dynamic.DynamicClient) -> Any:
    return ((get(dyn, API, "VoiceAgent", AGENT, NS) or {}).get("status") or {}).get("endpoints")


def test_without_the_gateway_api_an_exposed_agent_gets_ingresses_and_external_urls(
    api_client: client.ApiClient, dyn: dynamic.DynamicClient, exposed_agent: dict[str, Any]
) -> None:
    assert not _crd_exists(api_client, "httproutes.gateway.networking.k8s.io")
    assert not _crd_exists(api_client, "certificates.cert-manager.io")
    with running_operator():
        wait_for("the tenant namespace", lambda: get(dyn, "v1", "Namespace", NS))
        server_side_apply(dyn, exposed_agent)
        http = wait_for(
            "the HTTP Ingress",
            lambda: get(dyn, "networking.k8s.io/v1", "Ingress", f"{AGENT}-gateway", NS),
        )
        grpc = wait_for(
            "the gRPC Ingress",
            lambda: get(dyn, "networking.k8s.io/v1", "Ingress", f"{AGENT}-gateway-grpc", NS),
        )
        missing = wait_for(
            "ExposureReady=False",
            lambda: condition_is(dyn, API, "VoiceAgent", AGENT, NS, "ExposureReady", "False"),
        )
        endpoints = wait_for("external endpoints", lambda: _endpoints(dyn))
    assert http["spec"]["ingressClassName"] == "nginx"
    assert http["spec"]["tls"] == [{"hosts": [HOST], "secretName": "front-tls"}]
    path = http["spec"]["rules"][0]["http"]["paths"][0]
    assert path["backend"]["service"] == {"name": f"{AGENT}-gateway", "port": {"number": 8080}}
    notes = grpc["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert grpc["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {
        "number": 50051
    }
    assert http["metadata"]["ownerReferences"][0]["name"] == AGENT
    assert missing["reason"] == "CertManagerMissing"
    assert "front-tls" in missing["message"]
    assert endpoints == {"grpc": f"{HOST}:443", "websocket": f"wss://{HOST}/v1/calls"}


def test_with_the_gateway_api_the_routes_replace_the_ingresses_and_validate(
    api_client: client.ApiClient,
    dyn: dynamic.DynamicClient,
    exposed_agent: dict[str, Any],
    route_crds: list[str],
) -> None:
    assert {
        "httproutes.gateway.networking.k8s.io",
        "grpcroutes.gateway.networking.k8s.io",
        "backendtrafficpolicies.gateway.envoyproxy.io",
    } <= set(route_crds)
    fresh = dynamic.DynamicClient(api_client)  # discovery that knows the new kinds
    with running_operator():  # a fresh operator: a fresh discovery cache
        http = wait_for(
            "the HTTPRoute", lambda: get(fresh, ROUTES, "HTTPRoute", f"{AGENT}-gateway", NS)
        )
        grpc = wait_for(
            "the GRPCRoute", lambda: get(fresh, ROUTES, "GRPCRoute", f"{AGENT}-gateway", NS)
        )
        certificate = wait_for(
            "the Certificate",
            lambda: get(fresh, "cert-manager.io/v1", "Certificate", f"{AGENT}-gateway", NS),
        )
        wait_for(
            "the Ingresses gone",
            lambda: (
                get(fresh, "networking.k8s.io/v1", "Ingress", f"{AGENT}-gateway", NS) is None
                and get(fresh, "networking.k8s.io/v1", "Ingress", f"{AGENT}-gateway-grpc", NS)
                is None
            ),
        )
        policy = wait_for(
            "Envoy Gateway's stream policy",
            lambda: get(fresh, EG, "BackendTrafficPolicy", f"{AGENT}-gateway-grpc", NS),
        )
        wait_for(
            "ExposureReady=True",
            lambda: condition_is(fresh, API, "VoiceAgent", AGENT, NS, "ExposureReady"),
        )
    (rule,) = http["spec"]["rules"]
    assert rule["backendRefs"][0]["name"] == f"{AGENT}-gateway"
    assert rule["backendRefs"][0]["port"] == 8080
    assert rule["timeouts"] == {"request": "0s", "backendRequest": "0s"}
    assert http["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert grpc["spec"]["rules"][0]["backendRefs"][0]["port"] == 50051
    assert grpc["spec"]["rules"][0]["matches"][0]["method"]["service"] == (
        "switchboard.v1.CallService"
    )
    assert certificate["spec"]["dnsNames"] == [HOST]
    assert certificate["spec"]["issuerRef"]["kind"] == "ClusterIssuer"
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "name": f"{AGENT}-gateway"}
    ]
    assert policy["spec"]["timeout"]["http"] == {"requestTimeout": "0s", "maxStreamDuration": "0s"}
    for owned in (http, grpc, certificate, policy):
        assert owned["metadata"]["ownerReferences"][0]["kind"] == "VoiceAgent"


def _gone(dyn: dynamic.DynamicClient, api_version: str, kind: str) -> bool:
    return get(dyn, api_version, kind, f"{AGENT}-gateway", NS) is None


def _rejected(dyn: dynamic.DynamicClient, manifest: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as refused:
        server_side_apply(dyn, manifest)
    assert refused.value.status == 422
    return str(refused.value.body)


@pytest.mark.parametrize(
    ("kind", "change", "fragment"),
    [
        ("HTTPRoute", lambda s: s["rules"][0]["timeouts"].update(request="forever"), "timeouts"),
        (
            "HTTPRoute",
            lambda s: s["rules"][0]["timeouts"].update(request="1s", backendRequest="2s"),
            "backendRequest",
        ),
        ("HTTPRoute", lambda s: s["rules"][0]["backendRefs"][0].update(port=70000), "port"),
        ("HTTPRoute", lambda s: s.update(hostnames=["Front.Example"]), "hostnames"),
        (
            "GRPCRoute",
            lambda s: s["rules"][0]["matches"][0]["method"].update(type="Sloppy"),
            "type",
        ),
    ],
)
def test_the_real_crds_reject_a_route_with_a_bad_field(
    api_client: client.ApiClient,
    route_crds: list[str],
    kind: str,
    change: Any,
    fragment: str,
) -> None:
    fresh = dynamic.DynamicClient(api_client)
    good = get(fresh, ROUTES, kind, f"{AGENT}-gateway", NS)
    assert good is not None, "runs after the operator rendered the routes"
    bad = {
        "apiVersion": ROUTES,
        "kind": kind,
        "metadata": {"name": "bad-route", "namespace": NS},
        "spec": copy.deepcopy(good["spec"]),
    }
    change(bad["spec"])
    assert fragment in _rejected(fresh, bad)


def test_removing_exposure_deletes_the_routes_and_restores_in_cluster_urls(
    api_client: client.ApiClient, route_crds: list[str]
) -> None:
    fresh = dynamic.DynamicClient(api_client)
    agents = fresh.resources.get(api_version=API, kind="VoiceAgent")
    with running_operator():
        agents.patch(
            name=AGENT,
            namespace=NS,
            body={"spec": {"exposure": None}},
            content_type="application/merge-patch+json",
        )
        for api_version, kind in (
            (ROUTES, "HTTPRoute"),
            (ROUTES, "GRPCRoute"),
            ("cert-manager.io/v1", "Certificate"),
        ):
            wait_for(f"the {kind} deleted", partial(_gone, fresh, api_version, kind))

        wait_for(
            "the stream policy deleted",
            lambda: get(fresh, EG, "BackendTrafficPolicy", f"{AGENT}-gateway-grpc", NS) is None,
        )

        def in_cluster() -> Any:
            found = _endpoints(fresh) or {}
            return found if found.get("websocket", "").startswith("ws://front-gateway") else None

        endpoints = wait_for("in-cluster endpoints", in_cluster)
    assert endpoints["grpc"] == f"{AGENT}-gateway.{NS}.svc:50051"
    assert condition_is(fresh, API, "VoiceAgent", AGENT, NS, "ExposureReady") is None
