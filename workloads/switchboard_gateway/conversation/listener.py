"""The caller's side of a call: caller audio in, caller turns out.

Per frame, the listener runs VAD, the speech detector, endpointing and the barge-in policy, all
local and quick. Transcription is network work: partial passes while the caller speaks and the
final pass at the end of the turn are queued to the listener's own ASR task, so the audio path
never waits for the model plane and VAD keeps running while a final pass is in flight.

The final pass is speculative: it starts at every pause of the caller (VAD's speech stop), not
when endpointing decides the turn is over, and its transcript goes to the responder as a *held*
turn (answered in advance, played only once confirmed; see held.py). Speech again before the
decision discards it (a pass still running is ignored when it ends); a decision with no speech
since the pause makes it the turn's final transcript, without a second pass. Which pause is
speculated on is kept in speculation.py; Smart Turn's verdicts on pauses run in pause_judge.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

import numpy as np

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.audio import PIPELINE_RATE
from switchboard_gateway.backends.base import BackendError, Transcriber
from switchboard_gateway.backends.model_load import partial_welcome
from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.conversation.heard import HeardTurn, ListenerHooks
from switchboard_gateway.conversation.pause_judge import judge_pause
from switchboard_gateway.conversation.speculation import (
    MAX_SPECULATIONS,
    SPECULATE_AFTER_S,
    Speculation,
    Speculations,
)
from switchboard_gateway.conversation.utterance import Utterance
from switchboard_gateway.turns import smart_turn
from switchboard_gateway.turns.barge_in import BargeInPolicy
from switchboard_gateway.turns.endpointing import SmartTurnEndpointing, make_endpointing
from switchboard_gateway.turns.speech import SpeechDetector, SpeechStarted, SpeechStopped
from switchboard_gateway.turns.vad import StreamingVad, Vad
from switchboard_wire.audio import Float32
from switchboard_wire.transcription import PartialText

__all__ = [
    "MAX_SPECULATIONS",
    "PARTIAL_EVERY_S",
    "PRE_ROLL_S",
    "SPECULATE_AFTER_S",
    "HeardTurn",
    "Listener",
    "ListenerHooks",
]

log = logging.getLogger(__name__)

#: Audio kept from before speech onset, so the first syllable reaches ASR whole.
PRE_ROLL_S = 0.3
#: How often a partial pass transcribes the utterance so far while the caller speaks.
PARTIAL_EVERY_S = 0.6


@dataclass(frozen=True, slots=True)
class _PartialPass:
    utterance: Utterance
    audio: bytes


@dataclass(frozen=True, slots=True)
class _FinalPass:
    utterance: Utterance
    speech_end_audio: float
    speech_end: float
    decided: float


class Listener:
    """Turns one call's caller audio into caller turns."""

    def __init__(
        self,
        config: AgentConfig,
        transcriber: Transcriber,
        hooks: ListenerHooks,
        clock: Clock,
        vad: Vad | None = None,
    ) -> None:
        self._transcriber, self._hooks, self._clock = transcriber, hooks, clock
        self._vad = vad or StreamingVad()
        self._detector = SpeechDetector(config.vad.threshold, config.vad.min_speech_ms / 1000)
        self._endpointing = make_endpointing(config.turn)
        if isinstance(self._endpointing, SmartTurnEndpointing):
            smart_turn.preload()
        policy = config.call_policy.barge_in
        self._barge_in = BargeInPolicy(
            policy.enabled, policy.min_speech_ms / 1000, policy.min_words
        )
        self._passes: asyncio.Queue[_PartialPass | _FinalPass | Speculation] = asyncio.Queue()
        self._speculations = Speculations()
        self._partial_queued = False
        self._audio_time = 0.0
        self._clock_at_audio = clock.now()
        self._recent: list[Float32] = []
        self._utterance: Utterance | None = None
        self._onset: float | None = None
        self._speech_end = 0.0

    @property
    def speaking(self) -> bool:
        """Whether the caller is speaking now."""
        return self._detector.speaking

    async def feed(self, samples: Float32) -> None:
        """One piece of caller audio (pipeline rate): per-frame work only."""
        self._audio_time += samples.size / PIPELINE_RATE
        self._clock_at_audio = self._clock.now()
        self._keep_pre_roll(samples)
        if self._utterance is not None:
            self._utterance.append(samples)
        for window in self._vad.feed(samples):
            change = self._detector.update(window)
            if isinstance(change, SpeechStarted):
                self._speech_started(change.at)
            elif isinstance(change, SpeechStopped):
                self._endpointing.speech_stopped(change.at)
                self._speech_end, self._onset = change.at, None
                self._judge_pause(change.at)
                self._hooks.on_speech(False)
                self._speculate(change.at)
            words = self._utterance.words if self._utterance else 0
            if self._detector.speaking and self._barge_in.should_interrupt(
                self._hooks.agent_busy(), self._onset, window.end, words
            ):
                await self._hooks.on_barge_in()
                if self._utterance is not None:
                    self._utterance.over_agent = False
            if self._utterance is not None and self._endpointing.turn_ended(window.end):
                await self._end_of_turn()
        self._maybe_speculate()
        self._maybe_partial()

    async def run(self) -> None:
        """The ASR task: partial and final passes in the order they were asked for."""
        while True:
            job = await self._passes.get()
            if isinstance(job, _PartialPass):
                await self._partial(job)
                self._partial_queued = False
            elif isinstance(job, Speculation):
                await self._speculative(job)
            else:
                await self._final(job)

    def _keep_pre_roll(self, samples: Float32) -> None:
        self._recent.append(samples)
        while sum(s.size for s in self._recent) > PRE_ROLL_S * PIPELINE_RATE * 2:
            self._recent.pop(0)

    def _speech_started(self, at: float) -> None:
        self._drop_speculation()
        self._endpointing.speech_started(at)
        self._onset = at
        self._hooks.on_speech(True)
        if self._utterance is None:
            pre_roll = np.concatenate(self._recent) if self._recent else np.zeros(0, np.float32)
            keep = int((self._audio_time - at + PRE_ROLL_S) * PIPELINE_RATE)
            start = pre_roll[-keep:] if keep > 0 else pre_roll[:0]
            seconds = start.size / PIPELINE_RATE
            self._utterance = Utterance(
                [start], seconds, self._audio_time - seconds, over_agent=self._hooks.agent_busy()
            )

    def _judge_pause(self, at: float) -> None:
        """Smart Turn's verdict on the pause that began at `at` (see pause_judge.py)."""
        if isinstance(self._endpointing, SmartTurnEndpointing) and self._utterance is not None:
            judge_pause(self._endpointing, self._utterance, at)

    def _maybe_partial(self) -> None:
        utterance = self._utterance
        if (
            utterance is None
            or self._partial_queued
            or utterance.seconds - utterance.partial_at < PARTIAL_EVERY_S
        ):
            return
        # Under load, what callers wait for (final passes, first tokens, first audio) goes first:
        # a partial pass waits for the model plane to be idle enough (`model_load`), unless
        # barge-in needs its word count while the agent speaks.
        words_needed = self._barge_in.min_words > 0 and self._hooks.agent_busy()
        if not words_needed and not partial_welcome(self._transcriber):
            return
        utterance.partial_at = utterance.seconds
        audio = utterance.for_asr(self._speech_end, still_speaking=self._detector.speaking)
        self._partial_queued = True
        self._passes.put_nowait(_PartialPass(utterance, audio))

    def _speculate(self, at: float) -> None:
        """The caller paused at `at` (audio time): the final pass on what they said so far is due.

        It starts once the pause has lasted `SPECULATE_AFTER_S` (`_maybe_speculate`). At most
        one speculation per call: a new pause replaces the last one.
        """
        self._drop_speculation()
        speech_end = self._clock_at_audio - (self._audio_time - at)
        self._speculations.paused(self._utterance, at, speech_end)

    def _maybe_speculate(self) -> None:
        """Queue the speculative pass once the pause is long enough, `MAX_SPECULATIONS` a turn."""
        speculation = self._speculations.due(self._audio_time, self._detector.rising)
        if speculation is not None:
            self._passes.put_nowait(speculation)

    def _drop_speculation(self) -> None:
        """The caller spoke again before the decision: the speculation and its turn are void."""
        if self._speculations.drop():
            self._hooks.on_held_dropped()

    async def _end_of_turn(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None or utterance.over_agent:
            self._drop_speculation()
            return  # a backchannel ("mm-hm") while the agent spoke is not a turn
        speech_end = self._clock_at_audio - (self._audio_time - self._speech_end)
        decided = self._clock.now()
        speculation = self._speculations.take()
        if speculation is not None and speculation.utterance is utterance and speculation.queued:
            # No speech since the pause: the speculative transcript is the final one.
            speculation.decided = decided
            if speculation.heard is not None and speculation.heard.text.strip():
                await self._hooks.on_caller_turn(replace(speculation.heard, decided=decided))
            elif speculation.heard is not None:
                await self._hooks.on_no_words()
            return  # or still running: it delivers the turn
        self._passes.put_nowait(_FinalPass(utterance, self._speech_end, speech_end, decided))

    async def _partial(self, job: _PartialPass) -> None:
        if job.utterance is not self._utterance:
            return  # the turn is over: its final pass is next
        speculation = self._speculations.pending
        if speculation is not None and speculation.queued:
            return  # the caller paused: the speculative final pass covers this audio
        try:
            partial = await self._transcriber.transcribe(
                job.audio, PIPELINE_RATE, job.utterance.state, final=False
            )
        except BackendError as error:
            log.warning("partial transcription failed: %s", type(error).__name__)
            return
        if job.utterance is not self._utterance:
            return
        utterance = job.utterance
        utterance.state, utterance.words = partial.state, len(partial.text.split())
        utterance.heard = len(job.audio) / 2 / PIPELINE_RATE
        if partial.text:
            await self._hooks.on_interim(partial.text)

    async def _final_pass(
        self, utterance: Utterance, speech_end_audio: float, kind: str
    ) -> PartialText | None:
        """The whole utterance transcribed up to shortly after its speech; None if ASR failed."""
        audio = utterance.for_asr(speech_end_audio, still_speaking=False)
        try:
            return await self._transcriber.transcribe(
                audio, PIPELINE_RATE, utterance.state, final=True
            )
        except BackendError as error:
            log.warning("%s transcription failed: %s", kind, type(error).__name__)
            return None

    async def _final(self, job: _FinalPass) -> None:
        started = self._clock.now()
        final = await self._final_pass(job.utterance, job.speech_end_audio, "final")
        if final is None:
            return
        if final.text.strip():
            heard = HeardTurn(final.text, job.speech_end, job.decided, started, self._clock.now())
            await self._hooks.on_caller_turn(heard)
        else:
            await self._hooks.on_no_words()

    async def _speculative(self, job: Speculation) -> None:
        """The final pass at a pause; its turn is held until endpointing decides, or dropped."""
        if job.dropped:
            return
        utterance = job.utterance
        started = self._clock.now()
        final = await self._final_pass(utterance, job.speech_end_audio, "speculative")
        if final is None:
            if self._speculations.pending is job:
                self._speculations.pending = None  # the decision, when it comes, runs a final pass
            elif job.decided is not None:
                await self._final(
                    _FinalPass(utterance, job.speech_end_audio, job.speech_end, job.decided)
                )
            return
        if job.dropped:
            return  # the caller went on speaking while it ran
        decided = job.speech_end if job.decided is None else job.decided
        heard = HeardTurn(final.text, job.speech_end, decided, started, self._clock.now())
        if not final.text.strip():
            job.heard = heard
            if job.decided is not None:
                await self._hooks.on_no_words()
        elif job.decided is not None:
            await self._hooks.on_caller_turn(heard)
        else:
            job.heard = heard
            self._hooks.on_held_turn(heard)
