"""Past its capacity the gateway refuses new calls (with the reason and a metric), not live ones."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import numpy as np
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from switchboard_api.gateway import GatewayConfig
from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_api.serving import agent_request, model_plane
from switchboard_cli.local_plan import local_capacity
from switchboard_gateway.capacity import HOLD_S, CallCapacity, calls_for_cores
from switchboard_gateway.client import connect as grpc_connect
from switchboard_gateway.events import CallerHangup, InboundEvent, OutboundEvent, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway, OverloadedError
from switchboard_gateway.server import build_gateway
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.transports.grpc.server import start_grpc_server
from switchboard_gateway.transports.http import CALL_PATH
from switchboard_gateway.transports.websocket.server import start_ws_server

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class _Greeter:
    """A backend whose only work is a short greeting."""

    async def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the caller never speaks")

    def reply(self, messages: Sequence[Any], tools: Sequence[Any]) -> AsyncIterator[Any]:
        raise AssertionError("the caller never speaks")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        yield np.zeros(int(0.1 * sample_rate), "<i2").tobytes()


def gateway(capacity: int | None, clock: Clock | None = None, max_calls: int = 20) -> Gateway:
    config = agent_config()
    entry = AgentEntry(config, backend=_Greeter())
    return Gateway(
        {config.key: entry},
        max_calls=max_calls,
        capacity=CallCapacity(capacity, clock=clock or Clock()),
    )


def admit(gate: Gateway) -> Admission | str:
    try:
        admitted = gate.admit(StartCall(agent="test/tester"), "grpc")
    except OverloadedError as error:
        return str(error)
    assert isinstance(admitted, Admission), admitted
    return admitted


def test_calls_arriving_together_past_the_capacity_are_refused_with_the_reason() -> None:
    gate = gateway(capacity=3)

    results = [admit(gate) for _ in range(5)]  # none has started running yet

    assert [isinstance(r, Admission) for r in results] == [True, True, True, False, False]
    refusal = results[3]
    assert isinstance(refusal, str)
    assert refusal.startswith("over_capacity: 3 calls in progress")
    assert "capacity is 3" in refusal
    rejected = gate.metrics.value("switchboard_calls_rejected_total", reason="over_capacity")
    assert rejected == 2
    assert gate.at_capacity() == refusal


def test_without_a_capacity_only_the_call_limit_refuses_and_it_counts_starting_calls() -> None:
    gate = gateway(capacity=None, max_calls=2)

    results = [admit(gate) for _ in range(3)]

    assert [isinstance(r, Admission) for r in results] == [True, True, False]
    assert results[2] == "2 calls in progress, the limit is 2"
    assert gate.metrics.value("switchboard_calls_rejected_total", reason="overloaded") == 1


def test_an_admitted_call_that_never_runs_stops_counting_after_the_hold() -> None:
    clock = Clock()
    gate = gateway(capacity=1, clock=clock)
    assert isinstance(admit(gate), Admission)  # the transport lost it before running it
    assert isinstance(admit(gate), str)

    clock.now += HOLD_S + 0.1

    assert isinstance(admit(gate), Admission)


def test_a_running_call_holds_its_place_once_and_frees_it_when_it_ends() -> None:
    gate = gateway(capacity=1)
    seen: list[tuple[int, int, bool]] = []

    async def deliver(event: OutboundEvent) -> None:
        if not seen:  # the greeting is under way: the call is live
            seen.append((gate.active, gate.capacity.starting(), gate.at_capacity() is None))

    async def caller() -> AsyncIterator[InboundEvent]:
        await asyncio.sleep(0.3)
        yield CallerHangup("done")

    async def scenario() -> Admission | str:
        admission = admit(gate)
        assert isinstance(admission, Admission)
        await gate.run_call(admission, StartCall(agent="test/tester"), deliver, caller())
        return admit(gate)

    after = asyncio.run(scenario())

    assert seen == [(1, 0, False)]
    assert isinstance(after, Admission), after


def test_the_capacity_of_packaged_cpu_models_is_one_call_a_core() -> None:
    assert [calls_for_cores(c) for c in (1, 2, 4)] == [1, 2, 4]
    assert calls_for_cores(0.2) == 1
    assert calls_for_cores(2, calls_per_core=1.5) == 3


def _agent(pipeline: dict[str, Any]) -> VoiceAgent:
    manifest = parse_manifest(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "VoiceAgent",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": {"prompt": {"system": "Test."}, "pipeline": pipeline},
        },
        "test",
    )
    assert isinstance(manifest, VoiceAgent)
    return manifest


def test_switchboard_up_sizes_its_capacity_only_for_models_on_its_own_cpus() -> None:
    remote = {"provider": "openai-compatible", "model": "m", "endpoint": {"url": "http://x/v1"}}

    cpu = model_plane([agent_request(_agent({}))])
    hosted = model_plane([agent_request(_agent({"llm": remote}))])

    assert local_capacity(cpu, 2) == 2
    assert local_capacity(hosted, 2) is None


def test_the_gateway_config_capacity_reaches_admission() -> None:
    agent = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "tester", "namespace": "test"},
        "spec": {"prompt": {"system": "Test."}},
    }
    config = GatewayConfig.model_validate(
        {"modelPlaneUrl": "http://127.0.0.1:1", "agents": [agent], "store": None}
    )
    limited = config.model_copy(update={"capacity_calls": 1})

    assert build_gateway(config, None).capacity.calls is None
    gate = build_gateway(limited, None)
    assert isinstance(admit(gate), Admission)
    assert str(admit(gate)).startswith("over_capacity: 1 calls in progress")


def test_grpc_and_websocket_refuse_a_call_over_capacity_with_their_own_status() -> None:
    gate = gateway(capacity=1)
    gate.capacity.reserve()  # a call is starting: the capacity is taken

    async def scenario() -> tuple[grpc.StatusCode, str, int | None, str]:
        grpc_server, grpc_port = await start_grpc_server(gate)
        ws_server = await start_ws_server(gate, "127.0.0.1", 0)
        ws_port = next(iter(ws_server.sockets)).getsockname()[1]
        try:
            try:
                async with grpc_connect(f"127.0.0.1:{grpc_port}", "test/tester") as call:
                    [e async for e in call.events()]
                raise AssertionError("the gRPC call was admitted")
            except grpc.aio.AioRpcError as refused:
                code, details = refused.code(), refused.details() or ""
            async with ws_connect(f"ws://127.0.0.1:{ws_port}{CALL_PATH}") as socket:
                await socket.send(json.dumps({"type": "start", "agent": "test/tester"}))
                with contextlib.suppress(ConnectionClosed):
                    async for _ in socket:
                        pass
                close = socket.close_code, socket.close_reason or ""
        finally:
            await grpc_server.stop(grace=0)
            ws_server.close()
            await ws_server.wait_closed()
        return code, details, *close

    code, details, ws_code, ws_reason = asyncio.run(scenario())

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.startswith("over_capacity: 1 calls in progress")
    assert ws_code == 1013
    assert ws_reason.startswith("over_capacity: 1 calls in progress")
    assert gate.metrics.value("switchboard_calls_rejected_total", reason="over_capacity") == 2
