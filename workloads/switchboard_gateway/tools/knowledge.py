"""`search_knowledge_base`: the built-in tool over an agent's knowledge bases.

The gateway depends only on `KnowledgeSearch`; the knowledge plane provides an implementation
(hybrid vector + keyword retrieval over the tenant's index). Passages reach the model as JSON,
bounded in number and size like any tool result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard_gateway.agent import KnowledgeBaseChoice
from switchboard_gateway.tools.webhooks import MAX_RESULT_BYTES, ToolOutcome, tool_failure

SEARCH_TOOL_NAME = "search_knowledge_base"
SEARCH_KNOWLEDGE_BASE_TOOL: dict[str, Any] = {
    "name": SEARCH_TOOL_NAME,
    "description": (
        "Search the organisation's documents for facts needed to answer the caller "
        "(opening hours, prices, policies). Use it before answering such questions."
    ),
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string", "description": "what to look up"}},
        "required": ["query"],
    },
}
MAX_QUERY_CHARS = 500
SEARCH_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk: its text, where it came from, and its fused relevance score."""

    text: str
    source: str
    score: float


class KnowledgeSearch(Protocol):
    """Retrieval over one knowledge base."""

    async def search(self, knowledge_base: str, query: str, top_k: int) -> Sequence[Passage]:
        """The `top_k` best passages for `query` in `knowledge_base` (`namespace/name`)."""
        ...


async def search_knowledge(
    search: KnowledgeSearch,
    knowledge_bases: Sequence[KnowledgeBaseChoice],
    arguments_json: str,
    timeout_s: float = SEARCH_TIMEOUT_S,
) -> ToolOutcome:
    """Run the built-in tool: every knowledge base at once, best passages first."""
    try:
        arguments = json.loads(arguments_json or "{}")
        query = str(arguments["query"]).strip()[:MAX_QUERY_CHARS]
    except (ValueError, KeyError, TypeError):
        return tool_failure("invalid_arguments", "the arguments must be a JSON object with a query")
    if not query:
        return tool_failure("invalid_arguments", "the query is empty")
    try:
        found = await asyncio.wait_for(
            asyncio.gather(*(search.search(kb.key, query, kb.top_k) for kb in knowledge_bases)),
            timeout_s,
        )
    except TimeoutError:
        return tool_failure("timeout", f"the search took over {timeout_s:g} s")
    except Exception as error:  # any backend failure is spoken about, never raised into the call
        return tool_failure("search_failed", type(error).__name__)
    limit = max((kb.top_k for kb in knowledge_bases), default=0)
    passages = sorted((p for group in found for p in group), key=lambda p: -p.score)[:limit]
    body = [{"text": p.text, "source": p.source} for p in passages]
    while body and len(json.dumps({"passages": body}).encode()) > MAX_RESULT_BYTES:
        body.pop()  # the least relevant goes first
    if not body:
        return ToolOutcome(True, json.dumps({"passages": [], "note": "nothing relevant found"}))
    return ToolOutcome(True, json.dumps({"passages": body}))
