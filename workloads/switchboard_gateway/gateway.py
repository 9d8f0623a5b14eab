"""The gateway: which agents it serves, who may call them, and how many calls at once.

Transports (gRPC, WebSocket) decode a call's `start`, ask `admit`, and hand `run_call` the rest of
the caller's events as an async iterator plus a `deliver` function; everything about a call after
its `start` is transport-neutral.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from switchboard_gateway.agent import AgentConfig, Prompts
from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.backends.base import ModelBackend
from switchboard_gateway.callers import Caller, authenticate, variables_with_token
from switchboard_gateway.capacity import OVER_CAPACITY, CallCapacity
from switchboard_gateway.conversation.session import CallSession
from switchboard_gateway.events import (
    AgentAudioEvent,
    CallEndedEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    StartCall,
)
from switchboard_gateway.metrics import GatewayMetrics
from switchboard_gateway.prompt import TemplateError
from switchboard_gateway.public_calls import PublicAccess
from switchboard_gateway.quota.slots import CallSlots, QuotaUnavailableError, Slot
from switchboard_gateway.records.call_audio import CallAudio
from switchboard_gateway.records.model import CallRecord, CallStore
from switchboard_gateway.records.recorder import CallRecorder
from switchboard_gateway.records.recordings import RecordingStore
from switchboard_gateway.tools.knowledge import KnowledgeSearch

log = logging.getLogger(__name__)

#: A slow client gets at most this much agent audio queued before frames are dropped.
MAX_QUEUED_AUDIO_S = 2.0
_FRAME_S = 0.02


@dataclass(frozen=True)
class AgentEntry:
    """One agent this gateway serves, the backend for its models, and the keys that may call it."""

    config: AgentConfig
    backend: ModelBackend
    #: The API keys that may call it (`api_keys.KeyRing`: fixed hashes and re-read files).
    keys: KeyRing = field(default_factory=KeyRing)
    #: Retrieval for `search_knowledge_base` (None: the tool is not offered).
    knowledge: KnowledgeSearch | None = None
    #: Calls without credentials, when the agent is public (None: they are refused).
    public: PublicAccess | None = None
    #: Its calls are recorded (`callPolicy.recording`, and its tenant keeps recordings).
    recorded: bool = False

    def authenticate(self, start: StartCall) -> Caller | CallEndedEvent:
        """Who calls with `start` (see `callers.authenticate`), or why it may not."""
        return authenticate(
            self.keys,
            self.public,
            self.config.key,
            start,
            now=int(time.time()),
            monotonic=time.monotonic(),
        )


def _start_over_limits(
    config: AgentConfig, start: StartCall, variables: Mapping[str, str]
) -> str | None:
    """Why a start breaks the agent's per-call limits (its detail), or None when it keeps them.

    `variables` are the start's with those its call token fixes.
    """
    reference, most = len(start.client_reference), config.limits.max_client_reference_chars
    if reference > most:
        return (
            f"clientReference is {reference} characters; the limit is {most}"
            " (callPolicy.limits.maxClientReferenceChars)"
        )
    return config.caller_variables_problem(variables)


class OverloadedError(Exception):
    """The gateway is at its concurrent-call limit, or at its capacity (`over_capacity: ...`)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted call: the agent it reaches and its prompts, rendered for this caller."""

    entry: AgentEntry
    prompts: Prompts
    #: Its place among the calls admitted and not yet running (`CallCapacity.reserve`).
    reservation: int | None = None


@dataclass
class Gateway:
    """Admission control and the registry of agents."""

    agents: Mapping[str, AgentEntry]
    max_calls: int = 20
    active: int = 0
    draining: bool = False
    #: False until every agent's models have answered once (readiness stays off till then).
    warm: bool = True
    store: CallStore | None = None
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    #: The tenant's call quota across its gateways (None: no tenant-wide limit).
    slots: CallSlots | None = None
    #: Where recordings go (`GatewayConfig.recordings`; None: no call is recorded).
    recordings: RecordingStore | None = None
    #: The calls its models serve within the latency SLO (`capacity.py`; default: no capacity).
    capacity: CallCapacity = field(default_factory=CallCapacity)
    _sessions: set[CallSession] = field(default_factory=set)
    _saving: set[asyncio.Task[None]] = field(default_factory=set)

    def resolve(self, name: str) -> AgentEntry | None:
        """An agent by `namespace/name`, or by bare name when that is unambiguous."""
        if name in self.agents:
            return self.agents[name]
        matches = [e for key, e in self.agents.items() if key.rsplit("/", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None

    def admit(
        self, start: StartCall, channel: str, *, provider_verified: bool = False
    ) -> Admission | CallEndedEvent:
        """The agent to connect the call to, or why the call ends now.

        The start is held to the agent's per-call limits here (docs/limits.md): only declared
        caller variables, within their count and size, and a bounded client reference. The
        prompts are rendered here too, so a variable nobody gave a value refuses the call with
        its name instead of failing it later. Raises `OverloadedError` at the call limit or
        at capacity (`capacity.py`): transports answer that with their own status (gRPC
        RESOURCE_EXHAUSTED, WebSocket close 1013) so clients retry elsewhere. An admitted call
        holds its place until it runs, so calls arriving together are all counted.

        `provider_verified`: a phone transport has checked the telephony provider's own
        credential for this agent (Twilio's request signature, jambonz's basic auth); API keys
        and tokens are not asked for then.
        """
        if self.draining:
            return self.refuse(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
        entry = self.resolve(start.agent)
        if entry is None:
            return self.refuse(EndReason.UNKNOWN_AGENT, f"no agent named {start.agent[:100]!r}")
        if channel not in entry.config.channels:
            detail = f"{entry.config.key} takes no calls over {channel} (its channel is off)"
            return self.refuse(EndReason.UNKNOWN_AGENT, detail)
        caller = Caller("provider") if provider_verified else entry.authenticate(start)
        if isinstance(caller, CallEndedEvent):
            return self.refuse(caller.reason, caller.detail)
        if entry.config.suspended:
            detail = "the agent's tenant is suspended (Tenant spec.suspend): calls resume with it"
            return self.refuse(EndReason.TENANT_SUSPENDED, detail)
        variables = variables_with_token(caller, start.variables)
        if isinstance(variables, CallEndedEvent):
            return self.refuse(variables.reason, variables.detail)
        over_limit = _start_over_limits(entry.config, start, variables)
        if over_limit is not None:
            return self.refuse(EndReason.PROTOCOL_ERROR, over_limit)
        try:
            prompts = entry.config.prompts(variables, start.telephony)
        except TemplateError as error:
            detail = f"prompt variable missing: {error}; send it in the start's variables"
            return self.refuse(EndReason.PROTOCOL_ERROR, detail)
        calls = self.active + self.capacity.starting()
        if calls >= self.max_calls:
            self.metrics.rejected.labels("overloaded").inc()
            raise OverloadedError(f"{calls} calls in progress, the limit is {self.max_calls}")
        over_capacity = self.capacity.refusal(self.active)
        if over_capacity is not None:
            self.metrics.rejected.labels(OVER_CAPACITY).inc()
            raise OverloadedError(over_capacity)
        return Admission(entry, prompts, self.capacity.reserve())

    def at_capacity(self) -> str | None:
        """Why a new call would be refused for load now (None: one more call fits)."""
        calls = self.active + self.capacity.starting()
        if calls >= self.max_calls:
            return f"{calls} calls in progress, the limit is {self.max_calls}"
        return self.capacity.refusal(self.active)

    def refuse(self, reason: EndReason, detail: str) -> CallEndedEvent:
        """A call that ends before it is admitted (also used by transports for a bad start)."""
        self.metrics.rejected.labels(reason.value).inc()
        return CallEndedEvent(reason, detail)

    async def run_call(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        inbound: AsyncIterable[InboundEvent],
        channel: str = "grpc",
    ) -> CallEndedEvent:
        """Run one admitted call: `inbound` feeds the session, `deliver` gets its events.

        With a tenant quota the call first takes a slot (or is refused with `quota_exceeded`);
        the slot is released however the call ends (hangup, error, drain, cancellation).
        """
        call_id = uuid.uuid4().hex
        try:
            slot_or_refusal = await self._take_slot(call_id)
            if isinstance(slot_or_refusal, CallEndedEvent):
                await deliver(slot_or_refusal)
                return slot_or_refusal
            slot = slot_or_refusal
            try:
                return await self._run_admitted(
                    admission, start, deliver, inbound, channel, call_id
                )
            finally:
                if slot is not None and self.slots is not None:
                    self.slots.release(slot)
        finally:
            self.capacity.release(admission.reservation)

    async def _take_slot(self, call_id: str) -> Slot | CallEndedEvent | None:
        """The call's slot in the tenant's quota (None without one), or its refusal.

        After authentication and admission, before the session greets: a refused caller hears
        nothing from the agent. Fails closed when the API server does not answer (slots.py).
        """
        if self.slots is None:
            return None
        try:
            slot = await self.slots.acquire(call_id)
        except QuotaUnavailableError as error:
            detail = (
                "the tenant's concurrent-call quota could not be checked (it fails closed):"
                f" {error}"
            )
            return self.refuse(EndReason.QUOTA_EXCEEDED, detail)
        if slot is None:
            detail = (
                f"the tenant's {self.slots.limit} concurrent calls are all in progress"
                " (Tenant quotas.maxConcurrentCalls); try again later"
            )
            return self.refuse(EndReason.QUOTA_EXCEEDED, detail)
        return slot

    async def _run_admitted(
        self,
        admission: Admission,
        start: StartCall,
        deliver: Callable[[OutboundEvent], Awaitable[None]],
        inbound: AsyncIterable[InboundEvent],
        channel: str,
        call_id: str,
    ) -> CallEndedEvent:
        entry = admission.entry
        agent = entry.config.key
        queue: asyncio.Queue[OutboundEvent] = asyncio.Queue()
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

        session = CallSession(
            entry.config,
            entry.backend,
            start,
            admission.prompts,
            send,
            call_id,
            knowledge=entry.knowledge,
        )
        limits = entry.config.limits
        recorder = CallRecorder(
            call_id,
            agent,
            channel,
            start.client_reference,
            max_turns=limits.max_record_turns,
            max_bytes=limits.max_record_bytes,
            telephony=start.telephony,
        )
        audio = self._call_audio(admission, start, call_id)
        self.capacity.release(admission.reservation)  # counted as active from here
        self.active += 1
        self.metrics.call_started(agent)
        outcome = "cancelled"  # unless an end event says otherwise: the transport went away
        self._sessions.add(session)
        tapped = audio.inbound(inbound) if audio is not None else inbound
        running = asyncio.create_task(session.run(tapped), name=f"call-{call_id}")
        recorded = False
        record: CallRecord | None = None
        try:
            while True:
                event = await queue.get()
                if isinstance(event, AgentAudioEvent):
                    queued_audio -= 1
                if audio is not None:
                    audio.outbound(event)
                tool = recorder.observe(event)
                self.metrics.observe(agent, event, tool)
                if isinstance(event, CallEndedEvent):
                    outcome = event.reason.value
                    # Stored before the caller hears of the end, so a record exists by then.
                    record = recorder.record(outcome, session.history.messages, session.latencies)
                    recorded = True
                    await recorder.save(self.store, record)
                await deliver(event)
                if isinstance(event, CallEndedEvent):
                    return event
        finally:
            self.active -= 1
            self.metrics.call_ended(agent, outcome)
            self._sessions.discard(session)
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
            if not recorded:  # the transport went away: the call still gets its record
                record = recorder.record(outcome, session.history.messages, session.latencies)
            if record is not None and (not recorded or audio is not None):
                after = self._after_call(recorder, record, audio, saved=recorded)
                saving = asyncio.create_task(after)
                self._saving.add(saving)  # it outlives this task, which may be cancelled
                saving.add_done_callback(self._saving.discard)

    def _call_audio(self, admission: Admission, start: StartCall, call_id: str) -> CallAudio | None:
        """The call's recording tap, when its agent is recorded and recordings have a place."""
        entry = admission.entry
        if not entry.recorded or self.recordings is None:
            return None
        try:
            limit = entry.config.call_policy.max_call_duration_seconds
            return CallAudio(call_id, entry.config.key, start, max_seconds=limit + 5)
        except Exception:  # e.g. no temporary space: the call goes on unrecorded
            log.exception("call %s cannot be recorded", call_id)
            return None

    async def _after_call(
        self, recorder: CallRecorder, record: CallRecord, audio: CallAudio | None, *, saved: bool
    ) -> None:
        """Save the record (unless saved), then store the recording and reference it."""
        if not saved:
            await recorder.save(self.store, record)
        if audio is None:
            return
        if self.recordings is None:
            audio.discard()
            return
        reference = await audio.store(self.recordings, record.started_at)
        if reference is not None:
            await recorder.save(self.store, dataclasses.replace(record, recording=reference))

    async def records_saved(self) -> None:
        """Wait for records still being saved (before the store closes)."""
        if self._saving:
            await asyncio.gather(*self._saving, return_exceptions=True)

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls and wait for active ones, then end those still running."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.active and loop.time() < deadline:
            await asyncio.sleep(0.1)
        for session in list(self._sessions):
            session.abort(EndReason.SHUTTING_DOWN, "the gateway is shutting down")
