"""Token-aware recursive chunking: sentences, then words, never mid-sentence when avoidable.

A sentence is split (by words) only when it alone is longer than a chunk. Sizes are counted
with the embedding model's tokenizer (`count_tokens`), so a chunk fits the model's window. Each
chunk records its character span in `Document.text` and its page or heading, for citations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from switchboard_indexer.documents import Document

TokenCounter = Callable[[str], int]
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedding model."""

    text: str
    #: Position of the chunk in its document (0-based).
    index: int
    #: Character span of the chunk in `Document.text`.
    start: int
    end: int
    page: int | None
    heading: str | None


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int


def _sentences(text: str, offset: int) -> Iterator[tuple[int, int]]:
    position = 0
    for match in _SENTENCE_END.finditer(text):
        if match.start() > position:
            yield offset + position, offset + match.start()
        position = match.end()
    if position < len(text):
        yield offset + position, offset + len(text)


def _words(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    for match in re.finditer(r"\S+", text[start:end]):
        yield start + match.start(), start + match.end()


def _units(text: str, start: int, end: int, size: int, count: TokenCounter) -> list[_Unit]:
    """Sentences of text[start:end], a too-long sentence split into word runs of ≤ size."""
    units: list[_Unit] = []
    for s_start, s_end in _sentences(text[start:end], start):
        tokens = count(text[s_start:s_end])
        if tokens <= size:
            units.append(_Unit(s_start, s_end, tokens))
            continue
        run_start, run_end, run_tokens = -1, -1, 0
        for w_start, w_end in _words(text, s_start, s_end):
            word_tokens = count(text[w_start:w_end])
            if run_start >= 0 and run_tokens + word_tokens > size:
                units.append(_Unit(run_start, run_end, run_tokens))
                run_start, run_tokens = -1, 0
            run_start = w_start if run_start < 0 else run_start
            run_end, run_tokens = w_end, run_tokens + word_tokens
        if run_start >= 0:
            units.append(_Unit(run_start, run_end, run_tokens))
    return units


def _pack(units: list[_Unit], size: int, overlap: int) -> Iterator[list[_Unit]]:
    """Greedy runs of units up to `size` tokens; each run repeats ≤ `overlap` tokens of the last."""
    current: list[_Unit] = []
    tokens = 0
    for unit in units:
        if current and tokens + unit.tokens > size:
            yield current
            carried: list[_Unit] = []
            carried_tokens = 0
            for previous in reversed(current):
                if carried_tokens + previous.tokens > overlap:
                    break
                carried.insert(0, previous)
                carried_tokens += previous.tokens
            if carried_tokens + unit.tokens > size:
                carried, carried_tokens = [], 0
            current, tokens = carried, carried_tokens
        current.append(unit)
        tokens += unit.tokens
    if current:
        yield current


def chunk_document(
    document: Document, size_tokens: int, overlap_tokens: int, count_tokens: TokenCounter
) -> list[Chunk]:
    """Chunks of one document; sections (pages, headings) are never mixed in one chunk."""
    if overlap_tokens >= size_tokens:
        raise ValueError("overlap_tokens must be smaller than size_tokens")
    text = document.text
    chunks: list[Chunk] = []
    offset = 0
    for section in document.sections:
        start, end = offset, offset + len(section.text)
        offset = end + 2  # the blank line `Document.text` puts between sections
        units = _units(text, start, end, size_tokens, count_tokens)
        for run in _pack(units, size_tokens, overlap_tokens):
            span = (run[0].start, run[-1].end)
            chunks.append(
                Chunk(
                    text=text[span[0] : span[1]],
                    index=len(chunks),
                    start=span[0],
                    end=span[1],
                    page=section.page,
                    heading=section.heading,
                )
            )
    return chunks
