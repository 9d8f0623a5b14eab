"""A tenant's NetworkPolicies: deny by default, then exactly what its pods need.

Pure: a Tenant, the API server's endpoints and the model pool's deployments in, manifests out.
With `network.isolation: strict` every pod of the tenant namespace starts from default-deny
(ingress and egress), and these allows are added:

- `allow-dns`: every pod to kube-system on port 53.
- `allow-model-pool` / `model-pool-ingress`: every pod to the Ray pods, which accept them.
- `gateway-ingress`: callers (`allowIngressFromNamespaces`, or anywhere) and the monitoring and
  operator namespaces to the gateways' ports.
- `indexer-kube-api` / `model-pool-kube-api`: the indexer Jobs (they write their result
  ConfigMap) and the Ray head (KubeRay's autoscaler sidecar) to the API server's endpoints, read
  from the `kubernetes` EndpointSlice; nothing when they could not be read (failing closed).
- `gateway-kube-api`: the same for the gateways, only when the tenant sets
  `quotas.maxConcurrentCalls` (their call slots are Leases; render.quota).
- `knowledge-store`: gateways and indexer Jobs to PostgreSQL (TCP 5432) in the install's
  namespace, when the install has a default store.
- `call-store`: gateways to PostgreSQL (TCP 5432) in the install's namespace, when the install
  has a call store (one elsewhere needs `allowCIDRs`).
- `model-pool-providers` (rendered with the model pool, `provider_policy`): the Ray pods to the
  endpoints of the hosted models they relay to (Deepgram, OpenAI-compatible): an in-cluster
  Service's namespace, an IP literal, or for a DNS name the internet on that port (every
  special-purpose range excepted: private, loopback, link-local, metadata).
- `allow-egress-cidrs`: every pod to the tenant's `egress.allowCIDRs` (tool webhooks, URL and
  S3 sources, databases outside the cluster). What tools and URL sources may reach inside those
  ranges is judged again by the SSRF guard (`switchboard_api.egress`).

An agent adds its own beside these (`render.agent_network`): phone ingress, Twilio's REST API,
the recordings bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from switchboard_api import Tenant
from switchboard_api.egress import SPECIAL_PURPOSE
from switchboard_api.serving import (
    DEEPGRAM_URL,
    AsrDeployment,
    LlmDeployment,
    ModelPlaneArgs,
    TtsDeployment,
    hosted_remotely,
)
from switchboard_operator.naming import LABEL_COMPONENT, Manifest, tenant_metadata
from switchboard_operator.settings import OperatorSettings

RAY_NODE_SELECTOR = {"ray.io/is-ray-node": "yes"}
RAY_HEAD_SELECTOR = {"ray.io/node-type": "head"}
GATEWAY_GRPC_PORT = 50051
#: WebSocket calls, the console and /metrics.
GATEWAY_HTTP_PORT = 8080
POSTGRES_PORT = 5432
PROVIDER_POLICY = "model-pool-providers"


@dataclass(frozen=True)
class ApiServer:
    """Where the Kubernetes API answers: the endpoint addresses and ports of `kubernetes`."""

    addresses: tuple[str, ...]
    ports: tuple[int, ...]


def api_server(endpoint_slice: Manifest | None) -> ApiServer | None:
    """The API server's endpoints from the `default/kubernetes` EndpointSlice (None if unknown)."""
    if endpoint_slice is None:
        return None
    addresses = sorted(
        {
            address
            for endpoint in endpoint_slice.get("endpoints") or []
            for address in endpoint.get("addresses") or []
        }
    )
    ports = sorted({int(p["port"]) for p in endpoint_slice.get("ports") or [] if p.get("port")})
    if not addresses or not ports:
        return None
    return ApiServer(tuple(addresses), tuple(ports))


def _policy(tenant: Tenant, owner: Manifest, name: str, spec: Manifest) -> Manifest:
    namespace = tenant.spec.namespace.name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": tenant_metadata(name, "network", tenant.metadata.name, namespace, owner),
        "spec": spec,
    }


def _egress(name: str, pods: Manifest, rules: list[Manifest]) -> tuple[str, Manifest]:
    return name, {"podSelector": pods, "policyTypes": ["Egress"], "egress": rules}


def _namespaces(names: Iterable[str]) -> Manifest:
    return {
        "namespaceSelector": {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(names)}
            ]
        }
    }


def _host_block(address: str) -> Manifest:
    parsed = ipaddress.ip_address(address)
    return {"ipBlock": {"cidr": f"{parsed}/{parsed.max_prefixlen}"}}


def _tcp(*ports: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port} for port in sorted(set(ports))]


#: The internet, every special-purpose range excepted (a NetworkPolicy cannot name DNS names).
INTERNET: list[Manifest] = [
    {
        "ipBlock": {
            "cidr": everything,
            "except": [str(n) for n in SPECIAL_PURPOSE if n.version == version],
        }
    }
    for everything, version in (("0.0.0.0/0", 4), ("::/0", 6))
]


def _components(*names: str) -> Manifest:
    return {"matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": list(names)}]}


def network_policies(
    tenant: Tenant,
    owner: Manifest,
    settings: OperatorSettings,
    api: ApiServer | None = None,
) -> list[Manifest]:
    """Default-deny plus the allows above (the provider policy aside); none without isolation."""
    network = tenant.spec.network
    if network.isolation == "none":
        return []
    ray_pods = {"matchLabels": dict(RAY_NODE_SELECTOR)}
    callers: list[Manifest] = (
        [_namespaces(network.allow_ingress_from_namespaces)]
        if network.allow_ingress_from_namespaces
        else [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"namespaceSelector": {}}]
    )
    observers = {*settings.monitoring_namespaces, settings.operator_namespace}
    dns = [{"protocol": protocol, "port": 53} for protocol in ("UDP", "TCP")]
    specs: list[tuple[str, Manifest]] = [
        ("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _egress("allow-dns", {}, [{"to": [_namespaces(["kube-system"])], "ports": dns}]),
        _egress("allow-model-pool", {}, [{"to": [{"podSelector": ray_pods}]}]),
        (
            "model-pool-ingress",
            {
                "podSelector": ray_pods,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        ),
        (
            "gateway-ingress",
            {
                "podSelector": {"matchLabels": {LABEL_COMPONENT: "gateway"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": callers, "ports": _tcp(GATEWAY_GRPC_PORT, GATEWAY_HTTP_PORT)},
                    {"from": [_namespaces(observers)], "ports": _tcp(GATEWAY_HTTP_PORT)},
                ],
            },
        ),
    ]
    if api is not None:
        to_api = [{"to": [_host_block(a) for a in api.addresses], "ports": _tcp(*api.ports)}]
        specs.append(_egress("indexer-kube-api", _components("indexer"), to_api))
        specs.append(_egress("model-pool-kube-api", {"matchLabels": RAY_HEAD_SELECTOR}, to_api))
        if tenant.spec.quotas.max_concurrent_calls is not None:  # call slots are Leases
            specs.append(_egress("gateway-kube-api", _components("gateway"), to_api))
    if settings.default_knowledge_store:
        store = [{"to": [_namespaces([settings.operator_namespace])], "ports": _tcp(POSTGRES_PORT)}]
        specs.append(_egress("knowledge-store", _components("gateway", "indexer"), store))
    if settings.call_store:
        calls = [{"to": [_namespaces([settings.operator_namespace])], "ports": _tcp(POSTGRES_PORT)}]
        specs.append(_egress("call-store", _components("gateway"), calls))
    if network.egress.allow_cidrs:
        cidrs = [{"to": [{"ipBlock": {"cidr": c}} for c in network.egress.allow_cidrs]}]
        specs.append(_egress("allow-egress-cidrs", {}, cidrs))
    return [_policy(tenant, owner, name, spec) for name, spec in specs]


def _provider_urls(args: ModelPlaneArgs) -> list[str]:
    urls = []
    for deployment in args.deployments():
        if not hosted_remotely(deployment.spec):
            continue
        if isinstance(deployment, LlmDeployment) and deployment.spec.endpoint is not None:
            urls.append(deployment.spec.endpoint.url)
        elif isinstance(deployment, AsrDeployment | TtsDeployment):
            urls.append(DEEPGRAM_URL)
    return urls


def _provider_peer(url: str, namespace: str) -> tuple[tuple[str, ...], int]:
    """Where a provider URL goes, as a hashable key of peers, and its port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        return ("ip", host), port
    except ValueError:
        pass
    names = host.split(".")
    if len(names) == 1:  # a Service of the tenant namespace
        return ("namespace", namespace), port
    if len(names) >= 3 and names[2] == "svc":  # <service>.<namespace>.svc[.cluster.local]
        return ("namespace", names[1]), port
    return ("internet",), port


def url_egress_rule(url: str, namespace: str) -> Manifest:
    """An egress rule to the host and port of `url`, judged as the provider endpoints are."""
    peer, port = _provider_peer(url, namespace)
    to: list[Any]
    if peer[0] == "ip":
        to = [_host_block(peer[1])]
    elif peer[0] == "namespace":
        to = [_namespaces([peer[1]])]
    else:
        to = INTERNET
    return {"to": to, "ports": _tcp(port)}


def provider_policy(tenant: Tenant, owner: Manifest, args: ModelPlaneArgs) -> Manifest | None:
    """The model pool's egress to its hosted models' endpoints; None when it needs none."""
    if tenant.spec.network.isolation == "none":
        return None
    namespace = tenant.spec.namespace.name
    peers = sorted({_provider_peer(url, namespace) for url in _provider_urls(args)})
    if not peers:
        return None
    rules: list[Manifest] = []
    for peer, port in peers:
        to: list[Any]
        if peer[0] == "ip":
            to = [_host_block(peer[1])]
        elif peer[0] == "namespace":
            to = [_namespaces([peer[1]])]
        else:
            to = INTERNET
        rules.append({"to": to, "ports": _tcp(port)})
    ray_pods = {"matchLabels": dict(RAY_NODE_SELECTOR)}
    return _policy(tenant, owner, PROVIDER_POLICY, _egress(PROVIDER_POLICY, ray_pods, rules)[1])
