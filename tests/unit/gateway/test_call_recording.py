"""The gateway records the calls of agents with `callPolicy.recording`, and only those."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from switchboard_gateway.events import (
    CallerAudio,
    CallerHangup,
    InboundEvent,
    OutboundEvent,
    StartCall,
)
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.records.model import CallRecord
from switchboard_gateway.records.recordings import DirectoryRecordings
from switchboard_gateway.testing.calls import agent_config

pytestmark = pytest.mark.unit

LEVEL = 9000  # the agent's greeting: a steady tone
HISS = 40  # the caller: a level far below speech, which the VAD leaves alone


class _Speech:
    """A backend whose only work is the greeting: 0.4 s of a steady tone."""

    async def transcribe(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the caller never speaks")

    def reply(self, messages: Sequence[Any], tools: Sequence[Any]) -> AsyncIterator[Any]:
        raise AssertionError("the caller never speaks")

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        yield np.full(int(0.4 * sample_rate), LEVEL, "<i2").tobytes()


class _Store:
    def __init__(self) -> None:
        self.saved: list[CallRecord] = []

    async def save(self, record: CallRecord) -> None:
        self.saved.append(record)


async def _caller() -> AsyncIterator[InboundEvent]:
    for _ in range(60):  # 1.2 s of audio at real time, then hang up
        yield CallerAudio(np.full(320, HISS, "<i2").tobytes())
        await asyncio.sleep(0.02)
    yield CallerHangup("done")


def _call(tmp_path: Path, *, recording: bool) -> tuple[list[CallRecord], Path]:
    config = agent_config(
        prompt={"system": "Test.", "greeting": "Hello."}, callPolicy={"recording": recording}
    )
    store = _Store()
    entry = AgentEntry(config, backend=_Speech(), recorded=recording)
    gateway = Gateway(
        {config.key: entry},
        store=store,  # type: ignore[arg-type]
        recordings=DirectoryRecordings(tmp_path),
    )

    async def deliver(event: OutboundEvent) -> None:
        pass

    async def scenario() -> None:
        start = StartCall(agent=config.key)
        admission = gateway.admit(start, "websocket")
        assert isinstance(admission, Admission), admission
        await gateway.run_call(admission, start, deliver, _caller(), channel="websocket")
        await gateway.records_saved()

    asyncio.run(scenario())
    return store.saved, tmp_path


def test_a_recorded_agents_call_is_stored_as_two_channels_and_referenced_from_its_record(
    tmp_path: Path,
) -> None:
    saved, directory = _call(tmp_path, recording=True)
    first, second = saved  # the record at the call's end, then again with its recording
    assert first.recording == ""
    assert second == CallRecord(**{**first.__dict__, "recording": second.recording})
    day = first.started_at.strftime("%Y/%m/%d")
    assert second.recording == f"file:test/tester/{day}/{first.call_id}.wav"
    path = directory / second.recording.removeprefix("file:")
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getframerate()) == (2, 16_000)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    left, right = frames[:, 0], frames[:, 1]
    assert 1.1 < len(frames) / 16_000 < 2.0
    assert np.count_nonzero(left == HISS) > 1.0 * 16_000, "the caller's audio, left"
    assert np.count_nonzero(right == LEVEL) == round(0.4 * 16_000), "the greeting, right, whole"
    assert not np.isin(right, [HISS]).any()
    assert not np.isin(left, [LEVEL]).any()
    assert list(tmp_path.glob("*.partial")) == []


def test_an_agent_without_recording_leaves_no_file(tmp_path: Path) -> None:
    saved, directory = _call(tmp_path, recording=False)
    assert [r.recording for r in saved] == [""]
    assert list(directory.rglob("*")) == []


def _agent(name: str, namespace: str, recording: bool) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"prompt": {"system": "Test."}, "callPolicy": {"recording": recording}},
    }


def test_agents_are_recorded_with_recording_on_unless_their_tenant_keeps_none() -> None:
    from switchboard_api.gateway import GatewayConfig
    from switchboard_gateway.server import build_gateway

    tenant = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "quiet"},
        "spec": {"namespace": {"name": "quiet"}, "retention": {"recordingsDays": 0}},
    }
    config = GatewayConfig.model_validate(
        {
            "modelPlaneUrl": "http://127.0.0.1:9",
            "agents": [
                _agent("on", "acme", True),
                _agent("off", "acme", False),
                _agent("kept-none", "quiet", True),
            ],
            "tenants": [tenant],
            "store": None,
        }
    )
    gateway = build_gateway(config, None)
    recorded = {key: entry.recorded for key, entry in gateway.agents.items()}
    assert recorded == {"acme/on": True, "acme/off": False, "quiet/kept-none": False}
