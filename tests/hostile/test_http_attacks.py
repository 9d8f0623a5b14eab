"""Hostile HTTP on the gateway's port: oversized headers, bodies, forged tokens, foreign origins.

Each gets a clear refusal (a 4xx status, or the connection closed before any 2xx), the process
survives, and a token minted right after still places a call.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from tests.hostile.conftest import Hostile

pytestmark = pytest.mark.hostile


async def _status(host: str, port: int, request: bytes) -> str:
    """The status line the gateway answers `request` with, or `closed`."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(15):
            line = await reader.readline()
        return line.decode("latin-1").strip() or "closed"
    except ConnectionError:
        return "closed"
    finally:
        writer.close()


def _request(
    host: str, port: int, method: str, path: str, *headers: str, body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def test_bad_requests_are_refused_clearly_and_a_minted_token_still_calls(hostile: Hostile) -> None:
    url = urlsplit(hostile.platform.running.websocket_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    bearer = f"Authorization: Bearer {hostile.token}"
    forged = "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJhY21lL3JlY2VwdGlvbmlzdCJ9."
    upgrade = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    attacks = {
        "100 KB Authorization": _request(
            host, port, "POST", "/v1/tokens?agent=receptionist", "Authorization: Bearer " + "A" * 100_000
        ),
        "300 headers": _request(
            host, port, "POST", "/v1/tokens?agent=receptionist", bearer,
            *(f"X-Padding-{i}: {'p' * 60}" for i in range(300)),
        ),
        "a body": _request(
            host, port, "POST", "/v1/tokens?agent=receptionist", bearer, body=b'{"agent":"x"}'
        ),
        "a forged token as the key": _request(host, port, "POST", "/v1/tokens?agent=receptionist", forged),
        "a 64 KB query": _request(host, port, "POST", "/v1/tokens?agent=" + "a" * 65_536, bearer),
        "a foreign origin's upgrade": _request(
            host, port, "GET", "/v1/calls", "Origin: https://evil.example", *upgrade
        ),
    }  # fmt: skip
    answers = {name: asyncio.run(_status(host, port, raw)) for name, raw in attacks.items()}
    for name, answer in answers.items():
        assert answer == "closed" or answer.split()[1][0] == "4", (name, answer)
    assert answers["a forged token as the key"].split()[1] == "401", answers
    assert answers["a foreign origin's upgrade"].split()[1] == "403", answers
    assert hostile.alive()

    minted = httpx.post(
        f"http://{host}:{port}/v1/tokens?agent=receptionist&ttl=60",
        headers={"Authorization": f"Bearer {hostile.token}"},
        timeout=10,
    )
    assert minted.status_code == 200, minted.text

    async def first_answer() -> str:
        async with websockets.connect(f"ws://{host}:{port}/v1/calls", open_timeout=10) as call:
            start = {"type": "start", "agent": "receptionist", "apiKey": minted.json()["token"]}
            await call.send(json.dumps(start))
            while True:
                message = await asyncio.wait_for(call.recv(), 30)
                if isinstance(message, str):
                    return str(json.loads(message)["type"])

    assert asyncio.run(first_answer()) == "started"
