"""Which agents take Twilio calls, and their auth tokens (read from the environment per request)."""

from __future__ import annotations

import logging
import os

from switchboard_api.common import secret_env_name
from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent

log = logging.getLogger(__name__)


def agent_key(agent: VoiceAgent) -> str:
    """The agent's `namespace/name`, as the gateway names it."""
    return f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}"


def twilio_agent(config: GatewayConfig, key: str) -> VoiceAgent | None:
    """The agent `namespace/name` when it has Twilio enabled, else None."""
    for agent in config.agents:
        if agent_key(agent) == key and agent.spec.channels.twilio.enabled:
            return agent
    return None


def auth_token(agent: VoiceAgent) -> str | None:
    """The agent's Twilio auth token, read now (a missing one is logged by its variable's name)."""
    ref = agent.spec.channels.twilio.auth_token_secret_ref
    if ref is None:
        return None
    name = secret_env_name(ref)
    token = os.environ.get(name, "")
    if not token:
        log.warning("twilio: %s is not set; calls to %s are refused", name, agent_key(agent))
        return None
    return token
