"""Cutting a streamed LLM reply into pieces TTS can speak as soon as they are complete.

The first piece may be a clause (cut at a comma after a few words) so the caller hears the
agent sooner; later pieces are sentences, which sound more natural. Abbreviations, decimal
numbers and initials do not end a sentence.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "approx",
        "no",
        "dept",
        "inc",
        "ltd",
        "co",
    ]
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
_CLAUSE_END = re.compile("[,;:\u2014\u2013](?=\\s)")  # also em and en dashes


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the punctuation ending at `end` closes a sentence (not `Dr.` or `3.`)."""
    if text[end - 1] != ".":
        return True
    word = re.findall(r"[\w.]+$", text[: end - 1])
    token = word[0].lower() if word else ""
    if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
        return False
    return not token[-1:].isdigit() or not text[end:].lstrip()[:1].isdigit()


class SentenceSplitter:
    """Feed LLM text deltas; get back speakable pieces as soon as they are complete."""

    def __init__(self, first_clause_chars: int = 24, max_chars: int = 240) -> None:
        self._buffer = ""
        self._first_clause_chars, self._max_chars = first_clause_chars, max_chars
        self._emitted_any = False

    def push(self, delta: str) -> list[str]:
        """Add a delta; return every piece it completes."""
        self._buffer += delta
        pieces = []
        while (piece := self._next_piece()) is not None:
            pieces.append(piece)
        return pieces

    def flush(self) -> str | None:
        """The rest of the reply, at its end."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _next_piece(self) -> str | None:
        cut = None
        for match in _SENTENCE_END.finditer(self._buffer):
            if _ends_sentence(self._buffer, match.end()):
                cut = match.end()
                break
        if cut is None and not self._emitted_any:
            for match in _CLAUSE_END.finditer(self._buffer):
                if match.end() >= self._first_clause_chars:
                    cut = match.end()
                    break
        if cut is None and len(self._buffer) > self._max_chars:
            space = self._buffer.rfind(" ", 0, self._max_chars)
            cut = space if space > 0 else self._max_chars
        if cut is None:
            return None
        piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
        if not piece:
            return None
        self._emitted_any = True
        return piece
