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


def test_the_first_clause_needs_a_few_words_before_it_is_cut() -> None:
    assert _split("Sure, we open at nine on Saturday. Bye.") == [
        "Sure, we open at nine on Saturday.",
        "Bye.",
    ]
    assert _split("Yes, we are open on Saturday, from nine to one.") == [
        "Yes, we are open on Saturday,",
        "from nine to one.",
    ]


@pytest.mark.parametrize(
    ("reply", "first"),
    [
        ("At 9:00 on the dot, we open the doors.", "At 9:00 on the dot,"),
        (
            "We have 1,200 patients on our list, and room for more.",
            "We have 1,200 patients on our list,",
        ),
        ("Dr. Patel, our dentist, sees children.", "Dr. Patel, our dentist,"),
        ("We open at 9 a.m., and close at 1 p.m. on Saturday.", "We open at 9 a.m.,"),
        ("Our hours are simple: nine to one on Saturday.", "Our hours are simple:"),
        ("We can see you on Friday; the morning is free.", "We can see you on Friday;"),
    ],
)
def test_the_first_piece_ends_at_a_clause_break_never_inside_a_number_or_abbreviation(
    reply: str, first: str
) -> None:
    for step in (1, 2, 5, len(reply)):
        pieces = _split(reply, step=step)
        assert pieces[0] == first, (step, pieces)
        assert " ".join(pieces) == reply


def test_a_dash_is_a_clause_break_but_a_range_is_not() -> None:
    assert _split("We are open on Saturday \u2014 from nine to one.") == [
        "We are open on Saturday \u2014",
        "from nine to one.",
    ]
    assert _split("We are open on Saturday\u2014nine to one.") == [
        "We are open on Saturday\u2014",
        "nine to one.",
    ]
    assert _split("We are open Monday\u2013Friday, eight to six.")[0] == (
        "We are open Monday\u2013Friday,"
    )
    assert _split("Our clinic is open 9 \u2013 5 every weekday.") == [
        "Our clinic is open 9 \u2013 5 every weekday."
    ]
    assert _split("Our team is here all week - just call us.") == [
        "Our team is here all week -",
        "just call us.",
    ]


def test_a_long_first_sentence_without_commas_is_cut_before_a_new_clause() -> None:
    reply = "We are open every Saturday morning from nine to one and we are closed on Sunday."
    assert _split(reply) == [
        "We are open every Saturday morning from nine to one",
        "and we are closed on Sunday.",
    ]
    short = "We open at nine and we close at one."
    assert _split(short) == [short]
    ranged = "The clinic is open on Saturdays between 9 a.m. and 1 p.m. and on weekdays."
    assert _split(ranged) == [ranged]


def test_only_the_first_piece_is_a_clause() -> None:
    reply = "Yes, we are open on Saturday, from nine to one. After that, we are closed, sorry."
    assert _split(reply)[1:] == ["from nine to one.", "After that, we are closed, sorry."]


def test_times_and_number_abbreviations_end_a_sentence_only_where_they_should() -> None:
    assert _split("We open at 9 a.m. See you then!") == ["We open at 9 a.m.", "See you then!"]
    assert _split("We open at 9 a.m. Monday to Friday.") == ["We open at 9 a.m. Monday to Friday."]
    assert _split("Come at 9 a.m. I will be here.") == ["Come at 9 a.m.", "I will be here."]
    assert _split("No. We are closed on Sunday.") == ["No.", "We are closed on Sunday."]
    assert _split("Room No. 5 is upstairs. Thanks.") == ["Room No. 5 is upstairs.", "Thanks."]


_TOKENS = ["we", "open", " ", " ", "9", ":", "00", ",", ".", "a.m.", "Dr.", "No.", "See",
           "and", "\u2014", "\u2013", "-", "1,200", "!", "Monday", "3.", "30"]  # fmt: skip


@given(st.lists(st.sampled_from(_TOKENS), max_size=60), st.integers(1, 7))
def test_the_pieces_do_not_depend_on_how_the_reply_was_streamed(
    tokens: list[str], step: int
) -> None:
    text = "".join(tokens)
    assert _split(text, step=step) == _split(text, step=len(text) or 1)


@given(st.text(alphabet=st.sampled_from("ab .,;:!?\u2014-\n3"), max_size=200), st.integers(1, 7))
def test_no_text_is_lost_or_reordered(text: str, step: int) -> None:
    pieces = _split(text, step=step)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", "")
    )
    assert all(p.strip() == p and p for p in pieces)
