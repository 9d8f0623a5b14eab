"""The console serves a call's recording by byte ranges, behind the console's own sign-in."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard_gateway.console import recording as serving
from switchboard_gateway.console.api import console_response, console_routes, static_file
from switchboard_gateway.gateway import Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recordings import DirectoryRecordings
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.transports.http import plain_http
from switchboard_gateway.transports.http_guard import HttpGuard

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TOKEN = "r" * 43
WAV = bytes(range(256)) * 40  # 10,240 bytes standing for a recording


def _gateway(tmp_path: Path, *, size: int = len(WAV)) -> Gateway:
    store = SqliteCallStore(tmp_path / "calls.db")
    recordings = DirectoryRecordings(tmp_path / "recordings")
    source = tmp_path / "call.wav"
    source.write_bytes((WAV * (size // len(WAV) + 1))[:size])
    reference = recordings.put(source, "acme/desk/2026/11/21/c1.wav")
    base = CallRecord("c1", "acme/desk", "websocket", NOW, NOW, "caller_hangup")
    asyncio.run(store.save(replace(base, recording=reference)))
    asyncio.run(store.save(replace(base, call_id="c2")))
    return Gateway({}, store=store, recordings=recordings)


def _get(gateway: Gateway, path: str, range_header: str | None = None) -> Response:
    headers = Headers({"Range": range_header} if range_header else {})
    answer = asyncio.run(console_response(gateway, path, "", headers))
    assert answer is not None
    return answer


def test_a_recording_is_served_whole_as_wav_without_a_range(tmp_path: Path) -> None:
    answer = _get(_gateway(tmp_path), "/api/calls/c1/recording")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "audio/wav"
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.body == WAV


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-", 0, len(WAV) - 1), ("bytes=100-199", 100, 199), ("bytes=-50", 10_190, 10_239)],
)
def test_a_range_is_answered_with_206_and_its_content_range(
    tmp_path: Path, header: str, first: int, last: int
) -> None:
    answer = _get(_gateway(tmp_path), "/api/calls/c1/recording", header)
    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes {first}-{last}/{len(WAV)}"
    assert answer.body == WAV[first : last + 1]
    assert answer.headers["Content-Length"] == str(last - first + 1)


def test_a_long_recording_comes_a_bounded_range_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "MAX_RANGE_BYTES", 4096)
    monkeypatch.setattr(serving, "MAX_WHOLE_BYTES", 8192)
    gateway = _gateway(tmp_path)
    first = _get(gateway, "/api/calls/c1/recording", "bytes=0-")
    assert first.headers["Content-Range"] == f"bytes 0-4095/{len(WAV)}"
    pieces, start = [first.body], 4096
    while start < len(WAV):  # as a media element asks for what follows
        answer = _get(gateway, "/api/calls/c1/recording", f"bytes={start}-")
        content_range = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", answer.headers["Content-Range"])
        assert content_range is not None
        pieces.append(answer.body)
        start = int(content_range[2]) + 1
    assert b"".join(pieces) == WAV
    whole = _get(gateway, "/api/calls/c1/recording")
    assert whole.status_code == 416, "too big to send whole: ask in ranges"
    assert whole.headers["Content-Range"] == f"bytes */{len(WAV)}"


def test_a_range_past_the_end_is_unsatisfiable(tmp_path: Path) -> None:
    answer = _get(_gateway(tmp_path), "/api/calls/c1/recording", f"bytes={len(WAV)}-")
    assert answer.status_code == 416


@pytest.mark.parametrize(
    "path",
    ["/api/calls/c2/recording", "/api/calls/nope/recording", "/api/calls/../x/recording"],
)
def test_calls_without_a_recording_answer_404(tmp_path: Path, path: str) -> None:
    assert _get(_gateway(tmp_path), path).status_code == 404


def test_a_recording_past_its_retention_answers_404(tmp_path: Path) -> None:
    gateway = _gateway(tmp_path)
    (tmp_path / "recordings/acme/desk/2026/11/21/c1.wav").unlink()
    answer = _get(gateway, "/api/calls/c1/recording")
    assert answer.status_code == 404
    assert b"retention" in answer.body


def test_the_recording_needs_the_consoles_sign_in_like_the_rest_of_its_api(
    tmp_path: Path,
) -> None:
    gateway = _gateway(tmp_path)
    respond = plain_http(gateway, console_routes(gateway), HttpGuard.build(token=TOKEN))

    class Connection:
        def respond(self, status: int, text: str) -> Response:
            raise AssertionError("no probe here")

    def fetch(headers: dict[str, str]) -> Response | None:
        request = Request("/api/calls/c1/recording", Headers({"Host": "127.0.0.1", **headers}))
        connection = cast(ServerConnection, Connection())

        async def answer() -> Response | None:
            return await respond(connection, request)

        return asyncio.run(answer())

    refused = fetch({})
    assert refused is not None
    assert refused.status_code == 401
    allowed = fetch({"Authorization": f"Bearer {TOKEN}", "Range": "bytes=0-9"})
    assert allowed is not None
    assert (allowed.status_code, allowed.body) == (206, WAV[:10])


def test_the_calls_page_plays_a_recorded_call() -> None:
    script = static_file("console.js").body.decode()
    page = static_file("index.html").body.decode()
    assert '<div id="recording"></div>' in page
    assert 'element("audio", {' in script
    assert "/api/calls/${encodeURIComponent(call.callId)}/recording" in script
    assert "if (!call.recording) return [];" in script
