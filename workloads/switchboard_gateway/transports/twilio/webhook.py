"""Twilio's voice webhook (`POST /v1/twilio/{namespace}/{name}/voice`): signed, then TwiML.

Twilio signs each webhook with the account's auth token over the URL it called and the form's
parameters (`X-Twilio-Signature`); the official validator checks it against the URL as Twilio
saw it, the public base URL plus the path. The answer connects the call to the media socket
with the agent, the caller's numbers and a token for this CallSid as custom parameters.
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator

from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.transports.twilio.accounts import agent_key, auth_token, twilio_agent
from switchboard_gateway.transports.twilio.twiml import (
    connect_stream,
    media_url,
    public_base_url,
    stream_parameters,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
#: The longest CallSid or phone number accepted from the form.
MAX_FIELD_CHARS = 64


class VoiceWebhook:
    """Answers Twilio's voice webhooks for the agents of one gateway."""

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config

    async def handle(self, request: web.Request) -> web.Response:
        """Check the signature and answer `<Connect><Stream>`, or refuse with a status."""
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        agent = twilio_agent(self._config, key)
        if agent is None:
            raise web.HTTPNotFound(text="no agent with a Twilio channel by that name\n")
        base = public_base_url(agent, self._config)
        if base is None:
            log.warning("twilio: %s has no public URL; set channels.twilio.publicUrl", key)
            raise web.HTTPServiceUnavailable(
                text="no public URL is configured: set channels.twilio.publicUrl "
                "(or the gateway's telephony public URL)\n"
            )
        token = auth_token(agent)
        form = await request.post()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = base + request.path_qs
        if (
            token is None
            or not signature
            or not RequestValidator(token).validate(url, params, signature)
        ):
            log.info("twilio: webhook for %s refused (signature missing or wrong)", key)
            raise web.HTTPForbidden(text="the request is not signed by Twilio for this agent\n")
        call_sid = params.get("CallSid", "")
        if not call_sid or len(call_sid) > MAX_FIELD_CHARS:
            raise web.HTTPBadRequest(text="CallSid missing\n")
        parameters = stream_parameters(token, agent_key(agent), "inbound", call_sid)
        parameters["from"] = params.get("From", "")[:MAX_FIELD_CHARS]
        parameters["to"] = params.get("To", "")[:MAX_FIELD_CHARS]
        twiml = connect_stream(media_url(base), parameters)
        return web.Response(text=twiml, content_type="text/xml")
