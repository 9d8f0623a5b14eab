"""Slowloris against the WebSocket port: idle sockets, upgrades sent a byte a second, half requests.

The gateway must close every one of them by itself within a bounded time, keep answering other
clients meanwhile, and give back its file descriptors. Figures go to `hostile-slowloris.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.conftest import Hostile

pytestmark = pytest.mark.hostile

REPO = Path(__file__).parents[2]
IDLE, DRIP, HALF = 50, 5, 10
#: No half-open connection may live longer than this (the handshake timeout is 10 s).
MAX_LIFETIME_S = 30.0
WATCH_S = 45.0


def _upgrade(host: str, port: int) -> bytes:
    return (
        f"GET /v1/calls HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _hold(host: str, port: int, kind: str, sent: list[int]) -> float:
    """Seconds until the gateway closed this connection (WATCH_S + 1 when it never did)."""
    reader, writer = await asyncio.open_connection(host, port)
    began = time.monotonic()
    request = _upgrade(host, port)

    async def drip() -> None:
        data = request if kind == "drip" else request[:-2] if kind == "half" else b""
        step = 1 if kind == "drip" else len(data) or 1
        for start in range(0, len(data), step):
            writer.write(data[start : start + step])
            sent.append(1)
            await asyncio.sleep(1.0)

    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(WATCH_S):
            while await reader.read(4096):
                pass  # an error response may come before the close
        return time.monotonic() - began
    except ConnectionError:  # a reset is a close too
        return time.monotonic() - began
    except TimeoutError:
        return WATCH_S + 1
    finally:
        dripping.cancel()
        writer.close()


@dataclass
class Slowloris:
    """What the attack measured."""

    connections: dict[str, int]
    bytes_dripped: int
    longest_lifetime_s: dict[str, float]
    healthz_during_s: float
    healthz_status: int
    fds_before: int
    fds_after: int


async def _attack(h: Hostile) -> Slowloris:
    url = urlsplit(h.platform.running.websocket_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    fds = len(os.listdir(f"/proc/{h.platform.running.pid}/fd"))
    sent: list[int] = []
    kinds = ["idle"] * IDLE + ["drip"] * DRIP + ["half"] * HALF
    holds = [asyncio.create_task(_hold(host, port, kind, sent)) for kind in kinds]
    await asyncio.sleep(3.0)
    async with httpx.AsyncClient() as client:
        began = time.monotonic()
        health = await client.get(h.platform.running.console_url + "healthz", timeout=5)
        health_s = time.monotonic() - began
    lifetimes = await asyncio.gather(*holds)
    await asyncio.sleep(2.0)
    by_kind = {
        k: max(t for t, kk in zip(lifetimes, kinds, strict=True) if kk == k) for k in set(kinds)
    }
    return Slowloris(
        {"idle": IDLE, "drip": DRIP, "half": HALF},
        len(sent),
        {k: round(v, 1) for k, v in by_kind.items()},
        round(health_s, 3),
        health.status_code,
        fds,
        len(os.listdir(f"/proc/{h.platform.running.pid}/fd")),
    )


def test_half_open_and_byte_a_second_upgrades_are_closed_by_the_gateway(hostile: Hostile) -> None:
    result = asyncio.run(_attack(hostile))
    out = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", REPO / "build")) / "hostile-slowloris.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(result), indent=2))
    assert hostile.alive()
    assert result.healthz_status == 200, result
    assert result.healthz_during_s < 2.0, result
    assert all(t <= MAX_LIFETIME_S for t in result.longest_lifetime_s.values()), result
    assert result.fds_after <= result.fds_before + 5, result
