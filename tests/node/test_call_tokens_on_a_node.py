"""Call tokens on a real node: minted through the gateway Service, accepted by every replica,
and 1,000 tampered or expired tokens never get a call."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from switchboard_gateway.client import connect
from switchboard_gateway.events import CallEndedEvent, CallStarted
from tests.call_tokens import tampered_tokens
from tests.node.calls import API_KEY, grpc_call, ws_call
from tests.node.cluster import Node
from tests.node.conftest import Applied
from tests.node.kube import TENANT_NAMESPACE, service_ip

pytestmark = pytest.mark.node

AGENT = "acme/receptionist"
HOST = f"receptionist-gateway.{TENANT_NAMESPACE}.svc"


def _mint(address: str, query: str, key: str = API_KEY) -> httpx.Response:
    # The gateway answers only its own names: the Service's DNS name, at its cluster IP.
    return httpx.post(
        f"http://{address}:8080/v1/tokens?{query}",
        headers={"Authorization": f"Bearer {key}", "Host": f"{HOST}:8080"},
        timeout=10,
    )


async def _first_answer(target: str, credential: str) -> str:
    """`started` or the reason the call ended at once, for a start carrying `credential`."""
    async with connect(target, AGENT, api_key=credential) as call:
        async for event in call.events():
            if isinstance(event, CallStarted):
                return "started"
            if isinstance(event, CallEndedEvent):
                return event.reason.value
    return "no answer"


async def _answers(target: str, credentials: list[str], parallel: int = 16) -> list[str]:
    gate = asyncio.Semaphore(parallel)

    async def one(credential: str) -> str:
        async with gate:
            return await asyncio.wait_for(_first_answer(target, credential), 30)

    return await asyncio.gather(*(one(c) for c in credentials))


def test_a_minted_token_calls_and_a_thousand_tampered_or_expired_ones_never_do(
    node: Node, applied: Applied
) -> None:
    address = service_ip(node, "receptionist-gateway")
    target = f"{address}:50051"
    assert _mint(address, "agent=receptionist", key="sk-forged").status_code == 401
    minted = _mint(address, "agent=receptionist&ttl=120")
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]
    assert minted.json()["agent"] == AGENT

    by_grpc = grpc_call(target, AGENT, [], api_key=token)
    assert by_grpc.call_id, by_grpc
    by_ws = ws_call(f"ws://{HOST}:8080/v1/calls", AGENT, [], address=address, api_key=token)
    assert by_ws.call_id, by_ws

    forged = [t for t, _ in tampered_tokens(API_KEY, AGENT, 1000)]
    started = time.monotonic()
    answers = asyncio.run(_answers(target, forged))
    print(f"1,000 tampered tokens refused in {time.monotonic() - started:.1f} s")
    assert set(answers) == {"unauthenticated"}, {a for a in answers if a != "unauthenticated"}

    short = _mint(address, "agent=receptionist&ttl=1").json()["token"]
    time.sleep(7)  # its second, then the 5 s of tolerated clock skew
    assert asyncio.run(_first_answer(target, short)) == "unauthenticated"
    assert asyncio.run(_first_answer(target, token)) == "started", "others still call"
