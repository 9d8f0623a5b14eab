"""Whisper's repetition loops are cut from transcripts; real repeats across sentences are kept."""

from __future__ import annotations

import pytest

from switchboard_serve.asr.base import Word
from switchboard_serve.asr.repetition import without_repetition_loops

pytestmark = pytest.mark.unit


def _words(text: str) -> tuple[Word, ...]:
    return tuple(Word(w, i / 2, i / 2 + 0.4, 0.9) for i, w in enumerate(text.split()))


def _text(words: tuple[Word, ...]) -> str:
    return " ".join(w.text for w in words)


def test_a_sentence_looped_and_cut_by_the_token_bound_comes_back_once() -> None:
    looped = _words("Thank you very much. Thank you very much. Thank you")
    assert _text(without_repetition_loops(looped)) == "Thank you very much."


def test_a_repeated_sentence_differing_only_in_case_and_punctuation_is_a_loop() -> None:
    looped = _words("Is there parking? is there parking. Is there parking?")
    assert _text(without_repetition_loops(looped)) == "Is there parking?"


def test_different_sentences_and_a_word_said_twice_are_kept() -> None:
    said = _words("No, no. I said Tuesday. Not Thursday, Tuesday.")
    assert without_repetition_loops(said) == said


def test_a_last_sentence_that_only_starts_like_the_previous_one_but_goes_on_is_kept() -> None:
    said = _words("Thank you. Thank you for calling")
    assert without_repetition_loops(said) == said


def test_the_kept_words_keep_their_timings() -> None:
    looped = _words("Okay. Okay. Book it.")
    kept = without_repetition_loops(looped)
    assert [(w.text, w.start) for w in kept] == [("Okay.", 0.0), ("Book", 1.0), ("it.", 1.5)]
