"""`spec.exposure` → routes from outside the cluster to an agent's gateway Service (pure).

Where the Gateway API is installed (its HTTPRoute and GRPCRoute CRDs), an `HTTPRoute` sends
`/v1/` on the host (WebSocket calls at `/v1/calls`, the HTTP API beside it) to the Service's
HTTP port, and a `GRPCRoute` sends the call service to its gRPC (h2c) port. Elsewhere two
`networking.k8s.io/v1` Ingresses do the same; gRPC needs a controller-specific annotation, and
the ones rendered are ingress-nginx's. Probes and `/metrics` are never routed. With a phone
channel, `/v1/twilio/` and `/v1/jambonz/` go to the phone port (a second HTTPRoute rule, or the
Ingress `<agent>-gateway-phone`; `render.telephony`).

Long calls: the Gateway API says a zero `timeouts.request`/`backendRequest` SHOULD disable the
timeout (or be the longest the implementation can set); without it Envoy Gateway applies
Envoy's 15 s route timeout, which cuts a WebSocket call mid-sentence. ingress-nginx's read and
send timeouts are idle timeouts between two reads or writes; they are set to the agent's longest
call. The gateway itself ends calls at `callPolicy.maxCallDurationSeconds`.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.exposure import ExposureSpec
from switchboard_operator.conditions import Check
from switchboard_operator.naming import Manifest, agent_labels, gateway_name, metadata
from switchboard_operator.render.agent import GRPC_PORT, HTTP_PORT
from switchboard_operator.render.envoy import (
    BACKEND_TRAFFIC_POLICY,
    grpc_policy_name,
    grpc_stream_policy,
)
from switchboard_operator.render.telephony import PHONE_PORT, phone_paths

HTTP_ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
GRPC_ROUTE = ("gateway.networking.k8s.io/v1", "GRPCRoute")
INGRESS = ("networking.k8s.io/v1", "Ingress")
CERTIFICATE = ("cert-manager.io/v1", "Certificate")
#: Both must exist for the operator to render Gateway API routes (standard channel, v1.1+).
GATEWAY_API_CRDS = ("httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io")
CERTIFICATE_CRD = "certificates.cert-manager.io"
#: The gateway's gRPC service (proto/switchboard/v1).
GRPC_SERVICE = "switchboard.v1.CallService"
#: Calls (`/v1/calls`) and the HTTP API live under this prefix on the gateway's HTTP port.
HTTP_PREFIX = "/v1/"
CALL_PATH = "/v1/calls"
#: "Disable the timeout" in the Gateway API's duration syntax (GEP-2257).
NO_TIMEOUT = "0s"
NGINX = "nginx.ingress.kubernetes.io/"


def route_name(agent: str) -> str:
    """The HTTPRoute, GRPCRoute, HTTP Ingress and Certificate of an agent."""
    return gateway_name(agent)


def phone_ingress_name(agent: str) -> str:
    """The Ingress carrying Twilio's and jambonz's paths to the phone port."""
    return f"{gateway_name(agent)}-phone"


def grpc_ingress_name(agent: str) -> str:
    """The Ingress carrying gRPC (its backend protocol is set for the whole Ingress)."""
    return f"{gateway_name(agent)}-grpc"


def _meta(agent: VoiceAgent, tenant: Tenant, owner: Manifest, name: str) -> Manifest:
    return metadata(
        name,
        agent.metadata.namespace,
        owner,
        agent_labels("gateway-route", agent.metadata.name, tenant.metadata.name),
    )


def _parent_refs(exposure: ExposureSpec) -> list[Manifest]:
    refs: list[Manifest] = []
    for parent in exposure.parent_refs:
        ref: Manifest = {"group": "gateway.networking.k8s.io", "kind": "Gateway"}
        ref["name"] = parent.name
        if parent.namespace is not None:
            ref["namespace"] = parent.namespace
        if parent.section_name is not None:
            ref["sectionName"] = parent.section_name
        refs.append(ref)
    return refs


def http_route(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """`/v1/` on the host → the gateway Service's HTTP port, never timed out mid-call."""
    exposure = _exposure(agent)
    return {
        "apiVersion": HTTP_ROUTE[0],
        "kind": HTTP_ROUTE[1],
        "metadata": _meta(agent, tenant, owner, route_name(agent.metadata.name)),
        "spec": {
            "parentRefs": _parent_refs(exposure),
            "hostnames": [exposure.hostname],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": HTTP_PREFIX}}],
                    "backendRefs": [{"name": gateway_name(agent.metadata.name), "port": HTTP_PORT}],
                    "timeouts": {"request": NO_TIMEOUT, "backendRequest": NO_TIMEOUT},
                },
                *phone_rules(agent),
            ],
        },
    }


def phone_rules(agent: VoiceAgent) -> list[Manifest]:
    """Twilio's and jambonz's paths → the phone port (longer prefixes win over `/v1/`)."""
    paths = phone_paths(agent)
    if not paths:
        return []
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": path}} for path in paths],
            "backendRefs": [{"name": gateway_name(agent.metadata.name), "port": PHONE_PORT}],
            "timeouts": {"request": NO_TIMEOUT, "backendRequest": NO_TIMEOUT},
        }
    ]


def grpc_route(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """The call service on the host → the gateway Service's gRPC port.

    GRPCRoute has no timeout field in the standard channel: stream timeouts are the
    implementation's policy (see docs/expose-an-agent.md).
    """
    exposure = _exposure(agent)
    return {
        "apiVersion": GRPC_ROUTE[0],
        "kind": GRPC_ROUTE[1],
        "metadata": _meta(agent, tenant, owner, route_name(agent.metadata.name)),
        "spec": {
            "parentRefs": _parent_refs(exposure),
            "hostnames": [exposure.hostname],
            "rules": [
                {
                    "matches": [{"method": {"type": "Exact", "service": GRPC_SERVICE}}],
                    "backendRefs": [{"name": gateway_name(agent.metadata.name), "port": GRPC_PORT}],
                }
            ],
        },
    }


def _ingress(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    name: str,
    path: str,
    port: int,
    annotations: dict[str, str],
) -> Manifest:
    exposure = _exposure(agent)
    meta = _meta(agent, tenant, owner, name)
    meta["annotations"] = annotations
    spec: Manifest = {}
    if exposure.ingress_class_name is not None:
        spec["ingressClassName"] = exposure.ingress_class_name
    if exposure.tls is not None:
        spec["tls"] = [{"hosts": [exposure.hostname], "secretName": exposure.tls.secret_name}]
    backend = {"service": {"name": gateway_name(agent.metadata.name), "port": {"number": port}}}
    spec["rules"] = [
        {
            "host": exposure.hostname,
            "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]},
        }
    ]
    return {"apiVersion": INGRESS[0], "kind": INGRESS[1], "metadata": meta, "spec": spec}


def _nginx_timeouts(agent: VoiceAgent) -> dict[str, str]:
    """ingress-nginx's idle timeouts between reads/writes: never shorter than the longest call."""
    seconds = str(agent.spec.call_policy.max_call_duration_seconds)
    return {f"{NGINX}proxy-read-timeout": seconds, f"{NGINX}proxy-send-timeout": seconds}


def http_ingress(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """The Ingress fallback for `/v1` (WebSocket calls, the HTTP API)."""
    return _ingress(
        agent,
        tenant,
        owner,
        route_name(agent.metadata.name),
        HTTP_PREFIX.rstrip("/"),
        HTTP_PORT,
        _nginx_timeouts(agent),
    )


def phone_ingress(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """The Ingress fallback for the phone port: one path per enabled phone provider."""
    first, *rest = [path.rstrip("/") for path in phone_paths(agent)]
    name = phone_ingress_name(agent.metadata.name)
    ingress = _ingress(agent, tenant, owner, name, first, PHONE_PORT, _nginx_timeouts(agent))
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    paths.extend(paths[0] | {"path": path} for path in rest)
    return ingress


def grpc_ingress(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """The Ingress fallback for gRPC: ingress-nginx's `backend-protocol: GRPC` (h2c upstream)."""
    return _ingress(
        agent,
        tenant,
        owner,
        grpc_ingress_name(agent.metadata.name),
        f"/{GRPC_SERVICE}",
        GRPC_PORT,
        {f"{NGINX}backend-protocol": "GRPC", **_nginx_timeouts(agent)},
    )


def certificate(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest | None:
    """cert-manager's Certificate for the host into `tls.secretName`; None without an issuer."""
    exposure = _exposure(agent)
    if exposure.tls is None or exposure.tls.issuer_ref is None:
        return None
    issuer = exposure.tls.issuer_ref
    return {
        "apiVersion": CERTIFICATE[0],
        "kind": CERTIFICATE[1],
        "metadata": _meta(agent, tenant, owner, route_name(agent.metadata.name)),
        "spec": {
            "secretName": exposure.tls.secret_name,
            "dnsNames": [exposure.hostname],
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": "cert-manager.io"},
        },
    }


def _exposure(agent: VoiceAgent) -> ExposureSpec:
    if agent.spec.exposure is None:
        raise ValueError(f"VoiceAgent {agent.metadata.name} has no spec.exposure")
    return agent.spec.exposure


def route_children(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    *,
    gateway_api: bool,
    cert_manager: bool,
    envoy_gateway: bool = False,
) -> list[Manifest]:
    """The routes (and Certificate) of an exposed agent; nothing when it is not exposed.

    gRPC routes only when the agent's gRPC channel is on; the HTTP route always (the HTTP API
    lives beside the WebSocket calls). `envoy_gateway`: Envoy Gateway's BackendTrafficPolicy
    CRD exists, so the GRPCRoute gets one that lifts Envoy's 15 s request timeout.
    """
    if agent.spec.exposure is None:
        return []
    grpc = agent.spec.channels.grpc.enabled
    children: list[Manifest]
    if gateway_api:
        children = [http_route(agent, tenant, owner)]
        if grpc:
            children.append(grpc_route(agent, tenant, owner))
            if envoy_gateway:
                children.append(grpc_stream_policy(agent, tenant, owner))
    else:
        children = [http_ingress(agent, tenant, owner)]
        if phone_paths(agent):
            children.append(phone_ingress(agent, tenant, owner))
        if grpc:
            children.append(grpc_ingress(agent, tenant, owner))
    if cert_manager and (cert := certificate(agent, tenant, owner)) is not None:
        children.append(cert)
    return children


def every_route(agent: str) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of every route object an agent may have had."""
    return [
        (*HTTP_ROUTE, route_name(agent)),
        (*GRPC_ROUTE, route_name(agent)),
        (*INGRESS, route_name(agent)),
        (*INGRESS, grpc_ingress_name(agent)),
        (*INGRESS, phone_ingress_name(agent)),
        (*CERTIFICATE, route_name(agent)),
        (*BACKEND_TRAFFIC_POLICY, grpc_policy_name(agent)),
    ]


def external_endpoints(agent: VoiceAgent) -> Manifest | None:
    """The status endpoints of an exposed agent: URLs on its host (TLS when `tls` is set)."""
    exposure = agent.spec.exposure
    if exposure is None:
        return None
    secure = exposure.tls is not None
    host = exposure.hostname
    channels = agent.spec.channels
    found: Manifest = {}
    if channels.grpc.enabled:
        found["grpc"] = f"{host}:{443 if secure else 80}"
    if channels.websocket.enabled:
        found["websocket"] = f"{'wss' if secure else 'ws'}://{host}{CALL_PATH}"
    return found


def exposure_check(agent: VoiceAgent, *, gateway_api: bool, cert_manager: bool) -> Check | None:
    """`ExposureReady` of an exposed agent (None when it is not exposed)."""
    exposure = agent.spec.exposure
    if exposure is None:
        return None
    how = "Gateway API routes" if gateway_api else "Ingress"
    tls = exposure.tls
    if tls is not None and tls.issuer_ref is not None and not cert_manager:
        return Check(
            "ExposureReady",
            False,
            "CertManagerMissing",
            f"spec.exposure.tls.issuerRef: cert-manager's Certificate CRD is not installed:"
            f" install cert-manager, or provide the TLS Secret {tls.secret_name} another way"
            f" and remove issuerRef ({how} rendered)",
        )
    return Check("ExposureReady", True, "RoutesRendered", f"{how} for {exposure.hostname}")
