"""Run a whole scripted call on virtual time against the fakes, and what it produced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from switchboard_api.manifests import parse_manifest
from switchboard_api.resources import VoiceAgent
from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    CallerPlayed,
    CallerText,
    InboundEvent,
    OutboundEvent,
    StartCall,
    TurnLatencyEvent,
)
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.fakes import (
    EnergyVad,
    FakeChatModel,
    FakeModels,
    FakeSynthesizer,
    FakeTranscriber,
    Reply,
    echo,
)
from switchboard_gateway.testing.script import FRAME_S, CallScript
from switchboard_gateway.turns.vad import WINDOW_S
from switchboard_wire.audio import float_to_pcm16


def agent_config(**spec: object) -> AgentConfig:
    """A small agent (greeting, no tools) with `spec` merged over its VoiceAgent spec."""
    body: dict[str, Any] = {
        "prompt": {"system": "You are a test agent.", "greeting": "Hello, how can I help?"},
        **spec,
    }
    manifest = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "VoiceAgent",
        "metadata": {"name": "tester", "namespace": "test"},
        "spec": body,
    }
    agent = parse_manifest(manifest, "harness")
    if not isinstance(agent, VoiceAgent):
        raise TypeError("the harness builds VoiceAgents only")
    return AgentConfig.from_resource(agent)


@dataclass
class CallResult:
    """What a scripted call produced, with virtual times."""

    ended: CallEndedEvent
    events: list[tuple[float, OutboundEvent]]
    session: CallSession
    models: FakeModels

    def of(self, kind: type[Any]) -> list[tuple[float, Any]]:
        """(time, event) of one kind, in order."""
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    @property
    def history(self) -> list[dict[str, Any]]:
        """The conversation as the model would see it next (system prompt excluded)."""
        return self.session.history.messages

    @property
    def latencies(self) -> list[TurnLatencyEvent]:
        """Per-turn latencies."""
        return self.session.latencies


class CallerEvents:
    """The caller's events as the async iterator a transport hands the session."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[InboundEvent | None] = asyncio.Queue()

    def put(self, event: InboundEvent) -> None:
        """The caller sends an event."""
        self._queue.put_nowait(event)

    def close(self) -> None:
        """The caller's stream ends (the client went away)."""
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[InboundEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[InboundEvent]:
        while (event := await self._queue.get()) is not None:
            yield event


async def run_scripted_call(
    config: AgentConfig,
    script: CallScript,
    *,
    reply: Reply = echo,
    until: float = 60.0,
    prepare: Callable[[FakeModels], None] | None = None,
    start: StartCall | None = None,
    played_after: float | None = None,
) -> CallResult:
    """Run one call on virtual time until it ends (or `until` seconds, then hang up).

    `start`: the call's start (default: a plain call to the agent). `played_after`: the caller's
    side reports each agent frame played (`CallerPlayed`) this long after it was sent.
    """
    clock = FakeClock()
    models = FakeModels(
        FakeTranscriber(clock, script), FakeChatModel(clock, reply), FakeSynthesizer(clock)
    )
    if prepare is not None:
        prepare(models)
    events: list[tuple[float, OutboundEvent]] = []
    started = clock.now()
    unreported: list[tuple[float, int]] = []

    async def send(event: OutboundEvent) -> None:
        events.append((clock.now() - started, event))
        if played_after is not None and isinstance(event, AgentAudioEvent):
            unreported.append((clock.now() - started + played_after, event.sequence))

    start = start or StartCall(agent=config.key)
    prompts = config.prompts({}, start.telephony)
    session = CallSession(
        config, models, start, prompts, send, "scripted", clock=clock, vad=EnergyVad()
    )
    inbound = CallerEvents()
    running = asyncio.create_task(session.run(inbound))
    typed = sorted(script.types, key=lambda t: t.at)
    presses = sorted(script.presses, key=lambda p: p.at)
    t = 0.0
    while not running.done() and t < until:
        while typed and typed[0].at <= t + 1e-9:
            inbound.put(CallerText(typed.pop(0).text))
        while presses and presses[0].at <= t + 1e-9:
            inbound.put(CallerDtmf(presses.pop(0).keys))
        played = [sequence for at, sequence in unreported if at <= t + 1e-9]
        if played:
            inbound.put(CallerPlayed(max(played)))
            unreported[:] = [(at, s) for at, s in unreported if at > t + 1e-9]
        if script.hangup_at is not None and t >= script.hangup_at - 1e-9:
            inbound.put(CallerHangup("scripted"))
        inbound.put(CallerAudio(float_to_pcm16(script.frame(t))))
        await clock.advance(FRAME_S)
        t = round(t + FRAME_S, 6)
    if not running.done():
        inbound.close()
        for _ in range(100):
            await clock.advance(WINDOW_S)
            if running.done():
                break
    ended = await running
    return CallResult(ended, events, session, models)
