"""Cutting a streamed LLM reply into pieces TTS can speak as soon as they are complete.

The first piece of a reply may be a clause, so the caller hears the agent sooner: it ends at the
first clause break (comma, semicolon, colon, dash) after a few words, or, in a long sentence
with none, before a conjunction that starts a new clause ("… and we …", "… because …").
Later pieces are whole sentences, which sound more natural. Pieces never end inside a word, a
number ("9:00", "1,200", a range with a dash), an abbreviation ("Dr.", "a.m.") or an initial.
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
        "approx",
        "dept",
        "inc",
        "ltd",
        "co",
    ]
)
#: "9 a.m. See you": a time ends a sentence before a capitalised word that is not a day or month.
_TIMES = frozenset(["a.m", "p.m"])
_CALENDAR = re.compile(
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?|january|february|march|april|may|june|july"
    r"|august|september|october|november|december|noon|midnight",
)
#: Abbreviations only before a number ("No. 5", "Nos. 3"); otherwise the word ends a sentence.
_NUMBER_ABBREVIATIONS = frozenset(["no", "nos"])
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
#: A comma, semicolon or colon before a space (so never inside "1,200" or "9:00").
_CLAUSE_PUNCTUATION = re.compile(r"[,;:][\"')\]]*(?=\s)")
#: An em dash, or an en dash or hyphen with spaces around it (between two words it is a range),
#: with something after it.
_DASH = re.compile(r"(?:\u2014|(?<=\s)[\u2013-](?=\s))(?=\s*\S)")
#: A space before a conjunction that starts a new clause: "and we …", "but it …", "because".
_CONJUNCTION = re.compile(
    r"\s(?=(?:(?:and|but|or|so)\s+(?:i|we|you|it|they|he|she|there|this|that|our|your)"
    r"|because|although|though|unless|which)[^\w'\u2019])",
    re.IGNORECASE,
)


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the punctuation ending at `end` closes a sentence (not `Dr.` or `3.`).

    Where the answer depends on what follows ("No. 5", "3. 30") and nothing follows yet, it is
    no: the next delta decides.
    """
    if text[end - 1] != ".":
        return True
    word = re.findall(r"[\w.]+$", text[: end - 1])
    token = word[0].lower() if word else ""
    if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
        return False
    if token in _TIMES:
        # A capitalised word after the time, seen whole: not a day, a month or "EST".
        after = re.match(r"\s*([A-Z]\w*)\W", text[end:])
        name = after.group(1) if after else ""
        return (
            after is not None
            and not _CALENDAR.fullmatch(name.lower())
            and not (len(name) > 1 and name.isupper())
        )
    if token in _NUMBER_ABBREVIATIONS or token[-1:].isdigit():
        ahead = text[end:].lstrip()[:1]
        return ahead != "" and not ahead.isdigit()
    return True


def _words(text: str) -> int:
    return len(text.split())


class SentenceSplitter:
    """Feed LLM text deltas; get back speakable pieces as soon as they are complete.

    `first_clause_words`: the fewest words a first piece cut at a clause break has;
    `conjunction_words`: the fewest before a cut at a conjunction (a sentence without commas);
    `max_chars`: a piece with no break at all is cut at a space below this length.
    """

    def __init__(
        self, first_clause_words: int = 4, conjunction_words: int = 8, max_chars: int = 240
    ) -> None:
        self._buffer = ""
        self._first_clause_words, self._conjunction_words = first_clause_words, conjunction_words
        self._max_chars = max_chars
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

    def _sentence_end(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            if _ends_sentence(self._buffer, match.end()):
                return match.end()
        return None

    def _clause_end(self, before: int) -> int | None:
        """The first clause break before `before` with enough words in front of it."""
        text = self._buffer
        breaks = [m.end() for m in _CLAUSE_PUNCTUATION.finditer(text, 0, before)]
        for match in _DASH.finditer(text):
            behind, ahead = text[: match.start()].rstrip()[-1:], text[match.end() :].lstrip()[:1]
            if match.end() <= before and not (behind.isdigit() or ahead.isdigit()):
                breaks.append(match.end())  # a dash by a number is a range
        for cut in sorted(breaks):
            if _words(text[:cut]) >= self._first_clause_words:
                return cut
        for match in _CONJUNCTION.finditer(text, 0, before):
            if _words(text[: match.start()]) >= self._conjunction_words:
                return match.start()
        return None

    def _next_piece(self) -> str | None:
        cut = self._sentence_end()
        if not self._emitted_any:
            clause = self._clause_end(cut if cut is not None else len(self._buffer))
            cut = clause if clause is not None else cut
        if (cut is None or cut > self._max_chars) and len(self._buffer) > self._max_chars:
            space = self._buffer.rfind(" ", 0, self._max_chars)
            cut = space if space > 0 else self._max_chars
        if cut is None:
            return None
        piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
        if not piece:
            return None
        self._emitted_any = True
        return piece
