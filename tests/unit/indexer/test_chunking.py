from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_indexer.chunking import chunk_document
from switchboard_indexer.documents import Document, Section

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    return len(text.split())


def doc(*sections: Section) -> Document:
    return Document("d.txt", "d", "text", sections)


def test_sentences_are_packed_without_splitting_and_overlap_repeats_the_tail() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    chunks = chunk_document(doc(Section(text)), size_tokens=7, overlap_tokens=3, count_tokens=words)
    assert [c.text for c in chunks] == [
        "One two three. Four five six.",
        "Four five six. Seven eight nine.",
        "Seven eight nine. Ten eleven twelve.",
    ]
    assert [c.index for c in chunks] == [0, 1, 2]


def test_a_sentence_longer_than_a_chunk_is_split_by_words() -> None:
    text = " ".join(f"w{i}" for i in range(25)) + "."
    chunks = chunk_document(
        doc(Section(text)), size_tokens=10, overlap_tokens=0, count_tokens=words
    )
    assert [words(c.text) for c in chunks] == [10, 10, 5]


def test_sections_are_never_mixed_and_spans_point_into_the_document() -> None:
    document = doc(
        Section("Page one text.", page=1), Section("Page two text.", page=2, heading="H")
    )
    chunks = chunk_document(document, size_tokens=50, overlap_tokens=5, count_tokens=words)
    assert [(c.page, c.heading) for c in chunks] == [(1, None), (2, "H")]
    for c in chunks:
        assert document.text[c.start : c.end] == c.text


def test_overlap_must_be_below_size() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(doc(Section("x.")), size_tokens=4, overlap_tokens=4, count_tokens=words)


@settings(max_examples=60, deadline=None)
@given(
    sentences=st.lists(
        st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta"]), min_size=1, max_size=30),
        min_size=1,
        max_size=30,
    ),
    size=st.integers(8, 40),
    overlap=st.integers(0, 7),
)
def test_chunks_fit_cover_every_word_and_stay_in_order(
    sentences: list[list[str]], size: int, overlap: int
) -> None:
    text = " ".join(" ".join(s) + "." for s in sentences)
    document = doc(Section(text))
    chunks = chunk_document(document, size_tokens=size, overlap_tokens=overlap, count_tokens=words)
    assert all(words(c.text) <= size for c in chunks)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered: set[int] = set()
    for c in chunks:
        assert document.text[c.start : c.end] == c.text
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
