"""The WebSocket wire format: JSON control messages (camelCase, `type` first) and binary audio.

Caller audio is sent as binary messages in the declared input format; agent audio comes back as
binary messages of 20 ms in the output format, counted from 1 (a `clear` names the last count
to keep). Everything else is a JSON text message.
"""

from __future__ import annotations

import json
from typing import Any

from switchboard_gateway.events import (
    AgentTextEvent,
    AudioFormat,
    CallEndedEvent,
    CallerDtmf,
    CallerHangup,
    CallerText,
    CallStarted,
    ClearEvent,
    Encoding,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
    ToolCallEvent,
    ToolResultEvent,
    TranscriptEvent,
    TransferEvent,
    TurnLatencyEvent,
)
from switchboard_wire.json_depth import too_deep
from switchboard_wire.latency import LatencyStage

MAX_TEXT_CHARS = 4000


def _object(raw: str | bytes) -> dict[str, Any]:
    if too_deep(raw):
        raise ProtocolError("malformed JSON: nested too deeply")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"malformed JSON: {error}") from None
    except RecursionError:
        raise ProtocolError("malformed JSON: nested too deeply") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise ProtocolError("a control message must be a JSON object with a string `type`")
    return value


def _string(message: dict[str, Any], key: str, default: str | None = None) -> str:
    value = message.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"`{key}` must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise ProtocolError(f"`{key}` is longer than {MAX_TEXT_CHARS} characters")
    return value


def _characters(value: str, what: str) -> str:
    """`value`, refused if it holds a lone UTF-16 surrogate.

    JSON's escape of one (backslash, "ud800") parses, but no model, tokenizer or request body can
    encode it: text the call would hand to its models must be characters.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        message = f"{what} holds a lone UTF-16 surrogate, which is not a character"
        raise ProtocolError(message) from None
    return value


def _format(value: object) -> AudioFormat:
    if value is None:
        return AudioFormat()
    if not isinstance(value, dict):
        raise ProtocolError("an audio format must be an object")
    encoding = value.get("encoding", "pcm16")
    if encoding not in ("pcm16", "mulaw"):
        raise ProtocolError("encoding must be pcm16 or mulaw")
    return AudioFormat.checked(value.get("sampleRate", 16_000), Encoding(encoding), "sampleRate")


def start_from_json(raw: str | bytes) -> StartCall:
    """The first message of a call, which must be `{"type": "start", ...}`."""
    message = _object(raw)
    if message["type"] != "start":
        raise ProtocolError("the first message of a call must be start")
    agent = _string(message, "agent", "")
    if not agent:
        raise ProtocolError("start.agent is required")
    variables = message.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        raise ProtocolError("variables must map strings to strings")
    for name, value in variables.items():
        _characters(name + value, "variables")
    return StartCall(
        agent=agent,
        api_key=_string(message, "apiKey", ""),
        input_format=_format(message.get("inputFormat")),
        output_format=_format(message.get("outputFormat")),
        variables=variables,
        client_reference=_string(message, "clientReference", ""),
    )


def inbound_from_json(raw: str | bytes) -> InboundEvent | None:
    """A control message after start (None for `played`, which the loop does not need)."""
    message = _object(raw)
    kind = message["type"]
    if kind == "text":
        return CallerText(_characters(_string(message, "text"), "`text`"))
    if kind == "dtmf":
        return CallerDtmf(_characters(_string(message, "digits"), "`digits`"))
    if kind == "hangup":
        return CallerHangup(_string(message, "reason", ""))
    if kind == "played":
        return None
    if kind == "start":
        raise ProtocolError("start may be sent only once")
    raise ProtocolError(f"unknown message type {kind[:40]!r}")


def outbound_to_json(event: OutboundEvent) -> str:
    """A server event (other than agent audio) as a JSON text message."""
    body: dict[str, Any]
    if isinstance(event, CallStarted):
        fmt = event.output_format
        body = {
            "type": "started",
            "callId": event.call_id,
            "agent": event.agent,
            "outputFormat": {"sampleRate": fmt.sample_rate, "encoding": fmt.encoding.value},
        }
    elif isinstance(event, TranscriptEvent):
        body = {"type": "transcript", "turn": event.turn, "text": event.text, "final": event.final}
    elif isinstance(event, AgentTextEvent):
        body = {"type": "agentText", "turn": event.turn, "text": event.text}
    elif isinstance(event, ClearEvent):
        body = {"type": "clear", "turn": event.turn, "afterSequence": event.after_sequence}
    elif isinstance(event, ToolCallEvent):
        body = {
            "type": "toolCall",
            "turn": event.turn,
            "id": event.id,
            "name": event.name,
            "arguments": event.arguments_json,
        }
    elif isinstance(event, ToolResultEvent):
        body = {
            "type": "toolResult",
            "turn": event.turn,
            "id": event.id,
            "ok": event.ok,
            "error": event.error,
            "latencyMs": event.latency_ms,
        }
    elif isinstance(event, TurnLatencyEvent):
        body = {"type": "latency", "turn": event.turn, "interrupted": event.interrupted}
        body["phraseCacheHit"] = event.phrase_cache_hit
        body.update({stage.json_key: event.ms(stage) for stage in LatencyStage})
    elif isinstance(event, TransferEvent):
        body = {"type": "transfer", "target": event.target, "reason": event.reason}
    elif isinstance(event, CallEndedEvent):
        body = {"type": "ended", "reason": event.reason.value, "detail": event.detail}
    else:
        raise TypeError(f"{type(event).__name__} travels as binary")
    return json.dumps(body, separators=(",", ":"))
