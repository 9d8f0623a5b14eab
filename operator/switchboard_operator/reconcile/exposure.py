"""Keep an agent's routes (Gateway API or Ingress) and Certificate in step with `spec.exposure`."""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.conditions import Check
from switchboard_operator.naming import Manifest
from switchboard_operator.reconcile.runtime import Runtime
from switchboard_operator.render.envoy import BACKEND_TRAFFIC_POLICY_CRD
from switchboard_operator.render.routes import (
    CERTIFICATE_CRD,
    GATEWAY_API_CRDS,
    every_route,
    exposure_check,
    route_children,
)


async def gateway_api_installed(rt: Runtime) -> bool:
    """Whether the Gateway API's HTTPRoute and GRPCRoute CRDs both exist (discovery is cached)."""
    for crd in GATEWAY_API_CRDS:
        if not await rt.kube.crd_installed(crd):
            return False
    return True


async def sync_exposure(
    rt: Runtime, agent: VoiceAgent, tenant: Tenant, owner: Manifest
) -> Check | None:
    """Apply the agent's routes, delete the ones it no longer has; its `ExposureReady` check.

    Every route is owned by the agent (garbage-collected with it); removing `spec.exposure`, or
    the Gateway API appearing or going, deletes what is no longer rendered.
    """
    gateway_api = await gateway_api_installed(rt)
    cert_manager = await rt.kube.crd_installed(CERTIFICATE_CRD)
    envoy_gateway = gateway_api and await rt.kube.crd_installed(BACKEND_TRAFFIC_POLICY_CRD)
    children = route_children(
        agent,
        tenant,
        owner,
        gateway_api=gateway_api,
        cert_manager=cert_manager,
        envoy_gateway=envoy_gateway,
    )
    for child in children:
        await rt.kube.apply(child)
    kept = {(c["apiVersion"], c["kind"], c["metadata"]["name"]) for c in children}
    namespace = agent.metadata.namespace or "default"
    for api_version, kind, name in every_route(agent.metadata.name):
        if (api_version, kind, name) in kept:
            continue
        if kind in ("HTTPRoute", "GRPCRoute") and not gateway_api:
            continue  # no such resource to hold one
        if kind == "Certificate" and not cert_manager:
            continue
        if kind == "BackendTrafficPolicy" and not envoy_gateway:
            continue
        await rt.kube.delete(api_version, kind, namespace, name)
    return exposure_check(agent, gateway_api=gateway_api, cert_manager=cert_manager)
