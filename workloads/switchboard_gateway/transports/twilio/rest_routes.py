"""`POST /v1/twilio/{namespace}/{name}/calls`: place an outbound call that the agent answers.

    POST /v1/twilio/acme/receptionist/calls
    Authorization: Bearer API_KEY_OR_CALL_TOKEN
    {"to": "+15551234567", "from": "+15557654321"}

answers `201 {"callSid", "agent"}`. The call is created through Twilio's REST API with TwiML
`<Connect><Stream>` to the gateway's media socket (the same as an inbound call's, with
direction "outbound" and the numbers as parameters), so the agent speaks first when the callee
picks up. Only a credential the agent accepts places calls: an API key or a call token minted
with one (`switchboard up`'s token included); the public never does, and an agent without any
key (open) refuses outbound calls. Each agent places at most `OUTBOUND_CALLS_PER_WINDOW` calls
per `OUTBOUND_WINDOW_S` per gateway process (429 with Retry-After beyond).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.call_tokens import looks_like_token, verify
from switchboard_gateway.gateway import AgentEntry, Gateway
from switchboard_gateway.transports.twilio.outbound import (
    OutboundLimiter,
    OutboundRequest,
    Refusal,
    TwilioSetup,
    parse_request,
    retry_after,
    twilio_setup,
)
from switchboard_gateway.transports.twilio.rest import TwilioRest, TwilioRestError

# The lane that builds the media socket owns this module (issue 20); it is merged beside this one.
from switchboard_gateway.transports.twilio.twiml import (
    connect_stream,
    media_url,
    public_base_url,
    stream_parameters,
)

log = logging.getLogger(__name__)

CALLS_PATH = "/v1/twilio/{namespace}/{name}/calls"

#: Builds the REST client of one request (tests point it elsewhere through the config).
RestFactory = Callable[[str, str, str], TwilioRest]


def _answer(status: int, payload: Mapping[str, object], **headers: str) -> web.Response:
    return web.json_response(
        dict(payload), status=status, headers={"Cache-Control": "no-store", **headers}
    )


def _refused(refusal: Refusal, **headers: str) -> web.Response:
    return _answer(refusal.status, {"error": refusal.message}, **headers)


def _bearer(request: web.Request) -> str | None:
    values = request.headers.getall("Authorization", [])
    if len(values) != 1 or not values[0].startswith("Bearer "):
        return None
    return values[0].removeprefix("Bearer ").strip() or None


def _authorized(entry: AgentEntry, credential: str) -> Refusal | None:
    """None when `credential` may place calls for the agent of `entry`."""
    if entry.keys.open:
        return Refusal(
            403,
            "this agent accepts callers without keys, so nobody may place outbound calls for "
            "it: give it an API key (spec.access.apiKeySecretRefs)",
        )
    if looks_like_token(credential):
        claims = verify(credential, entry.keys.signers, entry.config.key, now=int(time.time()))
        if claims is not None:
            return None
    if entry.keys.accepts(credential):
        return None
    return Refusal(401, "invalid API key or call token for this agent")


def _find(config: GatewayConfig, key: str) -> VoiceAgent | None:
    for agent in config.agents:
        if f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}" == key:
            return agent
    return None


def outbound_twiml(setup: TwilioSetup, agent: str, call: OutboundRequest) -> str:
    """`<Connect><Stream>` to the media socket, for an outbound call of `agent`."""
    parameters = dict(
        stream_parameters(setup.auth_token, agent, "outbound", secrets.token_urlsafe(16))
    )
    parameters.update({"from": call.from_, "to": call.to})
    return str(connect_stream(media_url(setup.public_url), parameters))


def twilio_rest_routes(
    gateway: Gateway,
    config: GatewayConfig,
    *,
    limiter: OutboundLimiter | None = None,
    rest: RestFactory = TwilioRest,
) -> list[web.RouteDef]:
    """The outbound-call route of the phone port (`routes.py` adds it to Twilio's)."""
    limits = limiter or OutboundLimiter()
    api_url = config.telephony.twilio_api_url

    async def place(request: web.Request) -> web.Response:
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        credential = _bearer(request)
        entry = gateway.agents.get(key)
        agent = _find(config, key)
        # An unknown agent and a wrong credential answer alike: the port does not list agents.
        if credential is None or entry is None or agent is None:
            auth = {"WWW-Authenticate": "Bearer"}
            return _refused(Refusal(401, "send an API key as `Authorization: Bearer KEY`"), **auth)
        refusal = _authorized(entry, credential)
        if refusal is not None:
            headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else {}
            return _refused(refusal, **headers)
        setup = twilio_setup(agent, public_base_url(agent, config))
        if isinstance(setup, Refusal):  # the gateway's or the agent's setup: worth a log line
            log.warning("outbound call refused: %s", setup.message, extra={"agent": key})
            return _refused(setup)
        call = parse_request(await request.read(), setup.phone_number)
        if isinstance(call, Refusal):
            return _refused(call)
        if gateway.draining:
            return _refused(Refusal(503, "the gateway is shutting down"))
        busy = gateway.at_capacity()
        if busy is not None:
            return _refused(Refusal(503, busy), **{"Retry-After": "5"})
        wait = limits.take(key, time.monotonic())
        if wait is not None:
            too_many = (
                f"this agent placed {limits.limit} calls in the last {limits.window_s:g} s; "
                "try again later"
            )
            return _refused(Refusal(429, too_many), **{"Retry-After": retry_after(wait)})
        client = rest(setup.account_sid, setup.auth_token, api_url)
        try:
            sid = await client.place_call(call.to, call.from_, outbound_twiml(setup, key, call))
        except TwilioRestError as error:
            # Twilio's text may hold phone numbers: the caller gets it, the log only the codes.
            extra = {"agent": key, "status": error.status, "code": error.code}
            log.warning("outbound call failed at Twilio", extra=extra)
            return _refused(Refusal(502, str(error)))
        finally:
            await client.aclose()
        log.info("outbound call placed", extra={"agent": key, "call_sid": sid})
        return _answer(201, {"callSid": sid, "agent": key})

    return [web.post(CALLS_PATH, place)]
