"""The gRPC transport: `switchboard.v1.CallService/Converse`, one bidirectional stream per call."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import grpc

from switchboard_gateway.events import (
    MAX_MESSAGE_BYTES,
    CallEndedEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
)
from switchboard_gateway.gateway import Gateway, OverloadedError
from switchboard_gateway.rpc import call_pb2 as pb
from switchboard_gateway.rpc import call_pb2_grpc
from switchboard_gateway.transports.grpc.codec import (
    inbound_from_proto,
    outbound_to_proto,
    start_from_proto,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


def _metadata_key(context: grpc.aio.ServicerContext[pb.ClientEvent, pb.ServerEvent]) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ")
    return ""


def start_with_peer(
    start: StartCall, context: grpc.aio.ServicerContext[pb.ClientEvent, pb.ServerEvent]
) -> StartCall:
    """The start with the caller's address: gRPC peers read `ipv4:A:P` or `ipv6:[A]:P`."""
    peer = context.peer() or ""
    family, _, rest = peer.partition(":")
    address = rest.rpartition(":")[0] if family in ("ipv4", "ipv6") else ""
    forwarded = [
        value
        for key, value in context.invocation_metadata() or ()
        if key == "x-forwarded-for" and isinstance(value, str)
    ]
    return dataclasses.replace(start, peer=address, forwarded_for=",".join(forwarded))


class CallService(call_pb2_grpc.CallServiceServicer):
    """Serves calls over gRPC for one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def Converse(  # noqa: N802 (the RPC's name)
        self,
        requests: AsyncIterator[pb.ClientEvent],
        context: grpc.aio.ServicerContext[pb.ClientEvent, pb.ServerEvent],
    ) -> AsyncIterator[pb.ServerEvent]:
        """One call: `start`, then caller events in and server events out until `ended`."""
        try:
            first = await asyncio.wait_for(anext(requests), START_TIMEOUT_S)
            start = start_with_peer(start_from_proto(first, _metadata_key(context)), context)
        except (TimeoutError, StopAsyncIteration):
            yield outbound_to_proto(self._gateway.refuse(EndReason.PROTOCOL_ERROR, "no start"))
            return
        except ProtocolError as error:
            yield outbound_to_proto(self._gateway.refuse(EndReason.PROTOCOL_ERROR, str(error)))
            return
        except Exception as error:  # an undecodable message (DecodeError) or a broken stream
            detail = f"unreadable start ({type(error).__name__})"
            yield outbound_to_proto(self._gateway.refuse(EndReason.PROTOCOL_ERROR, detail))
            return
        try:
            admitted = self._gateway.admit(start, "grpc")
        except OverloadedError as error:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
            return
        if isinstance(admitted, CallEndedEvent):
            yield outbound_to_proto(admitted)
            return
        outbox: asyncio.Queue[pb.ServerEvent | None] = asyncio.Queue()

        async def deliver(event: OutboundEvent) -> None:
            outbox.put_nowait(outbound_to_proto(event))

        async def run() -> None:
            try:
                await self._gateway.run_call(admitted, start, deliver, _caller_events(requests))
            finally:
                outbox.put_nowait(None)

        call = asyncio.create_task(run())
        try:
            while (message := await outbox.get()) is not None:
                yield message
        finally:
            call.cancel()


async def _caller_events(
    requests: AsyncIterator[pb.ClientEvent],
) -> AsyncIterator[InboundEvent]:
    """The caller's events after `start`; a broken stream is a protocol error."""
    try:
        async for message in requests:
            if message.ByteSize() > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"message over {MAX_MESSAGE_BYTES} bytes")
            event = inbound_from_proto(message)
            if event is not None:
                yield event
    except (grpc.RpcError, asyncio.InvalidStateError) as error:
        raise ProtocolError(f"stream error: {type(error).__name__}") from error


async def start_grpc_server(
    gateway: Gateway,
    address: str = "127.0.0.1:0",
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving `gateway` over gRPC (over TLS with `credentials`); returns server and port."""
    # gRPC's own limit is kept well above ours, so an oversized frame gets our `ended` event
    # with a clear reason instead of a bare transport status.
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * MAX_MESSAGE_BYTES)])
    call_pb2_grpc.add_CallServiceServicer_to_server(CallService(gateway), server)  # type: ignore[no-untyped-call]
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    await server.start()
    return server, port
