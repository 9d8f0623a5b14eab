"""Play corpus scripts against a running gateway over WebSocket and gRPC, counting every frame.

A frame counts as sent once the client library took it (a send that raises because the gateway
already closed the connection does not count). What the gateway answered is tallied too: calls
it started, how each ended, and refusals at capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from switchboard_gateway.rpc import call_pb2 as pb
from tests.hostile.corpus import Script, grpc_start, ws_start

METHOD = "/switchboard.v1.CallService/Converse"
#: No script may hold a connection longer than this (the gateway ends idle calls well before).
SCRIPT_TIMEOUT_S = 45.0
#: The details of the status grpc's aio client gives a write the server's end overtook.
CLIENT_WRITE_RACE = "Internal error from Core"
#: After the last frame, how long the client waits for the gateway's `ended`.
END_WAIT_S = 10.0


@dataclass
class Tally:
    """What the fuzzers sent and what the gateway answered."""

    frames: Counter[str] = field(default_factory=Counter)
    connections: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    overloaded: int = 0
    #: Calls that presented no key or a wrong one and were started anyway.
    bad_key_started: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    #: How each category's calls ended, as "category: reason".
    outcomes: Counter[str] = field(default_factory=Counter)

    def transport_frames(self, prefix: str) -> int:
        """Frames sent by scripts whose category starts with `prefix` ("ws", "grpc")."""
        return sum(n for c, n in self.frames.items() if c.split("/")[0].startswith(prefix))


class _Pace:
    """Keeps a script at `rate` frames a second (sleeping every 20 frames), or does nothing."""

    def __init__(self, rate: float | None) -> None:
        self._rate, self._sent, self._began = rate, 0, time.monotonic()

    async def next(self) -> None:
        self._sent += 1
        if self._rate and self._sent % 20 == 0:
            due = self._began + self._sent / self._rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))


def _key(script: Script, token: str) -> str:
    if script.key != "wrong":
        return {"token": token, "none": ""}[script.key]
    forged = os.urandom(24)
    if forged[0] & 1:  # half the wrong keys are forged call tokens (JWT-shaped, kid unknown)
        return f"eyJhbGciOiJIUzI1NiIsImtpZCI6IjAwIn0.{forged[:12].hex()}.{forged[12:].hex()}"
    return "wrong-" + forged.hex()


# --- WebSocket ----------------------------------------------------------------------------------


async def _ws_read(connection: ClientConnection, script: Script, tally: Tally) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in connection:
            if isinstance(message, bytes):
                continue
            with contextlib.suppress(ValueError):
                body = json.loads(message)
                if body.get("type") == "started":
                    tally.started[script.category] += 1
                    if script.key != "token":
                        tally.bad_key_started += 1
                elif body.get("type") == "ended":
                    tally.ended[str(body.get("reason"))] += 1
                    tally.outcomes[f"{script.category}: {body.get('reason')}"] += 1
    if connection.close_code == 1013:
        tally.overloaded += 1
        tally.outcomes[f"{script.category}: overloaded"] += 1


async def _ws_abort_mid_frame(connection: ClientConnection) -> None:
    # A masked binary frame announcing 4096 bytes, of which 100 are sent before the drop.
    connection.transport.write(b"\x82\xfe\x10\x00" + os.urandom(4) + bytes(100))
    await asyncio.sleep(0.05)
    connection.transport.abort()


async def play_ws(url: str, script: Script, token: str, tally: Tally) -> None:
    """Play one script on a new WebSocket connection."""
    tally.connections[script.category] += 1
    async with asyncio.timeout(SCRIPT_TIMEOUT_S):
        try:
            connection = await connect(url, max_size=None, compression=None, open_timeout=20)
        except (OSError, InvalidStatus, TimeoutError) as error:
            tally.client_errors[f"ws connect: {type(error).__name__}"] += 1
            return
        reader = asyncio.create_task(_ws_read(connection, script, tally))
        try:
            if script.start:
                await connection.send(ws_start(_key(script, token)).data.decode())
            pace = _Pace(script.rate)
            for frame in script.frames:
                await pace.next()
                if frame.kind == "binary":
                    await connection.send(frame.data)
                else:  # bytes as a text frame: the client does not check that it is UTF-8
                    await connection.send(frame.data, text=True)
                tally.frames[script.category] += 1
            if script.ending == "hangup":
                await connection.send(json.dumps({"type": "hangup", "reason": "fuzz"}))
            elif script.ending == "abort":
                connection.transport.abort()
            elif script.ending == "mid_frame":
                await _ws_abort_mid_frame(connection)
            else:
                await connection.close()
        except ConnectionClosed:
            pass  # the gateway ended the call: the rest of the script is not sent
        await asyncio.wait({reader}, timeout=END_WAIT_S)  # never raises, even if it was cancelled
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await connection.close()


# --- gRPC ---------------------------------------------------------------------------------------


async def _grpc_read(
    call: grpc.aio.StreamStreamCall[bytes, bytes], script: Script, tally: Tally
) -> None:
    try:
        async for raw in call:
            event = pb.ServerEvent.FromString(raw)
            kind = event.WhichOneof("event")
            if kind == "started":
                tally.started[script.category] += 1
                if script.key != "token":
                    tally.bad_key_started += 1
            elif kind == "ended":
                name = pb.CallEnded.Reason.Name(event.ended.reason)
                reason = name.removeprefix("REASON_").lower()
                tally.ended[reason] += 1
                tally.outcomes[f"{script.category}: {reason}"] += 1
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            tally.overloaded += 1
            tally.outcomes[f"{script.category}: overloaded"] += 1
        elif error.code() == grpc.StatusCode.INTERNAL and error.details() == CLIENT_WRITE_RACE:
            # Not the gateway's: grpc's aio client makes this status itself when a write fails
            # in its core because the server already ended the stream (grpc/grpc#34148).
            tally.client_errors[f"INTERNAL: {CLIENT_WRITE_RACE}"] += 1
            tally.outcomes[f"{script.category}: client write after the end"] += 1
        elif error.code() != grpc.StatusCode.CANCELLED:
            tally.ended[f"status {error.code().name}"] += 1
            tally.client_errors[f"{error.code().name}: {(error.details() or '')[:80]}"] += 1
            tally.outcomes[f"{script.category}: status {error.code().name}"] += 1


async def play_grpc(channel: grpc.aio.Channel, script: Script, token: str, tally: Tally) -> None:
    """Play one script on a new stream of `channel` (raw bytes: the client decodes nothing)."""
    tally.connections[script.category] += 1
    key = _key(script, token)
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    converse: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(
        METHOD, request_serializer=None, response_deserializer=None
    )
    call: grpc.aio.StreamStreamCall[bytes, bytes] = converse(metadata=metadata)
    reader = asyncio.create_task(_grpc_read(call, script, tally))
    async with asyncio.timeout(SCRIPT_TIMEOUT_S):
        try:
            if script.start:
                await call.write(grpc_start())
            pace = _Pace(script.rate)
            for frame in script.frames:
                await pace.next()
                await call.write(frame.data)
                tally.frames[script.category] += 1
            if script.ending == "hangup":
                await call.write(
                    pb.ClientEvent(hangup=pb.Hangup(reason="fuzz")).SerializeToString()
                )
            if script.ending == "abort":
                call.cancel()
            else:
                await call.done_writing()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            pass  # the gateway ended the call
        await asyncio.wait({reader}, timeout=END_WAIT_S)  # never raises, even if it was cancelled
        call.cancel()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def grpc_channel(target: str) -> grpc.aio.Channel:
    """A channel that will send frames far over the gateway's limits."""
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024),
               ("grpc.max_receive_message_length", 64 * 1024 * 1024)]  # fmt: skip
    return grpc.aio.insecure_channel(target, options=options)
