"""The caller's turns of one call: their numbers, their messages, and which may still grow.

A caller turn is numbered when it is heard, its final transcript is sent, and its message goes
into the history. Until its reply starts, a turn *waits*: words heard meanwhile join it, so a
call has at most one turn waiting for the LLM. A turn is *unfinished* when the caller cut off
its reply before hearing a word of it (endpointing ended it at a pause the caller meant to go
on from); the caller's next words join it too, and it is answered again, whole (as it stands,
when what cut the reply off had no words in it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_gateway.conversation.work import CallerTurn
from switchboard_gateway.events import OutboundEvent, TranscriptEvent

Message = dict[str, object]


class CallerTurns:
    """Numbers caller turns and keeps the one still waiting and the one left unfinished."""

    def __init__(
        self, history: ConversationHistory, send: Callable[[OutboundEvent], Awaitable[None]]
    ) -> None:
        self._history, self._send = history, send
        #: The last caller turn's number (0: none yet).
        self.number = 0
        #: The caller turn queued and not started yet, and its message in the history.
        self.waiting: tuple[CallerTurn, Message] | None = None
        #: The last caller turn, if its reply was cut off unheard: its number and message.
        self._unfinished: tuple[int, Message] | None = None

    @property
    def next_number(self) -> int:
        """The number the caller's next words will have (an unfinished turn's, if one is)."""
        return self._unfinished[0] if self._unfinished is not None else self.number + 1

    @property
    def unfinished(self) -> bool:
        """Whether the caller's next words continue the last turn."""
        return self._unfinished is not None

    def advance(self) -> int:
        """The next turn's number: a new turn, so none is unfinished any more."""
        self.number += 1
        self._unfinished = None
        return self.number

    async def open(self, text: str, timing: TurnTiming) -> CallerTurn:
        """A new caller turn numbered `timing.number`: transcript sent, message remembered."""
        await self._send(TranscriptEvent(timing.number, text, final=True))
        message: Message = {"role": "user", "content": text}
        self._history.add(message)
        item = CallerTurn(timing, message=message)
        self.waiting = (item, message)
        return item

    def started(self, item: CallerTurn) -> None:
        """`item`'s reply has started: it no longer waits."""
        if self.waiting is not None and item is self.waiting[0]:
            self.waiting = None

    async def join_waiting(self, text: str) -> bool:
        """Add `text` to the caller turn still waiting for a reply; false when none waits.

        The joined turn keeps its number and first timing; its final transcript is sent again,
        whole. A flood of turns thus costs one LLM request, not one each.
        """
        if self.waiting is None:
            return False
        item, message = self.waiting
        message["content"] = f"{message['content']}\n{text}"
        await self._send(TranscriptEvent(item.timing.number, str(message["content"]), final=True))
        return True

    def cut_unheard(self, item: CallerTurn) -> None:
        """`item`'s reply was cut off before the caller heard a word of it: it is unfinished."""
        if item.message is not None and item.timing.number == self.number:
            self._unfinished = (item.timing.number, item.message)

    async def continue_unfinished(
        self, text: str, timing: Callable[[int], TurnTiming]
    ) -> CallerTurn | None:
        """Join `text` (if any) to the unfinished turn, to be answered again; None when none is.

        Only while that turn's message is still the history's last (nothing said since).
        """
        unfinished, self._unfinished = self._unfinished, None
        messages = self._history.messages
        if unfinished is None or not messages or messages[-1] is not unfinished[1]:
            return None
        number, message = unfinished
        if text:
            message["content"] = f"{message['content']} {text}"
            await self._send(TranscriptEvent(number, str(message["content"]), final=True))
        item = CallerTurn(timing(number), message=message)
        self.waiting = (item, message)
        return item
