"""Twilio Media Streams messages: JSON text in → typed events, typed actions → JSON text out.

Pure: no sockets. Every malformed message is a `ProtocolError` naming what was wrong.
Twilio's messages (docs: "Media Streams - WebSocket Messages"): `connected`, `start`, `media`,
`dtmf`, `mark`, `stop` from Twilio; `media`, `mark`, `clear` to Twilio (bidirectional streams).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from switchboard_gateway.events import ProtocolError
from switchboard_wire.json_depth import too_deep

#: μ-law at 8 kHz: one 20 ms frame is 160 bytes; Twilio sends whole frames.
MULAW_FRAME_BYTES = 160
#: Largest caller payload accepted in one `media` message (one second of audio).
MAX_PAYLOAD_BYTES = 50 * MULAW_FRAME_BYTES
#: Largest message text accepted (a start with custom parameters is a few kilobytes).
MAX_MESSAGE_CHARS = 32 * 1024
MULAW_ENCODING = "audio/x-mulaw"
DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class Connected:
    """The socket's first message: the protocol Twilio speaks."""

    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    """The stream's metadata (sent once, after `connected`)."""

    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str]
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class Media:
    """Caller audio: μ-law 8 kHz bytes."""

    track: str
    chunk: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio echoes a mark we sent: the audio before it has played (or was cleared)."""

    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key the caller pressed."""

    track: str
    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The stream ended (the caller hung up, or the call was redirected)."""

    call_sid: str


TwilioMessage = Connected | Start | Media | Mark | Dtmf | Stop


def _obj(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError(f"{message.get('event')} message without a {key!r} object")
    return value


def _str(body: dict[str, Any], key: str, event: str, *, required: bool = True) -> str:
    value = body.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise ProtocolError(f"{event} message: {key!r} must be a non-empty string")
    return value


def _int(body: dict[str, Any], key: str, event: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError(f"{event} message: {key!r} must be a number")
    try:
        return int(value)  # Twilio sends some numbers as strings ("chunk": "1")
    except (TypeError, ValueError):
        raise ProtocolError(f"{event} message: {key!r} must be a number") from None


def _start(message: dict[str, Any]) -> Start:
    body = _obj(message, "start")
    media_format = _obj(body, "mediaFormat")
    params = body.get("customParameters", {})
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise ProtocolError("start message: customParameters must map strings to strings")
    tracks = body.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError("start message: tracks must be a list of strings")
    return Start(
        stream_sid=_str(body, "streamSid", "start"),
        account_sid=_str(body, "accountSid", "start"),
        call_sid=_str(body, "callSid", "start"),
        tracks=tuple(tracks),
        custom_parameters=dict(params),
        encoding=_str(media_format, "encoding", "start"),
        sample_rate=_int(media_format, "sampleRate", "start"),
        channels=_int(media_format, "channels", "start", 1),
    )


def _media(message: dict[str, Any]) -> Media:
    body = _obj(message, "media")
    text = _str(body, "payload", "media")
    if len(text) > (MAX_PAYLOAD_BYTES * 4) // 3 + 4:
        raise ProtocolError(f"media payload over {MAX_PAYLOAD_BYTES} bytes")
    try:
        payload = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("media payload is not valid base64") from None
    if not payload or len(payload) % MULAW_FRAME_BYTES:
        raise ProtocolError(
            f"media payload of {len(payload)} bytes is not whole 20 ms mu-law frames "
            f"({MULAW_FRAME_BYTES} bytes each)"
        )
    return Media(
        track=_str(body, "track", "media", required=False) or "inbound",
        chunk=_int(body, "chunk", "media", 0),
        timestamp=_int(body, "timestamp", "media", 0),
        payload=payload,
    )


def _dtmf(message: dict[str, Any]) -> Dtmf:
    body = _obj(message, "dtmf")
    digit = _str(body, "digit", "dtmf")
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        raise ProtocolError("dtmf message: digit must be one of 0-9, *, #, A-D")
    return Dtmf(track=_str(body, "track", "dtmf", required=False), digit=digit)


def _stop(message: dict[str, Any]) -> Stop:
    body = message.get("stop")
    call_sid = body.get("callSid", "") if isinstance(body, dict) else ""
    return Stop(call_sid=call_sid if isinstance(call_sid, str) else "")


def parse_message(text: str) -> TwilioMessage:
    """One message from Twilio; a malformed or unknown one raises `ProtocolError`."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"message over {MAX_MESSAGE_CHARS} characters")
    if too_deep(text):
        raise ProtocolError("message is JSON nested too deeply")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    event = message.get("event")
    if event == "connected":
        return Connected(str(message.get("protocol", "")), str(message.get("version", "")))
    if event == "start":
        return _start(message)
    if event == "media":
        return _media(message)
    if event == "mark":
        return Mark(_str(_obj(message, "mark"), "name", "mark"))
    if event == "dtmf":
        return _dtmf(message)
    if event == "stop":
        return _stop(message)
    shown = event[:40] if isinstance(event, str) else type(event).__name__
    raise ProtocolError(f"unknown event {shown!r}")


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def media_message(stream_sid: str, audio: bytes) -> str:
    """Agent audio (μ-law 8 kHz) for Twilio to play."""
    payload = base64.b64encode(audio).decode("ascii")
    return _dump({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """A mark Twilio echoes once the audio sent before it has played."""
    return _dump({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop the audio Twilio has queued (barge-in); pending marks come back at once."""
    return _dump({"event": "clear", "streamSid": stream_sid})
