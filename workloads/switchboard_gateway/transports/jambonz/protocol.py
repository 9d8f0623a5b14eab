"""jambonz's message formats, read and written; pure functions, no I/O.

The application socket (subprotocol `ws.jambonz.org`) carries JSON text frames only:
https://docs.jambonz.org/reference/websocket-api/call-control/overview (jambonz sends
`session:new`, `session:reconnect`, `session:redirect`, `call:status`, `verb:hook`,
`verb:status`, `jambonz:error`; the application answers `ack` and sends `command`).
The `listen` verb's audio socket (subprotocol `audio.jambonz.org`) opens with one JSON text frame
of call metadata, then carries binary L16 (little-endian PCM16) both ways when
`bidirectionalAudio.streaming` is on, DTMF as `{"event": "dtmf", ...}` text frames when
`passDtmf` is on, and `{"type": "killAudio"}` from the application to stop playout:
https://docs.jambonz.org/verbs/verbs/listen and
https://www.jambonz.org/docs/supporting-articles/bidirectional-audio/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from switchboard_gateway.events import CallerDtmf, ProtocolError, TelephonyCall
from switchboard_wire.json_depth import too_deep

APP_SUBPROTOCOL = "ws.jambonz.org"
AUDIO_SUBPROTOCOL = "audio.jambonz.org"
#: Largest text frame read from either socket (session:new carries the SIP INVITE: a few KiB).
MAX_TEXT_BYTES = 64 * 1024
#: Largest binary audio frame accepted (two seconds of 16 kHz L16; jambonz sends 20 ms frames).
MAX_AUDIO_BYTES = 64 * 1024
#: Messages jambonz documents on the application socket that need no action from an agent.
IGNORED_TYPES = frozenset(
    {
        "session:redirect",
        "verb:status",
        "llm:event",
        "llm:tool-call",
        "tts:tokens-result",
        "tts:streaming-event",
        "dial:confirm",
    }
)
#: `call:status` values after which the call is gone.
ENDED_STATUSES = frozenset({"completed", "failed", "no-answer", "busy"})
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _object(raw: str | bytes, what: str) -> dict[str, Any]:
    if len(raw) > MAX_TEXT_BYTES:
        raise ProtocolError(f"{what} over {MAX_TEXT_BYTES} bytes")
    if too_deep(raw):
        raise ProtocolError(f"{what}: JSON nested too deeply")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ProtocolError(f"{what}: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{what}: malformed JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected a JSON object")
    return value


def _text(value: object, limit: int = 256) -> str:
    return value[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class AppMessage:
    """One message from jambonz on the application socket."""

    type: str
    msgid: str
    call_sid: str
    data: dict[str, Any]


def read_app_message(raw: str | bytes) -> AppMessage:
    """An application-socket message; anything jambonz does not send is a protocol error."""
    body = _object(raw, "jambonz message")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("jambonz message without a type")
    data = body.get("data", {})
    if not isinstance(data, dict):
        data = {}
    return AppMessage(kind[:64], _text(body.get("msgid")), _text(body.get("call_sid")), data)


def telephony_of(message: AppMessage) -> TelephonyCall:
    """The call behind a `session:new` (its `data` is the call's webhook payload)."""
    data = message.data
    call_sid = message.call_sid or _text(data.get("call_sid"))
    if not call_sid:
        raise ProtocolError("session:new without a call_sid")
    direction = _text(data.get("direction"))
    return TelephonyCall(
        provider="jambonz",
        call_sid=call_sid,
        from_number=_text(data.get("from"), 64),
        to_number=_text(data.get("to"), 64),
        direction=direction if direction in ("inbound", "outbound") else "inbound",
        caller_name=_text(data.get("caller_name"), 128),
    )


def ack(msgid: str, verbs: list[dict[str, Any]] | None = None) -> str:
    """`ack` of a `session:new` or `verb:hook`, with the verbs to run next (if any)."""
    body: dict[str, Any] = {"type": "ack", "msgid": msgid}
    if verbs is not None:
        body["data"] = verbs
    return json.dumps(body)


def answer_and_listen(listen_url: str, sample_rate: int, agent: str) -> list[dict[str, Any]]:
    """The application for a call: answer it, then stream it both ways to `listen_url`.

    `answer` answers the call first (jambonz would answer for `listen` anyway; it is explicit
    here). The `listen` verb has no `actionHook`: jambonz would report the listen's end with a
    `verb:hook` whose reply could replace a transfer already under way.
    """
    return [
        {"verb": "answer"},
        {
            "verb": "listen",
            "url": listen_url,
            "sampleRate": sample_rate,
            "mixType": "mono",
            "passDtmf": True,
            "bidirectionalAudio": {
                "enabled": True,
                "streaming": True,
                "sampleRate": sample_rate,
            },
            "metadata": {"agent": agent},
        },
    ]


def decline(status: int, reason: str) -> list[dict[str, Any]]:
    """Refuse an unanswered call with a SIP status (`sip:decline`)."""
    return [{"verb": "sip:decline", "status": status, "reason": reason[:64]}]


def redirect(verbs: list[dict[str, Any]]) -> str:
    """A `command` that replaces what jambonz is doing for the call with `verbs`."""
    return json.dumps(
        {"type": "command", "command": "redirect", "queueCommand": False, "data": verbs}
    )


def hangup_verbs() -> list[dict[str, Any]]:
    """The application that ends the call."""
    return [{"verb": "hangup"}]


def dial_verbs(target: str) -> list[dict[str, Any]]:
    """The application that transfers the caller to `target` (E.164 or a sip:/sips: URI)."""
    if _E164.match(target):
        return [{"verb": "dial", "target": [{"type": "phone", "number": target}]}]
    if target.startswith(("sip:", "sips:")) and len(target) <= 256 and " " not in target:
        return [{"verb": "dial", "target": [{"type": "sip", "sipUri": target}]}]
    raise ValueError(f"not an E.164 number or a sip: URI: {target[:64]!r}")


@dataclass(frozen=True, slots=True)
class ListenStart:
    """The metadata frame that opens a listen socket."""

    call_sid: str
    sample_rate: int
    mix_type: str


def read_listen_start(raw: str | bytes) -> ListenStart:
    """The listen socket's first frame: call metadata with `sampleRate` and `mixType`."""
    if isinstance(raw, bytes):
        raise ProtocolError("audio before the listen metadata frame")
    body = _object(raw, "listen metadata")
    call_sid = _text(body.get("callSid")) or _text(body.get("call_sid"))
    rate = body.get("sampleRate")
    if isinstance(rate, str) and rate.isdigit():
        rate = int(rate)
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise ProtocolError("listen metadata without a numeric sampleRate")
    return ListenStart(call_sid, rate, _text(body.get("mixType")) or "mono")


def read_listen_text(raw: str) -> CallerDtmf:
    """A text frame on a running listen socket: only DTMF is expected."""
    body = _object(raw, "listen message")
    if body.get("event") != "dtmf":
        kind = body.get("event", body.get("type"))
        raise ProtocolError(f"unexpected listen message {_text(kind, 40)!r}")
    digits = body.get("dtmf")
    if not isinstance(digits, str) or not _DTMF.match(digits):
        raise ProtocolError("dtmf message without valid digits")
    return CallerDtmf(digits)


def check_audio(frame: bytes) -> bytes:
    """A binary listen frame: whole 16-bit samples, within the size limit."""
    if len(frame) > MAX_AUDIO_BYTES:
        raise ProtocolError(f"audio frame over {MAX_AUDIO_BYTES} bytes")
    if len(frame) % 2:
        raise ProtocolError(f"audio frame of {len(frame)} bytes is not whole L16 samples")
    return frame


KILL_AUDIO = json.dumps({"type": "killAudio"})
