"""A jambonz stand-in: drives the gateway's jambonz sockets message by message, as jambonz does.

It opens the application socket (`ws.jambonz.org`, HTTP basic auth) and sends `session:new`
(the documented sample, tests/telephony/fixtures/jambonz/session_new.json), reads the `ack`,
runs its `listen` verb by opening the listen URL (`audio.jambonz.org`) with the metadata frame
jambonz sends first, streams the caller's L16 in real time, sends DTMF as `passDtmf` does,
keeps the agent's L16 and the `killAudio` messages, and records `command`s on the application
socket. Formats: https://docs.jambonz.org/reference/websocket-api/call-control/overview and
https://docs.jambonz.org/verbs/verbs/listen.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FIXTURES = Path(__file__).parent / "fixtures" / "jambonz"
FRAME_S = 0.02


def fixture(name: str) -> dict[str, Any]:
    """A documented jambonz message (see the fixture's `_source`), without its `_source`."""
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    body.pop("_source", None)
    return body


@dataclass
class Heard:
    """What came back on the listen socket."""

    audio: bytearray = field(default_factory=bytearray)
    #: (monotonic time, bytes so far) at each killAudio.
    kills: list[tuple[float, int]] = field(default_factory=list)
    #: Monotonic time of the first and last agent audio frame.
    first_audio: float | None = None
    last_audio: float | None = None
    texts: list[dict[str, Any]] = field(default_factory=list)


class JambonzPeer:
    """One call as jambonz would place it to `base_url` (http://host:port of the phone port)."""

    def __init__(
        self,
        base_url: str,
        agent: str,
        auth: tuple[str, str] | None,
        *,
        sample_rate: int = 8000,
        call_sid: str | None = None,
    ) -> None:
        self.base_url, self.agent, self.auth = base_url.rstrip("/"), agent, auth
        self.sample_rate = sample_rate
        self.call_sid = call_sid or str(uuid.uuid4())
        self.commands: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self.heard = Heard()
        self.app_closed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.app: aiohttp.ClientWebSocketResponse | None = None
        self.listen: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> JambonzPeer:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for ws in (self.listen, self.app):
            if ws is not None and not ws.closed:
                await ws.close()
        if self._session is not None:
            await self._session.close()

    def session_new(self) -> dict[str, Any]:
        """The documented `session:new`, for this call."""
        message = copy.deepcopy(fixture("session_new.json"))
        message["call_sid"] = message["data"]["call_sid"] = self.call_sid
        message["msgid"] = uuid.uuid4().hex[:22]
        return message

    async def open_app(self) -> aiohttp.ClientWebSocketResponse:
        """The application socket, as jambonz opens it (raises on a refused upgrade)."""
        assert self._session is not None
        headers = {}
        if self.auth is not None:
            pair = base64.b64encode(":".join(self.auth).encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        self.app = await self._session.ws_connect(
            f"{self.base_url}/v1/jambonz/{self.agent}",
            protocols=("ws.jambonz.org",),
            headers=headers,
            timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
        )
        return self.app

    async def start(self, message: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Open the application socket, send `session:new`, return the `ack`'s verbs."""
        app = await self.open_app()
        message = message or self.session_new()
        await app.send_str(json.dumps(message))
        reply = await asyncio.wait_for(app.receive(), 5.0)
        assert reply.type is aiohttp.WSMsgType.TEXT, reply
        ack = json.loads(reply.data)
        assert ack["type"] == "ack", ack
        assert ack["msgid"] == message["msgid"], ack
        self.acks.append(ack)
        self._tasks.append(asyncio.create_task(self._read_app()))
        verbs: list[dict[str, Any]] = ack.get("data", [])
        return verbs

    async def run_listen(
        self, verb: dict[str, Any], metadata: dict[str, Any] | None = None
    ) -> None:
        """Run a `listen` verb: open its URL and send the metadata frame jambonz sends first."""
        assert self._session is not None
        self.listen = await self._session.ws_connect(verb["url"], protocols=("audio.jambonz.org",))
        if metadata is None:
            metadata = {
                "sampleRate": verb.get("sampleRate", 8000),
                "mixType": verb.get("mixType", "mono"),
                **self.session_new()["data"],
                **verb.get("metadata", {}),
            }
        await self.listen.send_str(json.dumps(metadata))
        self._tasks.append(asyncio.create_task(self._read_listen()))

    async def stream(self, pcm16: bytes, *, realtime: bool = True) -> None:
        """Caller audio (L16 at the call's rate) in 20 ms frames, paced like a phone call."""
        assert self.listen is not None
        step = int(self.sample_rate * FRAME_S) * 2
        started = time.monotonic()
        for n, offset in enumerate(range(0, len(pcm16), step)):
            if self.listen.closed:
                return
            await self.listen.send_bytes(pcm16[offset : offset + step])
            if realtime:
                delay = started + (n + 1) * FRAME_S - time.monotonic()
                await asyncio.sleep(max(0.0, delay))

    async def silence(self, seconds: float) -> None:
        """Silence from the caller, in real time."""
        await self.stream(bytes(int(self.sample_rate * seconds) * 2))

    async def dtmf(self, digit: str) -> None:
        """A key press, as `passDtmf` reports it."""
        assert self.listen is not None
        await self.listen.send_str(json.dumps({"event": "dtmf", "dtmf": digit, "duration": 1600}))

    async def call_status(self, status: str) -> None:
        """A `call:status` notification (the documented sample with `status`)."""
        assert self.app is not None
        message = fixture("call_status.json")
        message["call_sid"] = message["data"]["call_sid"] = self.call_sid
        message["data"]["call_status"] = status
        await self.app.send_str(json.dumps(message))

    async def hang_up(self) -> None:
        """The caller hangs up: jambonz reports `completed`, ends the listen, closes the app."""
        if self.app is not None and not self.app.closed:
            await self.call_status("completed")
        for ws in (self.listen, self.app):
            if ws is not None and not ws.closed:
                await ws.close()

    async def wait_command(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next `command` the application sent (waits for it)."""
        seen = len(self.commands)
        deadline = time.monotonic() + timeout
        while len(self.commands) == seen:
            if time.monotonic() > deadline:
                raise TimeoutError("no command from the application")
            await asyncio.sleep(0.01)
        return self.commands[seen]

    async def _read_app(self) -> None:
        assert self.app is not None
        async for msg in self.app:
            if msg.type is aiohttp.WSMsgType.TEXT:
                body = json.loads(msg.data)
                if body.get("type") == "command":
                    self.commands.append(body)
                    if body.get("command") == "redirect" and self.listen is not None:
                        await self.listen.close()  # a redirect ends the running listen verb
                else:
                    self.acks.append(body)
        self.app_closed.set()

    async def _read_listen(self) -> None:
        assert self.listen is not None
        async for msg in self.listen:
            now = time.monotonic()
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.heard.audio.extend(msg.data)
                self.heard.first_audio = self.heard.first_audio or now
                self.heard.last_audio = now
            elif msg.type is aiohttp.WSMsgType.TEXT:
                body = json.loads(msg.data)
                self.heard.texts.append(body)
                if body.get("type") == "killAudio":
                    self.heard.kills.append((now, len(self.heard.audio)))
