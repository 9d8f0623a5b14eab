"""One call: its lifecycle, its tasks, and how it ends.

A call is three objects. The `Listener` turns caller audio into caller turns, the `Responder`
answers them, and the `CallSession` owns both: one `asyncio.TaskGroup` per call holds the reader
of the caller's events, the listener's ASR task, the responder's work loop, the keypad's timer
(DTMF keys into turns) and a watchdog that sleeps on the injected clock until the call is idle
or too long. Whatever ends the call records
why, once; the session sends exactly one `CallEndedEvent`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable

from switchboard_gateway.agent import AgentConfig, Prompts
from switchboard_gateway.audio import decode
from switchboard_gateway.backends.base import ModelBackend
from switchboard_gateway.conversation.clock import Clock, MonotonicClock
from switchboard_gateway.conversation.handoff import keyword_in
from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.keypad import Keypad
from switchboard_gateway.conversation.listener import HeardTurn, Listener
from switchboard_gateway.conversation.rate import TokenBucket, turn_rate
from switchboard_gateway.conversation.responder import Responder
from switchboard_gateway.conversation.voice import AgentVoice
from switchboard_gateway.events import (
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    CallerPlayed,
    CallerText,
    CallStarted,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.tools.dispatch import ToolCalls
from switchboard_gateway.tools.knowledge import KnowledgeSearch
from switchboard_gateway.tools.ssrf import SsrfGuard
from switchboard_gateway.tools.webhooks import ToolRunner
from switchboard_gateway.turns.dtmf import DTMF_KEYS
from switchboard_gateway.turns.vad import Vad

log = logging.getLogger(__name__)

DTMF_DIGITS = DTMF_KEYS

Send = Callable[[OutboundEvent], Awaitable[None]]


class CallSession:
    """Runs one call until it ends."""

    def __init__(
        self,
        config: AgentConfig,
        backend: ModelBackend,
        start: StartCall,
        prompts: Prompts,
        send: Send,
        call_id: str,
        *,
        clock: Clock | None = None,
        tools: ToolRunner | None = None,
        knowledge: KnowledgeSearch | None = None,
        vad: Vad | None = None,
    ) -> None:
        self.config, self._start, self._prompts, self._send = config, start, prompts, send
        self.call_id = call_id
        self._clock = clock or MonotonicClock()
        self.history = ConversationHistory(
            prompts.system, config.llm.context_tokens, config.llm.max_tokens
        )
        self._voice = AgentVoice(
            backend, send, start.output_format, self._clock, start.reports_playback
        )
        dispatcher = ToolCalls(
            config,
            tools or ToolRunner(SsrfGuard(config.tool_allow_cidrs)),
            call_id,
            send,
            self._voice.say,
            knowledge,
        )
        self.responder = Responder(
            config, backend, self._voice, dispatcher, self.history, send, self._clock, call_id,
            self._end,
        )  # fmt: skip
        self.listener = Listener(config, backend, self, self._clock, vad)
        self.keypad = Keypad(config.dtmf, self._clock, self._keypad_turn)
        self._ending: CallEndedEvent | None = None
        self._over = asyncio.Event()
        self._last_activity = self._clock.now()
        limits = config.limits
        now = self._clock.now()
        self._turn_rate = turn_rate(limits.turns_per_minute, limits.turn_burst, now)
        per_second = limits.max_messages_per_second
        self._message_rate = TokenBucket(per_second, per_second, now)

    @property
    def latencies(self) -> list[TurnLatencyEvent]:
        """Each answered caller turn's stage latencies, in order."""
        return self.responder.latencies

    @property
    def busy(self) -> bool:
        """Whether the agent is replying or its audio is still playing."""
        return self.responder.busy

    async def run(self, inbound: AsyncIterable[InboundEvent]) -> CallEndedEvent:
        """Greet, converse, and end with exactly one `CallEndedEvent` sent.

        `inbound` is the caller's events as the transport decoded them; its end means the
        caller went away, and a `ProtocolError` from it ends the call as a protocol error.
        """
        await self._send(CallStarted(self.call_id, self.config.key, self._start.output_format))
        if self._prompts.recording_notice:
            self.responder.notice(self._prompts.recording_notice)
        if self._prompts.greeting:
            self.responder.greet(self._prompts.greeting)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._read(inbound), name=f"read-{self.call_id}"),
                    group.create_task(self.listener.run(), name=f"listen-{self.call_id}"),
                    group.create_task(self.responder.run(), name=f"respond-{self.call_id}"),
                    group.create_task(self._watchdog(), name=f"watchdog-{self.call_id}"),
                    group.create_task(self.keypad.run(), name=f"keypad-{self.call_id}"),
                ]
                await self._over.wait()
                for task in tasks:
                    task.cancel()
        except* Exception as failure:
            log.error("call %s failed", self.call_id, exc_info=failure.exceptions[0])
            self._end(EndReason.INTERNAL_ERROR, "the call failed inside the gateway")
        ended = self._ending or CallEndedEvent(EndReason.INTERNAL_ERROR, "ended without a reason")
        await self._send(ended)
        return ended

    def abort(self, reason: EndReason, detail: str) -> None:
        """End the call from outside (shutdown): its tasks stop and the end is sent."""
        self._end(reason, detail)

    def _end(self, reason: EndReason, detail: str = "") -> None:
        if self._ending is None:
            self._ending = CallEndedEvent(reason, detail)
        self._over.set()

    def _active(self) -> None:
        self._last_activity = self._clock.now()

    async def _read(self, inbound: AsyncIterable[InboundEvent]) -> None:
        """Hand each caller event on; whatever stops the stream ends the call with its reason.

        Every transport ends a call the same way: a message it cannot read (its `ProtocolError`,
        or anything else its decoding raises) is a protocol error naming the problem, never a
        reader that dies and leaves the call deaf.
        """
        events = aiter(inbound)
        while True:
            try:
                event = await anext(events)
            except StopAsyncIteration:
                self._end(EndReason.CALLER_HANGUP, "the client closed the stream")
                return
            except ProtocolError as error:
                self._end(EndReason.PROTOCOL_ERROR, str(error))
                return
            except Exception as error:
                log.warning("call %s: unreadable caller stream: %r", self.call_id, type(error))
                detail = f"unreadable message from the client ({type(error).__name__})"
                self._end(EndReason.PROTOCOL_ERROR, detail)
                return
            try:
                await self._handle(event)
            except ProtocolError as error:
                self._end(EndReason.PROTOCOL_ERROR, str(error))
                return
            # A caller sending faster than the limit is read later, not cut: the transport
            # stops reading its socket meanwhile, so the flood costs the gateway nothing more.
            wait = self._message_rate.reserve(self._clock.now())
            if wait > 0:
                await self._clock.sleep(wait)

    async def _handle(self, event: InboundEvent) -> None:
        if isinstance(event, CallerAudio):
            await self.listener.feed(decode(event.data, self._start.input_format))
        elif isinstance(event, CallerText):
            most = self.config.limits.max_text_chars
            if len(event.text) > most:
                raise ProtocolError(
                    f"a typed turn of {len(event.text)} characters; the limit is {most}"
                    " (callPolicy.limits.maxTextChars)"
                )
            text = event.text.strip()
            if text:
                self._keep_turn_rate()
                self._active()
                if not await self._handed_off(text):
                    await self.responder.interrupt()
                    await self.responder.caller_typed(text)
        elif isinstance(event, CallerHangup):
            self._end(EndReason.CALLER_HANGUP, event.reason[:200])
        elif isinstance(event, CallerDtmf):
            if not set(event.digits) <= DTMF_DIGITS:
                raise ProtocolError("DTMF digits must be 0-9, *, # or A-D")
            self._active()
            await self.keypad.press(event.digits)
        elif isinstance(event, CallerPlayed):
            self._voice.played(event.sequence)

    async def _handed_off(self, text: str) -> bool:
        """The caller's words name a handoff keyword: the call goes to a human (true), at once."""
        handoff = self.config.handoff
        keyword = keyword_in(text, handoff.keywords) if handoff is not None else None
        if keyword is None:
            return False
        await self.responder.hand_off(text, f"keyword: {keyword}")
        return True

    async def _keypad_turn(self, text: str) -> None:
        """Keys the caller pressed are a caller turn, answered like a typed one."""
        if not self._turn_allowed():
            return
        self._active()
        await self.responder.interrupt()
        await self.responder.caller_typed(text)

    def _turn_allowed(self) -> bool:
        """A turn within the turn rate; one beyond it ends the call (false)."""
        try:
            self._keep_turn_rate()
        except ProtocolError as error:
            self._end(EndReason.PROTOCOL_ERROR, str(error))
            return False
        return True

    def _keep_turn_rate(self) -> None:
        """A caller turn (typed or spoken) faster than the agent's turn rate ends the call."""
        if not self._turn_rate.allow(self._clock.now()):
            limits = self.config.limits
            raise ProtocolError(
                f"caller turns faster than {limits.turns_per_minute} a minute after a burst of"
                f" {limits.turn_burst} (callPolicy.limits.turnsPerMinute, turnBurst)"
            )

    async def _watchdog(self) -> None:
        """Ends the call when it has been idle, or running, for too long."""
        policy = self.config.call_policy
        deadline = self._clock.now() + policy.max_call_duration_seconds
        while True:
            now = self._clock.now()
            if self.responder.busy or self.listener.speaking:
                self._last_activity = now
            if now >= deadline:
                self._end(EndReason.MAX_DURATION)
                return
            last = max(self._last_activity, self.responder.last_active)
            idle_at = last + policy.idle_timeout_seconds
            if now >= idle_at:
                self._end(EndReason.IDLE_TIMEOUT)
                return
            await self._clock.sleep(min(deadline, idle_at) - now)

    # --- ListenerHooks ----------------------------------------------------------------------

    def agent_busy(self) -> bool:
        """Whether the agent is replying or its audio is still playing."""
        return self.responder.busy

    def on_speech(self, started: bool) -> None:
        """Caller speech counts as activity, its start and its end."""
        self._active()

    async def on_barge_in(self) -> None:
        """The caller talks over the agent: stop it."""
        await self.responder.interrupt()

    async def on_interim(self, text: str) -> None:
        """A partial transcript of the caller's turn in progress."""
        await self._send(TranscriptEvent(self.responder.next_caller_turn, text, final=False))

    async def on_caller_turn(self, turn: HeardTurn) -> None:
        """A finished caller turn goes to the responder (or hands the call to a human)."""
        if not self._turn_allowed():
            self.responder.drop_held()
            return
        self._active()
        if not await self._handed_off(turn.text):
            await self.responder.caller_said(turn)

    async def on_no_words(self) -> None:
        """A sound with no words ended a turn: an unfinished turn is answered as it stands."""
        await self.responder.caller_said_nothing()

    def on_held_turn(self, turn: HeardTurn) -> None:
        """The caller paused: the responder may answer in advance, silently, until confirmed.

        Words that hand the call to a human are not answered in advance: the handoff happens
        when the turn is confirmed.
        """
        handoff = self.config.handoff
        if handoff is None or keyword_in(turn.text, handoff.keywords) is None:
            self.responder.hold(turn)

    def on_held_dropped(self) -> None:
        """The caller went on speaking: the reply prepared in advance is cancelled, unheard."""
        self.responder.drop_held()
