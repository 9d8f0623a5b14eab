"""The operator reconciles Tenants on a real API server (run in-process by KopfRunner)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from kopf.testing import KopfRunner
from kubernetes import client, dynamic

from tests.cluster.conftest import server_side_apply
from tests.cluster.operator_runner import condition, get, running_operator, wait_for

pytestmark = pytest.mark.cluster

TENANT_CHILDREN = [
    ("v1", "ResourceQuota", "switchboard-quota"),
    ("v1", "LimitRange", "switchboard-limits"),
    ("v1", "ServiceAccount", "switchboard-gateway"),
    ("v1", "ServiceAccount", "switchboard-indexer"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "switchboard-tenant-admins"),
    ("networking.k8s.io/v1", "NetworkPolicy", "default-deny"),
    ("networking.k8s.io/v1", "NetworkPolicy", "allow-dns"),
    ("networking.k8s.io/v1", "NetworkPolicy", "gateway-ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy", "allow-egress-cidrs"),
    ("networking.k8s.io/v1", "NetworkPolicy", "knowledge-store"),  # the install has a store
    ("ray.io/v1", "RayService", "switchboard-models"),
]


@pytest.fixture(scope="module")
def operator(operator_env: None) -> Iterator[KopfRunner]:
    with running_operator() as runner:
        yield runner


POLICY = ("networking.k8s.io/v1", "NetworkPolicy")


def tenant(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": {"namespace": {"name": namespace}, **spec},
    }


def test_tenant_gets_an_isolated_namespace_and_loses_it_on_deletion(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    manifest = tenant(
        "globex",
        "globex",
        admins=[{"kind": "Group", "name": "globex-admins"}],
        quotas={"gpus": 1, "resourceQuota": {"limits.cpu": "8"}},
        network={
            "allowIngressFromNamespaces": ["ingress"],
            "egress": {"allowCIDRs": ["10.9.0.0/16"]},
        },
    )
    server_side_apply(dyn, manifest)
    uid = wait_for(
        "the tenant's uid",
        lambda: (
            (get(dyn, "switchboard.dev/v1alpha1", "Tenant", "globex") or {})
            .get("metadata", {})
            .get("uid")
        ),
    )
    namespace = wait_for("namespace globex", lambda: get(dyn, "v1", "Namespace", "globex"))
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["ownerReferences"][0]["uid"] == uid
    for api_version, kind, name in TENANT_CHILDREN:
        child = wait_for(f"{kind} {name}", partial(get, dyn, api_version, kind, name, "globex"))
        assert child["metadata"]["ownerReferences"][0]["uid"] == uid, f"{kind} {name}"
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "switchboard-operator"
    quota = get(dyn, "v1", "ResourceQuota", "switchboard-quota", "globex")
    assert quota is not None
    assert quota["spec"]["hard"] == {"limits.cpu": "8", "requests.nvidia.com/gpu": "1"}
    binding = get(
        dyn, "rbac.authorization.k8s.io/v1", "RoleBinding", "switchboard-tenant-admins", "globex"
    )
    assert binding is not None
    assert binding["subjects"][0]["name"] == "globex-admins"
    assert binding["roleRef"]["name"] == "admin"
    ingress = get(dyn, "networking.k8s.io/v1", "NetworkPolicy", "gateway-ingress", "globex")
    assert ingress is not None
    sources = ingress["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchExpressions"][0]
    assert sources["values"] == ["ingress"]
    ready = wait_for(
        "Tenant NamespaceReady",
        lambda: condition(
            get(dyn, "switchboard.dev/v1alpha1", "Tenant", "globex"), "NamespaceReady"
        ),
    )
    assert ready["status"] == "True"
    status = get(dyn, "switchboard.dev/v1alpha1", "Tenant", "globex")["status"]
    assert status["namespace"] == "globex"
    assert status["observedGeneration"] == 1

    dyn.resources.get(api_version="switchboard.dev/v1alpha1", kind="Tenant").delete(name="globex")
    wait_for(
        "the tenant to be gone (finalizer done)",
        lambda: get(dyn, "switchboard.dev/v1alpha1", "Tenant", "globex") is None,
    )
    for api_version, kind, name in TENANT_CHILDREN:
        assert get(dyn, api_version, kind, name, "globex") is None, f"{kind} {name} left behind"
    gone = get(dyn, "v1", "Namespace", "globex")
    assert gone is None or gone["metadata"].get("deletionTimestamp"), "namespace not deleted"


def test_a_namespace_the_tenant_did_not_create_is_left_alone(
    dyn: dynamic.DynamicClient, api_client: client.ApiClient, operator: KopfRunner
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="legacy", labels={"team": "legacy"}))
    )
    server_side_apply(dyn, tenant("legacy", "legacy", network={"isolation": "none"}))
    wait_for(
        "the quota in the pre-existing namespace",
        lambda: get(dyn, "v1", "ResourceQuota", "switchboard-quota", "legacy"),
    )
    namespace = get(dyn, "v1", "Namespace", "legacy")
    assert namespace is not None
    assert "ownerReferences" not in namespace["metadata"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert get(dyn, "networking.k8s.io/v1", "NetworkPolicy", "default-deny", "legacy") is None

    dyn.resources.get(api_version="switchboard.dev/v1alpha1", kind="Tenant").delete(name="legacy")
    wait_for(
        "the tenant to be gone",
        lambda: get(dyn, "switchboard.dev/v1alpha1", "Tenant", "legacy") is None,
    )
    assert get(dyn, "v1", "ResourceQuota", "switchboard-quota", "legacy") is None
    namespace = get(dyn, "v1", "Namespace", "legacy")
    assert namespace is not None
    assert not namespace["metadata"].get("deletionTimestamp")
    assert namespace["metadata"]["labels"].get("team") == "legacy"
    assert "pod-security.kubernetes.io/enforce" not in namespace["metadata"]["labels"]


def test_the_api_servers_endpoints_open_the_kube_api_policies_and_their_loss_closes_them(
    dyn: dynamic.DynamicClient, operator: KopfRunner
) -> None:
    """Indexer Jobs and the Ray head may reach the API server's endpoints, read from its
    `default/kubernetes` EndpointSlice. This API server advertises 127.0.0.1 and so publishes
    none (the node tier has the real one): the test writes what a routable one would."""
    slices = dyn.resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    server_side_apply(dyn, tenant("hooli", "hooli"))
    wait_for("NetworkPolicy default-deny", partial(get, dyn, *POLICY, "default-deny", "hooli"))
    assert get(dyn, *POLICY, "indexer-kube-api", "hooli") is None  # no endpoints: fail closed
    slices.create(
        namespace="default",
        body={
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.0.2.7"]}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
    )
    try:
        for name in ("indexer-kube-api", "model-pool-kube-api"):
            policy = wait_for(f"NetworkPolicy {name}", partial(get, dyn, *POLICY, name, "hooli"))
            (rule,) = policy["spec"]["egress"]
            assert rule["to"] == [{"ipBlock": {"cidr": "192.0.2.7/32"}}]
            assert rule["ports"] == [{"protocol": "TCP", "port": 6443}]
    finally:
        slices.delete(namespace="default", name="kubernetes")
    wait_for(
        "indexer-kube-api pruned",
        lambda: get(dyn, *POLICY, "indexer-kube-api", "hooli") is None,
    )
    dyn.resources.get(api_version="switchboard.dev/v1alpha1", kind="Tenant").delete(name="hooli")
