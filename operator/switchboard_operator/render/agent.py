"""A VoiceAgent's children: config, gateway Deployment, Service, PDB, autoscaler, monitor, alert.

The autoscaler itself is rendered by `render.autoscaling`.

The agent given here is already resolved (its prompt inline, read from the ConfigMap it names);
tenant pipeline defaults are applied by the gateway from the tenant carried in the config.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.common import ObjectMeta, secret_env_name, secret_refs
from switchboard_api.gateway import GatewayConfig, RecordingsConfig
from switchboard_operator.naming import (
    CONFIG_HASH_ANNOTATION,
    GATEWAY_SERVICE_ACCOUNT,
    Manifest,
    agent_config_name,
    agent_labels,
    gateway_name,
    gateway_selector,
    metadata,
    serve_service,
    short_hash,
)
from switchboard_operator.render.access import allowed_origins, api_key_files, api_key_volume
from switchboard_operator.render.autoscaling import Autoscaler, autoscaler_manifest
from switchboard_operator.render.knowledge_search import knowledge_search, searchable
from switchboard_operator.render.pool import SERVE_PORT
from switchboard_operator.render.quota import call_quota
from switchboard_operator.render.recordings import recordings_env
from switchboard_operator.render.records import call_store_config, call_store_env
from switchboard_operator.render.slo import slo_rule
from switchboard_operator.render.telephony import container_port, service_port, telephony_config
from switchboard_operator.render.tls import (
    app_protocols,
    tls_files,
    tls_volume,
    with_tls_probes,
    with_tls_scrape,
)
from switchboard_operator.settings import OperatorSettings

GRPC_PORT = 50051
HTTP_PORT = 8080
CONFIG_KEY = "gateway.yaml"
CONFIG_DIR = "/etc/switchboard"
STATE_DIR = "/var/lib/switchboard"
#: Time between the end of the drain and SIGKILL: the process's own shutdown and the store.
GRACE_MARGIN_S = 30


def model_plane_url(namespace: str) -> str:
    """Where the tenant's model pool answers inside the cluster."""
    return f"http://{serve_service()}.{namespace}.svc:{SERVE_PORT}"


def gateway_hosts(agent: str, namespace: str) -> list[str]:
    """`Host` names of the gateway's Service inside the cluster (the pod adds its own IP)."""
    service = gateway_name(agent)
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def gateway_config(
    agent: VoiceAgent,
    tenant: Tenant,
    knowledge_bases: Sequence[KnowledgeBase] = (),
    *,
    default_store: bool = True,
    call_store: bool = False,
    recordings: RecordingsConfig | None = None,
) -> GatewayConfig:
    """The gateway process config of one agent (secrets stay in environment variables).

    `knowledge_bases`: the ones the agent names, read from the cluster; `default_store`: whether
    the install has a default knowledge store; `call_store`: whether its call store's Secret was
    copied into the namespace (without one, records are off: `render.records`); `recordings`:
    where its calls are recorded (`render.recordings`); phone settings: `render.telephony`.
    """
    namespace = agent.metadata.namespace or "default"
    clean_agent = VoiceAgent(
        metadata=ObjectMeta(name=agent.metadata.name, namespace=namespace), spec=agent.spec
    )
    clean_tenant = Tenant(metadata=ObjectMeta(name=tenant.metadata.name), spec=tenant.spec)
    return GatewayConfig(
        model_plane_url=model_plane_url(namespace),
        agents=[clean_agent],
        tenants=[clean_tenant],
        grpc_port=GRPC_PORT,
        http_port=HTTP_PORT,
        max_concurrent_calls=agent.spec.gateway.max_concurrent_calls_per_replica,
        allowed_hosts=gateway_hosts(agent.metadata.name, namespace)
        + ([agent.spec.exposure.hostname] if agent.spec.exposure is not None else []),
        drain_timeout_seconds=agent.spec.gateway.drain.timeout_seconds,
        store=call_store_config(tenant, call_store=call_store),
        knowledge_bases=knowledge_search(knowledge_bases, default_store=default_store),
        api_key_files={f"{namespace}/{agent.metadata.name}": api_key_files(agent, tenant)},
        allowed_origins=allowed_origins(agent, tenant),
        require_api_keys=True,
        tls=tls_files(agent),
        call_quota=call_quota(tenant),
        telephony=telephony_config(agent),
        recordings=recordings,
    )


def _gateway_metadata(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """Metadata shared by the gateway's Deployment, Service, PDB, autoscaler and monitor."""
    return metadata(
        gateway_name(agent.metadata.name),
        agent.metadata.namespace,
        owner,
        agent_labels("gateway", agent.metadata.name, tenant.metadata.name),
    )


def config_map(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    knowledge_bases: Sequence[KnowledgeBase] = (),
    *,
    default_store: bool = True,
    call_store: bool = False,
    recordings: RecordingsConfig | None = None,
) -> Manifest:
    """The resolved gateway config as a ConfigMap mounted by the gateway pods."""
    resolved = gateway_config(
        agent,
        tenant,
        knowledge_bases,
        default_store=default_store,
        call_store=call_store,
        recordings=recordings,
    )
    config = resolved.model_dump(mode="json", by_alias=True, exclude_none=True)
    # Written out in full: an absent `store` (or `url`) would read back as the SQLite default.
    store = resolved.store
    config["store"] = None if store is None else store.model_dump(mode="json", by_alias=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            agent_config_name(agent.metadata.name),
            agent.metadata.namespace,
            owner,
            agent_labels("gateway-config", agent.metadata.name, tenant.metadata.name),
        ),
        "data": {CONFIG_KEY: yaml.safe_dump(config, sort_keys=False)},
    }


def _env(
    agent: VoiceAgent,
    settings: OperatorSettings,
    knowledge_bases: Sequence[KnowledgeBase] = (),
    *,
    call_store: bool = False,
    recordings: RecordingsConfig | None = None,
) -> list[Manifest]:
    env: list[Manifest] = [call_store_env()] if call_store else []
    if recordings is not None:
        env += recordings_env()
    refs = secret_refs(agent.spec)
    stores = searchable(knowledge_bases, default_store=settings.default_knowledge_store)
    refs += [ref for ref in stores.values() if ref not in refs]
    for ref in refs:
        env.append(
            {
                "name": secret_env_name(ref),
                "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
            }
        )
    return env


def deployment(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    settings: OperatorSettings,
    *,
    autoscaler: Autoscaler,
    config_hash: str,
    knowledge_bases: Sequence[KnowledgeBase] = (),
    call_store: bool = False,
    recordings: RecordingsConfig | None = None,
) -> Manifest:
    """The gateway Deployment: restricted pods that drain before they stop.

    Replicas are set here only without an autoscaler (or with a suspended tenant, as 1);
    otherwise the autoscaler owns them and this manifest leaves the field alone.
    """
    name = agent.metadata.name
    drain = agent.spec.gateway.drain.timeout_seconds
    selector = gateway_selector(name)
    pod_labels = agent_labels("gateway", agent.metadata.name, tenant.metadata.name) | selector
    http_probe = {"httpGet": {"path": "/readyz", "port": "http"}}
    spec: Manifest = {
        "selector": {"matchLabels": selector},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
        },
        "template": {
            "metadata": {
                "labels": pod_labels,
                "annotations": {CONFIG_HASH_ANNOTATION: config_hash},
            },
            "spec": {
                "serviceAccountName": GATEWAY_SERVICE_ACCOUNT,
                # Only a tenant's call quota needs the API server (its call-slot Leases).
                "automountServiceAccountToken": call_quota(tenant) is not None,
                "terminationGracePeriodSeconds": drain + GRACE_MARGIN_S,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "fsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "gateway",
                        "image": settings.gateway_image,
                        "imagePullPolicy": settings.image_pull_policy,
                        "args": ["--config", f"{CONFIG_DIR}/{CONFIG_KEY}"],
                        "ports": [
                            {"name": "grpc", "containerPort": GRPC_PORT},
                            {"name": "http", "containerPort": HTTP_PORT},
                            *container_port(agent),
                        ],
                        "env": _env(
                            agent,
                            settings,
                            knowledge_bases,
                            call_store=call_store,
                            recordings=recordings,
                        ),
                        "readinessProbe": http_probe | {"periodSeconds": 2, "failureThreshold": 1},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}}
                        | {"periodSeconds": 10, "failureThreshold": 3},
                        "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"}}
                        | {"periodSeconds": 2, "failureThreshold": 60},
                        "resources": {
                            "requests": {
                                "cpu": settings.gateway_cpu,
                                "memory": settings.gateway_memory,
                            },
                            "limits": {"memory": settings.gateway_memory},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                            {"name": "state", "mountPath": STATE_DIR},
                            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
                        ],
                    }
                ],
                "volumes": [
                    {"name": "config", "configMap": {"name": agent_config_name(name)}},
                    {"name": "state", "emptyDir": {}},
                    {"name": "tmp", "emptyDir": {}},
                ],
            },
        },
    }
    keys = api_key_volume(agent, tenant)
    if keys is not None:
        volume, mount = keys
        pod = spec["template"]["spec"]
        pod["volumes"].append(volume)
        pod["containers"][0]["volumeMounts"].append(mount)
    if (tls := tls_volume(agent)) is not None:
        volume, mount = tls
        pod = spec["template"]["spec"]
        pod["volumes"].append(volume)
        pod["containers"][0]["volumeMounts"].append(mount)
    with_tls_probes(agent, spec["template"]["spec"]["containers"][0])
    if tenant.spec.suspend:  # one replica answers callers why (TENANT_SUSPENDED)
        spec["replicas"] = 1
    elif autoscaler == "none":
        spec["replicas"] = agent.spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _gateway_metadata(agent, tenant, owner),
        "spec": spec,
    }


def service(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """The gRPC and HTTP ports (WebSocket, metrics) in front of the gateway pods."""
    name = agent.metadata.name
    ports: list[Manifest] = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"},
        {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
    ]
    protocols = app_protocols(agent)  # `https` on both with TLS (render/tls.py)
    for port in ports:
        if (protocol := protocols[port["name"]]) is not None:
            port["appProtocol"] = protocol
    ports += service_port(agent)  # the phone port, with a phone channel (render/telephony.py)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _gateway_metadata(agent, tenant, owner),
        "spec": {"selector": gateway_selector(name), "ports": ports},
    }


def disruption_budget(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """Voluntary evictions take one gateway at a time (each drains its calls first)."""
    name = agent.metadata.name
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _gateway_metadata(agent, tenant, owner),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": gateway_selector(name)}},
    }


def service_monitor(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """prometheus-operator scrapes the gateways' `/metrics` (over HTTPS with TLS)."""
    endpoint: Manifest = {"port": "http", "path": "/metrics", "interval": "15s"}
    with_tls_scrape(agent, endpoint)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _gateway_metadata(agent, tenant, owner),
        "spec": {
            "selector": {
                "matchLabels": agent_labels("gateway", agent.metadata.name, tenant.metadata.name)
            },
            "endpoints": [endpoint],
        },
    }


def agent_children(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    settings: OperatorSettings,
    *,
    autoscaler: Autoscaler,
    service_monitor_installed: bool,
    prometheus_rule_installed: bool,
    knowledge_bases: Sequence[KnowledgeBase] = (),
    call_store: bool = False,
    recordings: RecordingsConfig | None = None,
) -> list[Manifest]:
    """Everything an agent runs on, in apply order (config first, so pods find it).

    The ServiceMonitor and the SLO alert need prometheus-operator's CRDs; without them the
    agent runs unmonitored rather than stalled. `knowledge_bases` are the ones the agent names;
    `call_store`: the install's call store Secret is copied into the namespace; `recordings`:
    where the agent's calls are recorded (None: not recorded).
    """
    config = config_map(
        agent,
        tenant,
        owner,
        knowledge_bases,
        default_store=settings.default_knowledge_store,
        call_store=call_store,
        recordings=recordings,
    )
    env = _env(agent, settings, knowledge_bases, call_store=call_store, recordings=recordings)
    config_hash = short_hash({"config": config["data"], "env": env})
    children = [
        config,
        deployment(
            agent,
            tenant,
            owner,
            settings,
            autoscaler=autoscaler,
            config_hash=config_hash,
            knowledge_bases=knowledge_bases,
            call_store=call_store,
            recordings=recordings,
        ),
        service(agent, tenant, owner),
        disruption_budget(agent, tenant, owner),
    ]
    scaler = autoscaler_manifest(
        agent, _gateway_metadata(agent, tenant, owner), settings, autoscaler
    )
    if scaler is not None:
        children.append(scaler)
    if service_monitor_installed:
        children.append(service_monitor(agent, tenant, owner))
    if prometheus_rule_installed and (alert := slo_rule(agent, tenant, owner)) is not None:
        children.append(alert)
    return children
