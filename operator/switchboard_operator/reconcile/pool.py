"""Keeping a tenant's model-pool RayService in step with its agents and knowledge bases."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pydantic import ValidationError

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.serving import ModelPlaneArgs
from switchboard_operator.checks import admitted_agents
from switchboard_operator.kube import KUBERAY_CRD
from switchboard_operator.naming import MODEL_POOL, Manifest, short_hash
from switchboard_operator.reconcile.runtime import (
    KNOWLEDGE_BASE,
    NETWORK_POLICY,
    RAY_SERVICE,
    VOICE_AGENT,
    Runtime,
    owner_of,
)
from switchboard_operator.render.network import PROVIDER_POLICY, provider_policy
from switchboard_operator.render.pool import model_pool, pool_args

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolState:
    """The RayService as the API server returned it, and the deployments it was given."""

    rayservice: Manifest | None
    args: ModelPlaneArgs


def _live(bodies: list[Manifest]) -> list[Manifest]:
    return [b for b in bodies if not b["metadata"].get("deletionTimestamp")]


async def sync_pool(rt: Runtime, tenant: Tenant, tenant_body: Manifest) -> PoolState:
    """Render and apply the tenant's RayService (coalesced per namespace).

    While the tenant is suspended the RayService is deleted instead.

    The apply is skipped when this process applied the same manifest less than a resync period
    ago; otherwise it is re-applied, which undoes a hand edit of the RayService. Nothing is
    applied in a namespace whose tenant is being deleted (`Runtime.retired_namespaces`).
    """
    namespace = tenant.spec.namespace.name

    async def once() -> PoolState:
        agents: list[tuple[VoiceAgent, Manifest]] = []
        for body in _live(await rt.kube.list(*VOICE_AGENT, namespace)):
            try:
                agents.append((VoiceAgent.model_validate(body), body))
            except ValidationError:
                log.warning(
                    "skipping an invalid VoiceAgent", extra={"name": body["metadata"]["name"]}
                )
        knowledge_bases = []
        for body in _live(await rt.kube.list(*KNOWLEDGE_BASE, namespace)):
            try:
                knowledge_bases.append(KnowledgeBase.model_validate(body))
            except ValidationError:
                log.warning(
                    "skipping an invalid KnowledgeBase", extra={"name": body["metadata"]["name"]}
                )
        admitted = admitted_agents(tenant, agents)
        args = pool_args(tenant, admitted, knowledge_bases)
        if namespace in rt.retired_namespaces or not await rt.kube.crd_installed(KUBERAY_CRD):
            return PoolState(None, args)
        if tenant.spec.suspend:  # scaled to zero: no Ray pod runs until the tenant resumes
            await rt.kube.delete(*RAY_SERVICE, namespace, MODEL_POOL)
            await rt.kube.delete(*NETWORK_POLICY, namespace, PROVIDER_POLICY)
            rt.applied_pools.pop(namespace, None)
            return PoolState(None, args)
        owner = owner_of(tenant_body)
        manifest = model_pool(tenant, owner, admitted, knowledge_bases, rt.settings)
        providers = provider_policy(tenant, owner, args)
        digest = short_hash([manifest, providers])
        applied = rt.applied_pools.get(namespace)
        fresh = applied is not None and time.monotonic() - applied[1] < rt.settings.resync_seconds
        if applied is not None and applied[0] == digest and fresh:
            observed = await rt.kube.get(*RAY_SERVICE, namespace, MODEL_POOL)
            if observed is not None:
                return PoolState(observed, args)
        if providers is not None:
            await rt.kube.apply(providers)
        else:
            await rt.kube.delete(*NETWORK_POLICY, namespace, PROVIDER_POLICY)
        observed = await rt.kube.apply(manifest)
        rt.applied_pools[namespace] = (digest, time.monotonic())
        return PoolState(observed, args)

    state: PoolState = await rt.pools.run(namespace, once)
    return state
