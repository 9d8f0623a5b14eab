"""The gateway as a process (`python -m switchboard_gateway`): a pod's config, warm-up, draining."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml
from prometheus_client.parser import text_string_to_metric_families

from switchboard_gateway.api_keys import hash_api_key
from switchboard_gateway.client import Call, connect
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallStarted,
    EndReason,
    OutboundEvent,
    TranscriptEvent,
)
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.sqlite import SqliteCallStore
from switchboard_gateway.scripted_caller import CallOutcome, ScriptedCaller, scripted_call
from tests.cases.invalid import example, with_changes
from tests.models.gateway.harness import API_KEY
from tests.models.gateway.operator_config import operators_config
from tests.ports import free_port

pytestmark = pytest.mark.models

AGENT = "acme/receptionist"


class GatewayProcess:
    """A gateway subprocess from `config`, on free ports of loopback, with its call-record file."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        self.grpc, self.http = free_port(), free_port()
        self.records = directory / "calls.db"
        store = {**(config.get("store") or {}), "url": f"sqlite:///{self.records}"}
        config = {
            **config,
            "host": "127.0.0.1",
            "grpcPort": self.grpc,
            "httpPort": self.http,
            "store": store,
        }
        path = directory / "gateway.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = (directory / "gateway.log").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "switchboard_gateway", "--config", str(path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.http}{path}", timeout=5)

    def wait_ready(self, timeout_s: float) -> list[str]:
        """Poll `/readyz` from the start until it answers 200; returns what it answered before."""
        answers: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited at start:\n{self.output()}")
            try:
                ready = self.get("/readyz")
            except httpx.HTTPError:
                pass  # not listening yet
            else:
                if ready.status_code == 200:
                    return answers
                answers.append(f"{ready.status_code} {ready.text.strip()}")
            time.sleep(0.02)
        raise AssertionError(f"the gateway did not become ready:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


Start = Callable[[dict[str, Any]], GatewayProcess]
Spawn = Callable[[int], GatewayProcess]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Start]:
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any]) -> GatewayProcess:
        process = GatewayProcess(tmp_path, config)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture
def spawn(base_url: str, start_gateway: Start) -> Spawn:
    """A ready gateway with the receptionist (callable with `API_KEY`) and a drain timeout."""

    def start(drain_timeout_s: int) -> GatewayProcess:
        manifest = with_changes(example("receptionist.yaml"), {"spec.pipeline.llm.maxTokens": 40})
        process = start_gateway(
            {
                "modelPlaneUrl": base_url,
                "agents": [manifest],
                "apiKeyHashes": {AGENT: [hash_api_key(API_KEY)]},
                "drainTimeoutSeconds": drain_timeout_s,
            }
        )
        process.wait_ready(timeout_s=120)
        return process

    return start


async def _until(call_events: list[OutboundEvent], kind: type, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not any(isinstance(e, kind) for e in call_events):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind.__name__} within {timeout_s} s: {call_events[-3:]}")
        await asyncio.sleep(0.05)


def _reply_frames(events: list[OutboundEvent]) -> list[AgentAudioEvent]:
    return [e for e in events if isinstance(e, AgentAudioEvent) and e.turn >= 1]


async def _collect(call: Call, into: list[OutboundEvent]) -> None:
    async for event in call.events():
        into.append(event)


def test_sigterm_drains_active_calls_refuses_new_ones_and_exits(spawn: Spawn) -> None:
    gateway = spawn(60)
    target = f"127.0.0.1:{gateway.grpc}"
    assert gateway.get("/readyz").status_code == 200

    async def scenario() -> tuple[list[OutboundEvent], list[OutboundEvent], float]:
        events: list[OutboundEvent] = []
        async with connect(target, AGENT, api_key=API_KEY) as call:
            reader = asyncio.create_task(_collect(call, events))
            await _until(events, AgentAudioEvent, 30)  # the greeting is playing
            metrics = gateway.get("/metrics").text
            assert f'switchboard_active_calls{{agent="{AGENT}"}} 1.0' in metrics
            gateway.terminate()
            await asyncio.sleep(0.5)
            assert gateway.get("/readyz").status_code == 503
            async with connect(target, AGENT, api_key=API_KEY) as late:
                refused = [e async for e in late.events()]
            # The active call still works: a typed question gets a spoken answer.
            await call.send_text("What are your opening hours?")
            await _until(events, TranscriptEvent, 10)
            for _ in range(600):
                if len(_reply_frames(events)) >= 25:
                    break
                await asyncio.sleep(0.05)
            await call.hangup("done")
            await asyncio.wait_for(reader, 10)
        return events, refused, time.monotonic()

    events, refused, hung_up = asyncio.run(scenario())
    assert refused[-1] == CallEndedEvent(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
    assert len(_reply_frames(events)) >= 25, "half a second of answer, spoken while draining"
    assert events[-1] == CallEndedEvent(EndReason.CALLER_HANGUP, "done")
    assert gateway.process.wait(20) == 0, gateway.output()
    assert time.monotonic() - hung_up < 15, "exited soon after its last call, not at the timeout"
    assert "drain" in gateway.output()

    started = next(e for e in events if isinstance(e, CallStarted))

    async def stored() -> CallRecord | None:  # written by the process before it exited
        store = SqliteCallStore(gateway.records)
        try:
            return await store.get(started.call_id)
        finally:
            await store.close()

    record = asyncio.run(stored())
    assert record is not None
    assert record.end_reason == "caller_hangup"


def test_calls_still_running_at_the_drain_timeout_are_ended(spawn: Spawn) -> None:
    gateway = spawn(2)

    async def scenario() -> tuple[list[OutboundEvent], float]:
        events: list[OutboundEvent] = []
        async with connect(f"127.0.0.1:{gateway.grpc}", AGENT, api_key=API_KEY) as call:
            reader = asyncio.create_task(_collect(call, events))
            await _until(events, AgentAudioEvent, 30)
            signalled = time.monotonic()
            gateway.terminate()
            await asyncio.wait_for(reader, 15)  # the caller never hangs up
        return events, signalled

    events, signalled = asyncio.run(scenario())
    assert events[-1] == CallEndedEvent(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
    assert gateway.process.wait(15) == 0, gateway.output()
    assert time.monotonic() - signalled < 12, "drain timeout 2 s + abort grace 3 s + stop"


def _phrase_cache_lookups(gateway: GatewayProcess) -> dict[str, float]:
    """`switchboard_phrase_cache_lookups_total` by result, as `/metrics` exposes it."""
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(gateway.get("/metrics").text)
        if family.name == "switchboard_phrase_cache_lookups"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_a_pod_serves_the_operators_config_ready_once_warm_with_the_greeting_cached(
    base_url: str, start_gateway: Start, tmp_path: Path
) -> None:
    # The ConfigMap the operator writes for the example receptionist of the example tenant.
    rendered = operators_config(example("receptionist.yaml"))
    assert rendered["tenants"][0]["metadata"]["name"] == "acme"
    # The tenant's key Secret, as the kubelet mounts it (here: a file in a temporary directory).
    assert rendered["requireApiKeys"] is True
    (mounted,) = rendered["apiKeyFiles"][AGENT]
    key_file = tmp_path / Path(mounted).name
    key_file.write_text(f"{API_KEY}\n")
    rendered["apiKeyFiles"] = {AGENT: [str(key_file)]}
    gateway = start_gateway({**rendered, "modelPlaneUrl": base_url})

    before_ready = gateway.wait_ready(timeout_s=120)
    assert before_ready, "readiness was on before the warm-up could have run"
    assert set(before_ready) == {"503 warming up"}, before_ready
    assert _phrase_cache_lookups(gateway) == {"hit": 0.0, "miss": 1.0}, (
        "ready only once the warm-up has synthesised the greeting (the one miss)"
    )
    assert "gateway warmed up" in gateway.output()

    async def call(api_key: str) -> ScriptedCaller:
        async with scripted_call(f"127.0.0.1:{gateway.grpc}", AGENT, api_key=api_key) as caller:
            await caller.converse([])  # the greeting, then hang up
        return caller

    refused = CallOutcome.of(asyncio.run(call("")))
    assert refused.end_reason == "unauthenticated", "the operator's gateway requires a key"
    outcome = CallOutcome.of(asyncio.run(call(API_KEY)))
    assert outcome.greeting == "Hello, thanks for calling Acme Dental. How can I help?"
    assert len(outcome.agent_audio) / 2 / 16_000 > 1.0, "the greeting was spoken"
    assert outcome.end_reason == "caller_hangup"
    assert _phrase_cache_lookups(gateway) == {"hit": 1.0, "miss": 1.0}, (
        "the call's greeting came from the phrase cache"
    )


async def _ws_first_answer(gateway: GatewayProcess, credential: str) -> dict[str, Any]:
    """Start a WebSocket call with `credential` and return the gateway's first message."""
    url = f"ws://127.0.0.1:{gateway.http}/v1/calls"
    async with websockets.connect(url, open_timeout=10) as socket:
        start = {"type": "start", "agent": AGENT, "apiKey": credential}
        await socket.send(json.dumps(start))
        while True:
            message = await asyncio.wait_for(socket.recv(), 30)
            if isinstance(message, str):
                answer: dict[str, Any] = json.loads(message)
                return answer


def test_a_server_mints_a_call_token_a_page_calls_with_it_and_strangers_are_rate_limited(
    base_url: str, start_gateway: Start, tmp_path: Path
) -> None:
    # The operator's config for a receptionist opened to the public, 2 anonymous calls a minute.
    manifest = with_changes(
        example("receptionist.yaml"),
        {"spec.access.public": {"enabled": True, "callsPerMinutePerAddress": 2}},
    )
    rendered = operators_config(manifest)
    key_file = tmp_path / "0"
    key_file.write_text(f"{API_KEY}\n")
    rendered["apiKeyFiles"] = {AGENT: [str(key_file)]}
    gateway = start_gateway({**rendered, "modelPlaneUrl": base_url})
    gateway.wait_ready(timeout_s=120)

    def mint(query: str, key: str = API_KEY) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{gateway.http}/v1/tokens?{query}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )

    assert mint("agent=receptionist", "sk-forged").status_code == 401
    minted = mint("agent=receptionist&ttl=60")
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]

    async def grpc_call(credential: str) -> CallOutcome:
        async with scripted_call(f"127.0.0.1:{gateway.grpc}", AGENT, api_key=credential) as caller:
            await caller.converse([])
        return CallOutcome.of(caller)

    by_grpc = asyncio.run(grpc_call(token))
    assert by_grpc.greeting == "Hello, thanks for calling Acme Dental. How can I help?"
    assert asyncio.run(_ws_first_answer(gateway, token))["type"] == "started"
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for credential in (tampered, token + "x", "eyJhbGciOiJub25lIn0.eyJhdWQiOiJhY21lIn0."):
        assert asyncio.run(grpc_call(credential)).end_reason == "unauthenticated"
        assert asyncio.run(_ws_first_answer(gateway, credential))["reason"] == "unauthenticated"
    # Strangers (no credential) from 127.0.0.1: two a minute, whatever the transport.
    assert asyncio.run(_ws_first_answer(gateway, ""))["type"] == "started"
    assert asyncio.run(grpc_call("")).end_reason == "caller_hangup"
    limited = asyncio.run(_ws_first_answer(gateway, ""))
    assert (limited["type"], limited["reason"]) == ("ended", "rate_limited")
    assert asyncio.run(grpc_call("")).end_reason == "rate_limited"
    assert asyncio.run(grpc_call(token)).end_reason == "caller_hangup", "tokens are not limited"
    assert "Bearer" not in gateway.output()
    assert token not in gateway.output()
