"""llama.cpp (llama-cpp-python) on CPU: streaming chat, constrained tool calls, prompt caching.

The prompt cache (`prompt_cache.PromptCache`) keeps the evaluated state of recent prompts, so the
next turn of a conversation only evaluates what was added since, even when other conversations
ran in between: a cold 250-token prompt costs ~0.4 s on 2 cores, a warm one ~40 ms. Every
completion's state is kept, also one closed early (a barge-in, the warm-up's first words):
llama-cpp-python saves only completions that run to their end.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from llama_cpp.llama_grammar import LlamaGrammar

from switchboard_api.pipeline import LlmSpec
from switchboard_serve.limits import ApiError
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.constrained_tools import ReplyStream, choice_schema, instructions
from switchboard_serve.llm.prompt_cache import LeanLlama, PromptCache
from switchboard_wire.chat import (
    ChatMessage,
    ReplyDone,
    ReplyEvent,
    ReplyText,
    ToolRequest,
    finish_reason,
)

#: One saved state per conversation: SmolLM2's KV cache is ~23 KB a token, so a full 2,048-token
#: context is ~47 MB and this holds ~10 calls' contexts (six concurrent calls and their agents'
#: warm-up states) before the least recently used goes.
PROMPT_CACHE_BYTES = 512 << 20


def to_template_messages(
    messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition]
) -> list[dict[str, str]]:
    """OpenAI messages → plain role/content messages a chat template without tool roles accepts.

    Assistant tool calls are written the way the model is asked to produce them, and tool
    results come back as user turns naming the tool.
    """
    names: dict[str, str] = {}
    converted: list[dict[str, str]] = []
    for message in messages:
        role, content = message["role"], message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            for call in message.get("tool_calls", []):
                names[call["id"]] = call["function"]["name"]
                arguments = json.loads(call["function"]["arguments"] or "{}")
                body = {"tool": call["function"]["name"], "arguments": arguments}
                converted.append({"role": "assistant", "content": json.dumps(body)})
        elif role == "tool":
            name = names.get(message.get("tool_call_id", ""), message.get("name", "tool"))
            converted.append({"role": "user", "content": f"Result of {name}: {content}"})
        elif role == "assistant" and tools:
            converted.append({"role": "assistant", "content": json.dumps({"reply": content})})
        else:
            converted.append({"role": role, "content": content})
    if tools:
        addendum = instructions(tools)
        if converted and converted[0]["role"] == "system":
            converted[0] = {"role": "system", "content": f"{converted[0]['content']}\n\n{addendum}"}
        else:
            converted.insert(0, {"role": "system", "content": addendum})
    return converted


class LlamaCppEngine:
    """One GGUF model in memory, shared by every conversation; one completion at a time."""

    def __init__(self, spec: LlmSpec, model_path: Path, threads: int = 0) -> None:
        self._spec = spec
        self._llm = LeanLlama(
            model_path=str(model_path),
            n_ctx=spec.context_tokens,
            n_threads=threads or None,
            verbose=False,
        )
        self._llm.set_cache(PromptCache(capacity_bytes=PROMPT_CACHE_BYTES))
        # llama.cpp's first decode in a process sets itself up (2-4 s on 2 cores against ~0.1 s
        # for the next): pay it here, before the replica reports healthy, not in a call's turn.
        self._llm.eval(self._llm.tokenize(b"Hello"))
        self._llm.reset()  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._grammars: dict[str, LlamaGrammar] = {}

    def _grammar(self, tools: Sequence[ToolDefinition]) -> LlamaGrammar:
        try:
            key = json.dumps(choice_schema(tools))  # key order matters: it is the output order
            if key not in self._grammars:
                if len(self._grammars) >= 64:
                    self._grammars.clear()
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        except Exception as error:  # the schemas are the client's: any failure is theirs
            message = f"the tools' parameters are not a JSON schema the model can follow: {error}"
            raise ApiError(400, message[:500], "invalid_tools", "tools") from None
        return self._grammars[key]

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[ReplyEvent]:
        """Stream a reply as text, or produce one tool call, then `ReplyDone`."""
        with self._lock:
            chunks = self._llm.create_chat_completion(
                to_template_messages(messages, tools),  # type: ignore[arg-type]
                stream=True,
                max_tokens=max_tokens or self._spec.max_tokens,
                temperature=self._spec.temperature if temperature is None else temperature,
                grammar=self._grammar(tools) if tools else None,
            )
            finished = False
            try:
                for event in self._events(_within_context(chunks), constrained=bool(tools)):
                    finished = isinstance(event, ReplyDone)  # saved by llama-cpp-python
                    yield event
            finally:
                if not finished:
                    close = getattr(chunks, "close", None)
                    if close is not None:
                        close()
                    self._llm.remember()

    @staticmethod
    def _events(chunks: Iterator[Any], *, constrained: bool) -> Iterator[ReplyEvent]:
        reply = ReplyStream()
        finish: str | None = None
        count = itertools.count()
        tokens = 0
        for chunk in chunks:
            choice = chunk["choices"][0]
            piece = choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
            if piece:
                tokens = next(count) + 1
                text = reply.feed(piece) if constrained else piece
                if text:
                    yield ReplyText(text)
        if constrained and reply.kind == "tool" and finish != "length":
            name, arguments = reply.tool_call()
            yield ToolRequest(id=f"call_{uuid.uuid4().hex[:16]}", name=name, arguments=arguments)
            yield ReplyDone("tool_calls", tokens)
            return
        yield ReplyDone(finish_reason(finish, tool_calls=False), tokens)


def _within_context(chunks: object) -> Iterator[Any]:
    """The completion's chunks; a prompt longer than the context window is the client's 400.

    llama.cpp tokenises the prompt when the stream starts and says so only in a `ValueError`'s
    text, so that text is what is matched.
    """
    stream = cast(Iterator[Any], chunks)
    try:
        first = next(stream)
    except StopIteration:
        return
    except ValueError as error:
        if "exceed context window" not in str(error):
            raise
        message = f"the messages do not fit the model's context window: {error}"
        raise ApiError(400, message, "context_length_exceeded", "messages") from None
    yield first
    yield from stream
