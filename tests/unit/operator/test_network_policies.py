"""What a tenant's rendered NetworkPolicies allow: exactly what its pods need, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant
from switchboard_api.serving import ModelPlaneArgs
from switchboard_operator.render.network import (
    PROVIDER_POLICY,
    api_server,
    network_policies,
    provider_policy,
)
from switchboard_operator.render.tenant import tenant_children
from switchboard_operator.settings import OperatorSettings
from tests.unit.operator.netpol import External, Pod, connects

pytestmark = pytest.mark.unit

OWNER = {
    "apiVersion": "switchboard.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme", "uid": "u-1"},
}
SETTINGS = OperatorSettings(
    knowledge_store_secret="pg",  # noqa: S106 (a Secret's name)
    operator_namespace="switchboard-system",
)
SLICE = {
    "endpoints": [{"addresses": ["10.77.0.1"]}],
    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
}
API = External("10.77.0.1")
METADATA = External("169.254.169.254")
PRIVATE = External("10.0.0.5")
PUBLIC = External("8.8.8.8")

GATEWAY = Pod("acme", {"app.kubernetes.io/component": "gateway"})
INDEXER = Pod("acme", {"app.kubernetes.io/component": "indexer"})
RAY_HEAD = Pod("acme", {"ray.io/is-ray-node": "yes", "ray.io/node-type": "head"})
RAY_WORKER = Pod("acme", {"ray.io/is-ray-node": "yes", "ray.io/node-type": "worker"})
ADMIN_POD = Pod("acme", {"run": "debug"})
COREDNS = Pod("kube-system", {"k8s-app": "kube-dns"})
POSTGRES = Pod("switchboard-system", {"app": "postgres"})
OPERATOR = Pod("switchboard-system", {"app.kubernetes.io/name": "switchboard"})
PROMETHEUS = Pod("monitoring", {"app": "prometheus"})
INTRUDER = Pod("intruder", {"app.kubernetes.io/component": "gateway"})
FRONTEND = Pod("frontend", {"app": "web"})
VLLM = Pod("models", {"app": "vllm"})


def tenant(**network: Any) -> Tenant:
    return Tenant.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"namespace": {"name": "acme"}, "network": network},
        }
    )


def pool(*llm_urls: str, deepgram: bool = False) -> ModelPlaneArgs:
    llms = [
        {
            "name": f"llm-{i}",
            "spec": {"provider": "openai-compatible", "model": "m", "endpoint": {"url": url}},
            "scaling": {},
        }
        for i, url in enumerate(llm_urls)
    ]
    asr = [
        {
            "name": "asr",
            "spec": {
                "engine": "deepgram",
                "model": "nova-3",
                "apiKeySecretRef": {"name": "deepgram", "key": "key"},
            },
            "scaling": {},
        }
    ]
    return ModelPlaneArgs.model_validate({"llm": llms, "asr": asr if deepgram else []})


def policies(t: Tenant, args: ModelPlaneArgs | None = None) -> list[dict[str, Any]]:
    rendered = network_policies(t, OWNER, SETTINGS, api_server(SLICE))
    providers = provider_policy(t, OWNER, args or pool())
    return rendered + ([providers] if providers else [])


Connection = tuple[Pod, Pod | External, int, str]

ALLOWED: list[Connection] = [
    (GATEWAY, COREDNS, 53, "UDP"),
    (INDEXER, COREDNS, 53, "TCP"),
    (GATEWAY, RAY_HEAD, 8000, "TCP"),
    (INDEXER, RAY_WORKER, 8000, "TCP"),
    (RAY_WORKER, RAY_HEAD, 6379, "TCP"),
    (INDEXER, API, 6443, "TCP"),
    (RAY_HEAD, API, 6443, "TCP"),  # KubeRay's autoscaler sidecar
    (GATEWAY, POSTGRES, 5432, "TCP"),
    (INDEXER, POSTGRES, 5432, "TCP"),
    (INTRUDER, GATEWAY, 50051, "TCP"),  # callers from anywhere: no allowIngressFromNamespaces
    (PROMETHEUS, GATEWAY, 8080, "TCP"),
    (OPERATOR, GATEWAY, 8080, "TCP"),
]
DENIED: list[Connection] = [
    (INTRUDER, RAY_HEAD, 8000, "TCP"),  # another namespace never reaches the model pool
    (INTRUDER, INDEXER, 8080, "TCP"),
    (INTRUDER, GATEWAY, 9999, "TCP"),
    (GATEWAY, API, 6443, "TCP"),  # only indexer Jobs and the Ray head talk to the API
    (ADMIN_POD, API, 6443, "TCP"),
    (RAY_WORKER, API, 6443, "TCP"),
    (GATEWAY, METADATA, 80, "TCP"),
    (INDEXER, METADATA, 80, "TCP"),
    (RAY_HEAD, METADATA, 80, "TCP"),
    (GATEWAY, PRIVATE, 443, "TCP"),
    (GATEWAY, PUBLIC, 443, "TCP"),  # tool webhooks need allowCIDRs
    (INDEXER, PUBLIC, 443, "TCP"),
    (RAY_WORKER, PUBLIC, 443, "TCP"),  # no hosted model: no provider egress
    (GATEWAY, POSTGRES, 5433, "TCP"),
    (RAY_WORKER, POSTGRES, 5432, "TCP"),
    (GATEWAY, OPERATOR, 8080, "TCP"),
    (GATEWAY, COREDNS, 8080, "TCP"),
    (GATEWAY, VLLM, 8000, "TCP"),
]


@pytest.mark.parametrize(
    ("source", "target", "port", "protocol", "allowed"),
    [(*c, True) for c in ALLOWED] + [(*c, False) for c in DENIED],
)
def test_strict_isolation_allows_what_the_pods_need_and_nothing_else(
    source: Pod, target: Pod | External, port: int, protocol: str, allowed: bool
) -> None:
    assert connects(policies(tenant()), source, target, port, protocol) is allowed


def test_isolation_none_renders_no_policy_and_leaves_everything_open() -> None:
    open_tenant = tenant(isolation="none")
    assert policies(open_tenant, pool("https://api.openai.example/v1")) == []
    for source, target, port, protocol in DENIED:
        assert connects([], source, target, port, protocol)


def test_listed_caller_namespaces_replace_anywhere() -> None:
    rendered = policies(tenant(allowIngressFromNamespaces=["frontend"]))
    assert connects(rendered, FRONTEND, GATEWAY, 50051)
    assert not connects(rendered, INTRUDER, GATEWAY, 50051)
    assert not connects(rendered, PROMETHEUS, GATEWAY, 50051)  # observers: the metrics port only
    assert connects(rendered, PROMETHEUS, GATEWAY, 8080)


def test_allow_cidrs_open_exactly_their_ranges_and_never_metadata() -> None:
    rendered = policies(tenant(egress={"allowCIDRs": ["10.0.0.0/24"]}))
    assert connects(rendered, GATEWAY, PRIVATE, 443)
    assert connects(rendered, INDEXER, PRIVATE, 5432)
    assert not connects(rendered, GATEWAY, External("10.0.1.5"), 443)
    assert not connects(rendered, GATEWAY, METADATA, 80)


def test_hosted_models_open_the_pools_egress_to_their_endpoints_only() -> None:
    args = pool(
        "https://api.openai.example/v1",
        "http://vllm.models.svc.cluster.local:8000/v1",
        "http://192.0.2.10:9000/v1",
        deepgram=True,
    )
    rendered = policies(tenant(), args)
    assert connects(rendered, RAY_WORKER, PUBLIC, 443)  # a DNS name: the internet, on 443
    assert not connects(rendered, RAY_WORKER, PUBLIC, 80)
    assert connects(rendered, RAY_WORKER, VLLM, 8000)
    assert not connects(rendered, RAY_WORKER, VLLM, 8001)
    assert connects(rendered, RAY_WORKER, External("192.0.2.10"), 9000)
    assert not connects(rendered, RAY_WORKER, External("192.0.2.11"), 9000)
    for special in (METADATA, PRIVATE, External("127.0.0.1"), External("fd00:ec2::254")):
        assert not connects(rendered, RAY_WORKER, special, 443), special
    assert not connects(rendered, GATEWAY, PUBLIC, 443)  # the pool's egress, not the gateway's
    assert provider_policy(tenant(), OWNER, pool()) is None
    assert provider_policy(tenant(), OWNER, args)["metadata"]["name"] == PROVIDER_POLICY  # type: ignore[index]


def test_an_unreadable_api_endpoint_fails_closed() -> None:
    rendered = network_policies(tenant(), OWNER, SETTINGS, api_server(None))
    assert not connects(rendered, INDEXER, API, 6443)
    assert api_server({"endpoints": [], "ports": [{"port": 6443}]}) is None


def test_without_a_default_store_no_database_egress_is_rendered() -> None:
    rendered = network_policies(tenant(), OWNER, OperatorSettings(), api_server(SLICE))
    assert not connects(rendered, GATEWAY, POSTGRES, 5432)


def test_the_tenant_children_carry_the_policies_first_deny_then_allows() -> None:
    kinds = [
        (c["kind"], c["metadata"]["name"])
        for c in tenant_children(tenant(), OWNER, SETTINGS, api_server(SLICE))
    ]
    names = [name for kind, name in kinds if kind == "NetworkPolicy"]
    assert names[0] == "default-deny"
    assert {"indexer-kube-api", "model-pool-kube-api", "knowledge-store"} <= set(names)
    assert "allow-egress-cidrs" not in names
