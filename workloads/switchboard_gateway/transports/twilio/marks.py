"""What the caller has heard, from the marks Twilio echoes (pure bookkeeping, no socket).

A mark is named by the sequence of the last agent frame sent before it. Twilio echoes it once
the audio before it has played. After a `clear`, Twilio echoes every mark still pending at
once although their audio never played: those are remembered as cleared and not counted.
"""

from __future__ import annotations

from collections import deque

#: A mark goes out after this many frames (100 ms of audio) and at every pause.
FRAMES_PER_MARK = 5


class MarkBook:
    """The marks of one stream: when to send one, and what an echo means."""

    def __init__(self, frames_per_mark: int = FRAMES_PER_MARK) -> None:
        self._every = frames_per_mark
        self._unmarked = 0
        self._last_sequence = 0
        self._pending: deque[str] = deque()
        self._cleared: set[str] = set()

    @property
    def unmarked(self) -> int:
        """Frames sent since the last mark."""
        return self._unmarked

    def frame_sent(self, sequence: int) -> str | None:
        """Frame `sequence` went out; the mark to send after it, if one is due."""
        self._last_sequence = sequence
        self._unmarked += 1
        return self.flush() if self._unmarked >= self._every else None

    def flush(self) -> str | None:
        """The mark for the last frame sent, if frames went out since the last mark."""
        if not self._unmarked:
            return None
        self._unmarked = 0
        name = str(self._last_sequence)
        self._pending.append(name)
        return name

    def cleared(self) -> None:
        """A `clear` went out: the marks pending now will echo without having played."""
        self._cleared.update(self._pending)
        self._pending.clear()
        self._unmarked = 0

    def echoed(self, name: str) -> int | None:
        """Twilio echoed mark `name`: the sequence played up to, or None if it tells nothing."""
        if name in self._cleared:
            self._cleared.discard(name)
            return None
        if name not in self._pending:
            return None  # not ours, or echoed twice
        while self._pending and self._pending.popleft() != name:
            pass  # earlier marks are implied by a later one
        return int(name)
