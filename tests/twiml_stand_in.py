"""A stand-in for `transports/twilio/twiml.py` until the media-socket lane's module is merged.

Only what the outbound route calls, with the agreed signatures; `install()` puts it in place
only when the real module is missing, so after the merge the tests run against the real one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import sys
import types
from collections.abc import Mapping
from xml.sax.saxutils import quoteattr

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent

MODULE = "switchboard_gateway.transports.twilio.twiml"


def media_url(public_url: str) -> str:
    """The media socket's wss:// URL under `public_url`."""
    return "wss://" + public_url.removeprefix("https://").rstrip("/") + "/v1/twilio/media"


def _signature(auth_token: str, agent: str, direction: str, nonce: str) -> str:
    signed = f"{agent}\n{direction}\n{nonce}".encode()
    digest = hmac.new(auth_token.encode(), signed, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def stream_parameters(auth_token: str, agent: str, direction: str, nonce: str) -> dict[str, str]:
    """The custom parameters of a stream, signed with the auth token."""
    token = _signature(auth_token, agent, direction, nonce)
    return {"agent": agent, "direction": direction, "nonce": nonce, "token": token}


def check_stream_parameters(auth_token: str, parameters: Mapping[str, str]) -> bool:
    """Whether `parameters` were signed with `auth_token`."""
    expected = _signature(
        auth_token, parameters["agent"], parameters["direction"], parameters["nonce"]
    )
    return hmac.compare_digest(expected, parameters.get("token", ""))


def connect_stream(media_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML `<Connect><Stream>` with the parameters."""
    inner = "".join(
        f"<Parameter name={quoteattr(n)} value={quoteattr(v)}/>" for n, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f"<Stream url={quoteattr(media_url)}>{inner}</Stream></Connect></Response>"
    )


def public_base_url(agent: VoiceAgent, config: GatewayConfig) -> str | None:
    """The agent's `channels.twilio.publicUrl`, else the gateway's `telephony.publicUrl`."""
    return agent.spec.channels.twilio.public_url or config.telephony.public_url


def install() -> types.ModuleType:
    """The real module when it exists, else this stand-in registered under its name."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    if importlib.util.find_spec(MODULE) is not None:
        return importlib.import_module(MODULE)
    module = types.ModuleType(MODULE)
    for name in (
        "media_url",
        "stream_parameters",
        "check_stream_parameters",
        "connect_stream",
        "public_base_url",
    ):
        setattr(module, name, globals()[name])
    sys.modules[MODULE] = module
    return module
