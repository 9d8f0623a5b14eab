"""The agent's voice: text → speech → paced frames to the caller, and what the caller heard.

Pieces of text (sentences, clauses) are synthesised one after another by a fetcher while earlier
pieces play, so the next piece's audio is ready when the previous one ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from switchboard_gateway.audio import encode_pcm16
from switchboard_gateway.backends.base import BackendError, Replayed, Synthesizer
from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.conversation.history import SpokenPiece, played_text
from switchboard_gateway.conversation.pacer import FRAME_S, OutputPacer
from switchboard_gateway.conversation.sentences import SentenceSplitter
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_gateway.events import AgentTextEvent, AudioFormat, OutboundEvent
from switchboard_wire.chat import ReplyEvent, ReplyText, ToolRequest
from switchboard_wire.latency import LatencyStage

Send = Callable[[OutboundEvent], Awaitable[None]]
_Chunks = asyncio.Queue[bytes | None]


@dataclass
class _Synthesised:
    """How many seconds of a piece's speech have been synthesised so far (all, once done)."""

    seconds: float = 0.0
    chunks: _Chunks = field(default_factory=asyncio.Queue)


@dataclass(frozen=True, slots=True)
class Playback:
    """What the caller heard of the agent's turn when its audio was cleared."""

    #: The last audio frame sent (the client drops anything after it).
    last_sequence: int
    played_s: float
    heard_text: str
    #: Whether audio was still playing, i.e. the caller cut the agent off.
    interrupted: bool


#: With playback reports, how long past its own estimate the voice waits for the report that
#: its last frame played (a transport that stops reporting does not hold the call).
REPORT_GRACE_S = 2.0


class AgentVoice:
    """Speaks for one call; one turn at a time.

    With `reports_playback` the transport says what has played (`played`), and what the caller
    heard is that, never more than was sent; without it the pacer's real-time estimate is used.
    """

    def __init__(
        self,
        backend: Synthesizer,
        send: Send,
        output_format: AudioFormat,
        clock: Clock,
        reports_playback: bool = False,
    ) -> None:
        self.backend, self.send, self.format, self.clock = backend, send, output_format, clock
        self.pacer = OutputPacer(send, output_format, clock)
        #: This turn's pieces and how many seconds of each have been sent to the pacer.
        self.spoken: list[SpokenPiece] = []
        #: How much of each of this turn's pieces has been synthesised (its length so far).
        self._synthesised: list[_Synthesised] = []
        #: The last frame the transport reported played (None: it does not report).
        self.reported: int | None = 0 if reports_playback else None

    @property
    def speaking(self) -> bool:
        """Whether agent audio is still playing at the caller."""
        return self.pacer.speaking

    def start_turn(self) -> None:
        """A new agent turn: playback position and heard text start again."""
        self.pacer.start_turn()
        self.spoken, self._synthesised = [], []

    @property
    def played_s(self) -> float:
        """Seconds of this turn's audio played: reported frames, or the pacer's estimate."""
        if self.reported is None:
            return self.pacer.played_s
        frames = self.reported - self.pacer.turn_after_sequence
        return max(0, min(frames, self.pacer.turn_frames)) * FRAME_S

    def played(self, sequence: int) -> None:
        """The transport played agent audio up to frame `sequence` (ignored without reports)."""
        if self.reported is not None:
            self.reported = max(self.reported, min(sequence, self.pacer.sequence))

    async def played_out(self, *, confirmed: bool = True) -> None:
        """Wait until the audio sent so far has played at the caller.

        The pacer's estimate first; with reports (and `confirmed`), then the report of the last
        frame sent, for at most `REPORT_GRACE_S` more.
        """
        while self.speaking:
            await self.clock.sleep(FRAME_S)
        if self.reported is None or not confirmed:
            return
        deadline = self.clock.now() + REPORT_GRACE_S
        while self.reported < self.pacer.sequence and self.clock.now() < deadline:
            await self.clock.sleep(FRAME_S)

    def heard(self) -> str:
        """The text of this turn the caller has heard so far (cut at the playback position)."""
        pieces = [
            SpokenPiece(piece.text, max(piece.seconds, synthesised.seconds))
            for piece, synthesised in zip(self.spoken, self._synthesised, strict=True)
        ]
        return played_text(pieces, self.played_s)

    def clear(self) -> Playback:
        """Stop at once (barge-in): audio not yet played is dropped; what was heard is kept."""
        playback = Playback(self.pacer.sequence, self.played_s, self.heard(), self.speaking)
        self.pacer.clear()
        return playback

    async def say(self, turn: int, text: str) -> None:
        """Speak a fixed text (greeting, filler, apology) and wait until it has played."""
        speech = _Speech(self, turn, None, phrase=True)
        speech.push(text)
        await speech.finish()

    async def reply(
        self,
        timing: TurnTiming,
        events: AsyncIterator[ReplyEvent],
        asked: float,
        hold: asyncio.Event | None = None,
    ) -> tuple[str, list[ToolRequest]]:
        """Speak a streamed LLM reply; returns what was said and the tool calls it asked for.

        With `hold` (a held turn), only the first piece is synthesised and nothing is sent
        until `hold` is set.
        """
        splitter, said, requests = SentenceSplitter(), [], []
        speech = _Speech(self, timing.number, timing, hold=hold)
        try:
            async for event in events:
                if isinstance(event, ReplyText):
                    timing.mark(LatencyStage.LLM_TTFT, asked, self.clock.now())
                    for piece in splitter.push(event.text):
                        said.append(piece)
                        speech.push(piece)
                elif isinstance(event, ToolRequest):
                    requests.append(event)
                if speech.failed:
                    break  # speech failed: stop reading the reply
            rest = splitter.flush()
            if rest:
                said.append(rest)
                speech.push(rest)
            await speech.finish()
        finally:
            await speech.stop()
        return " ".join(said), requests


class _Speech:
    """One turn's pieces in flight: a fetcher synthesising, a player pacing them out."""

    def __init__(
        self,
        voice: AgentVoice,
        turn: int,
        timing: TurnTiming | None,
        phrase: bool = False,
        hold: asyncio.Event | None = None,
    ) -> None:
        self._voice, self._turn, self._timing, self._phrase = voice, turn, timing, phrase
        self._hold = hold
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._pieces: asyncio.Queue[tuple[str, _Synthesised] | None] = asyncio.Queue()
        self._fetcher = asyncio.create_task(self._fetch())
        self._player = asyncio.create_task(self._play())

    @property
    def failed(self) -> bool:
        return self._player.done()

    def push(self, text: str) -> None:
        self._texts.put_nowait(text)

    async def finish(self) -> None:
        """No more text: wait until everything has played."""
        self._texts.put_nowait(None)
        try:
            await self._player
        finally:
            await self.stop()
        if not self._fetcher.cancelled() and self._fetcher.exception() is not None:
            raise BackendError("speech synthesis failed") from self._fetcher.exception()

    async def stop(self) -> None:
        for task in (self._fetcher, self._player):
            task.cancel()
        await asyncio.gather(self._fetcher, self._player, return_exceptions=True)

    async def _fetch(self) -> None:
        clock, rate = self._voice.clock, self._voice.format.sample_rate
        fetched = 0
        try:
            while (text := await self._texts.get()) is not None:
                if self._hold is not None and fetched:
                    await self._hold.wait()  # held: the first piece only, until confirmed
                fetched += 1
                piece = _Synthesised()
                self._pieces.put_nowait((text, piece))
                asked = clock.now()
                try:
                    async for chunk in self._voice.backend.speak(text, rate, phrase=self._phrase):
                        if self._timing is not None:
                            if not self._timing.has(LatencyStage.TTS_TTFB):
                                self._timing.phrase_cache_hit = isinstance(chunk, Replayed)
                            self._timing.mark(LatencyStage.TTS_TTFB, asked, clock.now())
                        piece.seconds += len(chunk) / 2 / rate
                        piece.chunks.put_nowait(chunk)
                finally:
                    piece.chunks.put_nowait(None)
        finally:
            self._pieces.put_nowait(None)

    async def _play(self) -> None:
        voice, timing = self._voice, self._timing
        fmt, rate = voice.format, voice.format.sample_rate
        if self._hold is not None:
            await self._hold.wait()
        while (item := await self._pieces.get()) is not None:
            text, piece = item
            await voice.send(AgentTextEvent(self._turn, text))
            voice.spoken.append(SpokenPiece(text, 0.0))
            voice._synthesised.append(piece)
            seconds = 0.0
            while (chunk := await piece.chunks.get()) is not None:
                seconds += len(chunk) / 2 / rate
                voice.spoken[-1] = SpokenPiece(text, seconds)
                await voice.pacer.play(self._turn, encode_pcm16(chunk, rate, fmt))
                if timing is not None and not timing.has(LatencyStage.VOICE_TO_VOICE):
                    first = voice.pacer.first_frame_at or voice.clock.now()
                    timing.mark(LatencyStage.VOICE_TO_VOICE, timing.speech_end, first)
        await voice.pacer.finish(self._turn)
