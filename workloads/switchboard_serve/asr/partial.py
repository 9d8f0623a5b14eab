"""Partial transcripts of a growing utterance buffer, cheap on the prefix already agreed.

Whisper has no streaming mode, so a caller that wants text while the caller is still speaking
re-transcribes its growing buffer. Doing that naively decodes the same words again and again, and
the words near the end flicker. This module applies the local-agreement policy: a word becomes
*stable* once two consecutive passes agree on it, and the audio before the last stable word is
never decoded again — later passes decode only the tail, with the stable text as the prompt.

State lives with the caller (the gateway holds call state; model replicas hold none), as a small
frozen value passed back on every call.

The last pass (`final=True`) decodes the whole utterance again when it fits one whisper window:
whisper pads every input to 30 s, so this costs about as much as decoding the tail, and it is far
more accurate — a tail cut inside the last word ("Satur|day") makes whisper repeat its prompt or
invent words in the trailing silence. Longer utterances accept the tail, as partial passes do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import TypeAdapter

from switchboard_serve.asr.base import ASR_SAMPLE_RATE, AsrEngine, Transcript, Word
from switchboard_wire.transcription import PartialText

#: Stable text handed to whisper as context (its prompt window is ~224 tokens).
PROMPT_CHARACTERS = 200
#: A pass over less new audio than this returns the previous result unchanged.
MIN_NEW_AUDIO_S = 0.25
#: Words ending this close to the end of the buffer stay pending even when two passes agree,
#: so that every later pass decodes at least this much audio: whisper guesses (and loops) on
#: fragments much shorter than a second.
KEEP_TAIL_S = 1.0
#: Final passes over utterances up to this long decode the whole utterance (whisper's window is
#: 30 s; the margin leaves room for the pre-roll and trailing silence).
WHOLE_FINAL_MAX_S = 25.0
#: How many words at the start of a tail may repeat the end of the stable text.
MAX_REPEATED_WORDS = 5


@dataclass(frozen=True, slots=True)
class PartialState:
    """What the previous passes over one utterance established."""

    stable: tuple[Word, ...] = ()
    #: Seconds from the start of the utterance up to which audio is transcribed for good.
    stable_until: float = 0.0
    #: The previous pass's words after `stable_until`, candidates for agreement.
    pending: tuple[Word, ...] = ()
    #: Length of the buffer (seconds) the previous pass saw.
    seen_seconds: float = 0.0
    language: str = ""


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    """The stable text (will not change), the unstable tail, and the state for the next pass."""

    stable: str
    unstable: str
    state: PartialState = field(repr=False)
    final: bool = False

    @property
    def text(self) -> str:
        """Stable and unstable text together."""
        return " ".join(part for part in (self.stable, self.unstable) if part)


def _normalised(word: Word) -> str:
    return re.sub(r"[^\w']", "", word.text.lower())


def agree(previous: tuple[Word, ...], current: tuple[Word, ...]) -> int:
    """How many leading words two consecutive passes agree on (ignoring case and punctuation)."""
    count = 0
    for before, now in zip(previous, current, strict=False):
        if _normalised(before) != _normalised(now):
            break
        count += 1
    return count


def drop_repeated_prefix(stable: tuple[Word, ...], words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Drop the tail's first words when they repeat the stable text's last ones.

    Word timestamps are approximate, so the tail cut at the last stable word sometimes still
    holds part of it, and whisper hears it again ("Is Is there parking"), or repeats the end of
    its prompt ("open on Saturday? Open on Saturday").
    """
    for size in range(min(MAX_REPEATED_WORDS, len(stable), len(words)), 0, -1):
        if [_normalised(w) for w in stable[-size:]] == [_normalised(w) for w in words[:size]]:
            return words[size:]
    return words


def _text(words: tuple[Word, ...]) -> str:
    return " ".join(w.text for w in words)


def _shifted(transcript: Transcript, offset: float) -> tuple[Word, ...]:
    return tuple(
        Word(w.text, round(w.start + offset, 3), round(w.end + offset, 3), w.probability)
        for w in transcript.words
    )


def advance(
    state: PartialState, words: tuple[Word, ...], seen_seconds: float, *, final: bool = False
) -> PartialState:
    """The state after a pass that recognised `words` (absolute times) after `stable_until`."""
    if final:
        agreed = len(words)
    else:
        agreed = agree(state.pending, words)
        while agreed and words[agreed - 1].end > seen_seconds - KEEP_TAIL_S:
            agreed -= 1
    newly_stable = words[:agreed]
    stable_until = newly_stable[-1].end if newly_stable else state.stable_until
    return PartialState(
        stable=state.stable + newly_stable,
        stable_until=stable_until,
        pending=words[agreed:],
        seen_seconds=seen_seconds,
        language=state.language,
    )


def transcribe_partial(
    engine: AsrEngine,
    audio: npt.NDArray[np.float32],
    state: PartialState | None = None,
    *,
    language: str | None = None,
    final: bool = False,
) -> PartialTranscript:
    """Transcribe the utterance so far (`audio` from its start), decoding only the unagreed tail."""
    state = state or PartialState()
    seconds = audio.size / ASR_SAMPLE_RATE
    if seconds < state.seen_seconds:
        raise ValueError("the buffer shrank: a new utterance needs a fresh state")
    if final and seconds <= WHOLE_FINAL_MAX_S:
        return _whole_final(engine, audio, state, language or state.language or None)
    if seconds - state.seen_seconds < MIN_NEW_AUDIO_S and (state.seen_seconds or not final):
        if not final:
            return PartialTranscript(_text(state.stable), _text(state.pending), state)
        # The last pass already heard (almost) everything: accept its words, decode nothing.
        after = advance(state, state.pending, state.seen_seconds, final=True)
        return PartialTranscript(_text(after.stable), "", after, final=True)
    tail = audio[int(state.stable_until * ASR_SAMPLE_RATE) :]
    prompt = _text(state.stable)[-PROMPT_CHARACTERS:] or None
    transcript = engine.transcribe(tail, language=language or state.language or None, prompt=prompt)
    words = drop_repeated_prefix(state.stable, _shifted(transcript, state.stable_until))
    after = advance(state, words, seconds, final=final)
    if not after.language:
        after = PartialState(
            after.stable, after.stable_until, after.pending, after.seen_seconds, transcript.language
        )
    return PartialTranscript(_text(after.stable), _text(after.pending), after, final)


def _whole_final(
    engine: AsrEngine, audio: npt.NDArray[np.float32], state: PartialState, language: str | None
) -> PartialTranscript:
    transcript = engine.transcribe(audio, language=language)
    words = transcript.words
    after = PartialState(
        stable=words,
        stable_until=words[-1].end if words else 0.0,
        pending=(),
        seen_seconds=audio.size / ASR_SAMPLE_RATE,
        language=state.language or transcript.language,
    )
    return PartialTranscript(_text(words), "", after, final=True)


_STATE = TypeAdapter(PartialState)


def state_to_json(state: PartialState) -> str:
    """The state as JSON, for callers that hold it across HTTP requests."""
    return _STATE.dump_json(state).decode()


def state_from_json(text: str) -> PartialState:
    """Parse a state produced by `state_to_json`; raises `pydantic.ValidationError` if malformed."""
    return _STATE.validate_json(text)


def partial_text(partial: PartialTranscript) -> PartialText:
    """The answer of a partial pass as the model plane's HTTP API sends it (state as JSON)."""
    return PartialText(
        partial.text, partial.stable, partial.final, state_to_json(partial.state), partial.unstable
    )
