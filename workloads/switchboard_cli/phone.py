"""What `switchboard up` says about phone calls: the phone port, webhook URLs, missing secrets.

Pure: the banner's phone lines from the agents, the public URL and the phone port. The phone
port binds the same address as the rest of `up` (loopback by default): the tunnel that gives it
a public https:// name (ngrok, cloudflared) runs on this machine, so nothing else needs to
reach it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from switchboard_api.common import secret_env_name
from switchboard_api.resources import VoiceAgent


def agent_key(agent: VoiceAgent) -> str:
    """`namespace/name` of an agent."""
    return f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}"


def phone_agents(agents: list[VoiceAgent]) -> list[VoiceAgent]:
    """The agents with a phone channel (Twilio or jambonz) on."""
    return [agent for agent in agents if agent.spec.channels.telephony]


def twilio_webhook(public_url: str, agent: VoiceAgent) -> str:
    """The voice webhook a Twilio number of `agent` is pointed at."""
    return f"{public_url.rstrip('/')}/v1/twilio/{agent_key(agent)}/voice"


def jambonz_socket(public_url: str, agent: VoiceAgent) -> str:
    """The WebSocket URL a jambonz application of `agent` is pointed at."""
    host = public_url.rstrip("/").removeprefix("https://")
    return f"wss://{host}/v1/jambonz/{agent_key(agent)}"


def missing_secrets(agents: list[VoiceAgent], environ: Mapping[str, str]) -> list[str]:
    """The environment variables the phone channels' credentials are read from, unset here."""
    missing: list[str] = []
    for agent in phone_agents(agents):
        channels = agent.spec.channels
        refs = [
            channels.twilio.auth_token_secret_ref if channels.twilio.enabled else None,
            channels.jambonz.basic_auth_secret_ref if channels.jambonz.enabled else None,
        ]
        for ref in refs:
            if ref is not None and not environ.get(secret_env_name(ref)):
                name = secret_env_name(ref)
                if name not in missing:
                    missing.append(name)
    return missing


def phone_lines(
    agents: list[VoiceAgent],
    public_url: str | None,
    phone_url: str,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The banner's lines about phone calls (none when no agent takes them)."""
    phones = phone_agents(agents)
    if not phones:
        return []
    port = phone_url.rsplit(":", 1)[-1].rstrip("/")
    lines = [f"  Phone      {phone_url} (webhooks, media streams, outbound calls)"]
    if public_url is None:
        lines.append(
            f"  Public     none: run a tunnel to port {port} (e.g. `cloudflared tunnel --url "
            f"{phone_url}` or `ngrok http {port}`) and restart with --public-url https://…"
        )
    for agent in phones:
        own = agent.spec.channels.twilio.public_url
        base = own or public_url
        if base is None:
            continue
        if agent.spec.channels.twilio.enabled:
            lines.append(
                f"  Twilio     {agent_key(agent)}: voice webhook {twilio_webhook(base, agent)}"
            )
        if agent.spec.channels.jambonz.enabled and public_url is not None:
            lines.append(
                f"  jambonz    {agent_key(agent)}: {jambonz_socket(public_url, agent)} (basic auth)"
            )
    dialler = next((a for a in phones if a.spec.channels.twilio.enabled), None)
    if dialler is not None:
        lines.append(f"  Dial out   switchboard dial --agent {agent_key(dialler)} --to +1…")
    for name in missing_secrets(phones, os.environ if environ is None else environ):
        lines.append(f"  Missing    {name} is not set: phone calls of its agent are refused")
    return lines
