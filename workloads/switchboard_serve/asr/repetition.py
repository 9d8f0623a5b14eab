"""Whisper's repetition loops, cut: a sentence said again at once is a decoding loop, not speech.

With greedy decoding and no temperature fallback (predictable latency), whisper-base sometimes
loops on short utterances: "Thank you very much." came back as "Thank you very much. Thank you
very much. Thank you" from 8 kHz phone audio. faster-whisper's guard against this (the
compression-ratio check) works only through the temperature fallback we turn off, so the loop
is cut here, on the words: a sentence identical to the one before it is dropped, and so is a
trailing fragment that only restarts the sentence before it (the loop cut by the token bound).
"""

from __future__ import annotations

import re

from switchboard_serve.asr.base import Word

_SENTENCE_END = re.compile(r"[.?!]$")


def _key(words: list[Word]) -> list[str]:
    return [re.sub(r"[^\w']", "", w.text.lower()) for w in words]


def _sentences(words: tuple[Word, ...]) -> list[list[Word]]:
    sentences: list[list[Word]] = [[]]
    for word in words:
        sentences[-1].append(word)
        if _SENTENCE_END.search(word.text.strip()):
            sentences.append([])
    return [s for s in sentences if s]


def without_repetition_loops(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """`words` without sentences that repeat the previous one, nor a restart of it at the end."""
    sentences = _sentences(words)
    kept: list[list[Word]] = []
    for index, sentence in enumerate(sentences):
        if kept:
            previous, current = _key(kept[-1]), _key(sentence)
            if current == previous:
                continue
            last = index == len(sentences) - 1
            ended = bool(_SENTENCE_END.search(sentence[-1].text.strip()))
            if last and not ended and previous[: len(current)] == current:
                continue
        kept.append(sentence)
    return tuple(word for sentence in kept for word in sentence)
