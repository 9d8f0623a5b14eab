"""The `listen` verb's audio socket: metadata, then L16 and DTMF in, L16 and killAudio out.

jambonz opens it (subprotocol `audio.jambonz.org`) to the URL the application's `ack` named,
which carries the call's single-use token; a socket whose token names no live call is refused
before the upgrade. https://docs.jambonz.org/verbs/verbs/listen
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from switchboard_gateway.events import CallerAudio, ProtocolError
from switchboard_gateway.transports.jambonz import protocol
from switchboard_gateway.transports.jambonz.line import CallLine, LineRegistry

log = logging.getLogger(__name__)

METADATA_TIMEOUT_S = 10.0


class ListenSocket:
    """Serves listen sockets for the calls in `lines`."""

    def __init__(self, lines: LineRegistry) -> None:
        self._lines = lines

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Hand the socket to its call and feed the caller's audio and digits into it."""
        line = self._lines.claim(request.match_info["token"])
        if line is None:
            log.info("jambonz listen socket refused: its token names no live call")
            raise web.HTTPForbidden(text="no call for this listen URL\n")
        ws = web.WebSocketResponse(
            protocols=(protocol.AUDIO_SUBPROTOCOL,), max_msg_size=4 * protocol.MAX_AUDIO_BYTES
        )
        if not ws.can_prepare(request).ok:
            line.fail(ProtocolError("the listen URL was fetched without a WebSocket upgrade"))
            raise web.HTTPBadRequest(text="expected a WebSocket upgrade\n")
        await ws.prepare(request)
        try:
            await _opened(ws, line)
            line.attach(ws)
            await _feed(ws, line)
        except ProtocolError as error:
            line.fail(error)
        except TimeoutError:
            line.fail(ProtocolError("the listen socket sent no metadata in time"))
        await line.done.wait()
        await ws.close()
        return ws


async def _opened(ws: web.WebSocketResponse, line: CallLine) -> None:
    """Check the metadata frame against the call the token belongs to."""
    first = await asyncio.wait_for(ws.receive(), METADATA_TIMEOUT_S)
    if first.type is WSMsgType.BINARY:
        raise ProtocolError("audio before the listen metadata frame")
    if first.type is not WSMsgType.TEXT:
        raise ProtocolError("the listen socket closed before its metadata frame")
    start = protocol.read_listen_start(first.data)
    if start.call_sid and start.call_sid != line.call_sid:
        raise ProtocolError("the listen metadata names another call")
    if start.sample_rate != line.sample_rate:
        raise ProtocolError(
            f"listen sampleRate {start.sample_rate} is not the agent's {line.sample_rate}"
        )
    if start.mix_type != "mono":
        raise ProtocolError(f"listen mixType {start.mix_type[:20]!r} is not mono")


async def _feed(ws: web.WebSocketResponse, line: CallLine) -> None:
    """The caller's audio and digits, until jambonz closes the socket."""
    async for msg in ws:
        if msg.type is WSMsgType.BINARY:
            line.put(CallerAudio(protocol.check_audio(msg.data)))
        elif msg.type is WSMsgType.TEXT:
            line.put(protocol.read_listen_text(msg.data))
        elif msg.type is WSMsgType.ERROR:
            raise ProtocolError(f"listen socket error: {ws.exception()}"[:200])
    line.hangup("jambonz closed the listen socket")
