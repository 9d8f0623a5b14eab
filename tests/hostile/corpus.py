"""Hostile WebSocket messages and gRPC frames: pure generators driven by one seeded `Random`.

Each generator returns a `Script`: what one connection sends, in order. A `Frame` is a WebSocket
message (text, binary, or bytes sent as a text frame, which may not be UTF-8) or a serialised
gRPC `ClientEvent` (raw bytes, decodable or not). Nothing here does I/O, so a failing run is
replayed from its seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Literal

from switchboard_gateway.rpc import call_pb2 as pb

SEED = 20261128
#: The WebSocket codec's text limit (characters) and every transport's message limit (bytes).
MAX_TEXT_CHARS = 4000
MAX_MESSAGE_BYTES = 256 * 1024

#: Floods are unpaced: as fast as the socket takes them. The gateway reads one call's messages
#: at `callPolicy.limits.maxMessagesPerSecond` (200) and stops reading its socket meanwhile, so
#: the client is slowed by flow control instead of taking the gateway's loop.
FLOOD_RATE = None

Kind = Literal["text", "binary", "raw_text"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One message on the wire: `kind` says how a WebSocket sends it (gRPC sends `data`)."""

    data: bytes
    kind: Kind = "binary"


@dataclass
class Script:
    """What one connection does: `start` (None: no valid start), then `frames`, then `ending`."""

    category: str
    frames: list[Frame] = field(default_factory=list)
    #: Whether a valid start (with the run's token) goes first; the call may then be admitted.
    start: bool = True
    #: "hangup": a polite end; "close": close the stream; "abort": drop the TCP connection
    #: (gRPC: cancel the RPC); "mid_frame": abort halfway through writing a frame.
    ending: Literal["hangup", "close", "abort", "mid_frame"] = "close"
    #: The key a start presents: "token" (the run's), "none" or "wrong" (a made-up key or a
    #: forged call token).
    key: Literal["token", "none", "wrong"] = "token"
    #: At most this many frames a second (None: as fast as the socket takes them).
    rate: float | None = None


def _json(value: object) -> Frame:
    return Frame(json.dumps(value).encode(), "text")


#: Values of every JSON type, and numbers and strings that break naive code.
ODD_VALUES: list[object] = [
    None, True, False, 0, -1, 2**63, 1.5, -0.0, 1e308, "", "x", [], [1, "a"], {}, {"a": {}},
    "\u0000", "\ud800", "\udfff", "\ufeff", "\u202e", "🙂" * 50, "a\u0301" * 30,
]  # fmt: skip
#: Strings that are legal JSON yet hostile: lone surrogates, NUL, BOM, bidi overrides, zalgo.
UNICODE_TEXTS = [
    "\ud800", "x\udfffy", "\u0000", "nul\u0000inside", "\ufeffbom", "\u202egnirts desrever",
    "\u200b\u200d\u2060", "e\u0301\u0302\u0303\u0304" * 200, "🙂\ud83d", "\uffff\ufffe",
    "\U0010ffff", "A" + "\u0308" * 3000,
]  # fmt: skip
#: Byte strings that are not UTF-8: overlong encodings, surrogates encoded, truncated sequences.
BAD_UTF8 = [
    b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xff\xfe",
    b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b'{"type":"text","text":"\xc0\xaf"}',
]  # fmt: skip


def ws_start(key: str) -> Frame:
    """A valid WebSocket start for the receptionist presenting `key`."""
    return _json({"type": "start", "agent": "receptionist", "apiKey": key})


def _deep(depth: int, rng: random.Random) -> bytes:
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return opener * depth + b"1" + closer * depth


def _truncated(rng: random.Random) -> Frame:
    whole = json.dumps({"type": "text", "text": "where is the clinic?" * 3}).encode()
    return Frame(whole[: rng.randrange(1, len(whole))], "text")


def _wrong_types(rng: random.Random) -> list[Frame]:
    frames = []
    for kind, keys in (("text", ["text"]), ("dtmf", ["digits"]), ("hangup", ["reason"])):
        for key in keys:
            frames.append(_json({"type": kind, key: rng.choice(ODD_VALUES[:15])}))
    frames.append(_json({"type": rng.choice(ODD_VALUES[:15])}))
    frames.append(_json(rng.choice([[], "text", 1, None, [{"type": "text"}]])))
    return frames


def ws_in_call(rng: random.Random) -> Script:
    """A call that is admitted, then sent one or a few hostile messages of one category."""
    category = rng.choice(
        ["random_binary", "random_text", "bad_utf8", "truncated", "wrong_types", "unknown_type",
         "deep", "huge", "unicode", "audio_sizes", "second_start", "dtmf", "abort", "mid_frame"]
    )  # fmt: skip
    script = Script("ws/" + category, ending=rng.choice(["hangup", "close", "abort"]))
    frames = script.frames
    for _ in range(rng.randrange(1, 6)):
        if category == "random_binary":
            frames.append(Frame(rng.randbytes(rng.randrange(0, 4096))))
        elif category == "random_text":
            frames.append(Frame(rng.randbytes(rng.randrange(1, 512)).hex().encode(), "text"))
        elif category == "bad_utf8":
            frames.append(Frame(rng.choice(BAD_UTF8), "raw_text"))
        elif category == "truncated":
            frames.append(_truncated(rng))
        elif category == "wrong_types":
            frames.extend(_wrong_types(rng))
        elif category == "unknown_type":
            frames.append(_json({"type": rng.randbytes(8).hex(), "text": "hi"}))
        elif category == "deep":
            frames.append(Frame(_deep(rng.choice([1_000, 10_000, 100_000]), rng), "text"))
        elif category == "huge":
            size = rng.choice([MAX_TEXT_CHARS, MAX_TEXT_CHARS + 1, 200_000, MAX_MESSAGE_BYTES + 1])
            frames.append(
                _json({"type": rng.choice(["text", "dtmf", "hangup"]), "text": "a" * size})
            )
        elif category == "unicode":
            frames.append(_json({"type": "text", "text": rng.choice(UNICODE_TEXTS)}))
        elif category == "audio_sizes":
            size = rng.choice([0, 1, 3, 639, 641, 4_001, MAX_MESSAGE_BYTES + 2])
            frames.append(Frame(bytes(size)))
        elif category == "second_start":
            frames.append(ws_start("x"))
        elif category == "dtmf":
            frames.append(
                _json({"type": "dtmf", "digits": rng.choice(["1", "#", "E", "\u0000", "٣"])})
            )
    if category in ("abort", "mid_frame"):
        frames[:] = [Frame(bytes(640)) for _ in range(rng.randrange(1, 50))]
        script.ending = "abort" if category == "abort" else "mid_frame"
    return script


def ws_before_start(rng: random.Random) -> Script:
    """A connection whose first message is not a valid start (or a start with a bad key)."""
    category = rng.choice(
        ["random_binary", "random_text", "bad_utf8", "truncated", "wrong_types", "deep",
         "unicode_start", "no_key", "wrong_key", "not_start", "huge_start"]
    )  # fmt: skip
    script = Script("ws-prestart/" + category, start=False, ending="close")
    if category == "random_binary":
        script.frames.append(Frame(rng.randbytes(rng.randrange(0, 2048))))
    elif category == "random_text":
        script.frames.append(Frame(rng.randbytes(rng.randrange(1, 256)).hex().encode(), "text"))
    elif category == "bad_utf8":
        script.frames.append(Frame(rng.choice(BAD_UTF8), "raw_text"))
    elif category == "truncated":
        whole = ws_start("k").data
        script.frames.append(Frame(whole[: rng.randrange(1, len(whole))], "text"))
    elif category == "wrong_types":
        key = rng.choice(["agent", "apiKey", "inputFormat", "outputFormat", "variables",
                          "clientReference"])  # fmt: skip
        script.frames.append(
            _json({"type": "start", "agent": "receptionist", key: rng.choice(ODD_VALUES)})
        )
    elif category == "deep":
        script.frames.append(Frame(_deep(rng.choice([1_000, 100_000]), rng), "text"))
    elif category == "unicode_start":
        agent = rng.choice(UNICODE_TEXTS)
        script.frames.append(_json({"type": "start", "agent": agent, "clientReference": agent}))
    elif category in ("no_key", "wrong_key"):
        script.start, script.key = True, "none" if category == "no_key" else "wrong"
        script.frames.append(_json({"type": "text", "text": "let me in"}))
    elif category == "not_start":
        script.frames.append(_json({"type": rng.choice(["text", "dtmf", "hangup", "played"])}))
    else:
        script.frames.append(_json({"type": "start", "agent": "receptionist" * 3_000}))
    return script


def ws_flood(rng: random.Random, frames: int) -> Script:
    """Thousands of tiny messages as fast as the socket takes them: audio and `played`.

    No keys: keys faster than a keypad end the call at once (the `dtmf` category sends some).
    """
    kinds = [Frame(b"\x00\x00"), Frame(bytes(rng.choice([2, 4, 6]))),
             _json({"type": "played"})]  # fmt: skip
    chosen = [rng.choice(kinds) for _ in range(frames)]
    return Script("ws/flood", chosen, ending="hangup", rate=FLOOD_RATE)


# --- gRPC ---------------------------------------------------------------------------------------


def grpc_start(**overrides: object) -> bytes:
    """A serialised `start` for the receptionist (with `overrides` of its fields)."""
    fields: dict[str, object] = {"agent": "receptionist", **overrides}
    return pb.ClientEvent(start=pb.Start(**fields)).SerializeToString()  # type: ignore[arg-type]


def _bad_text_bytes(raw: bytes) -> bytes:
    """A `ClientEvent{text{text=raw}}` serialised by hand, so `raw` need not be UTF-8."""
    inner = b"\x0a" + _varint(len(raw)) + raw
    return b"\x1a" + _varint(len(inner)) + inner


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _grpc_hostile(rng: random.Random, category: str) -> bytes:
    event = pb.ClientEvent
    if category == "random_bytes":
        return rng.randbytes(rng.randrange(0, 2048))
    if category == "truncated":
        whole = event(text=pb.Text(text="is there parking?" * 4)).SerializeToString()
        return whole[: rng.randrange(1, len(whole))]
    if category == "bad_utf8":
        return _bad_text_bytes(rng.choice(BAD_UTF8))
    if category == "empty_oneof":
        return b""
    if category == "second_start":
        return grpc_start()
    if category == "huge_text":
        return event(text=pb.Text(text="b" * rng.choice([4_001, 200_000]))).SerializeToString()
    if category == "huge_audio":
        return event(audio=pb.Audio(data=bytes(MAX_MESSAGE_BYTES + 2))).SerializeToString()
    if category == "odd_audio":
        return event(audio=pb.Audio(data=bytes(rng.choice([1, 3, 641])))).SerializeToString()
    if category == "unicode":
        text = rng.choice(
            [
                t
                for t in UNICODE_TEXTS
                if "\ud800" not in t and "\udfff" not in t and "\ud83d" not in t
            ]
        )
        return event(text=pb.Text(text=text)).SerializeToString()
    if category == "dtmf":
        return event(dtmf=pb.Dtmf(digits=rng.choice(["E", "12x", "\u0000"]))).SerializeToString()
    # unknown field numbers and wire types: valid framing, nothing the schema knows
    return b"\xf8\x07\x01" + b"\x3a\x02hi" + rng.randbytes(4)


GRPC_IN_CALL = ["random_bytes", "truncated", "bad_utf8", "empty_oneof", "second_start",
                "huge_text", "huge_audio", "odd_audio", "unicode", "dtmf", "unknown_fields"]  # fmt: skip


def grpc_in_call(rng: random.Random) -> Script:
    """An admitted gRPC call sent a few hostile frames of one category, or cancelled mid-stream."""
    category = rng.choice([*GRPC_IN_CALL, "cancel"])
    if category == "cancel":
        audio = pb.ClientEvent(audio=pb.Audio(data=bytes(640))).SerializeToString()
        return Script("grpc/cancel", [Frame(audio)] * rng.randrange(1, 40), ending="abort")
    frames = [Frame(_grpc_hostile(rng, category)) for _ in range(rng.randrange(1, 5))]
    return Script("grpc/" + category, frames, ending=rng.choice(["hangup", "close", "abort"]))


def grpc_before_start(rng: random.Random) -> Script:
    """A gRPC stream whose first frame is not a valid start (or a start with a bad key)."""
    category = rng.choice(["random_bytes", "truncated", "bad_utf8", "out_of_order", "huge_start",
                           "bad_rate", "no_key", "wrong_key", "nothing"])  # fmt: skip
    script = Script("grpc-prestart/" + category, start=False, ending="close")
    if category == "out_of_order":
        order = rng.choice(["audio", "hangup", "played", "text"])
        script.frames.append(
            Frame(_grpc_hostile(rng, "odd_audio" if order == "audio" else "unicode"))
        )
    elif category == "huge_start":
        fields: dict[str, Any] = rng.choice([{"client_reference": "r" * 1_000_000}, {"agent": "a" * 100_000},
                             {"variables": {f"v{i}": "x" * 3000 for i in range(100)}}])  # fmt: skip
        script.frames.append(Frame(grpc_start(**fields)))
    elif category == "bad_rate":
        fmt = pb.AudioFormat(sample_rate=rng.choice([1, 44_100, 2**32 - 1]))
        script.frames.append(Frame(grpc_start(input_format=fmt)))
    elif category in ("no_key", "wrong_key"):
        script.start, script.key = True, "none" if category == "no_key" else "wrong"
        script.frames.append(Frame(_grpc_hostile(rng, "unicode")))
    elif category != "nothing":
        script.frames.append(Frame(_grpc_hostile(rng, category)))
    return script


def grpc_flood(rng: random.Random, frames: int) -> Script:
    """Thousands of tiny gRPC frames: 2-byte audio and `played` (keys: see `ws_flood`)."""
    kinds = [pb.ClientEvent(audio=pb.Audio(data=b"\x00\x00")),
             pb.ClientEvent(played=pb.Played(sequence=rng.randrange(2**40)))]  # fmt: skip
    raw = [k.SerializeToString() for k in kinds]
    chosen = [Frame(rng.choice(raw)) for _ in range(frames)]
    return Script("grpc/flood", chosen, ending="hangup", rate=FLOOD_RATE)
