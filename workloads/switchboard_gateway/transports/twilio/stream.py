"""One admitted Twilio media stream: the gateway's events out, Twilio's messages in.

Agent audio goes out as `media` messages (20 ms μ-law frames) with a `mark` every few frames
and at every pause; echoed marks become `CallerPlayed`. Barge-in sends `clear`. A transfer or
hang-up goes through Twilio's REST API (`CallControl`), whose failures are logged and end the
call cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    CallerPlayed,
    ClearEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    TransferEvent,
)
from switchboard_gateway.transports.twilio.codec import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioMessage,
    clear_message,
    mark_message,
    media_message,
)
from switchboard_gateway.transports.twilio.marks import MarkBook

log = logging.getLogger(__name__)

#: No agent frame for this long is a pause: the last frames get their mark.
PAUSE_S = 0.1
#: Twilio's REST API gets this long per request.
REST_TIMEOUT_S = 10.0
#: WebSocket close codes: normal, policy violation (bad protocol use).
CLOSE_NORMAL, CLOSE_PROTOCOL = 1000, 1008


class CallControl(Protocol):
    """Twilio's REST actions on a live call (`rest.TwilioRest`)."""

    async def transfer(self, call_sid: str, target: str) -> None:
        """Redirect the call to `target` (`<Dial>`)."""

    async def hang_up(self, call_sid: str) -> None:
        """End the call (`status=completed`)."""

    async def aclose(self) -> None:
        """Release the HTTP client."""


class TwilioStream:
    """The socket of one admitted call and what has been played on it."""

    def __init__(
        self, ws: web.WebSocketResponse, start: Start, control: CallControl | None
    ) -> None:
        self._ws, self._start, self._control = ws, start, control
        self._marks = MarkBook()
        self._lock = asyncio.Lock()
        self._last_frame_at = 0.0
        self._flusher: asyncio.Task[None] | None = None

    async def _send(self, text: str) -> None:
        if self._ws.closed:
            return
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.send_str(text)

    async def deliver(self, event: OutboundEvent) -> None:
        """Act on one of the call's events (see the contract: audio, clear, transfer, end)."""
        sid = self._start.stream_sid
        if isinstance(event, AgentAudioEvent):
            await self._send(media_message(sid, event.data))
            self._last_frame_at = asyncio.get_running_loop().time()
            if (name := self._marks.frame_sent(event.sequence)) is not None:
                await self._send(mark_message(sid, name))
            elif self._flusher is None:
                self._flusher = asyncio.create_task(self._flush_at_pauses(), name="twilio-marks")
        elif isinstance(event, ClearEvent):
            self._marks.cleared()
            await self._send(clear_message(sid))
        elif isinstance(event, TransferEvent):
            await self._rest("transfer", event.target)
        elif isinstance(event, CallEndedEvent):
            await self._end(event)

    async def _flush_at_pauses(self) -> None:
        """Mark the last frames before a pause, so their playing is known too."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PAUSE_S / 2)
            if self._marks.unmarked and loop.time() - self._last_frame_at >= PAUSE_S:
                name = self._marks.flush()
                if name is not None:
                    await self._send(mark_message(self._start.stream_sid, name))

    async def _end(self, event: CallEndedEvent) -> None:
        # A transferred call lives on elsewhere; a caller's hang-up has ended it already.
        if event.reason not in (EndReason.TRANSFERRED, EndReason.CALLER_HANGUP):
            await self._rest("hang_up")
        code = CLOSE_PROTOCOL if event.reason is EndReason.PROTOCOL_ERROR else CLOSE_NORMAL
        reason = f"{event.reason.value}: {event.detail}" if event.detail else event.reason.value
        await self._ws.close(code=code, message=reason.encode("ascii", "replace")[:120])

    async def _rest(self, action: str, target: str = "") -> None:
        """Transfer or hang up through Twilio's REST API; failures are logged, never raised."""
        if self._control is None:
            # Closing the stream ends the call anyway (nothing follows <Connect> in our TwiML);
            # a transfer cannot happen without the REST API.
            level = logging.WARNING if action == "transfer" else logging.INFO
            log.log(level, "twilio: no %s through REST without channels.twilio.accountSid", action)
            return
        call_sid = self._start.call_sid
        try:
            if action == "transfer":
                await asyncio.wait_for(self._control.transfer(call_sid, target), REST_TIMEOUT_S)
            else:
                await asyncio.wait_for(self._control.hang_up(call_sid), REST_TIMEOUT_S)
        except Exception as error:  # the REST API's failure ends this call, not the process
            log.warning("twilio: %s of %s failed (%s)", action, call_sid, type(error).__name__)

    async def inbound(self, messages: AsyncIterator[TwilioMessage]) -> AsyncIterator[InboundEvent]:
        """The caller's events after `start`; a `stop` is the caller's hang-up."""
        async for message in messages:
            if isinstance(message, Media):
                yield CallerAudio(message.payload)
            elif isinstance(message, Mark):
                if (played := self._marks.echoed(message.name)) is not None:
                    yield CallerPlayed(played)
            elif isinstance(message, Dtmf):
                yield CallerDtmf(message.digit)
            elif isinstance(message, Stop):
                yield CallerHangup("the caller hung up (Twilio stop)")
                return
            elif isinstance(message, Start):
                raise ProtocolError("a second start on one stream")
            elif isinstance(message, Connected):
                raise ProtocolError("connected after start")

    async def aclose(self) -> None:
        """Stop the mark flusher and release the REST client."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._control is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._control.aclose(), REST_TIMEOUT_S)
