"""Handing a phone call to a human: the caller's keywords, the agent's line, the transfer.

Whether the caller asked for a human in so many words (`handoff.keywords`) or the model called
`transfer_call`, the call goes the same way: the agent says `handoff.message` and waits until it
has played (the caller cannot cut it short), then the transport is told to transfer the call
(`TransferEvent`), and the call ends as transferred.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.base import BackendError
from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.voice import AgentVoice
from switchboard_gateway.events import OutboundEvent, TransferEvent

log = logging.getLogger(__name__)

#: What the agent says before a transfer when the agent has no `handoff` (API default).
DEFAULT_HANDOFF_MESSAGE = "Let me transfer you to a colleague. Please hold."

_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def keyword_in(text: str, keywords: Sequence[str]) -> str | None:
    """The first keyword (a word or phrase) said in `text` as whole words, any case, or None.

    Punctuation between words does not matter ("a human, please" says "human"); part of a word
    is not the word ("humanity" does not say "human").
    """
    said = _words(text)
    for keyword in keywords:
        wanted = _words(keyword)
        if not wanted:
            continue
        size = len(wanted)
        if any(said[i : i + size] == wanted for i in range(len(said) - size + 1)):
            return keyword
    return None


def handoff_message(config: AgentConfig) -> str:
    """The line the agent says before it transfers a call."""
    return config.handoff.message if config.handoff is not None else DEFAULT_HANDOFF_MESSAGE


async def transfer(
    config: AgentConfig,
    voice: AgentVoice,
    history: ConversationHistory,
    send: Callable[[OutboundEvent], Awaitable[None]],
    turn: int,
    reason: str,
) -> None:
    """Say the handoff line, wait until it has played, then ask the transport to transfer.

    The line is in the history before it is spoken: it is never cut. Speech that fails does
    not stop the transfer (the caller asked for a human; they get one).
    """
    target = config.transfer_target
    if target is None:
        raise ValueError(f"{config.key} has no handoff.transferTo")
    message = handoff_message(config)
    await voice.played_out()
    history.add_agent_line(message)
    try:
        await voice.say(turn, message)
    except BackendError as error:
        log.warning("handoff line not spoken: %s", type(error).__name__)
    await voice.played_out()
    await send(TransferEvent(target, reason))
