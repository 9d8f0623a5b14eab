"""The jambonz application socket: `session:new` in, `ack` with answer + listen out.

jambonz opens `GET /v1/jambonz/{namespace}/{name}` with subprotocol `ws.jambonz.org` and the
application's HTTP basic auth (https://docs.jambonz.org/reference/websocket-api/call-control/
overview). The call runs once jambonz has opened the listen socket the `ack` named; transfers
and hang-ups go back as `command` redirects (https://docs.jambonz.org/reference/websocket-api/
call-control/command). The socket is left for jambonz to close: a socket the application closes
is reconnected by jambonz (`session:reconnect`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import os
from collections.abc import Mapping

from aiohttp import WSMsgType, web

from switchboard_api.channels import JambonzChannel
from switchboard_api.common import secret_env_name
from switchboard_gateway.events import (
    AudioFormat,
    CallEndedEvent,
    Encoding,
    EndReason,
    ProtocolError,
    StartCall,
)
from switchboard_gateway.gateway import OverloadedError
from switchboard_gateway.transports.jambonz import protocol
from switchboard_gateway.transports.jambonz.call_io import Deliver, linger, read_app, send
from switchboard_gateway.transports.jambonz.line import CallGateway, CallLine, LineRegistry

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
#: jambonz opens the listen socket right after the ack; a call that never gets one ends.
LISTEN_TIMEOUT_S = 10.0
#: After a hang-up, how long jambonz has to close the socket before the gateway does.
LINGER_S = 10.0
#: After a transfer the socket stays open while the transferred call lasts (closing it would
#: make jambonz reconnect), up to this long.
TRANSFER_LINGER_S = 4 * 3600.0
LISTEN_PATH = "/v1/jambonz/_listen/"


def basic_auth_ok(request: web.Request, channel: JambonzChannel) -> bool:
    """Whether the request carries the channel's `username:password` (constant-time compare)."""
    ref = channel.basic_auth_secret_ref
    if ref is None:
        return False
    env = secret_env_name(ref)
    expected = os.environ.get(env, "")
    if not expected:
        log.warning("jambonz socket refused: %s (the basic-auth username:password) is unset", env)
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, expected.encode())


def listen_url(request: web.Request, token: str, public_url: str | None) -> str:
    """Where jambonz opens this call's listen socket (the public URL when configured).

    Without one, the host jambonz reached (its `Host`), over TLS when the request came over TLS
    or a TLS-terminating proxy says so (`X-Forwarded-Proto`): only the authenticated jambonz
    ever sees this URL, so a header it sent can misdirect nothing but its own call.
    """
    if public_url:
        base = "wss://" + public_url.removeprefix("https://").rstrip("/")
    else:
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        secure = request.secure or forwarded == "https"
        base = f"{'wss' if secure else 'ws'}://{request.host}"
    return f"{base}{LISTEN_PATH}{token}"


class JambonzApp:
    """Serves jambonz application sockets for the agents with the jambonz channel on."""

    def __init__(
        self,
        gateway: CallGateway,
        agents: Mapping[str, JambonzChannel],
        lines: LineRegistry,
        public_url: str | None = None,
    ) -> None:
        self._gateway, self._agents, self._lines = gateway, agents, lines
        self._public_url = public_url

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One application socket is one call."""
        key = f"{request.match_info['namespace']}/{request.match_info['name']}"
        channel = self._agents.get(key)
        if channel is None:
            raise web.HTTPNotFound(text="no agent takes jambonz calls here\n")
        if not basic_auth_ok(request, channel):
            log.info("jambonz socket for %s refused: missing or wrong basic auth", key)
            raise web.HTTPUnauthorized(
                text="basic auth required\n", headers={"WWW-Authenticate": 'Basic realm="jambonz"'}
            )
        ws = web.WebSocketResponse(
            protocols=(protocol.APP_SUBPROTOCOL,), max_msg_size=4 * protocol.MAX_TEXT_BYTES
        )
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="expected a WebSocket upgrade\n")
        await ws.prepare(request)
        try:
            await self._serve(ws, request, key, channel)
        finally:
            await ws.close()
        return ws

    async def _serve(
        self, ws: web.WebSocketResponse, request: web.Request, key: str, channel: JambonzChannel
    ) -> None:
        try:
            first = await asyncio.wait_for(ws.receive(), START_TIMEOUT_S)
            if first.type is WSMsgType.BINARY:
                raise ProtocolError("audio before session:new (jambonz sends text frames only)")
            if first.type is not WSMsgType.TEXT:
                return  # closed before anything was said
            message = protocol.read_app_message(first.data)
            if message.type == "session:reconnect":
                # No call of this gateway lost its socket (it never closes one mid-call): the
                # call is unknown here, so it is ended rather than left without an agent.
                log.warning("jambonz session:reconnect for an unknown call: hanging up")
                await ws.send_str(protocol.redirect(protocol.hangup_verbs()))
                await linger(ws, LINGER_S)
                return
            if message.type != "session:new":
                raise ProtocolError(f"expected session:new first, got {message.type!r}")
            telephony = protocol.telephony_of(message)
        except TimeoutError:
            self._gateway.refuse(EndReason.PROTOCOL_ERROR, "no session:new")
            log.info("jambonz socket for %s closed: no session:new in time", key)
            return
        except ProtocolError as error:
            self._gateway.refuse(EndReason.PROTOCOL_ERROR, str(error))
            log.info("jambonz socket for %s refused: %s", key, error)
            await ws.close(code=1008, message=b"protocol error")
            return
        audio = AudioFormat(channel.sample_rate, Encoding.PCM16)
        start = StartCall(
            agent=key,
            input_format=audio,
            output_format=audio,
            telephony=telephony,
            peer=request.remote or "",
            forwarded_for=",".join(request.headers.getall("X-Forwarded-For", [])),
        )
        try:
            admitted = self._gateway.admit(start, "jambonz", provider_verified=True)
        except OverloadedError:
            log.warning("jambonz call for %s declined: the gateway is at capacity", key)
            await ws.send_str(protocol.ack(message.msgid, protocol.decline(503, "Overloaded")))
            await linger(ws, LINGER_S)
            return
        if isinstance(admitted, CallEndedEvent):
            log.info("jambonz call for %s declined: %s", key, admitted.reason.value)
            await ws.send_str(protocol.ack(message.msgid, protocol.decline(603, "Decline")))
            await linger(ws, LINGER_S)
            return
        line = CallLine(telephony.call_sid, channel.sample_rate)
        token = self._lines.add(line)
        reader = asyncio.create_task(read_app(ws, line), name="jambonz-app-reader")
        wait_s = LINGER_S
        try:
            url = listen_url(request, token, self._public_url)
            verbs = protocol.answer_and_listen(url, channel.sample_rate, key)
            await ws.send_str(protocol.ack(message.msgid, verbs))
            listen = await _listen_socket(line, reader)
            if isinstance(listen, ProtocolError):
                self._gateway.refuse(EndReason.PROTOCOL_ERROR, str(listen))
                log.info("jambonz call for %s ended before it began: %s", key, listen)
                if not line.gone:
                    await send(ws, protocol.redirect(protocol.hangup_verbs()))
                return
            deliver = Deliver(ws, listen, line)
            ended = await self._gateway.run_call(
                admitted, start, deliver, line.inbound(), channel="jambonz"
            )
            log.info("jambonz call for %s ended: %s", key, ended.reason.value)
            if ended.reason is EndReason.TRANSFERRED:
                wait_s = TRANSFER_LINGER_S
            await listen.close()
        finally:
            self._lines.discard(token)
            line.done.set()
            await linger(ws, wait_s, reader)


async def _listen_socket(
    line: CallLine, reader: asyncio.Task[None]
) -> web.WebSocketResponse | ProtocolError:
    """The call's listen socket, or why the call cannot go on without one."""
    waiting: set[asyncio.Future[object]] = {line.listen, reader}  # type: ignore[arg-type]
    done, _ = await asyncio.wait(
        waiting, timeout=LISTEN_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if line.listen in done:
        return line.listen.result()
    if reader in done:
        return ProtocolError("jambonz ended the call before the listen socket opened")
    return ProtocolError(f"jambonz opened no listen socket within {LISTEN_TIMEOUT_S:.0f} s")
