"""Local agreement over a growing buffer, against a scripted engine whose audio encodes time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from switchboard_serve.asr.base import ASR_SAMPLE_RATE, Transcript, Word
from switchboard_serve.asr.partial import (
    KEEP_TAIL_S,
    WHOLE_FINAL_MAX_S,
    PartialState,
    agree,
    drop_repeated_prefix,
    state_from_json,
    state_to_json,
    transcribe_partial,
)

pytestmark = pytest.mark.unit

#: (word, start, end) in seconds from the start of the utterance.
SCRIPT = [
    ("Hello,", 0.1, 0.5),
    ("I'd", 0.6, 0.8),
    ("like", 0.8, 1.1),
    ("to", 1.1, 1.2),
    ("book", 1.3, 1.6),
    ("a", 1.6, 1.7),
    ("table", 1.7, 2.1),
    ("for", 2.2, 2.4),
    ("two.", 2.4, 2.9),
]


@dataclass
class ScriptedEngine:
    """Hears the script: every sample's value is its index in the utterance."""

    calls: list[tuple[float, float, str | None]] = field(default_factory=list)

    def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        *,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        start = float(audio[0]) / ASR_SAMPLE_RATE
        end = (float(audio[-1]) + 1) / ASR_SAMPLE_RATE
        self.calls.append((start, end, prompt))
        words = []
        for text, w_start, w_end in SCRIPT:
            if w_start < start - 1e-6 or w_start >= end:
                continue
            heard = text if w_end <= end else text[: max(1, len(text) // 2)]  # a cut-off word
            words.append(Word(heard, w_start - start, min(w_end, end) - start, 0.9))
        return Transcript(
            " ".join(w.text for w in words), "en", tuple(words), 0.9, round(end - start, 3)
        )


def _buffer(seconds: float) -> npt.NDArray[np.float32]:
    return np.arange(int(seconds * ASR_SAMPLE_RATE), dtype=np.float32)


def test_agreement_ignores_case_and_punctuation_and_stops_at_the_first_difference() -> None:
    def words(*texts: str) -> tuple[Word, ...]:
        return tuple(Word(t, 0, 0, 1) for t in texts)

    assert agree(words("Hello,", "I'd", "li"), words("hello", "I'd", "like", "to")) == 2
    assert agree(words("a", "b"), words("x", "b")) == 0
    assert agree((), words("a")) == 0


def test_stable_text_only_grows_and_the_final_pass_hears_everything() -> None:
    engine = ScriptedEngine()
    state: PartialState | None = None
    stables = []
    for seconds in (0.7, 1.15, 1.5, 2.0, 2.5, 3.0):
        partial = transcribe_partial(engine, _buffer(seconds), state)
        state = partial.state
        stables.append(partial.stable)
    for earlier, later in itertools.pairwise(stables):
        assert later.startswith(earlier)
    assert stables[-1], "two passes agreed on some words before the end"
    final = transcribe_partial(engine, _buffer(3.0), state, final=True)
    assert final.final
    assert final.text == " ".join(text for text, _, _ in SCRIPT)
    assert final.unstable == ""


def test_audio_before_the_stable_words_is_never_decoded_again() -> None:
    engine = ScriptedEngine()
    state = PartialState()
    for seconds in (1.0, 1.5, 2.0, 2.5):
        before = state
        state = transcribe_partial(engine, _buffer(seconds), state).state
    last_start, _, prompt = engine.calls[-1]
    assert before.stable_until > 0
    assert last_start == pytest.approx(before.stable_until, abs=1e-3)
    assert prompt == " ".join(w.text for w in before.stable)
    decoded = sum(end - start for start, end, _ in engine.calls)
    assert decoded < 1.0 + 1.5 + 2.0 + 2.5, "less than re-decoding every buffer"


def test_words_in_the_last_second_stay_pending_until_the_final_pass() -> None:
    engine = ScriptedEngine()
    state = None
    for seconds in (2.9, 3.0):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    assert state is not None
    assert all(w.end <= 3.0 - KEEP_TAIL_S for w in state.stable)
    assert [w.text for w in state.pending][-1] == "two."


def test_word_times_are_relative_to_the_utterance_not_the_tail() -> None:
    engine = ScriptedEngine()
    state = None
    for seconds in (1.5, 2.0, 2.5, 3.0):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    assert state is not None
    assert state.stable_until > 0, "the last pass decoded a tail"
    times = {w.text: (w.start, w.end) for w in state.stable + state.pending}
    assert times["table"] == pytest.approx((1.7, 2.1), abs=1e-3)
    assert times["two."] == pytest.approx((2.4, 2.9), abs=1e-3)


def test_a_short_final_pass_decodes_the_whole_utterance_without_a_prompt() -> None:
    engine = ScriptedEngine()
    state = None
    for seconds in (1.0, 2.0, 2.5):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    final = transcribe_partial(engine, _buffer(3.0), state, final=True)
    start, end, prompt = engine.calls[-1]
    assert (start, end, prompt) == (0.0, 3.0, None)
    assert final.final
    assert final.unstable == ""
    assert final.text == " ".join(text for text, _, _ in SCRIPT)
    assert final.state.stable[-1].end == pytest.approx(2.9, abs=1e-3)


def test_a_small_growth_returns_the_previous_answer_without_decoding() -> None:
    engine = ScriptedEngine()
    first = transcribe_partial(engine, _buffer(1.0))
    again = transcribe_partial(engine, _buffer(1.1), first.state)
    assert len(engine.calls) == 1
    assert again.text == first.text


def test_a_shrunk_buffer_is_refused() -> None:
    engine = ScriptedEngine()
    state = transcribe_partial(engine, _buffer(2.0)).state
    with pytest.raises(ValueError, match="shrank"):
        transcribe_partial(engine, _buffer(1.0), state)


def test_the_detected_language_is_kept_for_later_passes() -> None:
    state = transcribe_partial(ScriptedEngine(), _buffer(1.0)).state
    assert state.language == "en"


def test_state_round_trips_through_json() -> None:
    engine = ScriptedEngine()
    state = None
    for seconds in (1.0, 2.0, 3.0):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    assert state is not None
    assert state_from_json(state_to_json(state)) == state


def test_a_word_heard_again_at_the_cut_is_dropped() -> None:
    def words(*texts: str) -> tuple[Word, ...]:
        return tuple(Word(t, 0, 0, 1) for t in texts)

    assert drop_repeated_prefix(words("Is"), words("Is", "there", "parking")) == words(
        "there", "parking"
    )
    assert drop_repeated_prefix(words("I", "would", "like"), words("would", "like", "to")) == (
        words("to")
    )
    assert drop_repeated_prefix(
        words("What", "time", "do", "you", "open", "on", "Saturday?"),
        words("Do", "you", "open", "on", "Saturday?", "day."),
    ) == words("day.")
    assert drop_repeated_prefix(words("Hello"), words("there")) == words("there")
    assert drop_repeated_prefix((), words("a")) == words("a")


def test_a_long_final_pass_decodes_only_the_tail() -> None:
    engine = ScriptedEngine()
    state = None
    long = WHOLE_FINAL_MAX_S + 1.0
    for seconds in (long - 2.0, long - 1.0):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    assert state is not None
    assert state.stable_until > 0
    final = transcribe_partial(engine, _buffer(long), state, final=True)
    start, _, prompt = engine.calls[-1]
    assert start == pytest.approx(state.stable_until, abs=1e-3)
    assert prompt == " ".join(w.text for w in state.stable)
    assert final.text == " ".join(text for text, _, _ in SCRIPT)


def test_a_long_final_pass_without_new_audio_accepts_the_last_words_without_decoding() -> None:
    engine = ScriptedEngine()
    state = None
    long = WHOLE_FINAL_MAX_S + 1.0
    for seconds in (long - 1.0, long):
        state = transcribe_partial(engine, _buffer(seconds), state).state
    calls = len(engine.calls)
    final = transcribe_partial(engine, _buffer(long + 0.1), state, final=True)
    assert len(engine.calls) == calls
    assert final.final
    assert final.text == " ".join(text for text, _, _ in SCRIPT)
