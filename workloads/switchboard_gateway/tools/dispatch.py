"""The tool calls of one reply: built-ins, webhooks (with a filler when slow), apologies.

The dispatcher runs what the model asked for and reports the outcomes; the conversation decides
what goes into the history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from switchboard_gateway.agent import AgentConfig
from switchboard_gateway.events import (
    EndReason,
    OutboundEvent,
    ToolCallEvent,
    ToolResultEvent,
)
from switchboard_gateway.tools.knowledge import (
    MAX_QUERY_CHARS,
    SEARCH_KNOWLEDGE_BASE_TOOL,
    SEARCH_TIMEOUT_S,
    SEARCH_TOOL_NAME,
    KnowledgeSearch,
    search_knowledge,
)
from switchboard_gateway.tools.webhooks import ToolOutcome, ToolRunner, tool_failure
from switchboard_wire.chat import ToolRequest

log = logging.getLogger(__name__)

TOOL_APOLOGY = "Sorry, I couldn't get that done just now."
DEFAULT_FILLER = "One moment, please."
#: A tool that has not answered after this long gets a spoken filler.
FILLER_AFTER_S = 0.7
#: Beyond a tool's own timeout, time for resolving its host and reading its answer.
TOOL_GRACE_S = 2.0
_DONE = '{"ok": true}'
CONTEXT_INTRO = "Facts from our documents (answer from them):"


def _argument(arguments: str, name: str) -> str:
    try:
        value = json.loads(arguments).get(name, "")
    except (ValueError, AttributeError):
        return ""
    return str(value)[:200]


@dataclass(frozen=True, slots=True)
class ToolRound:
    """What one round of tool calls did: each request's outcome, and whether the call ends."""

    outcomes: tuple[tuple[ToolRequest, ToolOutcome], ...]
    ending: EndReason | None
    #: Why the model transferred the call (`transfer_call`'s reason): the conversation says the
    #: handoff line, then sends the transfer.
    transfer_reason: str = ""

    def messages(self) -> list[dict[str, Any]]:
        """The tool results for the history, in the order they were asked for."""
        return [
            {"role": "tool", "tool_call_id": request.id, "content": outcome.content}
            for request, outcome in self.outcomes
        ]


class ToolCalls:
    """Runs what the model asks for: built-ins, webhooks, knowledge search."""

    def __init__(
        self,
        config: AgentConfig,
        runner: ToolRunner,
        call_id: str,
        send: Callable[[OutboundEvent], Awaitable[None]],
        say: Callable[[int, str], Awaitable[None]],
        knowledge: KnowledgeSearch | None = None,
    ) -> None:
        self._config, self._runner, self._call_id = config, runner, call_id
        self._send, self._say = send, say
        self._knowledge = knowledge if config.knowledge_bases else None

    def definitions(self) -> list[dict[str, Any]]:
        """The tools to offer the model: the agent's, the built-ins, and search when possible.

        With automatic context the model already has the passages: the search is not offered.
        """
        tools = self._config.tool_definitions()
        if self._knowledge is not None and not self.auto_context:
            tools.append(SEARCH_KNOWLEDGE_BASE_TOOL)
        return tools

    async def run(self, turn: int, requests: list[ToolRequest]) -> ToolRound:
        """Run every request in order; a failure is apologised for, and the round goes on."""
        ending: EndReason | None = None
        transfer_reason = ""
        outcomes: list[tuple[ToolRequest, ToolOutcome]] = []
        for request in requests:
            await self._send(ToolCallEvent(turn, request.id, request.name, request.arguments))
            started = time.monotonic()
            if request.name == "end_call" and self._config.call_policy.end_call_tool:
                outcome, ending = ToolOutcome(True, _DONE), EndReason.AGENT_ENDED
            elif request.name == "transfer_call" and self._config.transfer_tool_offered:
                transfer_reason = _argument(request.arguments, "reason")
                outcome, ending = ToolOutcome(True, _DONE), EndReason.TRANSFERRED
            elif request.name == SEARCH_TOOL_NAME and self._knowledge is not None:
                outcome = await self._search(turn, self._knowledge, request)
            else:
                outcome = await self._webhook(turn, request)
            latency = int((time.monotonic() - started) * 1000)
            await self._send(ToolResultEvent(turn, request.id, outcome.ok, outcome.error, latency))
            outcomes.append((request, outcome))
            if not outcome.ok:
                log.warning(
                    "call %s: tool %s failed: %s",
                    self._call_id,
                    request.name[:64],
                    outcome.error,
                )
                await self._say(turn, TOOL_APOLOGY)
        return ToolRound(tuple(outcomes), ending, transfer_reason)

    @property
    def auto_context(self) -> bool:
        """Whether every reply starts with a search of the caller's words."""
        return self._knowledge is not None and any(
            kb.auto_context for kb in self._config.knowledge_bases
        )

    async def search_for_context(self, turn: int, words: str) -> str:
        """Search before the model answers; returns the passages as context ("" for none).

        Recorded as a `search_knowledge_base` call with the id `auto-<turn>`, so transcripts
        and call records show it like any tool call. The passages go after the system prompt for
        this turn: small models imitate a tool call they did not make and ignore late messages.
        """
        if self._knowledge is None:
            return ""
        request = ToolRequest(
            f"auto-{turn}", SEARCH_TOOL_NAME, json.dumps({"query": words[:MAX_QUERY_CHARS]})
        )
        await self._send(ToolCallEvent(turn, request.id, request.name, request.arguments))
        started = time.monotonic()
        outcome = await search_knowledge(
            self._knowledge, self._config.knowledge_bases, request.arguments
        )
        latency = int((time.monotonic() - started) * 1000)
        await self._send(ToolResultEvent(turn, request.id, outcome.ok, outcome.error, latency))
        if not outcome.ok:
            log.warning(
                "call %s: automatic knowledge search failed: %s", self._call_id, outcome.error
            )
            return ""
        passages = json.loads(outcome.content).get("passages", [])
        facts = "\n".join(f"- {p['text']}" for p in passages)
        return f"{CONTEXT_INTRO}\n{facts}" if passages else ""

    async def _search(
        self, turn: int, knowledge: KnowledgeSearch, request: ToolRequest
    ) -> ToolOutcome:
        searching = search_knowledge(knowledge, self._config.knowledge_bases, request.arguments)
        budget = SEARCH_TIMEOUT_S + TOOL_GRACE_S
        return await self._with_filler(turn, request, searching, DEFAULT_FILLER, budget)

    async def _webhook(self, turn: int, request: ToolRequest) -> ToolOutcome:
        tool = self._config.tool(request.name)
        if tool is None:
            message = json.dumps({"error": f"there is no tool named {request.name[:64]}"})
            return ToolOutcome(False, message, "unknown_tool")
        running = self._runner.run(tool, request.arguments, self._call_id)
        budget = tool.http.timeout_ms / 1000 + TOOL_GRACE_S
        return await self._with_filler(
            turn, request, running, tool.filler or DEFAULT_FILLER, budget
        )

    async def _with_filler(
        self,
        turn: int,
        request: ToolRequest,
        work: Coroutine[Any, Any, ToolOutcome],
        filler: str,
        budget_s: float,
    ) -> ToolOutcome:
        """Run one tool under `budget_s`; whatever it raises becomes a failed outcome.

        A tool that raises (a malformed URL, a broken secret, a bug) must not take the call's
        reply loop with it: the model sees the failure and the caller hears the apology.
        """
        running = asyncio.create_task(work)
        deadline = asyncio.get_running_loop().time() + budget_s
        try:
            done, _ = await asyncio.wait({running}, timeout=FILLER_AFTER_S)
            if not done:
                await self._say(turn, filler)
            async with asyncio.timeout_at(deadline):  # the filler's speech is not the tool's
                return await running
        except TimeoutError:
            log.warning("call %s: tool %s timed out", self._call_id, request.name[:64])
            return tool_failure("timeout", "the tool did not answer in time")
        except Exception as error:
            log.warning(
                "call %s: tool %s raised %s",
                self._call_id,
                request.name[:64],
                type(error).__name__,
            )
            return tool_failure("tool_error", "the tool failed")
        finally:
            running.cancel()
