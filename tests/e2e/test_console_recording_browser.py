"""A recorded call plays in the console's Calls page, in real headless Chromium.

No models: a gateway serving only the console and its API (the same HTTP code `switchboard up`
runs, behind the same sign-in), with one stored call and its recording. The player fetches the
WAV in byte ranges smaller than the file, as a long recording is served.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from switchboard_gateway.console import recording as serving
from switchboard_gateway.console.api import console_routes
from switchboard_gateway.events import AudioFormat
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recordings import DirectoryRecordings
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.records.stereo import StereoRecorder
from switchboard_gateway.transports.http_guard import HttpGuard
from switchboard_gateway.transports.websocket.server import start_ws_server
from tests.e2e.conftest import launched_chromium

pytestmark = pytest.mark.browser

TOKEN = "b" * 43
SECONDS = 3.0


def _recording(path: Path) -> None:
    """Three seconds: the caller's tone left for the first half, the agent's right after."""
    recorder = StereoRecorder(path, AudioFormat(), AudioFormat())
    tone = (0.3 * np.sin(np.arange(320) * 2 * np.pi * 440 / 16_000) * 32767).astype("<i2")
    for k in range(75):
        recorder.caller_audio(tone.tobytes(), at=(k + 1) * 0.02)
        recorder.agent_audio(tone.tobytes(), at=1.5 + k * 0.02)
    recorder.finish()
    with wave.open(str(path)) as reader:
        assert reader.getnframes() == SECONDS * 16_000


@pytest.fixture
def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(serving, "MAX_RANGE_BYTES", 48 * 1024)  # the file is 192 KB
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(30)  # type: ignore[arg-type]

    store = SqliteCallStore(tmp_path / "calls.db")
    recordings = DirectoryRecordings(tmp_path / "recordings")
    _recording(tmp_path / "call.wav")
    reference = recordings.put(tmp_path / "call.wav", "acme/desk/2026/11/21/rec1.wav")
    now = datetime.now(UTC)
    record = CallRecord("rec1", "acme/desk", "twilio", now, now, "caller_hangup")
    run(store.save(replace(record, recording=reference)))
    gateway = Gateway({}, store=store, recordings=recordings)

    async def serve() -> object:
        return await start_ws_server(
            gateway,
            "127.0.0.1",
            0,
            extra_routes=console_routes(gateway),
            guard=HttpGuard.build(token=TOKEN),
        )

    server = run(serve())
    port = next(iter(server.sockets)).getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()  # type: ignore[attr-defined]
        run(server.wait_closed())  # type: ignore[attr-defined]
        run(store.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium(["--autoplay-policy=no-user-gesture-required"]) as launched:
        yield launched


def test_the_calls_page_plays_a_recorded_call_fetched_in_ranges(
    console: str, browser: Browser
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    ranges: list[str] = []
    page.on(
        "request",
        lambda request: (
            ranges.append(request.headers.get("range", ""))
            if request.url.endswith("/recording")
            else None
        ),
    )
    page.goto(f"{console}/?token={TOKEN}")
    page.goto(f"{console}/#calls")
    page.locator('#calls tbody button[data-call="rec1"]').click()
    player = page.get_by_label("Recording of call rec1")
    expect(player).to_be_visible()
    duration = page.evaluate(
        """() => new Promise((done, fail) => {
          const audio = document.querySelector("#recording audio");
          if (audio.readyState >= 1) done(audio.duration);
          audio.addEventListener("loadedmetadata", () => done(audio.duration));
          audio.addEventListener("error", () => fail(new Error("media error " + audio.error.code)));
        })"""
    )
    assert abs(duration - SECONDS) < 0.01
    # Seek into the agent's half (past the first range) and play to the end.
    ended = page.evaluate(
        """() => new Promise((done, fail) => {
          const audio = document.querySelector("#recording audio");
          audio.addEventListener("ended", () => done(audio.currentTime));
          audio.addEventListener("error", () => fail(new Error("media error " + audio.error.code)));
          audio.currentTime = 2.0;
          audio.play().catch(fail);
        })"""
    )
    assert abs(ended - SECONDS) < 0.05
    assert any(r.startswith("bytes=") and r != "bytes=0-" for r in ranges), ranges
    assert errors == []
