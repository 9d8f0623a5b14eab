"""A stand-in for Twilio: the signed voice webhook, then the media stream, message by message.

It does what Twilio does (docs: "Media Streams - WebSocket Messages", "Webhooks security"):
POSTs the form-encoded webhook signed with HMAC-SHA1 over the URL and the sorted parameters,
reads the TwiML's `<Stream url>` and `<Parameter>`s, opens the media socket, sends `connected`,
`start`, caller audio as real-time 20 ms μ-law `media` chunks, `dtmf` and `stop`, plays the
agent's audio at real time and echoes each `mark` once the audio before it has played; on
`clear` it drops queued audio and echoes every pending mark at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from switchboard_wire.audio import decode_wav, mulaw_encode, pcm16_to_float, resample

FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
FRAME_S = 0.02
ACCOUNT_SID = "AC" + "0" * 32


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """`X-Twilio-Signature` as Twilio documents it: HMAC-SHA1 of the URL + sorted key+value."""
    data = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def wav_to_mulaw(wav: bytes) -> bytes:
    """A WAV file as μ-law 8 kHz mono, padded to whole 20 ms frames."""
    samples, rate = decode_wav(wav)
    data = mulaw_encode(resample(samples, rate, 8000))
    pad = (-len(data)) % FRAME_BYTES
    return data + mulaw_encode(np.zeros(pad, np.float32))


def silence(seconds: float) -> bytes:
    """μ-law silence, whole frames."""
    frames = round(seconds / FRAME_S)
    return mulaw_encode(np.zeros(frames * FRAME_BYTES, np.float32))


@dataclass
class Stream:
    """TwiML's answer: where the stream goes and its custom parameters."""

    url: str
    parameters: dict[str, str]


def parse_twiml(twiml: str) -> Stream:
    """The `<Connect><Stream>` of a TwiML answer."""
    root = ET.fromstring(twiml)  # noqa: S314 (the gateway under test wrote it)
    node = root.find("./Connect/Stream")
    if node is None:
        raise AssertionError(f"no <Connect><Stream> in {twiml!r}")
    params = {p.get("name", ""): p.get("value", "") for p in node.findall("Parameter")}
    return Stream(node.get("url", ""), params)


@dataclass
class Heard:
    """What the peer received from the gateway."""

    audio: bytearray = field(default_factory=bytearray)
    #: Audio the caller actually heard (played before any clear cut it).
    played: bytearray = field(default_factory=bytearray)
    marks: list[str] = field(default_factory=list)
    echoed: list[str] = field(default_factory=list)
    clears: int = 0
    close_code: int | None = None
    close_reason: str = ""
    first_audio_at: float | None = None
    audio_at: list[float] = field(default_factory=list)


class TwilioPeer:
    """Twilio, for one gateway phone port (`local_url`) known publicly as `public_url`."""

    def __init__(self, local_url: str, public_url: str, auth_token: str) -> None:
        self.local_url, self.public_url = local_url.rstrip("/"), public_url.rstrip("/")
        self.auth_token = auth_token
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self.session.close()

    async def webhook(
        self,
        agent: str,
        call_sid: str,
        *,
        from_: str = "+15550100001",
        to: str = "+15550100002",
        signature: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        """POST the voice webhook as Twilio would; (status, body)."""
        path = f"/v1/twilio/{agent}/voice"
        form = {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": from_, "To": to}
        form.update({"CallStatus": "ringing", "Direction": "inbound", **(extra or {})})
        if signature is None:
            signature = twilio_signature(self.auth_token, self.public_url + path, form)
        headers = {"X-Twilio-Signature": signature}
        async with self.session.post(self.local_url + path, data=form, headers=headers) as r:
            return r.status, await r.text()

    async def call(self, agent: str, call_sid: str | None = None, **kwargs: Any) -> PeerCall:
        """Ring `agent`: the webhook, then the media stream Twilio opens from its TwiML."""
        call_sid = call_sid or "CA" + uuid.uuid4().hex
        status, body = await self.webhook(agent, call_sid, **kwargs)
        if status != 200:
            raise AssertionError(f"webhook answered {status}: {body}")
        stream = parse_twiml(body)
        return await self.open_stream(stream, call_sid)

    async def open_stream(self, stream: Stream, call_sid: str, *, start: bool = True) -> PeerCall:
        """Open the media socket of `stream` and send `connected` and (unless not) `start`."""
        wss_base = "wss" + self.public_url.removeprefix("https")
        if not stream.url.startswith(wss_base):
            raise AssertionError(f"stream url {stream.url} is not under {wss_base}")
        local = "ws" + self.local_url.removeprefix("http") + stream.url.removeprefix(wss_base)
        ws = await self.session.ws_connect(local, autoping=True, heartbeat=None)
        call = PeerCall(ws, call_sid, "MZ" + uuid.uuid4().hex)
        await call.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if start:
            await call.send_start(stream.parameters)
        call.start_reading()
        return call


class PeerCall:
    """One media stream from Twilio's side."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, call_sid: str, stream_sid: str):
        self.ws, self.call_sid, self.stream_sid = ws, call_sid, stream_sid
        self.heard = Heard()
        self._sequence = 0
        self._chunk = 0
        self._started = time.monotonic()
        #: Agent audio queued for playing and marks waiting for it: (due, frame, mark name).
        self._playing_until = 0.0
        self._pending: list[tuple[float, bytes, str | None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        #: The caller's line: audio waiting to be sent (silence when there is none).
        self._line = bytearray()
        self._line_idle = asyncio.Event()
        self._line_task: asyncio.Task[None] | None = None
        #: (started, ended) monotonic times of each `say`: its first and last frame sent.
        self.said: list[tuple[float, float]] = []

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message (with Twilio's sequenceNumber and streamSid but on `connected`)."""
        if message["event"] != "connected":
            self._sequence += 1
            message = {**message, "sequenceNumber": str(self._sequence)}
            message.setdefault("streamSid", self.stream_sid)
        await self.ws.send_str(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        """Send anything at all (a test of what the gateway does with it)."""
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def send_start(self, parameters: Mapping[str, str], **media_format: Any) -> None:
        """The `start` message, as Twilio sends it for `<Connect><Stream>`."""
        fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1, **media_format}
        start = {
            "accountSid": ACCOUNT_SID,
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": fmt,
            "customParameters": dict(parameters),
        }
        await self.send({"event": "start", "start": start})

    async def send_media(self, payload: bytes) -> None:
        """One `media` message with `payload` (normally one 20 ms frame)."""
        self._chunk += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(int((time.monotonic() - self._started) * 1000)),
            "payload": base64.b64encode(payload).decode(),
        }
        await self.send({"event": "media", "media": media})

    async def play(self, mulaw: bytes, *, paced: bool = True) -> None:
        """The caller speaks `mulaw`: 20 ms chunks at real time (or as fast as sent)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        for start in range(0, len(mulaw) - FRAME_BYTES + 1, FRAME_BYTES):
            if self.ws.closed:
                return
            await self.send_media(mulaw[start : start + FRAME_BYTES])
            if paced:
                due += FRAME_S
                await asyncio.sleep(max(0.0, due - loop.time()))

    def open_line(self) -> None:
        """Send audio continuously from now on, as a phone line does: silence between `say`s."""
        self._line_idle.set()
        self._line_task = asyncio.create_task(self._send_line())

    async def _send_line(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        quiet = silence(FRAME_S)
        while not self.ws.closed:
            if self._line:
                frame = bytes(self._line[:FRAME_BYTES])
                del self._line[:FRAME_BYTES]
                if not self._line:
                    self._line_idle.set()
            else:
                frame = quiet
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send_media(frame)
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def say(self, mulaw: bytes) -> None:
        """Speak `mulaw` on the open line; returns once its last frame has been sent."""
        self._line_idle.clear()
        self._line += mulaw[: len(mulaw) - len(mulaw) % FRAME_BYTES]
        started = time.monotonic()
        await self._line_idle.wait()
        self.said.append((started, time.monotonic()))

    async def quiet(self, quiet_s: float = 1.5, timeout_s: float = 90.0) -> None:
        """Wait for agent audio that arrives after now, then `quiet_s` without any."""
        since = time.monotonic()
        deadline = since + timeout_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            last = self.heard.audio_at[-1] if self.heard.audio_at else 0.0
            if last > since and time.monotonic() - last >= quiet_s:
                return
        raise TimeoutError(f"no agent reply followed by {quiet_s} s of quiet")

    async def dtmf(self, digit: str) -> None:
        """The caller presses a key."""
        await self.send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})

    async def stop(self) -> None:
        """Twilio's `stop`: the caller hung up (the line goes quiet first)."""
        if self._line_task is not None:
            self._line_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._line_task
        await self.send(
            {"event": "stop", "stop": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid}}
        )

    def start_reading(self) -> None:
        """Read the gateway's messages and echo marks in the background."""
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._echo())]

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await self.ws.receive()
                if message.type is aiohttp.WSMsgType.CLOSE:
                    self.heard.close_reason = str(message.extra or "")
                    break
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                await self._on(json.loads(message.data), loop.time())
        finally:
            self.heard.close_code = self.ws.close_code
            self.closed.set()

    async def _on(self, body: dict[str, Any], now: float) -> None:
        event = body["event"]
        if event == "media":
            frame = base64.b64decode(body["media"]["payload"])
            self.heard.audio += frame
            self.heard.audio_at.append(time.monotonic())
            if self.heard.first_audio_at is None:
                self.heard.first_audio_at = time.monotonic()
            self._playing_until = max(self._playing_until, now) + len(frame) / 8000
            self._pending.append((self._playing_until, frame, None))
        elif event == "mark":
            name = body["mark"]["name"]
            self.heard.marks.append(name)
            self._pending.append((max(self._playing_until, now), b"", name))
        elif event == "clear":
            self.heard.clears += 1
            self._playing_until = now
            pending, self._pending = self._pending, []
            for _, _, name in pending:  # cleared audio is dropped; its marks echo at once
                if name is not None:
                    await self._echo_mark(name)

    async def _echo_mark(self, name: str) -> None:
        self.heard.echoed.append(name)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send({"event": "mark", "mark": {"name": name}})

    async def _echo(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.ws.closed:
            await asyncio.sleep(0.01)
            now = loop.time()
            while self._pending and self._pending[0][0] <= now:
                _, frame, name = self._pending.pop(0)
                if name is None:
                    self.heard.played += frame
                else:
                    await self._echo_mark(name)

    async def wait_closed(self, timeout_s: float) -> None:
        """Wait until the gateway closes the socket."""
        await asyncio.wait_for(self.closed.wait(), timeout_s)

    async def aclose(self) -> None:
        """Close the socket and stop the background tasks."""
        await self.ws.close()
        for task in [*self._tasks, *([self._line_task] if self._line_task else [])]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def pcm16_to_mulaw(pcm16: bytes, rate: int = 16_000) -> bytes:
    """PCM16 speech (e.g. `tests.speech.synthesise`) as μ-law 8 kHz in whole frames."""
    samples = resample(pcm16_to_float(pcm16), rate, 8000)
    data = mulaw_encode(samples)
    return data + silence(FRAME_S)[: (-len(data)) % FRAME_BYTES]
