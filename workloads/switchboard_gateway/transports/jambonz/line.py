"""One jambonz call between its two sockets: the application socket and the listen socket.

The application socket's handler owns the call; the listen socket, opened by jambonz to the
per-call URL the `ack` named, hands itself over through the line and feeds the caller's audio
and digits into it. Tokens are single-use and live only while their call does.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from switchboard_gateway.events import (
    CallEndedEvent,
    CallerHangup,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
)
from switchboard_gateway.gateway import Admission


class CallGateway(Protocol):
    """What the jambonz transport needs of the gateway (`Gateway` is one)."""

    def admit(
        self, start: StartCall, channel: str, *, provider_verified: bool = False
    ) -> Admission | CallEndedEvent:
        """Admit a call (see `Gateway.admit`)."""
        ...

    def refuse(self, reason: EndReason, detail: str) -> CallEndedEvent:
        """Count a call refused before admission."""
        ...

    async def run_call(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        inbound: AsyncIterable[InboundEvent],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        """Run an admitted call (see `Gateway.run_call`)."""
        ...


_Item = InboundEvent | ProtocolError | None


@dataclass
class CallLine:
    """A live call: the caller's events from both sockets, and the listen socket once open."""

    call_sid: str
    sample_rate: int
    #: The listen socket, or why it could not be used.
    listen: asyncio.Future[web.WebSocketResponse | ProtocolError] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: Set when the call is over (the listen handler then returns).
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: jambonz itself ended the call (no hang-up is sent back then).
    gone: bool = False
    _events: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)
    _finished: bool = False

    def put(self, event: InboundEvent) -> None:
        """A caller event (audio, digits)."""
        if not self._finished:
            self._events.put_nowait(event)

    def hangup(self, reason: str) -> None:
        """Jambonz ended the call; nothing after this reaches the session."""
        self.gone = True
        if not self._finished:
            self._events.put_nowait(CallerHangup(reason))
            self._finished = True
            self._events.put_nowait(None)

    def fail(self, error: ProtocolError) -> None:
        """Jambonz broke the protocol: the call ends with `error`."""
        if not self._finished:
            self._finished = True
            self._events.put_nowait(error)
        if not self.listen.done():
            self.listen.set_result(error)

    def attach(self, socket: web.WebSocketResponse | ProtocolError) -> None:
        """The listen socket is open and its metadata checked (or it failed with an error)."""
        if not self.listen.done():
            self.listen.set_result(socket)

    async def inbound(self) -> AsyncIterator[InboundEvent]:
        """The caller's events for `Gateway.run_call`; a protocol error is raised from here."""
        while True:
            item = await self._events.get()
            if item is None:
                return
            if isinstance(item, ProtocolError):
                raise item
            yield item


class LineRegistry:
    """Live calls by their listen token (unguessable, single-use)."""

    def __init__(self) -> None:
        self._lines: dict[str, CallLine] = {}

    def add(self, line: CallLine) -> str:
        """A fresh token for `line`'s listen URL."""
        token = secrets.token_urlsafe(32)
        self._lines[token] = line
        return token

    def claim(self, token: str) -> CallLine | None:
        """The call a listen socket belongs to; a token works once."""
        return self._lines.pop(token, None)

    def discard(self, token: str) -> None:
        """The call is over: its token no longer opens anything."""
        self._lines.pop(token, None)

    def __len__(self) -> int:
        return len(self._lines)
