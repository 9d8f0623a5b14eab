"""spec.exposure → Gateway API routes or Ingresses, a Certificate, external status URLs."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError

from switchboard_api import Tenant, VoiceAgent
from switchboard_gateway.transports.http_guard import CALL_PATH, HttpGuard, Verdict
from switchboard_operator.reconcile.exposure import gateway_api_installed, sync_exposure
from switchboard_operator.reconcile.runtime import Runtime
from switchboard_operator.render.agent import GRPC_PORT, HTTP_PORT, gateway_config
from switchboard_operator.render.envoy import BACKEND_TRAFFIC_POLICY_CRD
from switchboard_operator.render.routes import (
    CERTIFICATE_CRD,
    GATEWAY_API_CRDS,
    exposure_check,
    external_endpoints,
    route_children,
)

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "front", "uid": "u-1"}}
TENANT = Tenant.model_validate(
    {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
)
HOST = "front.acme.example"
ISSUED = {"secretName": "front-tls", "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}}


def agent(exposure: dict[str, Any] | None = None, **spec: Any) -> VoiceAgent:
    extra = {"exposure": exposure} if exposure is not None else {}
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, **extra, **spec},
        }
    )


EXPOSED = {
    "hostname": HOST,
    "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
    "tls": ISSUED,
}


def kinds(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in children}


def test_gateway_api_routes_send_the_call_paths_to_the_gateway_service_never_timing_out() -> None:
    found = kinds(
        route_children(agent(EXPOSED), TENANT, OWNER, gateway_api=True, cert_manager=True)
    )
    assert set(found) == {
        "HTTPRoute/front-gateway",
        "GRPCRoute/front-gateway",
        "Certificate/front-gateway",
    }
    http = found["HTTPRoute/front-gateway"]["spec"]
    assert http["hostnames"] == [HOST]
    assert http["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "public",
            "namespace": "gateways",
            "sectionName": "https",
        }
    ]
    (rule,) = http["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1/"}}]
    assert rule["backendRefs"] == [{"name": "front-gateway", "port": HTTP_PORT}]
    assert rule["timeouts"] == {"request": "0s", "backendRequest": "0s"}
    grpc = found["GRPCRoute/front-gateway"]["spec"]
    assert grpc["rules"][0]["matches"] == [
        {"method": {"type": "Exact", "service": "switchboard.v1.CallService"}}
    ]
    assert grpc["rules"][0]["backendRefs"] == [{"name": "front-gateway", "port": GRPC_PORT}]
    for child in found.values():
        assert child["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        assert child["metadata"]["namespace"] == "acme"


def test_probes_and_metrics_are_never_routed() -> None:
    found = kinds(
        route_children(agent(EXPOSED), TENANT, OWNER, gateway_api=True, cert_manager=False)
    )
    prefix = found["HTTPRoute/front-gateway"]["spec"]["rules"][0]["matches"][0]["path"]["value"]
    assert CALL_PATH.startswith(prefix)
    for path in ("/metrics", "/healthz", "/readyz", "/"):
        assert not path.startswith(prefix)


def test_without_the_gateway_api_two_ingresses_carry_http_and_grpc_with_nginx_timeouts() -> None:
    exposure = {**EXPOSED, "ingressClassName": "nginx"}
    a = agent(exposure, callPolicy={"maxCallDurationSeconds": 3600})
    found = kinds(route_children(a, TENANT, OWNER, gateway_api=False, cert_manager=False))
    assert set(found) == {"Ingress/front-gateway", "Ingress/front-gateway-grpc"}
    http, grpc = found["Ingress/front-gateway"], found["Ingress/front-gateway-grpc"]
    for ingress in (http, grpc):
        spec = ingress["spec"]
        assert spec["ingressClassName"] == "nginx"
        assert spec["tls"] == [{"hosts": [HOST], "secretName": "front-tls"}]
        assert spec["rules"][0]["host"] == HOST
        notes = ingress["metadata"]["annotations"]
        assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
        assert notes["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    http_path = http["spec"]["rules"][0]["http"]["paths"][0]
    assert (http_path["path"], http_path["backend"]["service"]["port"]["number"]) == (
        "/v1",
        HTTP_PORT,
    )
    assert "nginx.ingress.kubernetes.io/backend-protocol" not in http["metadata"]["annotations"]
    grpc_path = grpc["spec"]["rules"][0]["http"]["paths"][0]
    assert grpc_path["path"] == "/switchboard.v1.CallService"
    assert grpc_path["backend"]["service"] == {
        "name": "front-gateway",
        "port": {"number": GRPC_PORT},
    }
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"


def test_a_grpc_route_only_when_the_grpc_channel_is_on() -> None:
    a = agent(EXPOSED, channels={"grpc": {"enabled": False}})
    for gateway_api in (True, False):
        names = kinds(route_children(a, TENANT, OWNER, gateway_api=gateway_api, cert_manager=False))
        assert not any("GRPC" in n or n.endswith("-grpc") for n in names)
    assert external_endpoints(a) == {"websocket": f"wss://{HOST}/v1/calls"}


def test_the_certificate_names_the_host_the_secret_and_the_issuer() -> None:
    found = kinds(
        route_children(agent(EXPOSED), TENANT, OWNER, gateway_api=True, cert_manager=True)
    )
    assert found["Certificate/front-gateway"]["spec"] == {
        "secretName": "front-tls",
        "dnsNames": [HOST],
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
    }


def test_no_certificate_without_an_issuer_or_without_cert_manager_which_the_condition_says() -> (
    None
):
    plain = {**EXPOSED, "tls": {"secretName": "front-tls"}}
    assert not any(
        c["kind"] == "Certificate"
        for c in route_children(agent(plain), TENANT, OWNER, gateway_api=True, cert_manager=True)
    )
    issued = agent(EXPOSED)
    assert not any(
        c["kind"] == "Certificate"
        for c in route_children(issued, TENANT, OWNER, gateway_api=True, cert_manager=False)
    )
    check = exposure_check(issued, gateway_api=True, cert_manager=False)
    assert check is not None
    assert not check.ok
    assert check.reason == "CertManagerMissing"
    assert "front-tls" in check.message
    assert "spec.exposure.tls.issuerRef" in check.message
    ok = exposure_check(issued, gateway_api=False, cert_manager=True)
    assert ok is not None
    assert ok.ok
    assert exposure_check(agent(), gateway_api=True, cert_manager=True) is None


def test_status_endpoints_become_the_external_urls() -> None:
    assert external_endpoints(agent()) is None
    assert external_endpoints(agent(EXPOSED)) == {
        "grpc": f"{HOST}:443",
        "websocket": f"wss://{HOST}/v1/calls",
    }
    plain = agent({"hostname": HOST})
    assert external_endpoints(plain) == {"grpc": f"{HOST}:80", "websocket": f"ws://{HOST}/v1/calls"}


def test_the_gateway_answers_the_external_host_and_its_own_https_origin() -> None:
    config = gateway_config(agent(EXPOSED), TENANT)
    guard = HttpGuard.build(config.allowed_hosts, config.allowed_origins, None, config.host)
    headers = {"Host": HOST, "Origin": f"https://{HOST}"}
    assert guard.judge("GET", CALL_PATH, "", headers) is Verdict.ALLOW
    unexposed = gateway_config(agent(), TENANT)
    guard = HttpGuard.build(
        unexposed.allowed_hosts, unexposed.allowed_origins, None, unexposed.host
    )
    assert guard.judge("GET", CALL_PATH, "", {"Host": HOST}) is Verdict.WRONG_HOST


@pytest.mark.parametrize(
    ("exposure", "field"),
    [
        ({"hostname": "Front.Acme.Example"}, "hostname"),
        ({"hostname": "*.acme.example"}, "hostname"),
        ({"hostname": "10.0.0.1"}, "hostname"),
        ({"hostname": HOST, "parentRefs": [{"name": "Public"}]}, "name"),
        (
            {
                "hostname": HOST,
                "tls": {"secretName": "x", "issuerRef": {"name": "a", "kind": "Vault"}},
            },
            "kind",
        ),
        ({"hostname": HOST, "tls": {}}, "secretName"),
    ],
)
def test_malformed_exposure_is_refused_naming_the_field(
    exposure: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        agent(exposure)
    assert "exposure" in str(raised.value)
    assert field in str(raised.value)


class FakeKube:
    """The operator's Kube: which CRDs exist, what was applied and deleted."""

    def __init__(self, crds: set[str]) -> None:
        self.crds = crds
        self.applied: list[str] = []
        self.deleted: list[str] = []

    async def crd_installed(self, name: str) -> bool:
        return name in self.crds

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(f"{manifest['kind']}/{manifest['metadata']['name']}")
        return manifest

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self.deleted.append(f"{kind}/{name}")
        return True


def sync(a: VoiceAgent, kube: FakeKube) -> Any:
    runtime = cast(Runtime, SimpleNamespace(kube=kube))
    return asyncio.run(sync_exposure(runtime, a, TENANT, OWNER))


def test_the_gateway_api_counts_as_installed_only_with_both_route_crds() -> None:
    runtime = cast(Runtime, SimpleNamespace(kube=FakeKube({GATEWAY_API_CRDS[0]})))
    assert asyncio.run(gateway_api_installed(runtime)) is False
    runtime = cast(Runtime, SimpleNamespace(kube=FakeKube(set(GATEWAY_API_CRDS))))
    assert asyncio.run(gateway_api_installed(runtime)) is True


def test_envoy_gateway_gets_a_policy_lifting_its_15_s_timeout_from_the_grpc_route() -> None:
    found = kinds(
        route_children(
            agent(EXPOSED), TENANT, OWNER, gateway_api=True, cert_manager=False, envoy_gateway=True
        )
    )
    policy = found["BackendTrafficPolicy/front-gateway-grpc"]
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "name": "front-gateway"}
    ]
    assert policy["spec"]["timeout"]["http"] == {"requestTimeout": "0s", "maxStreamDuration": "0s"}
    assert policy["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    no_grpc = agent(EXPOSED, channels={"grpc": {"enabled": False}})
    assert not any(
        c["kind"] == "BackendTrafficPolicy"
        for c in route_children(
            no_grpc, TENANT, OWNER, gateway_api=True, cert_manager=False, envoy_gateway=True
        )
    )


def test_routes_are_applied_and_the_other_kind_deleted() -> None:
    kube = FakeKube({*GATEWAY_API_CRDS, CERTIFICATE_CRD})
    check = sync(agent(EXPOSED), kube)
    assert kube.applied == [
        "HTTPRoute/front-gateway",
        "GRPCRoute/front-gateway",
        "Certificate/front-gateway",
    ]
    assert kube.deleted == [
        "Ingress/front-gateway",
        "Ingress/front-gateway-grpc",
        "Ingress/front-gateway-phone",
    ]
    assert check.ok
    kube = FakeKube(set())
    sync(agent(EXPOSED), kube)
    assert kube.applied == ["Ingress/front-gateway", "Ingress/front-gateway-grpc"]
    # No route or Certificate resources exist to delete; the phone Ingress (no phone channel).
    assert kube.deleted == ["Ingress/front-gateway-phone"]


def test_removing_exposure_deletes_every_route_and_the_certificate() -> None:
    kube = FakeKube({*GATEWAY_API_CRDS, CERTIFICATE_CRD, BACKEND_TRAFFIC_POLICY_CRD})
    assert sync(agent(), kube) is None
    assert kube.applied == []
    assert sorted(kube.deleted) == [
        "BackendTrafficPolicy/front-gateway-grpc",
        "Certificate/front-gateway",
        "GRPCRoute/front-gateway",
        "HTTPRoute/front-gateway",
        "Ingress/front-gateway",
        "Ingress/front-gateway-grpc",
        "Ingress/front-gateway-phone",
    ]


def test_envoy_gateways_policy_is_applied_only_where_its_crd_exists() -> None:
    kube = FakeKube({*GATEWAY_API_CRDS, BACKEND_TRAFFIC_POLICY_CRD})
    sync(agent(EXPOSED), kube)
    assert "BackendTrafficPolicy/front-gateway-grpc" in kube.applied
    kube = FakeKube({BACKEND_TRAFFIC_POLICY_CRD})  # no Gateway API: Ingresses, no policy
    sync(agent(EXPOSED), kube)
    assert kube.applied == ["Ingress/front-gateway", "Ingress/front-gateway-grpc"]
