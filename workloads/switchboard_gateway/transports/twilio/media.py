"""The media WebSocket (`GET /v1/twilio/media`): Twilio's stream of one call, checked, then run.

The `start` message's custom parameters must carry a token signed with the agent's auth token
(see `twiml`), and an inbound stream's nonce must be its own CallSid, so a socket that Twilio
did not open from our TwiML never reaches an agent. Any malformed message ends that call with
`protocol_error` and its reason; the process goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from aiohttp import WSMsgType, web

from switchboard_api.gateway import GatewayConfig
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.events import (
    AudioFormat,
    CallEndedEvent,
    Encoding,
    EndReason,
    ProtocolError,
    StartCall,
    TelephonyCall,
)
from switchboard_gateway.gateway import Gateway, OverloadedError
from switchboard_gateway.transports.twilio.accounts import auth_token, twilio_agent
from switchboard_gateway.transports.twilio.codec import (
    MAX_MESSAGE_CHARS,
    MULAW_ENCODING,
    Connected,
    Start,
    TwilioMessage,
    parse_message,
)
from switchboard_gateway.transports.twilio.replay import UsedNonces
from switchboard_gateway.transports.twilio.rest import TwilioRest
from switchboard_gateway.transports.twilio.stream import (
    CLOSE_PROTOCOL,
    CallControl,
    TwilioStream,
)
from switchboard_gateway.transports.twilio.twiml import check_stream_parameters

log = logging.getLogger(__name__)

#: Twilio sends `connected` and `start` at once; a socket without them is dropped after this.
START_TIMEOUT_S = 10.0
#: WebSocket close code: try again later (the gateway is at capacity).
CLOSE_OVERLOADED = 1013
PHONE_FORMAT = AudioFormat(8000, Encoding.MULAW)

#: Makes the REST client of an agent: (account SID, auth token, API URL) → CallControl.
ControlFactory = Callable[[str, str, str], CallControl]


def twilio_rest(account_sid: str, token: str, api_url: str) -> CallControl:
    """Twilio's REST client for this call's transfer and hang-up."""
    control: CallControl = TwilioRest(account_sid, token, api_url)
    return control


async def _messages(ws: web.WebSocketResponse) -> AsyncGenerator[TwilioMessage, None]:
    """Twilio's messages, parsed; ends when the socket closes."""
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            yield parse_message(message.data)
        elif message.type is WSMsgType.BINARY:
            raise ProtocolError("binary message (Twilio sends JSON text)")
        elif message.type is WSMsgType.ERROR:
            raise ProtocolError(f"unreadable message ({type(ws.exception()).__name__})")


async def _first_start(messages: AsyncIterator[TwilioMessage]) -> Start:
    async for message in messages:
        if isinstance(message, Start):
            return message
        if not isinstance(message, Connected):
            kind = type(message).__name__.lower()
            raise ProtocolError(f"{kind} before start")
    raise ProtocolError("the stream closed before start")


class MediaSocket:
    """Serves Twilio media streams for one gateway."""

    def __init__(
        self,
        gateway: Gateway,
        config: GatewayConfig,
        control: ControlFactory = twilio_rest,
    ) -> None:
        self._gateway, self._config, self._control = gateway, config, control
        self._nonces = UsedNonces()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One socket is one call's stream."""
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=MAX_MESSAGE_CHARS * 4)
        await ws.prepare(request)
        messages = _messages(ws)
        try:
            return await self._serve(ws, messages, request)
        finally:
            await messages.aclose()

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        messages: AsyncGenerator[TwilioMessage, None],
        request: web.Request,
    ) -> web.WebSocketResponse:
        try:
            start = await asyncio.wait_for(_first_start(messages), START_TIMEOUT_S)
            agent, token = self._verified(start)
        except TimeoutError:
            return await self._refuse(ws, EndReason.PROTOCOL_ERROR, "no start message in time")
        except ProtocolError as error:
            return await self._refuse(ws, EndReason.PROTOCOL_ERROR, str(error))
        call = _start_call(start, request)
        try:
            admitted = self._gateway.admit(call, "twilio", provider_verified=True)
        except OverloadedError:
            await ws.close(code=CLOSE_OVERLOADED, message=b"overloaded")
            return ws
        if isinstance(admitted, CallEndedEvent):
            log.info("twilio: stream refused (%s)", admitted.reason.value)
            await ws.close(code=CLOSE_PROTOCOL, message=admitted.reason.value.encode())
            return ws
        sid = agent.spec.channels.twilio.account_sid
        api_url = self._config.telephony.twilio_api_url
        control = self._control(sid, token, api_url) if sid else None
        stream = TwilioStream(ws, start, control)
        try:
            inbound = stream.inbound(messages)
            await self._gateway.run_call(admitted, call, stream.deliver, inbound, channel="twilio")
        finally:
            await stream.aclose()
            if not ws.closed:
                await ws.close()
        return ws

    def _verified(self, start: Start) -> tuple[VoiceAgent, str]:
        """The agent the start's signed parameters name, and its auth token."""
        params = start.custom_parameters
        fmt = (start.encoding, start.sample_rate, start.channels)
        if fmt != (MULAW_ENCODING, 8000, 1):
            raise ProtocolError(f"media format {fmt} is not {MULAW_ENCODING} at 8000 Hz, mono")
        agent = twilio_agent(self._config, params.get("agent", ""))
        token = auth_token(agent) if agent is not None else None
        if agent is None or token is None or not check_stream_parameters(token, params):
            raise ProtocolError("the stream's parameters are not signed for a Twilio agent here")
        direction = params.get("direction")
        if direction not in ("inbound", "outbound"):
            raise ProtocolError("the stream's direction is neither inbound nor outbound")
        if direction == "inbound" and params.get("nonce") != start.call_sid:
            raise ProtocolError("the stream's parameters were signed for another call")
        nonce = f"{params.get('agent')}|{direction}|{params.get('nonce')}"
        if not self._nonces.first_use(nonce, time.monotonic()):
            raise ProtocolError("the stream's parameters opened a call already (a replay)")
        return agent, token

    async def _refuse(
        self, ws: web.WebSocketResponse, reason: EndReason, detail: str
    ) -> web.WebSocketResponse:
        ended = self._gateway.refuse(reason, detail)
        log.info("twilio: stream refused: %s", ended.detail)
        await ws.close(code=CLOSE_PROTOCOL, message=ended.detail.encode("ascii", "replace")[:120])
        return ws


def _start_call(start: Start, request: web.Request) -> StartCall:
    params = start.custom_parameters
    telephony = TelephonyCall(
        provider="twilio",
        call_sid=start.call_sid,
        from_number=params.get("from", ""),
        to_number=params.get("to", ""),
        direction=params.get("direction", "inbound"),
        stream_sid=start.stream_sid,
    )
    return StartCall(
        agent=params["agent"],
        input_format=PHONE_FORMAT,
        output_format=PHONE_FORMAT,
        peer=request.remote or "",
        forwarded_for=",".join(request.headers.getall("X-Forwarded-For", [])),
        telephony=telephony,
        reports_playback=True,
    )
