"""Fake models and VAD for the call harness: deterministic, instant unless told to wait."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard_gateway.audio import PIPELINE_RATE
from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.testing.clock import FakeClock
from switchboard_gateway.testing.script import LEVEL_STEP, CallScript
from switchboard_gateway.turns.vad import WINDOW_SAMPLES, VadWindow
from switchboard_wire.audio import float_to_pcm16, pcm16_to_float
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText
from switchboard_wire.transcription import PartialText

WORD_S = 0.3


class EnergyVad:
    """Speech probability 1 for a window whose mean level is above a floor, else 0."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float32)
        self._seen = 0

    def feed(self, audio: npt.NDArray[np.float32]) -> list[VadWindow]:
        """Windows completed by `audio`."""
        buffer = np.concatenate([self._pending, audio])
        windows = []
        whole = buffer.size - buffer.size % WINDOW_SAMPLES
        for start in range(0, whole, WINDOW_SAMPLES):
            level = float(np.mean(np.abs(buffer[start : start + WINDOW_SAMPLES])))
            self._seen += WINDOW_SAMPLES
            windows.append(VadWindow(self._seen / PIPELINE_RATE, 1.0 if level > 0.005 else 0.0))
        self._pending = buffer[whole:].copy()
        return windows


class FakeTranscriber:
    """Knows the script: a pass gets the words of the utterance its audio's level names."""

    def __init__(
        self, clock: FakeClock, script: CallScript, partial_s: float = 0.05, final_s: float = 0.1
    ) -> None:
        self._clock, self._script = clock, script
        self.partial_s, self.final_s = partial_s, final_s
        self.passes: list[tuple[float, bool]] = []
        self.fail = False

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """The words said so far (all of them on the final pass)."""
        self.passes.append((self._clock.now(), final))
        await self._clock.sleep(self.final_s if final else self.partial_s)
        if self.fail:
            raise BackendError("fake ASR failure")
        samples = np.abs(pcm16_to_float(pcm16))
        spoken = samples[samples > LEVEL_STEP / 2]
        if spoken.size == 0:
            return PartialText("", "", final, state or "")
        say = self._script.says[round(float(np.median(spoken)) / LEVEL_STEP) - 1]
        words = say.text.split()
        if not final:
            share = spoken.size / sample_rate / say.seconds
            words = words[: min(len(words), math.floor(len(words) * share))]
        text = " ".join(words)
        return PartialText(text, text, final, "state")


#: Given the messages and the tools offered, what the model says (text pieces, tool requests).
Reply = Callable[[Sequence[dict[str, Any]], Sequence[dict[str, Any]]], list[ReplyEvent]]


def echo(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> list[ReplyEvent]:
    """The default model: repeats what the caller last said."""
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return [ReplyText(f"You said {said}."), ReplyDone("stop")]


class FakeChatModel:
    """Streams scripted replies: the first token after `first_token_s`, then 10 ms a piece."""

    def __init__(self, clock: FakeClock, reply: Reply = echo, first_token_s: float = 0.1) -> None:
        self._clock, self._reply, self.first_token_s = clock, reply, first_token_s
        self.requests: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """The scripted reply, streamed."""
        self.requests.append(([dict(m) for m in messages], list(tools)))
        await self._clock.sleep(self.first_token_s)
        for event in self._reply(messages, tools):
            yield event
            await self._clock.sleep(0.01)


class FakeSynthesizer:
    """Speech of `WORD_S` a word, in 100 ms chunks, the first after `first_audio_s`."""

    def __init__(self, clock: FakeClock, first_audio_s: float = 0.05) -> None:
        self._clock, self.first_audio_s = clock, first_audio_s
        self.texts: list[str] = []

    async def speak(
        self, text: str, sample_rate: int, *, phrase: bool = False
    ) -> AsyncIterator[bytes]:
        """Constant-level PCM16 as long as the words take to say."""
        self.texts.append(text)
        await self._clock.sleep(self.first_audio_s)
        total = int(len(text.split()) * WORD_S * sample_rate)
        chunk = int(0.1 * sample_rate)
        for start in range(0, total, chunk):
            yield float_to_pcm16(np.full(min(chunk, total - start), 0.3, np.float32))


@dataclass
class FakeModels:
    """The three fake backends of one scripted call, as one `ModelBackend`."""

    transcriber: FakeTranscriber
    chat: FakeChatModel
    synthesizer: FakeSynthesizer

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """The transcriber's answer."""
        return await self.transcriber.transcribe(pcm16, sample_rate, state, final=final)

    def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """The chat model's reply."""
        return self.chat.reply(messages, tools)

    def speak(self, text: str, sample_rate: int, *, phrase: bool = False) -> AsyncIterator[bytes]:
        """The synthesizer's speech."""
        return self.synthesizer.speak(text, sample_rate, phrase=phrase)
