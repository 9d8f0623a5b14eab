"""Word error rate: normalisation and edit distance."""

from __future__ import annotations

import pytest

from switchboard_serve.evaluation import normalize, word_error_rate, word_errors

pytestmark = pytest.mark.unit


def test_normalisation_drops_case_and_punctuation_and_spells_numbers() -> None:
    assert normalize("We open at 8, don't we? 42!") == [
        "we",
        "open",
        "at",
        "eight",
        "dont",
        "we",
        "forty",
        "two",
    ]


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("the cat sat", "the cat sat", 0),
        ("the cat sat", "the bat sat", 1),
        ("the cat sat", "the cat", 1),
        ("the cat sat", "the cat sat down", 1),
        ("the cat sat", "", 3),
        ("a b c d", "b c d a", 2),
    ],
)
def test_word_errors_count_edits(reference: str, hypothesis: str, errors: int) -> None:
    assert word_errors(reference, hypothesis) == (errors, len(reference.split()))


def test_corpus_rate_weights_by_reference_length() -> None:
    assert word_error_rate([("a b c d", "a b c d"), ("e f", "e x")]) == pytest.approx(1 / 6)


def test_an_empty_reference_corpus_is_an_error() -> None:
    with pytest.raises(ValueError, match="no reference words"):
        word_error_rate([("", "words")])
