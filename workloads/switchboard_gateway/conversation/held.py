"""A held caller turn: heard at the caller's pause, answered in advance, played only if confirmed.

Preemptive generation. When the caller pauses, the listener transcribes the utterance at once
(the speculative final pass) and hands the transcript over before endpointing has decided the
turn is over. The responder may then ask the LLM and synthesise the reply's first piece, but
nothing reaches the caller or the call's record until the turn is confirmed: no agent text or
audio, no transcript event, no history, no latency event, no tool call. If the caller speaks
again, the held reply is cancelled and forgotten; if the turn is confirmed, the reply goes on
with what it already has, so its first audio can leave at the moment of the decision.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.listener import HeardTurn
from switchboard_gateway.conversation.timing import TurnTiming
from switchboard_wire.latency import LatencyStage


@dataclass(eq=False)
class HeldTurn:
    """A caller turn heard at a pause and not yet confirmed by endpointing."""

    heard: HeardTurn
    timing: TurnTiming
    #: The caller's message, added to the history only when the turn is confirmed.
    message: dict[str, Any]
    #: Set when endpointing confirms the turn: the held reply may speak and record.
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    #: The caller went on speaking (or something else took the turn): the reply is void.
    dropped: bool = False

    @classmethod
    def of(cls, heard: HeardTurn, number: int) -> HeldTurn:
        """Hold `heard` as the call's turn `number` (its number once confirmed)."""
        timing = TurnTiming(number, heard.speech_end, speculative=True)
        timing.mark(LatencyStage.ASR_FINAL, heard.asr_started, heard.asr_done)
        return cls(heard, timing, {"role": "user", "content": heard.text})

    @property
    def pending(self) -> bool:
        """Still waiting for confirmation (neither confirmed nor dropped)."""
        return not self.dropped and not self.confirmed.is_set()

    def matches(self, heard: HeardTurn) -> bool:
        """Whether `heard` is the confirmation of this turn (the same pause, the same words)."""
        return (
            heard.text == self.heard.text
            and heard.speech_end == self.heard.speech_end
            and heard.asr_started == self.heard.asr_started
        )

    def confirm(self, heard: HeardTurn) -> None:
        """Endpointing decided at `heard.decided`: the reply may speak and record from now."""
        self.timing.mark(
            LatencyStage.VAD_ENDPOINT, heard.speech_end, max(heard.decided, heard.speech_end)
        )
        self.confirmed.set()

    def for_model(self, history: ConversationHistory) -> list[dict[str, Any]]:
        """What the model sees once the turn is confirmed, the history left as it is."""
        ahead = copy.copy(history)
        ahead.messages = [*history.messages, self.message]
        return ahead.for_model()
