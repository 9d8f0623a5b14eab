"""The gateway process: which agents it serves, who may call them, and how many calls at once.

Transports (gRPC, WebSocket) hand each accepted call's events to `run_call`; everything about a
call after its `start` is transport-neutral.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.base import ModelBackend
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    EndReason,
    OutboundEvent,
    StartCall,
    ToolCallEvent,
    ToolResultEvent,
)
from switchboard_gateway.knowledge import KnowledgeSearch
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_gateway.records import CallRecord, CallStore, ToolCallRecord, turns_from_history
from switchboard_gateway.session import CallSession

log = logging.getLogger(__name__)

#: A slow client gets at most this much agent audio queued before frames are dropped.
MAX_QUEUED_AUDIO_S = 2.0
_FRAME_S = 0.02


def hash_api_key(key: str) -> str:
    """How API keys are stored: SHA-256 hex (keys are random tokens, not passwords)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AgentEntry:
    """One agent this gateway serves, the backend for its models, and the keys that may call it."""

    config: AgentConfig
    backend: ModelBackend
    api_key_hashes: frozenset[str] = frozenset()
    #: Retrieval for `search_knowledge_base` (None: the tool is not offered).
    knowledge: KnowledgeSearch | None = None

    def accepts(self, key: str) -> bool:
        """Whether `key` may call this agent (any key when none is configured)."""
        if not self.api_key_hashes:
            return True
        digest = hash_api_key(key)
        return any(hmac.compare_digest(digest, known) for known in self.api_key_hashes)


class OverloadedError(Exception):
    """The gateway is at its concurrent-call limit."""


@dataclass
class Gateway:
    """Admission control and the registry of agents."""

    agents: Mapping[str, AgentEntry]
    max_calls: int = 20
    active: int = 0
    draining: bool = False
    store: CallStore | None = None
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    _sessions: set[CallSession] = field(default_factory=set)

    def resolve(self, name: str) -> AgentEntry | None:
        """An agent by `namespace/name`, or by bare name when that is unambiguous."""
        if name in self.agents:
            return self.agents[name]
        matches = [e for key, e in self.agents.items() if key.rsplit("/", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None

    def admit(self, start: StartCall) -> AgentEntry | CallEndedEvent:
        """The agent to connect the call to, or why the call ends now.

        Raises `OverloadedError` at capacity: transports answer that with their own status
        (gRPC RESOURCE_EXHAUSTED, WebSocket close 1013) so clients retry elsewhere.
        """
        if self.draining:
            return self.refuse(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
        entry = self.resolve(start.agent)
        if entry is None:
            return self.refuse(EndReason.UNKNOWN_AGENT, f"no agent named {start.agent[:100]!r}")
        if not entry.accepts(start.api_key):
            return self.refuse(EndReason.UNAUTHENTICATED, "missing or invalid API key")
        if self.active >= self.max_calls:
            self.metrics.rejected.labels("overloaded").inc()
            raise OverloadedError(f"{self.active} calls in progress, the limit is {self.max_calls}")
        return entry

    def refuse(self, reason: EndReason, detail: str) -> CallEndedEvent:
        """A call that ends before it is admitted (also used by transports for a bad start)."""
        self.metrics.rejected.labels(reason.value).inc()
        return CallEndedEvent(reason, detail)

    async def run_call(
        self,
        entry: AgentEntry,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        pump: Callable[[CallSession], Coroutine[Any, Any, None]],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        """Run one admitted call: `pump` feeds the session, `deliver` gets its events."""
        queue: asyncio.Queue[OutboundEvent] = asyncio.Queue()
        started_at = datetime.now(UTC)
        tool_names: dict[str, str] = {}
        tool_calls: list[ToolCallRecord] = []
        max_audio = int(MAX_QUEUED_AUDIO_S / _FRAME_S)
        queued_audio = 0

        async def send(event: OutboundEvent) -> None:
            nonlocal queued_audio
            if isinstance(event, AgentAudioEvent):
                if queued_audio >= max_audio:
                    self.metrics.dropped_frames.labels(agent).inc()
                    return
                queued_audio += 1
            queue.put_nowait(event)

        agent = entry.config.key
        session = CallSession(
            entry.config, entry.backend, start, send, uuid.uuid4().hex, knowledge=entry.knowledge
        )
        self.active += 1
        self.metrics.call_started(agent)
        outcome = "cancelled"  # unless an end event says otherwise: the transport went away
        self._sessions.add(session)
        running = asyncio.create_task(session.run(), name=f"call-{session.call_id}")
        pumping = asyncio.create_task(pump(session), name=f"pump-{session.call_id}")
        try:
            while True:
                event = await queue.get()
                if isinstance(event, AgentAudioEvent):
                    queued_audio -= 1
                elif isinstance(event, ToolCallEvent):
                    tool_names[event.id] = event.name
                tool = ""
                if isinstance(event, ToolResultEvent):
                    tool = tool_names.get(event.id, "")
                    tool_calls.append(
                        ToolCallRecord(event.turn, tool, event.ok, event.error, event.latency_ms)
                    )
                self.metrics.observe(agent, event, tool)
                if isinstance(event, CallEndedEvent):
                    outcome = event.reason.value
                    # Stored before the caller hears of the end, so a record exists by then.
                    await self._record(session, start, channel, started_at, event, tool_calls)
                await deliver(event)
                if isinstance(event, CallEndedEvent):
                    return event
        finally:
            self.active -= 1
            self.metrics.call_ended(agent, outcome)
            self._sessions.discard(session)
            for task in (pumping, running):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.gather(pumping, running, return_exceptions=True)

    async def _record(
        self,
        session: CallSession,
        start: StartCall,
        channel: str,
        started_at: datetime,
        ended: CallEndedEvent,
        tool_calls: list[ToolCallRecord],
    ) -> None:
        if self.store is None:
            return
        record = CallRecord(
            call_id=session.call_id,
            agent=session.config.key,
            channel=channel,
            started_at=started_at,
            ended_at=datetime.now(UTC),
            end_reason=ended.reason.value,
            client_reference=start.client_reference,
            turns=turns_from_history(session.history.messages, session.latencies),
            tool_calls=tuple(tool_calls),
        )
        try:
            await self.store.save(record)
        except Exception:  # a failing store must not fail the call that already ended
            log.exception("could not store the record of call %s", session.call_id)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls and wait for active ones, then end those still running."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.active and loop.time() < deadline:
            await asyncio.sleep(0.1)
        for session in list(self._sessions):
            session.abort(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
