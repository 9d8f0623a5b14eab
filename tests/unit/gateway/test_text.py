"""Splitting a streamed reply into speakable pieces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard_gateway.conversation.sentences import SentenceSplitter

pytestmark = pytest.mark.unit


def _split(text: str, step: int = 3, **options: int) -> list[str]:
    splitter = SentenceSplitter(**options)
    pieces = []
    for i in range(0, len(text), step):
        pieces += splitter.push(text[i : i + step])
    rest = splitter.flush()
    return [*pieces, *([rest] if rest else [])]


def test_sentences_come_out_as_soon_as_the_next_word_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("We open at nine.") == []
    assert splitter.push(" See") == ["We open at nine."]
    assert splitter.push(" you!") == []
    assert splitter.flush() == "See you!"


def test_abbreviations_decimals_and_initials_do_not_end_a_sentence() -> None:
    text = "Dr. Smith sees you at 3.30 p.m. on Friday. J. R. Tolkien wrote it. Thanks!"
    assert _split(text) == [
        "Dr. Smith sees you at 3.30 p.m. on Friday.",
        "J. R. Tolkien wrote it.",
        "Thanks!",
    ]


def test_the_first_piece_may_be_a_clause_but_later_ones_are_sentences() -> None:
    text = "Sure, I can help you with that booking, just a moment, let me check. Okay, done."
    pieces = _split(text)
    assert pieces[0] == "Sure, I can help you with that booking,"
    assert pieces[1:] == ["just a moment, let me check.", "Okay, done."]


def test_a_run_on_reply_is_cut_at_a_space_below_the_maximum() -> None:
    pieces = _split("word " * 100, max_chars=60)
    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 100


def test_quotes_and_brackets_stay_with_their_sentence() -> None:
    assert _split('He said "hello." Then (quietly) left.') == [
        'He said "hello."',
        "Then (quietly) left.",
    ]


@given(st.text(alphabet=st.sampled_from("ab .,!?\n3"), max_size=200), st.integers(1, 7))
def test_no_text_is_lost_or_reordered(text: str, step: int) -> None:
    pieces = _split(text, step=step)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )
    assert all(p.strip() == p and p for p in pieces)
