"""`search_knowledge_base`: offered only with knowledge, merged across bases, failures spoken."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from switchboard_gateway.agent import KnowledgeBaseChoice
from switchboard_gateway.events import OutboundEvent, ToolResultEvent
from switchboard_gateway.tools.dispatch import TOOL_APOLOGY, ToolCalls
from switchboard_gateway.tools.knowledge import SEARCH_TOOL_NAME, Passage, search_knowledge
from switchboard_gateway.tools.ssrf import SsrfGuard
from switchboard_gateway.tools.webhooks import MAX_RESULT_BYTES, ToolRunner
from switchboard_wire.chat import ToolRequest
from tests.models.gateway.test_session import agent_config

pytestmark = pytest.mark.unit

HANDBOOK = KnowledgeBaseChoice("acme/handbook", 2)
PRICES = KnowledgeBaseChoice("acme/prices", 1)


class FakeSearch:
    """Canned passages per knowledge base; records the queries it was asked."""

    def __init__(self, passages: dict[str, list[Passage]], fail: bool = False) -> None:
        self.passages, self.fail, self.queries = passages, fail, list[tuple[str, str, int]]()

    async def search(self, knowledge_base: str, query: str, top_k: int) -> Sequence[Passage]:
        self.queries.append((knowledge_base, query, top_k))
        if self.fail:
            raise ConnectionError("index unreachable")
        return self.passages.get(knowledge_base, [])[:top_k]


def _run(search: FakeSearch, arguments: str, kbs: Sequence[KnowledgeBaseChoice]) -> Any:
    outcome = asyncio.run(search_knowledge(search, kbs, arguments))
    return outcome, json.loads(outcome.content)


def test_passages_from_every_base_are_merged_best_first() -> None:
    search = FakeSearch(
        {
            "acme/handbook": [
                Passage("Open 9 to 5.", "faq.md", 0.9),
                Passage("Closed Sunday.", "faq.md", 0.4),
            ],
            "acme/prices": [Passage("A cut is 20 euros.", "prices.md", 0.7)],
        }
    )
    outcome, body = _run(search, '{"query": "opening hours"}', [HANDBOOK, PRICES])
    assert outcome.ok
    assert [p["text"] for p in body["passages"]] == ["Open 9 to 5.", "A cut is 20 euros."]
    assert sorted(search.queries) == [
        ("acme/handbook", "opening hours", 2),
        ("acme/prices", "opening hours", 1),
    ]


def test_bad_arguments_empty_results_and_failures_are_outcomes() -> None:
    search = FakeSearch({})
    outcome, body = _run(search, '{"q": 1}', [HANDBOOK])
    assert (outcome.ok, outcome.error) == (False, "invalid_arguments")
    outcome, body = _run(search, '{"query": "x"}', [HANDBOOK])
    assert outcome.ok
    assert body["passages"] == []
    outcome, body = _run(FakeSearch({}, fail=True), '{"query": "x"}', [HANDBOOK])
    assert (outcome.ok, outcome.error) == (False, "search_failed")
    assert "ConnectionError" in body["error"]


def test_results_are_cut_to_the_tool_result_size_limit() -> None:
    big = [Passage("x" * 6000, f"doc{i}", 1.0 - i / 10) for i in range(4)]
    search = FakeSearch({"acme/handbook": big})
    outcome, body = _run(search, '{"query": "x"}', [KnowledgeBaseChoice("acme/handbook", 4)])
    assert outcome.ok
    assert len(outcome.content.encode()) <= MAX_RESULT_BYTES
    assert [p["source"] for p in body["passages"]] == ["doc0", "doc1"]


def test_a_slow_search_times_out() -> None:
    class Slow(FakeSearch):
        async def search(self, knowledge_base: str, query: str, top_k: int) -> Sequence[Passage]:
            await asyncio.sleep(5)
            return []

    outcome = asyncio.run(search_knowledge(Slow({}), [HANDBOOK], '{"query": "x"}', timeout_s=0.05))
    assert (outcome.ok, outcome.error) == (False, "timeout")


def _tool_calls(
    search: FakeSearch | None, with_knowledge: bool
) -> tuple[ToolCalls, list[OutboundEvent], list[str]]:
    changes = {"spec.knowledgeBases": [{"name": "handbook", "topK": 2}]} if with_knowledge else {}
    config = agent_config(**changes)
    sent: list[OutboundEvent] = []
    said: list[str] = []

    async def send(event: OutboundEvent) -> None:
        sent.append(event)

    async def say(turn: int, text: str) -> None:
        said.append(text)

    runner = ToolRunner(SsrfGuard(()))
    return ToolCalls(config, runner, "call-1", send, say, search), sent, said


def test_the_tool_is_offered_only_when_the_agent_has_knowledge_and_a_search() -> None:
    search = FakeSearch({})
    offered = lambda calls: [t["name"] for t in calls.definitions()]  # noqa: E731
    assert SEARCH_TOOL_NAME in offered(_tool_calls(search, with_knowledge=True)[0])
    assert SEARCH_TOOL_NAME not in offered(_tool_calls(search, with_knowledge=False)[0])
    assert SEARCH_TOOL_NAME not in offered(_tool_calls(None, with_knowledge=True)[0])


def test_a_search_result_is_the_tool_message_and_a_failure_is_apologised_for() -> None:
    search = FakeSearch({"acme/handbook": [Passage("Open 9 to 5.", "faq.md", 0.9)]})
    calls, sent, said = _tool_calls(search, with_knowledge=True)
    request = ToolRequest("t1", SEARCH_TOOL_NAME, '{"query": "hours"}')
    done = asyncio.run(calls.run(1, [request]))
    assert done.ending is None
    (message,) = done.messages()
    assert message["tool_call_id"] == "t1"
    assert json.loads(message["content"])["passages"][0]["text"] == "Open 9 to 5."
    (result,) = [e for e in sent if isinstance(e, ToolResultEvent)]
    assert result.ok
    failing, sent, said = _tool_calls(FakeSearch({}, fail=True), with_knowledge=True)
    asyncio.run(failing.run(1, [request]))
    assert said == [TOOL_APOLOGY]
