"""Outbound calls, the pure part: the request's body, the agent's Twilio setup, the rate limit.

`POST /v1/twilio/{namespace}/{name}/calls` (see `rest_routes`) takes a JSON body
`{"to": "+E.164", "from": "+E.164"}` (`from` defaults to `channels.twilio.phoneNumber`). Each
check here answers with the HTTP status and a message that names what to fix.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import deque
from dataclasses import dataclass, field

from switchboard_api.channels import E164_PATTERN
from switchboard_api.common import secret_env_name
from switchboard_api.resources import VoiceAgent
from switchboard_wire.json_depth import too_deep

_E164 = re.compile(E164_PATTERN)
_FIELDS = ("to", "from")

#: Outbound calls one agent may place per window, per gateway process (each costs money and
#: rings a stranger's phone: a leaked key must not become a dialler).
OUTBOUND_CALLS_PER_WINDOW = 10
OUTBOUND_WINDOW_S = 60.0


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: its HTTP status and a message naming what to fix."""

    status: int
    message: str


@dataclass(frozen=True)
class OutboundRequest:
    """The numbers of one outbound call."""

    to: str
    from_: str


def parse_request(body: bytes, default_from: str | None) -> OutboundRequest | Refusal:
    """The call a request body asks for, or a 400 naming what is wrong with it."""
    try:
        fields = json.loads(body) if body.strip() and not too_deep(body) else None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        fields = None
    if not isinstance(fields, dict):
        return Refusal(400, 'the body must be a JSON object: {"to": "+E.164", "from": "+E.164"}')
    unknown = sorted(str(name)[:64] for name in fields if name not in _FIELDS)
    if unknown:
        return Refusal(400, f"unknown field {unknown[0]!r} (to, from)")
    to = fields.get("to")
    if to is None:
        return Refusal(400, 'the "to" field is required: the number to call, in E.164 (+1…)')
    problem = _number_problem("to", to)
    if problem is not None:
        return Refusal(400, problem)
    from_ = fields.get("from", default_from)
    if from_ is None:
        return Refusal(
            400,
            'the "from" field is required: this agent has no channels.twilio.phoneNumber to '
            "call from (give a number of the Twilio account, in E.164)",
        )
    problem = _number_problem("from", from_)
    if problem is not None:
        return Refusal(400, problem)
    return OutboundRequest(to, from_)


def _number_problem(name: str, value: object) -> str | None:
    if not isinstance(value, str) or not _E164.fullmatch(value):
        return (
            f'"{name}" must be a phone number in E.164: a plus, the country code and the '
            "number, digits only (+15551234567)"
        )
    return None


@dataclass(frozen=True)
class TwilioCredentials:
    """The Twilio account an agent's REST requests (transfer, hang-up, calls) are made as."""

    account_sid: str
    auth_token: str = field(repr=False)


@dataclass(frozen=True)
class TwilioSetup:
    """What placing a call for one agent needs from its spec and the gateway's environment."""

    account_sid: str
    auth_token: str = field(repr=False)
    public_url: str = ""
    phone_number: str | None = None


def twilio_credentials(
    agent: VoiceAgent, action: str = "outbound calls are placed"
) -> TwilioCredentials | Refusal:
    """The agent's account SID and auth token, or a 409 naming what is missing.

    The auth token is read now from `SWITCHBOARD_SECRET_<NAME>_<KEY>` (not cached), so a Secret
    that changes is picked up without a restart. `action` completes the missing-SID message
    ("transfers are made", "outbound calls are placed").
    """
    twilio = agent.spec.channels.twilio
    if not twilio.enabled:
        return Refusal(409, "channels.twilio is not enabled for this agent")
    if twilio.account_sid is None:
        return Refusal(
            409,
            f"channels.twilio.accountSid is not set: {action} through that Twilio account's "
            "REST API",
        )
    ref = twilio.auth_token_secret_ref
    token = os.environ.get(secret_env_name(ref), "") if ref is not None else ""
    if not token:
        where = secret_env_name(ref) if ref is not None else "channels.twilio.authTokenSecretRef"
        return Refusal(
            409,
            f"the gateway has no Twilio auth token (channels.twilio.authTokenSecretRef): "
            f"{where} is not set in its environment",
        )
    return TwilioCredentials(twilio.account_sid, token)


def twilio_setup(agent: VoiceAgent, public_url: str | None) -> TwilioSetup | Refusal:
    """The agent's Twilio account, auth token and public URL, or a 409 naming what is missing."""
    credentials = twilio_credentials(agent)
    if isinstance(credentials, Refusal):
        return credentials
    if public_url is None:
        return Refusal(
            409,
            "the gateway has no public URL for Twilio to stream the call to: set "
            "channels.twilio.publicUrl or exposure.hostname (locally: switchboard up "
            "--public-url https://<your tunnel>)",
        )
    phone_number = agent.spec.channels.twilio.phone_number
    return TwilioSetup(credentials.account_sid, credentials.auth_token, public_url, phone_number)


@dataclass
class OutboundLimiter:
    """At most `limit` calls per agent in any `window_s` seconds (a sliding window)."""

    limit: int = OUTBOUND_CALLS_PER_WINDOW
    window_s: float = OUTBOUND_WINDOW_S
    _placed: dict[str, deque[float]] = field(default_factory=dict)

    def take(self, agent: str, now: float) -> float | None:
        """Count a call of `agent` at `now` (monotonic): None if allowed, else seconds to wait."""
        placed = self._placed.setdefault(agent, deque())
        while placed and placed[0] <= now - self.window_s:
            placed.popleft()
        if len(placed) >= self.limit:
            return max(placed[0] + self.window_s - now, 0.0)
        placed.append(now)
        return None


def retry_after(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
