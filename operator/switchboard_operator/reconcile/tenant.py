"""Tenant → namespace, quotas, isolation, identities, the model pool; and their removal."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard_api import Tenant
from switchboard_operator.conditions import Check, Stall, condition_set
from switchboard_operator.kube import KUBERAY_CRD
from switchboard_operator.naming import (
    ADMIN_ROLE_BINDING,
    CREATED_BY_ANNOTATION,
    LABEL_TENANT,
    MODEL_POOL,
    Manifest,
)
from switchboard_operator.observe import models_check
from switchboard_operator.reconcile.pool import sync_pool
from switchboard_operator.reconcile.runtime import (
    KNOWLEDGE_BASE,
    NETWORK_POLICY,
    RAY_SERVICE,
    TENANT,
    VOICE_AGENT,
    Outcome,
    Runtime,
    owner_of,
    status_event,
    tenant_of,
)
from switchboard_operator.render import tenant as render
from switchboard_operator.render.network import PROVIDER_POLICY, api_server
from switchboard_operator.render.quota import CALL_SLOT_BINDING, call_slot_binding

NAMESPACE = ("v1", "Namespace")
ENDPOINT_SLICE = ("discovery.k8s.io/v1", "EndpointSlice")
#: The API server's own EndpointSlice (`default/kubernetes`), kept by the API server.
API_SERVER_SLICE = ("default", "kubernetes")
ROLE_BINDING = ("rbac.authorization.k8s.io/v1", "RoleBinding")


class NamespaceTerminatingError(RuntimeError):
    """The tenant namespace is being deleted; the tenant waits until it is gone."""


def pool_check(
    rayservice: Manifest | None, deployments: list[str], *, kuberay: bool, suspended: bool = False
) -> Check:
    """`ModelPoolReady`: the pool serves every model (trivially true when it has none)."""
    check = models_check(
        rayservice, "models", deployments, kuberay_installed=kuberay, suspended=suspended
    )
    if not deployments and kuberay and rayservice is not None:
        return Check(
            "ModelPoolReady", True, "PoolEmpty", "no agent or knowledge base uses a model yet"
        )
    return Check("ModelPoolReady", check.ok, check.reason, check.message)


async def _namespace_claim(rt: Runtime, tenant: Tenant) -> tuple[bool, Stall | None]:
    """Whether this tenant created (and so owns) its namespace, or why it cannot use it."""
    name = tenant.spec.namespace.name
    holder = tenant_of(await rt.kube.list(*TENANT), name)
    if holder is not None and holder[0].metadata.name != tenant.metadata.name:
        return False, Stall(
            "NamespaceClaimed",
            f"spec.namespace.name: namespace {name} belongs to Tenant {holder[0].metadata.name}",
        )
    existing = await rt.kube.get(*NAMESPACE, None, name)
    if existing is None:
        if not tenant.spec.namespace.create:
            return False, Stall(
                "NamespaceNotFound",
                f"spec.namespace.name: namespace {name} does not exist and create is false",
            )
        return True, None
    if existing["metadata"].get("deletionTimestamp"):
        raise NamespaceTerminatingError(f"namespace {name} is terminating")
    annotations = existing["metadata"].get("annotations") or {}
    return annotations.get(CREATED_BY_ANNOTATION) == tenant.metadata.name, None


async def _prune(
    rt: Runtime, namespace: str, tenant: str, kind: tuple[str, str], keep: set[str]
) -> None:
    for obj in await rt.kube.list(*kind, namespace, {LABEL_TENANT: tenant}):
        if obj["metadata"]["name"] not in keep:
            await rt.kube.delete(*kind, namespace, obj["metadata"]["name"])


async def reconcile_tenant(rt: Runtime, body: Manifest, now: datetime | None = None) -> Outcome:
    """Apply the tenant's children and report NamespaceReady, ModelPoolReady and usage."""
    tenant = Tenant.model_validate(body)
    owner = owner_of(body)
    namespace = tenant.spec.namespace.name
    rt.retired_namespaces.discard(namespace)  # a live tenant claims it (again)
    created_here, stall = await _namespace_claim(rt, tenant)
    checks: list[Check] = []
    if stall is None:
        await rt.kube.apply(render.namespace(tenant, owner, created_here=created_here))
        api = None
        if tenant.spec.network.isolation != "none":
            api = api_server(await rt.kube.get(*ENDPOINT_SLICE, *API_SERVER_SLICE))
        desired = render.tenant_children(tenant, owner, rt.settings, api)
        for child in desired:
            await rt.kube.apply(child)
        policies = {c["metadata"]["name"] for c in desired if c["kind"] == "NetworkPolicy"}
        policies.add(PROVIDER_POLICY)  # kept in step with the model pool by sync_pool
        await _prune(rt, namespace, tenant.metadata.name, NETWORK_POLICY, policies)
        if render.admin_role_binding(tenant, owner) is None:
            await rt.kube.delete(*ROLE_BINDING, namespace, ADMIN_ROLE_BINDING)
        if call_slot_binding(tenant, owner) is None:  # the quota was lifted
            await rt.kube.delete(*ROLE_BINDING, namespace, CALL_SLOT_BINDING)
        checks.append(
            Check("NamespaceReady", True, "NamespaceIsolated" if policies else "NamespaceActive")
        )
        kuberay = await rt.kube.crd_installed(KUBERAY_CRD)
        pool = await sync_pool(rt, tenant, body)
        names = [d.name for d in pool.args.deployments()]
        checks.append(
            pool_check(pool.rayservice, names, kuberay=kuberay, suspended=tenant.spec.suspend)
        )
        if not kuberay:
            stall = Stall("KubeRayMissing", "the RayService CRD (KubeRay) is not installed")
    agents = await rt.kube.list(*VOICE_AGENT, namespace)
    kbs = await rt.kube.list(*KNOWLEDGE_BASE, namespace)
    calls = sum(n for key, n in rt.active_calls.items() if key.startswith(f"{namespace}/"))
    status: Manifest = {
        "observedGeneration": body["metadata"].get("generation", 0),
        "conditions": condition_set(
            (body.get("status") or {}).get("conditions") or [],
            checks,
            stall,
            body["metadata"].get("generation", 0),
            now or datetime.now(UTC),
        ),
        "namespace": namespace,
        "usage": {"voiceAgents": len(agents), "knowledgeBases": len(kbs), "activeCalls": calls},
    }
    outcome = Outcome(status)
    if event := status_event(body.get("status"), status):
        outcome.events.append(event)
    return outcome


async def delete_tenant(rt: Runtime, body: Manifest) -> list[str]:
    """Remove what the tenant created; a namespace it did not create is only released.

    Returns what was deleted (`Kind/name`), for the event.
    """
    tenant = Tenant.model_validate(body)
    owner = owner_of(body)
    namespace = tenant.spec.namespace.name
    existing = await rt.kube.get(*NAMESPACE, None, namespace)
    if existing is None:
        return []
    holder = tenant_of(await rt.kube.list(*TENANT), namespace)
    if holder is not None and holder[0].metadata.name != tenant.metadata.name:
        return []  # another tenant owns this namespace: nothing here is ours
    deleted: list[str] = []
    # Retired under the pool's own lock: an apply in progress (an agent's reconcile) finishes
    # first, and none starts after, so the RayService deleted here stays deleted.
    async with rt.pools.exclusive(namespace):
        rt.retired_namespaces.add(namespace)
        if await rt.kube.crd_installed(KUBERAY_CRD) and await rt.kube.delete(
            *RAY_SERVICE, namespace, MODEL_POOL
        ):
            deleted.append(f"RayService/{MODEL_POOL}")
        rt.applied_pools.pop(namespace, None)
    for child in render.tenant_children(tenant, owner, rt.settings):
        meta = child["metadata"]
        if await rt.kube.delete(child["apiVersion"], child["kind"], namespace, meta["name"]):
            deleted.append(f"{child['kind']}/{meta['name']}")
    await _prune(rt, namespace, tenant.metadata.name, NETWORK_POLICY, set())
    annotations = existing["metadata"].get("annotations") or {}
    if annotations.get(CREATED_BY_ANNOTATION) == tenant.metadata.name:
        await rt.kube.delete(*NAMESPACE, None, namespace)
        deleted.append(f"Namespace/{namespace}")
    else:
        # Give back the labels we set: an apply without them removes what we own.
        await rt.kube.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    return deleted


__all__ = ["NamespaceTerminatingError", "delete_tenant", "reconcile_tenant"]
