"""A running jambonz call's traffic: events out as audio, killAudio and commands; messages in.

Formats: https://docs.jambonz.org/reference/websocket-api/call-control/command (redirect) and
https://docs.jambonz.org/verbs/verbs/listen (L16 and killAudio on the listen socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    ClearEvent,
    EndReason,
    OutboundEvent,
    ProtocolError,
    TransferEvent,
)
from switchboard_gateway.transports.jambonz import protocol
from switchboard_gateway.transports.jambonz.line import CallLine

log = logging.getLogger(__name__)

_SEND_ERRORS = (ConnectionError, RuntimeError)


class Deliver:
    """The call's events to jambonz: audio and killAudio on the listen socket, commands here."""

    def __init__(
        self, app: web.WebSocketResponse, listen: web.WebSocketResponse, line: CallLine
    ) -> None:
        self._app, self._listen, self._line = app, listen, line

    async def __call__(self, event: OutboundEvent) -> None:
        """Act on one of the call's events (others are not for jambonz)."""
        if isinstance(event, AgentAudioEvent):
            await send(self._listen, event.data)
        elif isinstance(event, ClearEvent):
            await send(self._listen, protocol.KILL_AUDIO)
        elif isinstance(event, TransferEvent):
            try:
                verbs = protocol.dial_verbs(event.target)
            except ValueError as error:
                log.warning("jambonz transfer impossible (%s): hanging up instead", error)
                verbs = protocol.hangup_verbs()
            await send(self._app, protocol.redirect(verbs))
        elif (
            isinstance(event, CallEndedEvent)
            and event.reason is not EndReason.TRANSFERRED
            and not self._line.gone
        ):
            await send(self._app, protocol.redirect(protocol.hangup_verbs()))


async def send(ws: web.WebSocketResponse, data: str | bytes) -> None:
    """Send unless the socket is gone (its reader then ends the call)."""
    if ws.closed:
        return
    with contextlib.suppress(*_SEND_ERRORS):  # the reader sees the close and ends the call
        if isinstance(data, bytes):
            await ws.send_bytes(data)
        else:
            await ws.send_str(data)


async def read_app(ws: web.WebSocketResponse, line: CallLine) -> None:
    """Jambonz's messages during the call: status, hooks to acknowledge, errors."""
    async for msg in ws:
        if msg.type is WSMsgType.BINARY:
            line.fail(ProtocolError("binary frame on the application socket (text only)"))
            return
        if msg.type is not WSMsgType.TEXT:
            break
        try:
            message = protocol.read_app_message(msg.data)
        except ProtocolError as error:
            line.fail(error)
            return
        kind = message.type
        if kind == "call:status":
            status = message.data.get("call_status")
            if status in protocol.ENDED_STATUSES:
                line.hangup(f"jambonz call:status {status}")
        elif kind == "verb:hook":
            await send(ws, protocol.ack(message.msgid))
        elif kind == "jambonz:error":
            line.hangup("jambonz reported a fatal error")
        elif kind in ("session:new", "session:reconnect"):
            line.fail(ProtocolError(f"{kind} on a socket that already carries a call"))
            return
        elif kind not in protocol.IGNORED_TYPES:
            line.fail(ProtocolError(f"unknown jambonz message type {kind[:40]!r}"))
            return
    line.hangup("jambonz closed the application socket")


async def linger(
    ws: web.WebSocketResponse, seconds: float, reader: asyncio.Task[None] | None = None
) -> None:
    """Let jambonz close the socket (it does when the call ends), up to `seconds`."""
    if reader is None:
        reader = asyncio.create_task(drain(ws))
    try:
        await asyncio.wait_for(asyncio.shield(reader), seconds)
    except TimeoutError:
        pass
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def drain(ws: web.WebSocketResponse) -> None:
    """Read and drop messages until the socket closes."""
    async for _ in ws:
        pass
