"""What the listener hands the rest of the call: the caller turns it hears, and its hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HeardTurn:
    """A caller turn as heard: its final transcript and when each step happened (clock time)."""

    text: str
    #: When the caller stopped speaking, placed on the session clock from the audio timeline.
    speech_end: float
    #: When endpointing decided the turn was over.
    decided: float
    asr_started: float
    asr_done: float


class ListenerHooks(Protocol):
    """What the listener tells the rest of the call, and the one thing it asks."""

    def agent_busy(self) -> bool:
        """Whether the agent is replying or its audio is still playing."""
        ...

    def on_speech(self, started: bool) -> None:
        """The caller started (True) or stopped speaking."""
        ...

    async def on_barge_in(self) -> None:
        """Caller speech should interrupt the agent now."""
        ...

    async def on_interim(self, text: str) -> None:
        """A partial transcript of the turn in progress."""
        ...

    async def on_caller_turn(self, turn: HeardTurn) -> None:
        """The caller finished a turn."""
        ...

    async def on_no_words(self) -> None:
        """A turn ended with nothing in it that ASR put into words (a cough, a noise)."""
        ...

    def on_held_turn(self, turn: HeardTurn) -> None:
        """The caller paused and this is what they said (`decided` not known yet).

        It may be answered in advance, but nothing may reach the caller or the record until the
        same turn (same text and times, `decided` filled in) arrives through `on_caller_turn`.
        """
        ...

    def on_held_dropped(self) -> None:
        """The caller spoke again after the pause: the held turn is void."""
        ...
