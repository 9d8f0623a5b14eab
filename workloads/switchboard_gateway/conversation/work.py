"""What the responder works on: typed work items, and the `Reply` handle of the one running.

A `Greeting`, a `CallerTurn`, a fixed `Phrase` (the apology), a recording `Notice`, or a
`Transfer` (the handoff line, then the transfer). A `Reply` knows whether the
caller interrupted it and keeps the `Playback`, so the history records only what was heard.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from switchboard_gateway.conversation.held import HeldTurn
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_gateway.conversation.voice import Playback


@dataclass(frozen=True, slots=True)
class Greeting:
    """The agent's first words."""

    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """A fixed line outside the conversation (an apology): spoken, not remembered."""

    turn: int
    text: str


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """The caller said or typed something: answer it."""

    timing: TurnTiming
    #: Answered in advance at the caller's pause, silently until endpointing confirms it.
    held: HeldTurn | None = None
    #: The caller's message in the history (a turn the caller continues grows it).
    message: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """The recording notice, before the greeting: spoken whole, remembered."""

    text: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to a human: the handoff line, then the transfer (the call then ends)."""

    turn: int
    reason: str


WorkItem = Greeting | Phrase | CallerTurn | Notice | Transfer


@dataclass
class Reply:
    """One work item in progress, and whether the caller interrupted it."""

    item: WorkItem
    task: asyncio.Task[None] | None = None
    interrupted: bool = False
    playback: Playback | None = None
    #: Speech is under way whose text is not in the history yet (heard text goes there if cut).
    unrecorded: bool = False
    #: What the history gets for a cut reply nothing of which was heard ("": nothing).
    placeholder: str = "…"
    #: A caller turn's reply cut off before the caller heard a word of it or any tool ran:
    #: the caller was not done, and their next words continue the same turn.
    unheard: bool = False

    @property
    def active(self) -> bool:
        """Whether it is still running."""
        return self.task is not None and not self.task.done()
