"""Answering one caller turn: retrieval, LLM rounds with tools, speech, and the turn's latency.

The responder (responder.py) decides which turn is answered when; an `Answerer` answers it. A
held turn (held.py) is answered silently until confirmed. A reply to a spoken turn that the
caller cuts off before hearing a word of it, with no tool run, is marked `unheard` and reports
no latency: the caller was not done, and the turn goes on with their next words (the responder
joins them to it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.backends.base import BackendError, ChatModel
from switchboard_gateway.conversation.clock import Clock
from switchboard_gateway.conversation.held import HeldTurn
from switchboard_gateway.conversation.history import ConversationHistory
from switchboard_gateway.conversation.timing import TurnTiming, finish_turn
from switchboard_gateway.conversation.voice import AgentVoice
from switchboard_gateway.conversation.work import Reply
from switchboard_gateway.events import OutboundEvent, TurnLatencyEvent
from switchboard_gateway.tools.dispatch import ToolCalls
from switchboard_wire.chat import ToolRequest
from switchboard_wire.latency import LatencyStage

MAX_TOOL_ROUNDS = 3

Send = Callable[[OutboundEvent], Awaitable[None]]


class Answerer:
    """Answers one call's caller turns, one at a time, through tools and the agent's voice."""

    def __init__(
        self,
        config: AgentConfig,
        chat: ChatModel,
        voice: AgentVoice,
        tools: ToolCalls,
        history: ConversationHistory,
        send: Send,
        clock: Clock,
        call_id: str,
    ) -> None:
        self._config, self._chat, self._voice, self._tools = config, chat, voice, tools
        self._history, self._send, self._clock, self._call_id = history, send, clock, call_id
        self.latencies: list[TurnLatencyEvent] = []

    async def answer(
        self,
        reply: Reply,
        turn: TurnTiming,
        held: HeldTurn | None,
        run_tools: Callable[[int, list[ToolRequest]], Awaitable[bool]],
    ) -> None:
        """Answer the caller's last message in the history.

        `run_tools` runs one round's tool calls and says whether the call ends.
        """
        completed = False
        executed: set[tuple[str, str]] = set()
        try:
            if self._tools.auto_context:
                if held is not None:
                    await held.confirmed.wait()  # retrieval sets the turn's context: not held
                await self._search_for_context(turn)
            offer_tools = True
            for round_number in range(MAX_TOOL_ROUNDS + 1):
                offer_tools = offer_tools and round_number < MAX_TOOL_ROUNDS
                requests = await self._llm_round(reply, turn, offer_tools, held)
                if not requests:
                    break
                calls = {(r.name, r.arguments) for r in requests}
                if calls <= executed:
                    # The same call again: small models loop like this. Forget the repeat and
                    # ask for an answer about the results instead.
                    self._history.messages.pop()
                    offer_tools = False
                    continue
                executed |= calls
                if await run_tools(turn.number, requests):
                    break
            completed = True
        except BackendError:
            if held is not None:
                await held.confirmed.wait()  # a failure is apologised for once confirmed
            raise
        finally:
            playback = reply.playback
            cut_unheard = playback is not None and not playback.heard_text and not executed
            # Only a spoken turn can have been ended too early, at a pause, by endpointing.
            spoken = turn.has(LatencyStage.VAD_ENDPOINT)
            reply.unheard = reply.interrupted and cut_unheard and spoken
            if not reply.unheard and (held is None or held.confirmed.is_set()):
                await self._report(turn, interrupted=not completed)

    async def _report(self, turn: TurnTiming, interrupted: bool) -> None:
        now, key = self._clock.now(), self._config.key
        latency = finish_turn(turn, interrupted, now, self._call_id, key)
        self.latencies.append(latency)
        with contextlib.suppress(Exception):
            await asyncio.shield(self._send(latency))

    async def _search_for_context(self, turn: TurnTiming) -> None:
        words = self._history.last_caller_words()
        if words.strip():
            started = self._clock.now()
            self._history.set_context(await self._tools.search_for_context(turn.number, words))
            turn.mark(LatencyStage.RETRIEVAL, started, self._clock.now())

    async def _llm_round(
        self, reply: Reply, turn: TurnTiming, offer_tools: bool, held: HeldTurn | None = None
    ) -> list[ToolRequest]:
        """Stream one completion into speech; returns the tool calls it asked for.

        A held turn's first round sees the history as it will be once the turn is confirmed;
        nothing is played or recorded before that.
        """
        tools = self._tools.definitions() if offer_tools else []
        asked = self._clock.now()
        reply.unrecorded, reply.placeholder = True, "…"
        held = held if held is not None and held.pending else None
        hold = held.confirmed if held is not None else None
        messages = held.for_model(self._history) if held is not None else self._history.for_model()
        said, requests = await self._voice.reply(
            turn, self._chat.reply(messages, tools), asked, hold
        )
        if hold is not None:
            await hold.wait()  # a reply of tool calls only has played nothing: wait here
        reply.unrecorded = False
        self._history.add_reply(said, requests)
        return requests
