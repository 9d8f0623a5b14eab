"""The WebSocket call protocol's server messages fed to a `ScriptedCaller` (tests' WS client)."""

from __future__ import annotations

import json

from websockets.asyncio.client import ClientConnection

from switchboard_gateway.events import (
    AgentAudioEvent,
    AgentTextEvent,
    AudioFormat,
    CallEndedEvent,
    CallStarted,
    ClearEvent,
    EndReason,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.scripted_caller import ScriptedCaller


async def feed_ws_events(socket: ClientConnection, caller: ScriptedCaller) -> None:
    """Read the call's messages until it closes, as the gateway's events, into `caller`."""
    sequence = 0
    try:
        async for message in socket:
            if isinstance(message, bytes):
                sequence += 1
                caller.on_event(AgentAudioEvent(0, sequence, message))
                continue
            body = json.loads(message)
            kind = body["type"]
            if kind == "started":
                caller.on_event(CallStarted(body["callId"], body["agent"], AudioFormat()))
            elif kind == "transcript":
                caller.on_event(TranscriptEvent(body["turn"], body["text"], body["final"]))
            elif kind == "agentText":
                caller.on_event(AgentTextEvent(body["turn"], body["text"]))
            elif kind == "latency":
                caller.on_event(
                    TurnLatencyEvent(body["turn"], voice_to_voice_ms=body["voiceToVoiceMs"])
                )
            elif kind == "clear":
                caller.on_event(ClearEvent(body["turn"], body["afterSequence"]))
            elif kind == "ended":
                caller.on_event(CallEndedEvent(EndReason(body["reason"]), body["detail"]))
    finally:
        caller.closed()
