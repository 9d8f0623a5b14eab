"""A small typed client of the call API over gRPC.

async with connect("localhost:50051", agent="acme/receptionist") as call:
await call.send_audio(pcm16_frame)
async for event in call.events():
...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc

from switchboard_gateway.channels import open_channel
from switchboard_gateway.events import (
    AudioFormat,
    CallEndedEvent,
    OutboundEvent,
)
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.rpc import call_pb2_grpc
from switchboard_gateway.transports.grpc.codec import format_to_proto, outbound_from_proto


class Call:
    """One call in progress: send caller events, iterate server events."""

    def __init__(
        self,
        outbox: asyncio.Queue[pb.ClientEvent | None],
        stream: grpc.aio.StreamStreamCall[pb.ClientEvent, pb.ServerEvent],
    ) -> None:
        self._outbox, self._stream = outbox, stream

    async def send_audio(self, data: bytes) -> None:
        """Send caller audio (in the declared input format)."""
        await self._outbox.put(pb.ClientEvent(audio=pb.Audio(data=data)))

    async def send_text(self, text: str) -> None:
        """Send a typed caller turn."""
        await self._outbox.put(pb.ClientEvent(text=pb.Text(text=text)))

    async def send_dtmf(self, digits: str) -> None:
        """Send keypad digits."""
        await self._outbox.put(pb.ClientEvent(dtmf=pb.Dtmf(digits=digits)))

    async def send_raw(self, event: pb.ClientEvent) -> None:
        """Send any client event (tests use it to break the protocol on purpose)."""
        await self._outbox.put(event)

    async def hangup(self, reason: str = "") -> None:
        """End the call from the caller's side."""
        await self._outbox.put(pb.ClientEvent(hangup=pb.Hangup(reason=reason)))

    async def events(self) -> AsyncIterator[OutboundEvent]:
        """Server events until (and including) `CallEndedEvent`."""
        async for message in self._stream:
            event = outbound_from_proto(message)
            yield event
            if isinstance(event, CallEndedEvent):
                return


@asynccontextmanager
async def connect(
    target: str,
    agent: str,
    *,
    api_key: str = "",
    input_format: AudioFormat | None = None,
    output_format: AudioFormat | None = None,
    variables: dict[str, str] | None = None,
    token: str = "",
    tls: bool = False,
    ca_file: Path | None = None,
    server_name: str | None = None,
) -> AsyncIterator[Call]:
    """Open a channel to a gateway and start one call.

    `target`: `HOST:PORT`, `grpc://…`, or `grpcs://…` (TLS; also with `tls` or `ca_file`, see
    `switchboard_gateway.channels`).

    `token` (`switchboard up`'s, in running.json) travels as `authorization: Bearer` metadata;
    the gateway takes it as the API key when the start carries none.
    """
    outbox: asyncio.Queue[pb.ClientEvent | None] = asyncio.Queue()
    start = pb.Start(
        agent=agent,
        api_key=api_key,
        input_format=format_to_proto(input_format or AudioFormat()),
        output_format=format_to_proto(output_format or AudioFormat()),
        variables=variables or {},
    )
    await outbox.put(pb.ClientEvent(start=start))

    async def requests() -> AsyncIterator[pb.ClientEvent]:
        while (event := await outbox.get()) is not None:
            yield event

    channel = open_channel(target, tls=tls, ca_file=ca_file, server_name=server_name)
    async with channel:
        stub = call_pb2_grpc.CallServiceStub(channel)  # type: ignore[no-untyped-call]
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        stream = stub.Converse(requests(), metadata=metadata)
        try:
            yield Call(outbox, stream)
        finally:
            await outbox.put(None)
            stream.cancel()
