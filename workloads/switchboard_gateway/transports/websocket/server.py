"""The WebSocket transport (browsers): JSON control messages and binary PCM16 frames."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from switchboard_gateway.events import (
    MAX_MESSAGE_BYTES,
    AgentAudioEvent,
    CallEndedEvent,
    CallerAudio,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
)
from switchboard_gateway.gateway import Gateway, OverloadedError
from switchboard_gateway.transports.http import ExtraRoutes, plain_http
from switchboard_gateway.transports.http_guard import HttpGuard, token_cookie
from switchboard_gateway.transports.websocket.codec import (
    inbound_from_json,
    outbound_to_json,
    start_from_json,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
#: RFC 6455 close codes: 1008 policy violation (bad protocol use), 1013 try again later.
CLOSE_PROTOCOL, CLOSE_OVERLOADED = 1008, 1013


async def _ended(connection: ServerConnection, event: CallEndedEvent, code: int = 1000) -> None:
    with contextlib.suppress(ConnectionClosed):  # the client may be gone already
        await connection.send(outbound_to_json(event))
    await connection.close(code, event.reason.value)


class CallSocket:
    """Serves calls over WebSocket for one gateway."""

    def __init__(self, gateway: Gateway, guard: HttpGuard | None = None) -> None:
        self._gateway = gateway
        self._guard = guard

    async def handle(self, connection: ServerConnection) -> None:
        """One connection is one call (other paths were answered by `plain_http`)."""
        try:
            first = await asyncio.wait_for(connection.recv(), START_TIMEOUT_S)
            if isinstance(first, bytes):
                raise ProtocolError("the first message of a call must be start, not audio")
            start = start_from_json(first)
        except TimeoutError:
            await _ended(connection, self._gateway.refuse(EndReason.PROTOCOL_ERROR, "no start"))
            return
        except ProtocolError as error:
            failure = self._gateway.refuse(EndReason.PROTOCOL_ERROR, str(error))
            await _ended(connection, failure, CLOSE_PROTOCOL)
            return
        except ConnectionClosed:
            return
        except Exception as error:  # whatever else the decoding raises: still one clear refusal
            detail = f"unreadable start ({type(error).__name__})"
            await _ended(
                connection, self._gateway.refuse(EndReason.PROTOCOL_ERROR, detail), CLOSE_PROTOCOL
            )
            return
        start = start_with_peer(self._with_cookie_token(connection, start), connection)
        try:
            admitted = self._gateway.admit(start, "websocket")
        except OverloadedError as error:
            await connection.close(CLOSE_OVERLOADED, str(error)[:120])
            return
        if isinstance(admitted, CallEndedEvent):
            await _ended(connection, admitted, CLOSE_PROTOCOL)
            return

        async def deliver(event: OutboundEvent) -> None:
            try:
                if isinstance(event, AgentAudioEvent):
                    await connection.send(event.data)
                else:
                    await connection.send(outbound_to_json(event))
            except ConnectionClosed:
                pass  # the pump sees the close and ends the call

        inbound = _caller_events(connection)
        ended = await self._gateway.run_call(admitted, start, deliver, inbound, channel="websocket")
        code = CLOSE_PROTOCOL if ended.reason is EndReason.PROTOCOL_ERROR else 1000
        await connection.close(code, ended.reason.value)

    def _with_cookie_token(self, connection: ServerConnection, start: StartCall) -> StartCall:
        """A console call: the upgrade carried the token's cookie, so the token is its key."""
        guard = self._guard
        if guard is None or guard.token is None or start.api_key or connection.request is None:
            return start
        if guard.token_matches(token_cookie(connection.request.headers)):
            return dataclasses.replace(start, api_key=guard.token)
        return start


def start_with_peer(start: StartCall, connection: ServerConnection) -> StartCall:
    """The start with the caller's address and the `X-Forwarded-For` its upgrade carried."""
    remote = connection.remote_address
    peer = str(remote[0]) if isinstance(remote, tuple) and remote else ""
    request = connection.request
    forwarded = ",".join(request.headers.get_all("X-Forwarded-For")) if request else ""
    return dataclasses.replace(start, peer=peer, forwarded_for=forwarded)


async def _caller_events(connection: ServerConnection) -> AsyncIterator[InboundEvent]:
    """The caller's events after `start`; ends when the connection closes."""
    try:
        async for message in connection:
            if len(message) > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"message over {MAX_MESSAGE_BYTES} bytes")
            if isinstance(message, bytes):
                yield CallerAudio(message)
            elif (event := inbound_from_json(message)) is not None:
                yield event
    except ConnectionClosed:
        return


async def start_ws_server(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    extra_routes: ExtraRoutes | None = None,
    guard: HttpGuard | None = None,
    tls: ssl.SSLContext | None = None,
) -> Server:
    """Serve `gateway`: calls at `ws://host:port/v1/calls`, health and metrics over HTTP.

    `extra_routes` answers other paths first (the web console and its API, when enabled).
    `guard` judges every request but a probe (default: loopback names and `host` only).
    With `tls`, the port speaks HTTPS and WSS only.
    """
    guard = guard or HttpGuard.build(bound_host=host)
    # The library's own size limit stays above ours, so oversized frames get an `ended` event.
    return await serve(
        CallSocket(gateway, guard).handle,
        host,
        port,
        max_size=16 * MAX_MESSAGE_BYTES,
        compression=None,
        process_request=plain_http(gateway, extra_routes, guard),
        ssl=tls,
    )
