"""The gateway as a process (`python -m switchboard_gateway`): serving, and draining on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from switchboard_gateway.client import Call, connect
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallStarted,
    EndReason,
    OutboundEvent,
    TranscriptEvent,
)
from switchboard_gateway.gateway import hash_api_key
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.sqlite import SqliteCallStore
from tests.cases.invalid import example, with_changes
from tests.models.gateway.harness import API_KEY
from tests.ports import free_port

pytestmark = pytest.mark.models

AGENT = "acme/receptionist"


class GatewayProcess:
    """A gateway subprocess on free ports, with its configuration and call-record file."""

    def __init__(self, base_url: str, directory: Path, drain_timeout_s: int) -> None:
        self.grpc, self.http = free_port(), free_port()
        self.records = directory / "calls.db"
        manifest = with_changes(example("receptionist.yaml"), {"spec.pipeline.llm.maxTokens": 40})
        config = {
            "modelPlaneUrl": base_url,
            "agents": [manifest],
            "apiKeyHashes": {AGENT: [hash_api_key(API_KEY)]},
            "host": "127.0.0.1",
            "grpcPort": self.grpc,
            "httpPort": self.http,
            "drainTimeoutSeconds": drain_timeout_s,
            "store": {"url": f"sqlite:///{self.records}"},
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
        self._wait_healthy(timeout_s=60)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.http}{path}", timeout=5)

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited at start:\n{self.output()}")
            try:
                if self.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the gateway did not become healthy:\n{self.output()}")

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


Spawn = Callable[[int], GatewayProcess]


@pytest.fixture
def spawn(base_url: str, tmp_path: Path) -> Iterator[Spawn]:
    started: list[GatewayProcess] = []

    def start(drain_timeout_s: int) -> GatewayProcess:
        process = GatewayProcess(base_url, tmp_path, drain_timeout_s)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


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
