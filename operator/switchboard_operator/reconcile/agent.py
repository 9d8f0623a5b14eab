"""VoiceAgent → resolved config, gateway, autoscaler, monitor, SLO alert; models in the pool."""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_operator.checks import model_problem, quota_problem
from switchboard_operator.conditions import Check, Stall, condition_set
from switchboard_operator.kube import (
    KEDA_CRD,
    KUBERAY_CRD,
    PROMETHEUS_RULE_CRD,
    SERVICE_MONITOR_CRD,
)
from switchboard_operator.naming import (
    CONFIG_HASH_ANNOTATION,
    Manifest,
    gateway_name,
    gateway_selector,
    slo_rule_name,
)
from switchboard_operator.observe import gateway_check, knowledge_check, models_check
from switchboard_operator.reconcile.exposure import sync_exposure
from switchboard_operator.reconcile.phone import prepare_recordings, sync_agent_policies
from switchboard_operator.reconcile.pool import sync_pool
from switchboard_operator.reconcile.runtime import (
    KNOWLEDGE_BASE,
    VOICE_AGENT,
    Outcome,
    Runtime,
    find_tenant,
    owner_of,
    status_event,
)
from switchboard_operator.reconcile.secret_copy import InstallSecret, copy_install_secret
from switchboard_operator.render.access import access_check
from switchboard_operator.render.agent import GRPC_PORT, HTTP_PORT, agent_children
from switchboard_operator.render.autoscaling import choose_autoscaler
from switchboard_operator.render.knowledge_search import searchable
from switchboard_operator.render.recordings import recordings_check
from switchboard_operator.render.records import CHART_VALUE, call_store_secret, records_check
from switchboard_operator.render.routes import external_endpoints
from switchboard_operator.render.telephony import channels_check, phone_endpoints
from switchboard_operator.render.tls import endpoint_urls

DEPLOYMENT = ("apps/v1", "Deployment")
CONFIG_MAP = ("v1", "ConfigMap")
SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")
PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")


async def _resolve_prompt(rt: Runtime, agent: VoiceAgent) -> VoiceAgent | Stall:
    """The agent with its system prompt inline (read from the ConfigMap it names)."""
    ref = agent.spec.prompt.config_map_key_ref
    if ref is None:
        return agent
    config_map = await rt.kube.get(*CONFIG_MAP, agent.metadata.namespace, ref.name)
    text = ((config_map or {}).get("data") or {}).get(ref.key)
    if not text:
        what = "has no key " + ref.key if config_map is not None else "does not exist"
        return Stall("PromptNotFound", f"spec.prompt.configMapKeyRef: ConfigMap {ref.name} {what}")
    prompt = agent.spec.prompt.model_copy(update={"system": text, "config_map_key_ref": None})
    return agent.model_copy(update={"spec": agent.spec.model_copy(update={"prompt": prompt})})


async def _knowledge_bases(rt: Runtime, agent: VoiceAgent) -> dict[str, Manifest] | Stall:
    found: dict[str, Manifest] = {}
    for ref in agent.spec.knowledge_bases:
        kb = await rt.kube.get(*KNOWLEDGE_BASE, agent.metadata.namespace, ref.name)
        if kb is None:
            return Stall(
                "KnowledgeBaseNotFound",
                f"spec.knowledgeBases: KnowledgeBase {ref.name} does not exist in namespace "
                f"{agent.metadata.namespace}",
            )
        found[ref.name] = kb
    return found


async def _admission(
    rt: Runtime, agent: VoiceAgent, body: Manifest
) -> tuple[Tenant, Manifest] | Stall:
    if not await rt.kube.crd_installed(KUBERAY_CRD):
        return Stall("KubeRayMissing", "the RayService CRD (KubeRay) is not installed")
    namespace = agent.metadata.namespace or "default"
    found = await find_tenant(rt, namespace)
    if found is None:
        return Stall("TenantNotFound", f"no Tenant has spec.namespace.name {namespace}")
    tenant, _ = found
    if problem := model_problem(agent, tenant):
        return problem
    limit = tenant.spec.quotas.max_voice_agents
    if limit is not None:
        siblings = await rt.kube.list(*VOICE_AGENT, namespace)
        if problem := quota_problem(
            body, siblings, limit, "quotas.maxVoiceAgents", tenant.metadata.name
        ):
            return problem
    return found


async def _copy_call_store(rt: Runtime, namespace: str, tenant: str) -> Stall | None:
    """Copy the install's call store Secret into the namespace; None when there is none."""
    if not rt.settings.call_store:
        return None
    source = InstallSecret(
        rt.settings.call_store_secret,
        rt.settings.call_store_key,
        "the call store",
        CHART_VALUE,
        "CallStore",
    )
    return await copy_install_secret(rt, source, call_store_secret, namespace, tenant)


def endpoints(agent: VoiceAgent) -> Manifest:
    """Where callers connect: the gateway Service's address for each enabled channel only."""
    service = f"{gateway_name(agent.metadata.name)}.{agent.metadata.namespace or 'default'}.svc"
    channels = agent.spec.channels
    found: Manifest = {}
    urls = endpoint_urls(agent, service, GRPC_PORT, HTTP_PORT)  # grpcs://, wss:// with TLS
    if channels.grpc.enabled:
        found["grpc"] = urls["grpc"]
    if channels.websocket.enabled:
        found["websocket"] = urls["websocket"]
    return found


def _gateway_status(deployment: Manifest | None, agent: str) -> Manifest:
    status = (deployment or {}).get("status") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(gateway_selector(agent).items()))
    return {
        "replicas": int(status.get("replicas", 0)),
        "readyReplicas": int(status.get("readyReplicas", 0)),
        "selector": selector,
    }


def _revision(
    deployment: Manifest | None, previous: Manifest | None, desired: str | None
) -> Manifest:
    current = (previous or {}).get("current")
    if deployment is not None:
        status = deployment.get("status") or {}
        rolled_out = (
            int(status.get("observedGeneration", 0)) >= deployment["metadata"].get("generation", 0)
            and int(status.get("updatedReplicas", 0))
            >= int((deployment.get("spec") or {}).get("replicas", 1))
            and int(status.get("unavailableReplicas", 0)) == 0
        )
        if rolled_out:
            current = desired
    revision = {"current": current, "desired": desired}
    return {k: v for k, v in revision.items() if v is not None}


async def reconcile_agent(rt: Runtime, body: Manifest, now: datetime | None = None) -> Outcome:
    """Apply the agent's children and report ModelsReady, GatewayReady, KnowledgeReady."""
    agent = VoiceAgent.model_validate(body)
    namespace = agent.metadata.namespace or "default"
    name = agent.metadata.name
    generation = body["metadata"].get("generation", 0)
    previous = body.get("status") or {}
    admitted = await _admission(rt, agent, body)
    resolved: VoiceAgent | Stall = agent
    knowledge: dict[str, Manifest] | Stall = {}
    if not isinstance(admitted, Stall):
        resolved = await _resolve_prompt(rt, agent)
        knowledge = await _knowledge_bases(rt, agent)
    stall = next((s for s in (admitted, resolved, knowledge) if isinstance(s, Stall)), None)
    checks: list[Check] = []
    deployment: Manifest | None
    desired_hash: str | None = previous.get("revision", {}).get("desired")
    if stall is None:
        assert isinstance(admitted, tuple)  # noqa: S101
        assert isinstance(resolved, VoiceAgent)  # noqa: S101
        assert isinstance(knowledge, dict)  # noqa: S101
        tenant, tenant_body = admitted
        knowledge_bases = [KnowledgeBase.model_validate(kb) for kb in knowledge.values()]
        pool = await sync_pool(rt, tenant, tenant_body)
        keda = await rt.kube.crd_installed(KEDA_CRD)
        alerts = await rt.kube.crd_installed(PROMETHEUS_RULE_CRD)
        autoscaler = choose_autoscaler(
            resolved,
            keda_installed=keda,
            custom_metrics_api=await rt.kube.custom_metrics_api(),
            suspended=tenant.spec.suspend,
        )
        records = await _copy_call_store(rt, namespace, tenant.metadata.name)
        recordings, recordings_copy = await prepare_recordings(rt, resolved, tenant)
        children = agent_children(
            resolved,
            tenant,
            owner_of(body),
            rt.settings,
            autoscaler=autoscaler,
            service_monitor_installed=await rt.kube.crd_installed(SERVICE_MONITOR_CRD),
            prometheus_rule_installed=alerts,
            knowledge_bases=knowledge_bases,
            call_store=rt.settings.call_store and records is None,
            recordings=recordings,
        )
        deployment = None
        for child in children:
            applied = await rt.kube.apply(child)
            if child["kind"] == "Deployment":
                deployment = applied
                desired_hash = child["spec"]["template"]["metadata"]["annotations"][
                    CONFIG_HASH_ANNOTATION
                ]
        if autoscaler != "keda" and keda:
            await rt.kube.delete(*SCALED_OBJECT, namespace, gateway_name(name))
        if not autoscaler.startswith("hpa"):
            await rt.kube.delete(*HPA, namespace, gateway_name(name))
        if alerts and resolved.spec.slo is None:
            await rt.kube.delete(*PROMETHEUS_RULE, namespace, slo_rule_name(name))
        exposure = await sync_exposure(rt, resolved, tenant, owner_of(body))
        await sync_agent_policies(
            rt, resolved, tenant, owner_of(body), recorded=recordings is not None
        )
        models = pool.args.agents.get(f"{namespace}/{name}")
        checks.append(
            models_check(
                pool.rayservice,
                "models",
                [models.asr, models.llm, models.tts],
                suspended=tenant.spec.suspend,
            )
            if models is not None
            else Check(
                "ModelsReady", False, "ModelsNotScheduled", "the pool has no models for this agent"
            )
        )
        checks.append(gateway_check(deployment))
        checks.append(access_check(resolved, tenant))
        checks.append(
            records_check(tenant, configured=rt.settings.call_store, copy_problem=records)
        )
        stores = searchable(knowledge_bases, default_store=rt.settings.default_knowledge_store)
        searched = {key.partition("/")[2] for key in stores}
        checks.append(knowledge_check(knowledge, searched))
        for extra in (
            channels_check(resolved),
            recordings_check(resolved, tenant, rt.settings, recordings_copy),
        ):
            if extra is not None:
                checks.append(extra)
        if exposure is not None:
            checks.append(exposure)
    else:
        deployment = await rt.kube.get(*DEPLOYMENT, namespace, gateway_name(name))
    status: Manifest = {
        "observedGeneration": generation,
        "conditions": condition_set(
            previous.get("conditions") or [], checks, stall, generation, now or datetime.now(UTC)
        ),
        "endpoints": (external_endpoints(agent) or endpoints(agent)) | phone_endpoints(agent),
        "activeCalls": rt.active_calls.get(f"{namespace}/{name}", 0),
        "gateway": _gateway_status(deployment, name),
        "revision": _revision(deployment, previous.get("revision"), desired_hash),
    }
    outcome = Outcome(status)
    if event := status_event(previous, status):
        outcome.events.append(event)
    return outcome
