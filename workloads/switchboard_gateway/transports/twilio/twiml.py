"""TwiML and the stream's signed custom parameters, shared by inbound and outbound calls.

Twilio passes `<Parameter>`s of `<Connect><Stream>` back in the media socket's `start`
message (`customParameters`). They carry the agent, the direction and a nonce, signed with the
account's auth token, so a media socket that Twilio did not open from our TwiML never reaches
an agent: inbound, the nonce is the webhook's CallSid (and must equal `start.callSid`);
outbound, it is random (the CallSid is unknown when the TwiML is written).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from twilio.twiml.voice_response import Connect, VoiceResponse

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent

#: The media WebSocket's path on the phone port.
MEDIA_PATH = "/v1/twilio/media"
#: The custom parameters the token signs, and the token itself.
SIGNED_KEYS = ("agent", "direction", "nonce")
TOKEN_KEY = "token"  # noqa: S105 (a parameter name, not a secret)


def media_url(public_url: str) -> str:
    """`https://host[/base]` → `wss://host[/base]/v1/twilio/media` (Twilio needs wss)."""
    parts = urlsplit(public_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    path = parts.path.rstrip("/") + MEDIA_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def _token(auth_token: str, agent: str, direction: str, nonce: str) -> str:
    message = f"{agent}|{direction}|{nonce}".encode()
    return hmac.new(auth_token.encode(), message, hashlib.sha256).hexdigest()


def stream_parameters(auth_token: str, agent: str, direction: str, nonce: str) -> dict[str, str]:
    """The signed custom parameters: agent, direction, nonce and their HMAC-SHA256 `token`."""
    return {
        "agent": agent,
        "direction": direction,
        "nonce": nonce,
        TOKEN_KEY: _token(auth_token, agent, direction, nonce),
    }


def check_stream_parameters(auth_token: str, parameters: Mapping[str, str]) -> bool:
    """Whether `parameters` carry a token made with `auth_token` (compared in constant time)."""
    values = [parameters.get(key) for key in (*SIGNED_KEYS, TOKEN_KEY)]
    if not auth_token or not all(isinstance(v, str) and v for v in values):
        return False
    agent, direction, nonce, token = (str(v) for v in values)
    expected = _token(auth_token, agent, direction, nonce)
    return hmac.compare_digest(expected.encode(), token.encode())


def connect_stream(media_url: str, parameters: Mapping[str, str]) -> str:
    """TwiML that connects the call to the media socket, with `parameters` as custom ones."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=media_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def public_base_url(agent: VoiceAgent, config: GatewayConfig) -> str | None:
    """The public base URL Twilio reaches `agent` at, or None when none is configured.

    The agent's `channels.twilio.publicUrl` wins over the gateway's `telephony.public_url`.
    """
    url = agent.spec.channels.twilio.public_url or config.telephony.public_url
    return url.rstrip("/") if url else None
