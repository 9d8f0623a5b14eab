"""A call's conversation history, trimmed to the context window and to what was heard.

The model sees the newest turns that fit; when the caller interrupts, the agent's reply is cut
to the part that was actually played.

Old turns are dropped in blocks, not one per turn: once the turns outgrow their budget, enough of
the oldest go at once to bring them down to `TRIM_TO` of it, and the oldest kept turn then stays
put for the next several turns. The prompt's beginning is thus the same turn after turn, and the
LLM's prompt cache reads only what was added; dropping one turn per turn would change the
beginning every time and make the model read its whole context again on every turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard_wire.chat import ToolRequest

Message = dict[str, Any]
#: The share of the budget the kept turns fill after a block of old turns is dropped.
TRIM_TO = 0.5


def approximate_tokens(message: Message) -> int:
    """A tokenizer-free estimate (~4 characters per token, plus per-message overhead)."""
    text = str(message.get("content") or "")
    for call in message.get("tool_calls") or []:
        text += str(call.get("function", {}).get("arguments", ""))
    return len(text) // 4 + 4


@dataclass(frozen=True, slots=True)
class SpokenPiece:
    """One piece of the agent's reply as synthesised: its text and audio length."""

    text: str
    seconds: float


def played_text(pieces: Sequence[SpokenPiece], played_seconds: float) -> str:
    """The part of the reply the caller heard after `played_seconds` of its audio.

    Whole pieces up to the playback position, then the share of the next piece's words that
    its played share of audio suggests (speech rate within one sentence is near constant).
    """
    heard, elapsed = [], 0.0
    for piece in pieces:
        if elapsed + piece.seconds <= played_seconds + 1e-9:
            heard.append(piece.text)
            elapsed += piece.seconds
            continue
        if piece.seconds > 0 and played_seconds > elapsed:
            words = piece.text.split()
            share = (played_seconds - elapsed) / piece.seconds
            partial = words[: int(len(words) * share)]
            if partial:
                heard.append(" ".join(partial) + "…")
        break
    return " ".join(heard)


@dataclass
class ConversationHistory:
    """System prompt plus the turns of one call."""

    system: str
    context_tokens: int
    reply_tokens: int
    count: Callable[[Message], int] = approximate_tokens
    messages: list[Message] = field(default_factory=list)
    #: Retrieved facts for the current turn (automatic knowledge context), or empty.
    context: str = ""
    #: Index of the oldest message the model may be sent; it only moves forward, by blocks.
    first_kept: int = 0
    #: The share of the budget left filled after a block trim (1.0: drop only what must go).
    trim_to: float = TRIM_TO

    def add(self, message: Message) -> None:
        """Append a user, assistant or tool message."""
        self.messages.append(message)

    def add_reply(self, text: str, requests: Sequence[ToolRequest]) -> None:
        """Append a model reply: what it said and the tool calls it asked for (if anything)."""
        if not text and not requests:
            return
        message: Message = {"role": "assistant", "content": text or None}
        if requests:
            message["tool_calls"] = [
                {
                    "id": r.id,
                    "type": "function",
                    "function": {"name": r.name, "arguments": r.arguments},
                }
                for r in requests
            ]
        self.add(message)

    def last_caller_words(self) -> str:
        """The newest caller message's text ("" before the caller said anything)."""
        return next(
            (str(m.get("content") or "") for m in reversed(self.messages) if m["role"] == "user"),
            "",
        )

    def add_agent_line(self, text: str) -> None:
        """Append what the agent said, joined to an agent line just before it.

        A recording notice and then the greeting are one agent message: roles alternate, as
        strict chat templates require.
        """
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "assistant" and not last.get("tool_calls"):
            last["content"] = f"{last.get('content') or ''} {text}".strip()
            return
        self.add({"role": "assistant", "content": text})

    def set_context(self, context: str) -> None:
        """Retrieved facts for the current turn, shown after the system prompt until replaced."""
        self.context = context

    def truncate_last_assistant(self, heard: str) -> None:
        """Replace the last assistant reply with the part the caller heard (barge-in)."""
        for message in reversed(self.messages):
            if message["role"] == "assistant" and not message.get("tool_calls"):
                message["content"] = heard or "…"
                return

    def for_model(self) -> list[Message]:
        """System prompt and the newest turns that fit beside a full reply.

        Whole turns are dropped from the oldest end, starting at user messages, so an assistant
        tool call is never separated from its tool result. The newest turn is always kept. When
        the turns kept so far no longer fit, the oldest are dropped in one block down to
        `trim_to` of the budget (`first_kept` remembers where the kept turns begin), so the
        messages sent keep the same beginning until the next block is dropped.
        """
        content = f"{self.system}\n\n{self.context}" if self.context else self.system
        system: Message = {"role": "system", "content": content}
        if not self.messages:
            return [system]
        budget = self.context_tokens - self.reply_tokens - self.count(system)
        starts = [i for i, m in enumerate(self.messages) if m["role"] == "user"]
        if not starts:
            return [system, *self.messages]
        candidates = [i for i in starts if i >= self.first_kept] or starts[-1:]
        sizes = [self.count(m) for m in self.messages]
        start = candidates[0]
        if sum(sizes[start:]) > budget:
            start = next(
                (i for i in candidates if sum(sizes[i:]) <= budget * self.trim_to), candidates[-1]
            )
        self.first_kept = start
        return [system, *self.messages[start:]]
