"""One call: the conversation loop between a caller and an agent.

Caller audio flows through VAD, the speech detector and the endpointing policy; the utterance is
transcribed while the caller speaks (partial passes) and finished with a short final pass at the
end of the turn. A turn worker then streams the LLM reply through the sentence splitter into TTS
and out through the pacer. Caller speech over the agent interrupts it (barge-in): the reply task
is cancelled, the client is told to `clear`, and the history keeps only what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.agent_voice import AgentVoice
from switchboard_gateway.audio import PIPELINE_RATE, Float32, decode, float_to_pcm16
from switchboard_gateway.backends.base import BackendError, ModelBackend, PartialText, ToolRequest
from switchboard_gateway.events import (
    CallEndedEvent,
    CallerAudio,
    CallerDtmf,
    CallerHangup,
    CallerText,
    CallStarted,
    ClearEvent,
    EndReason,
    InboundEvent,
    OutboundEvent,
    ProtocolError,
    StartCall,
    TranscriptEvent,
    TurnLatencyEvent,
)
from switchboard_gateway.history import ConversationHistory
from switchboard_gateway.knowledge import KnowledgeSearch
from switchboard_gateway.pacer import Clock, MonotonicClock
from switchboard_gateway.ssrf import SsrfGuard
from switchboard_gateway.tool_calls import ToolCalls
from switchboard_gateway.tools import ToolRunner
from switchboard_gateway.turn_taking import (
    BargeInPolicy,
    SilenceEndpointing,
    SpeechDetector,
    SpeechStarted,
    SpeechStopped,
)
from switchboard_gateway.turn_timing import (
    ASR_FINAL,
    ENDPOINTING,
    RETRIEVAL,
    TurnTiming,
    emit_turn_spans,
)
from switchboard_gateway.vad import StreamingVad

log = logging.getLogger(__name__)

PRE_ROLL_S = 0.3
PARTIAL_EVERY_S = 0.6
TRAILING_SILENCE_S = 0.25
MAX_TOOL_ROUNDS = 3
TICK_S = 0.25
APOLOGY = "Sorry, I'm having trouble right now. Could you say that again?"


Send = Callable[[OutboundEvent], Awaitable[None]]


@dataclass
class _Utterance:
    """Caller audio of the turn being captured, and what partial passes made of it."""

    audio: list[Float32] = field(default_factory=list)
    seconds: float = 0.0
    #: Call audio time of the utterance's first sample.
    starts_at: float = 0.0
    state: str | None = None
    partial_at: float = 0.0
    over_agent: bool = False
    words: int = 0
    #: Seconds of the utterance the last partial pass transcribed.
    heard: float = 0.0

    def pcm16(self, until: float | None = None) -> bytes:
        """The audio as PCM16, optionally only up to call audio time `until`."""
        samples = np.concatenate(self.audio) if self.audio else np.zeros(0, np.float32)
        if until is not None:
            samples = samples[: max(0, int((until - self.starts_at) * PIPELINE_RATE))]
        return float_to_pcm16(samples)


class CallSession:
    """Runs one call until it ends; `inbound` receives the caller's events (None: gone)."""

    def __init__(
        self,
        config: AgentConfig,
        backend: ModelBackend,
        start: StartCall,
        send: Send,
        call_id: str,
        clock: Clock | None = None,
        tools: ToolRunner | None = None,
        knowledge: KnowledgeSearch | None = None,
    ) -> None:
        self.config, self._backend, self._start, self._send = config, backend, start, send
        self.call_id = call_id
        self._clock = clock or MonotonicClock()
        self.inbound: asyncio.Queue[InboundEvent | None] = asyncio.Queue(maxsize=500)
        caller = dict(start.variables)
        self.history = ConversationHistory(
            config.system_prompt(caller), config.llm.context_tokens, config.llm.max_tokens
        )
        self._greeting = config.greeting(caller)
        self._tool_calls = ToolCalls(
            config,
            tools or ToolRunner(SsrfGuard(config.tool_allow_cidrs)),
            call_id,
            send,
            self._say,
            self.history,
            knowledge,
        )
        self._voice = AgentVoice(backend, send, start.output_format, self._clock)
        self._vad = StreamingVad()
        self._detector = SpeechDetector(config.vad.threshold, config.vad.min_speech_ms / 1000)
        self._endpointing = SilenceEndpointing(config.turn.endpointing_silence_ms / 1000)
        policy = config.call_policy.barge_in
        self._barge_in = BargeInPolicy(
            policy.enabled, policy.min_speech_ms / 1000, policy.min_words
        )
        self._audio_time = 0.0
        self._wall_at_audio = self._clock.now()
        self._recent: list[Float32] = []
        self._utterance: _Utterance | None = None
        self._onset: float | None = None
        self._speech_end = 0.0
        self._turns: asyncio.Queue[TurnTiming | str | None] = asyncio.Queue()
        self._current: asyncio.Task[None] | None = None
        self._partial: asyncio.Task[None] | None = None
        self._replying = False
        self._turn_number = 0
        self._ending: CallEndedEvent | None = None
        self._last_activity = self._clock.now()
        self.latencies: list[TurnLatencyEvent] = []

    # --- the call ---------------------------------------------------------------------------

    async def run(self) -> CallEndedEvent:
        """Greet, converse, and end with exactly one `CallEndedEvent` sent."""
        await self._send(CallStarted(self.call_id, self.config.key, self._start.output_format))
        worker = asyncio.create_task(self._turn_worker(), name=f"turns-{self.call_id}")
        if self._greeting:
            self._turns.put_nowait(self._greeting)
        policy = self.config.call_policy
        deadline = self._clock.now() + policy.max_call_duration_seconds
        try:
            while self._ending is None:
                now = self._clock.now()
                if now >= deadline:
                    self._end(EndReason.MAX_DURATION)
                    break
                if self._idle_for(now) >= policy.idle_timeout_seconds:
                    self._end(EndReason.IDLE_TIMEOUT)
                    break
                try:
                    event = await asyncio.wait_for(self.inbound.get(), TICK_S)
                except TimeoutError:
                    continue
                if event is None:
                    self._end(EndReason.CALLER_HANGUP, "the client closed the stream")
                    break
                await self._handle(event)
        except ProtocolError as error:
            self._end(EndReason.PROTOCOL_ERROR, str(error))
        finally:
            self._turns.put_nowait(None)
            for task in (self._partial, self._current, worker):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(
                *(t for t in (self._partial, self._current, worker) if t), return_exceptions=True
            )
        ended = self._ending or CallEndedEvent(EndReason.INTERNAL_ERROR, "ended without a reason")
        await self._send(ended)
        return ended

    @property
    def busy(self) -> bool:
        """Whether the agent is replying or its audio is still playing."""
        return self._replying or self._voice.speaking

    def abort(self, reason: EndReason, detail: str) -> None:
        """End the call from outside (a transport error, shutdown); wakes the loop."""
        self._end(reason, detail)
        with contextlib.suppress(asyncio.QueueFull):
            self.inbound.put_nowait(None)

    def _end(self, reason: EndReason, detail: str = "") -> None:
        if self._ending is None:
            self._ending = CallEndedEvent(reason, detail)

    def _idle_for(self, now: float) -> float:
        if self._replying or self._voice.speaking or self._detector.speaking:
            self._last_activity = now
        return now - self._last_activity

    async def _handle(self, event: InboundEvent) -> None:
        if isinstance(event, CallerAudio):
            await self._on_audio(decode(event.data, self._start.input_format))
        elif isinstance(event, CallerText):
            text = event.text.strip()
            if text:
                self._last_activity = self._clock.now()
                await self._interrupt()
                self._turn_number += 1
                await self._send(TranscriptEvent(self._turn_number, text, final=True))
                self.history.add({"role": "user", "content": text})
                self._turns.put_nowait(TurnTiming(self._turn_number, self._clock.now()))
        elif isinstance(event, CallerHangup):
            self._end(EndReason.CALLER_HANGUP, event.reason[:200])
        elif isinstance(event, CallerDtmf):
            if not all(c in "0123456789*#ABCD" for c in event.digits):
                raise ProtocolError("DTMF digits must be 0-9, *, # or A-D")
            self._last_activity = self._clock.now()

    # --- caller audio -----------------------------------------------------------------------

    async def _on_audio(self, samples: Float32) -> None:
        self._audio_time += samples.size / PIPELINE_RATE
        self._wall_at_audio = self._clock.now()
        self._recent.append(samples)
        while sum(s.size for s in self._recent) > PRE_ROLL_S * PIPELINE_RATE * 2:
            self._recent.pop(0)
        if self._utterance is not None:
            self._utterance.audio.append(samples)
            self._utterance.seconds += samples.size / PIPELINE_RATE
        for window in self._vad.feed(samples):
            change = self._detector.update(window)
            if isinstance(change, SpeechStarted):
                self._on_speech_started(change.at)
            elif isinstance(change, SpeechStopped):
                self._endpointing.speech_stopped(change.at)
                self._speech_end, self._onset = change.at, None
            agent_active = self._replying or self._voice.speaking
            words = self._utterance.words if self._utterance else 0
            if self._detector.speaking and self._barge_in.should_interrupt(
                agent_active, self._onset, window.end, words
            ):
                await self._interrupt()
                if self._utterance is not None:
                    self._utterance.over_agent = False
            if self._utterance is not None and self._endpointing.turn_ended(window.end):
                await self._end_of_turn()
        utterance = self._utterance
        if (
            utterance is not None
            and utterance.seconds - utterance.partial_at >= PARTIAL_EVERY_S
            and (self._partial is None or self._partial.done())
        ):
            utterance.partial_at = utterance.seconds
            self._partial = asyncio.create_task(self._partial_pass(utterance))

    def _on_speech_started(self, at: float) -> None:
        self._endpointing.speech_started(at)
        self._onset = at
        self._last_activity = self._clock.now()
        if self._utterance is None:
            pre_roll = np.concatenate(self._recent) if self._recent else np.zeros(0, np.float32)
            keep = int((self._audio_time - at + PRE_ROLL_S) * PIPELINE_RATE)
            start = pre_roll[-keep:] if keep > 0 else pre_roll[:0]
            seconds = start.size / PIPELINE_RATE
            self._utterance = _Utterance(
                [start], seconds, self._audio_time - seconds, over_agent=self._replying
            )

    def _audio_for_asr(self, utterance: _Utterance, final: bool) -> bytes:
        """The utterance up to shortly after its speech, never shorter than already heard.

        Whisper invents words ("cars.", "Force of") in trailing silence, so while the caller is
        silent the audio after their speech is left out.
        """
        if self._detector.speaking and not final:
            return utterance.pcm16()
        until = max(self._speech_end + TRAILING_SILENCE_S, utterance.starts_at + utterance.heard)
        return utterance.pcm16(until=until)

    async def _partial_pass(self, utterance: _Utterance) -> None:
        audio = self._audio_for_asr(utterance, final=False)
        try:
            partial = await self._backend.transcribe(
                audio, PIPELINE_RATE, utterance.state, final=False
            )
        except BackendError as error:
            log.warning("partial transcription failed: %s", type(error).__name__)
            return
        if utterance is not self._utterance:
            return
        utterance.state, utterance.words = partial.state, len(partial.text.split())
        utterance.heard = len(audio) / 2 / PIPELINE_RATE
        if partial.text:
            await self._send(TranscriptEvent(self._turn_number + 1, partial.text, final=False))

    async def _end_of_turn(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return
        if utterance.over_agent:
            return  # a backchannel ("mm-hm") while the agent spoke, not a turn
        decided = self._clock.now()
        speech_end_wall = self._wall_at_audio - (self._audio_time - self._speech_end)
        if self._partial is not None and not self._partial.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._partial
        try:
            started = self._clock.now()
            audio = self._audio_for_asr(utterance, final=True)
            final: PartialText = await self._backend.transcribe(
                audio, PIPELINE_RATE, utterance.state, final=True
            )
        except BackendError as error:
            log.warning("final transcription failed: %s", type(error).__name__)
            return
        transcribed = self._clock.now()
        if not final.text.strip():
            return
        self._turn_number += 1
        await self._send(TranscriptEvent(self._turn_number, final.text, final=True))
        self.history.add({"role": "user", "content": final.text})
        timing = TurnTiming(self._turn_number, speech_end_wall)
        timing.mark(ENDPOINTING, speech_end_wall, max(decided, speech_end_wall))
        timing.mark(ASR_FINAL, started, transcribed)
        self._turns.put_nowait(timing)

    # --- the agent's side -------------------------------------------------------------------

    async def _turn_worker(self) -> None:
        worker = asyncio.current_task()
        while (item := await self._turns.get()) is not None:
            self._current = asyncio.create_task(self._agent_turn(item))
            try:
                await self._current
            except asyncio.CancelledError:
                if worker is not None and worker.cancelling():
                    raise  # the call is ending; a cancelled reply (barge-in) is not
            except BackendError as error:
                log.warning("turn failed: %s", type(error).__name__)
                with contextlib.suppress(BackendError, asyncio.CancelledError):
                    await self._voice.say(self._turn_number, APOLOGY)
            finally:
                self._replying = False

    async def _agent_turn(self, item: TurnTiming | str) -> None:
        self._replying = True
        self._voice.start_turn()
        if isinstance(item, str):  # the greeting
            try:
                await self._voice.say(0, item)
            except asyncio.CancelledError:
                heard = self._voice.heard()
                if heard:
                    self.history.add({"role": "assistant", "content": heard})
                raise
            self.history.add({"role": "assistant", "content": item})
            return
        await self._reply(item)

    async def _say(self, turn: int, text: str) -> None:
        await self._voice.say(turn, text)

    async def _reply(self, turn: TurnTiming) -> None:
        interrupted = True
        executed: set[tuple[str, str]] = set()
        try:
            if self._tool_calls.auto_context:
                await self._search_for_context(turn)
            offer_tools = True
            for round_number in range(MAX_TOOL_ROUNDS + 1):
                offer_tools = offer_tools and round_number < MAX_TOOL_ROUNDS
                requests = await self._llm_round(turn, offer_tools)
                if not requests:
                    break
                calls = {(r.name, r.arguments) for r in requests}
                if calls <= executed:
                    # The same call again: small models loop like this. Forget the repeat and
                    # ask for an answer about the results instead.
                    self.history.messages.pop()
                    offer_tools = False
                    continue
                executed |= calls
                if await self._run_tools(turn.number, requests):
                    break
            interrupted = False
        finally:
            latency = turn.latency_event(interrupted)
            self.latencies.append(latency)
            now = self._clock.now()
            attributes: dict[str, str | int | bool] = {
                "switchboard.call_id": self.call_id,
                "switchboard.agent": self.config.key,
                "switchboard.interrupted": interrupted,
            }
            emit_turn_spans(turn, now, now, attributes)
            with contextlib.suppress(Exception):
                await asyncio.shield(self._send(latency))

    async def _search_for_context(self, turn: TurnTiming) -> None:
        words = next(
            (
                str(m.get("content") or "")
                for m in reversed(self.history.messages)
                if m.get("role") == "user"
            ),
            "",
        )
        if words.strip():
            started = self._clock.now()
            await self._tool_calls.search_for_context(turn.number, words)
            turn.mark(RETRIEVAL, started, self._clock.now())

    async def _llm_round(self, turn: TurnTiming, offer_tools: bool) -> list[ToolRequest]:
        """Stream one completion into speech; returns the tool calls it asked for."""
        tools = self._tool_calls.definitions() if offer_tools else []
        asked = self._clock.now()
        try:
            said, requests = await self._voice.reply(
                turn, self._backend.reply(self.history.for_model(), tools), asked
            )
        except asyncio.CancelledError:
            # Barge-in: the model remembers saying only what the caller heard.
            self.history.add({"role": "assistant", "content": self._voice.heard() or "…"})
            raise
        self._remember_reply(said, requests)
        return requests

    def _remember_reply(self, text: str, requests: list[ToolRequest]) -> None:
        if not text and not requests:
            return
        message: dict[str, object] = {"role": "assistant", "content": text or None}
        if requests:
            message["tool_calls"] = [
                {
                    "id": r.id,
                    "type": "function",
                    "function": {"name": r.name, "arguments": r.arguments},
                }
                for r in requests
            ]
        self.history.add(message)

    async def _run_tools(self, turn: int, requests: list[ToolRequest]) -> bool:
        """Run the requested tools; true when the call ends (end_call, transfer_call)."""
        ending = await self._tool_calls.run(turn, requests)
        if ending is None:
            return False
        while self._voice.speaking:  # let the goodbye play out
            await self._clock.sleep(0.02)
        self._end(ending)
        return True

    async def _interrupt(self) -> None:
        """Barge-in: stop the reply and its audio at once; the client drops queued audio."""
        current = self._current
        if (current is None or current.done()) and not self._voice.speaking:
            return
        if current is not None and not current.done():
            current.cancel()
            with contextlib.suppress(asyncio.CancelledError, BackendError):
                await current
        last = self._voice.clear()
        await self._send(ClearEvent(self._turn_number, last))
