"""Phone channels (Twilio, jambonz) in a cluster: the phone port, its URLs and `ChannelsReady`.

Pure. The gateway serves Twilio's voice webhook and media WebSocket and jambonz's application
WebSocket on its phone port (`GatewayConfig.telephony.port`), opened only when an agent has a
phone channel; so only then do its pods, Service and routes carry that port.

Twilio must reach the agent from the internet: its webhook's public base URL is
`channels.twilio.publicUrl` when set (the gateway reads it from the agent's spec), else
`https://<spec.exposure.hostname>`, which the operator renders as
`GatewayConfig.telephony.public_url`. With neither, Twilio cannot call the agent at all:
`ChannelsReady=False` (reason `NoPublicUrl`) says so and what to set. The agent still takes its
other calls (and jambonz's, which may connect from inside the cluster); `Ready` is False all the
same, like every failing component check, so a rollout waiting on it notices.

The credentials (`channels.twilio.authTokenSecretRef`, `channels.jambonz.basicAuthSecretRef`) are
Secret keys of the agent's spec, projected like every other one (`render.agent._env`).
"""

from __future__ import annotations

from switchboard_api import VoiceAgent
from switchboard_api.common import secret_env_name
from switchboard_api.gateway import TelephonyConfig
from switchboard_operator.conditions import Check
from switchboard_operator.naming import Manifest, gateway_name
from switchboard_operator.render.tls import tls_enabled

#: The gateway's phone port (HTTP and WebSocket).
PHONE_PORT = TelephonyConfig().port
PHONE_PORT_NAME = "phone"
#: Where each provider's routes live on the phone port (the transports' `routes.py`).
TWILIO_PREFIX = "/v1/twilio/"
JAMBONZ_PREFIX = "/v1/jambonz/"
CHANNELS_READY = "ChannelsReady"


def phone_enabled(agent: VoiceAgent) -> bool:
    """Whether the agent takes phone calls (Twilio or jambonz)."""
    return agent.spec.channels.telephony


def telephony_config(agent: VoiceAgent) -> TelephonyConfig:
    """The gateway's phone settings: the exposed host as its public URL, when it has one."""
    exposure = agent.spec.exposure
    if not phone_enabled(agent) or exposure is None:
        return TelephonyConfig(port=PHONE_PORT)
    return TelephonyConfig(port=PHONE_PORT, public_url=f"https://{exposure.hostname}")


def container_port(agent: VoiceAgent) -> list[Manifest]:
    """The gateway container's phone port; none without a phone channel."""
    if not phone_enabled(agent):
        return []
    return [{"name": PHONE_PORT_NAME, "containerPort": PHONE_PORT}]


def service_port(agent: VoiceAgent) -> list[Manifest]:
    """The Service's phone port (`https` app protocol when the gateway serves TLS)."""
    if not phone_enabled(agent):
        return []
    port: Manifest = {"name": PHONE_PORT_NAME, "port": PHONE_PORT, "targetPort": PHONE_PORT_NAME}
    if tls_enabled(agent):
        port["appProtocol"] = "https"
    return [port]


def phone_paths(agent: VoiceAgent) -> list[str]:
    """The path prefixes of the agent's enabled phone providers, routed to the phone port."""
    channels = agent.spec.channels
    return [
        prefix
        for prefix, enabled in (
            (TWILIO_PREFIX, channels.twilio.enabled),
            (JAMBONZ_PREFIX, channels.jambonz.enabled),
        )
        if enabled
    ]


def public_base_url(agent: VoiceAgent) -> str | None:
    """Where Twilio reaches the gateway: `channels.twilio.publicUrl`, else the exposed host."""
    own = agent.spec.channels.twilio.public_url
    if own is not None:
        return own.rstrip("/")
    exposure = agent.spec.exposure
    return None if exposure is None else f"https://{exposure.hostname}"


def _path(agent: VoiceAgent, prefix: str) -> str:
    return f"{prefix}{agent.metadata.namespace or 'default'}/{agent.metadata.name}"


def phone_endpoints(agent: VoiceAgent) -> Manifest:
    """`status.endpoints.twilio` (the voice webhook to paste into Twilio) and `.jambonz`.

    jambonz is reached on the exposed host when there is one, else on the Service (a jambonz
    inside the cluster).
    """
    channels = agent.spec.channels
    found: Manifest = {}
    base = public_base_url(agent)
    if channels.twilio.enabled and base is not None:
        found["twilio"] = f"{base}{_path(agent, TWILIO_PREFIX)}/voice"
    if channels.jambonz.enabled:
        exposure = agent.spec.exposure
        if exposure is not None:
            scheme = "wss" if exposure.tls is not None else "ws"
            host = exposure.hostname
        else:
            scheme = "wss" if tls_enabled(agent) else "ws"
            namespace = agent.metadata.namespace or "default"
            host = f"{gateway_name(agent.metadata.name)}.{namespace}.svc:{PHONE_PORT}"
        found["jambonz"] = f"{scheme}://{host}{_path(agent, JAMBONZ_PREFIX)}"
    return found


def channels_check(agent: VoiceAgent) -> Check | None:
    """`ChannelsReady` of an agent with a phone channel (None without one)."""
    if not phone_enabled(agent):
        return None
    twilio = agent.spec.channels.twilio
    if twilio.enabled and public_base_url(agent) is None:
        return Check(
            CHANNELS_READY,
            False,
            "NoPublicUrl",
            "channels.twilio is enabled but Twilio cannot reach this agent: set "
            "spec.exposure.hostname (routes from outside the cluster) or "
            "channels.twilio.publicUrl (a tunnel or load balancer of your own); the agent's "
            "other channels take calls meanwhile",
        )
    endpoints = phone_endpoints(agent)
    shown = "; ".join(f"{name}: {url}" for name, url in sorted(endpoints.items()))
    return Check(
        CHANNELS_READY,
        True,
        "PhoneChannelsServed",
        f"phone port {PHONE_PORT}; {shown}; credentials from {', '.join(credentials(agent))}",
    )


def credentials(agent: VoiceAgent) -> list[str]:
    """Where each enabled phone channel's credential comes from: Secret, key and env var."""
    channels = agent.spec.channels
    refs = [
        (provider, ref)
        for provider, enabled, ref in (
            ("twilio", channels.twilio.enabled, channels.twilio.auth_token_secret_ref),
            ("jambonz", channels.jambonz.enabled, channels.jambonz.basic_auth_secret_ref),
        )
        if enabled and ref is not None
    ]
    return [f"{p}: Secret {r.name} key {r.key} (env {secret_env_name(r)})" for p, r in refs]
