"""A scripted call over gRPC: what `switchboard call` and the voice-to-voice benchmark place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import grpc

from switchboard_gateway.client import Call, connect
from switchboard_gateway.scripted_caller.caller import ScriptedCaller, Turn
from switchboard_gateway.scripted_caller.outcome import CallOutcome

#: After hanging up, the call's `ended` event is awaited this long.
END_TIMEOUT_S = 10.0


async def _read(call: Call, caller: ScriptedCaller) -> None:
    try:
        async for event in call.events():
            caller.on_event(event)
    finally:
        caller.closed()


@asynccontextmanager
async def scripted_call(
    target: str,
    agent: str,
    *,
    api_key: str = "",
    end_timeout_s: float = END_TIMEOUT_S,
    ca_file: Path | None = None,
    server_name: str | None = None,
) -> AsyncIterator[ScriptedCaller]:
    """A call to `agent` at `target` with a caller wired to it (its events read meanwhile).

    Leaving the block hangs up (reason `done`) unless the call ended, then waits for the end:
    `TimeoutError` when it does not come within `end_timeout_s`, `grpc.aio.AioRpcError` when the
    stream failed.
    """
    connecting = connect(target, agent, api_key=api_key, ca_file=ca_file, server_name=server_name)
    async with connecting as call:
        caller = ScriptedCaller(call.send_audio, call.send_text)
        reader = asyncio.create_task(_read(call, caller), name="call-events")
        try:
            yield caller
            if not caller.ended:
                await call.hangup("done")
            await asyncio.wait_for(asyncio.shield(reader), end_timeout_s)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            if not reader.cancelled() and (error := reader.exception()) is not None:
                raise error


async def run_call(
    target: str,
    agent: str,
    turns: Sequence[Turn],
    *,
    api_key: str = "",
    fast: bool = False,
    timeout: float = 60.0,
    ca_file: Path | None = None,
    server_name: str | None = None,
) -> CallOutcome:
    """Place one call, run the script, hang up, and report what happened.

    gRPC's errors do not escape: an unreachable gateway and a failed stream are in the outcome.
    """
    caller: ScriptedCaller | None = None
    incomplete, failure, unreachable_detail = "", "", ""
    unreachable = False
    try:
        calling = scripted_call(
            target, agent, api_key=api_key, ca_file=ca_file, server_name=server_name
        )
        async with calling as caller:
            try:
                await caller.converse(turns, fast=fast, timeout_s=timeout)
            except TimeoutError as error:
                incomplete = str(error)
    except TimeoutError:
        incomplete = f"the call did not end within {END_TIMEOUT_S:.0f} s of hanging up"
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNAVAILABLE and (caller is None or not caller.started):
            unreachable, unreachable_detail = True, error.details() or ""
        else:
            failure = f"{error.code().name}: {error.details()}"
    outcome = CallOutcome() if caller is None else CallOutcome.of(caller)
    outcome.incomplete, outcome.unreachable = incomplete, unreachable
    if unreachable:  # a refused connection, a failed TLS handshake: why, in gRPC's words
        outcome.end_detail = unreachable_detail
    if failure:
        outcome.end_reason = outcome.end_reason or "internal_error"
        outcome.end_detail = failure
    return outcome
