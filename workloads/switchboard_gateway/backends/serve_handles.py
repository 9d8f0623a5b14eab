"""The model plane over Ray Serve handles, for a gateway running inside the Ray cluster.

No HTTP, JSON or WAV on the way: audio goes as PCM16 bytes, the LLM streams plain dicts
(`LlmServer.stream_chat_plain`), speech streams PCM16 chunks. Requires Ray (the `serve` extra);
the gateway imports it only when this backend is used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from switchboard_gateway.backends.base import (
    BackendError,
    PartialText,
    ReplyDone,
    ReplyEvent,
    ReplyText,
    ToolRequest,
)

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentResponse, DeploymentResponseGenerator


class ServeHandles:
    """ASR, LLM and TTS deployments of one Serve application, called through handles.

    A failure before the first result is retried once (a replica may just have been replaced);
    after output has reached the caller nothing is retried.
    """

    def __init__(
        self,
        app_name: str,
        *,
        asr: str,
        llm: str,
        tts: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        from ray import serve

        self._asr = serve.get_deployment_handle(asr, app_name)
        self._llm = serve.get_deployment_handle(llm, app_name).options(stream=True)
        self._tts = serve.get_deployment_handle(tts, app_name).options(stream=True)
        self._sampling = (max_tokens, temperature)
        self._timeout_s = timeout_s

    async def _once(self, call: Callable[[], object]) -> dict[str, Any]:
        for attempt in range(2):
            try:
                response = cast("DeploymentResponse[dict[str, Any]]", call())
                body = await asyncio.wait_for(response, self._timeout_s)
                return body
            except (TimeoutError, ValueError) as error:
                raise BackendError(f"{type(error).__name__}: {str(error)[:200]}") from error
            except Exception as error:  # Ray wraps replica and transport failures alike
                if attempt:
                    raise BackendError(f"model plane failed: {type(error).__name__}") from error
        raise AssertionError("unreachable")

    async def transcribe(
        self, pcm16: bytes, sample_rate: int, state: str | None, *, final: bool
    ) -> PartialText:
        """One partial (or, with `final`, the last) pass over the utterance so far."""
        body = await self._once(
            lambda: self._asr.transcribe_partial_plain.remote(pcm16, sample_rate, state, final)
        )
        return PartialText(body["text"], body["stable"], body["final"], body["state"])

    async def reply(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]]
    ) -> AsyncIterator[ReplyEvent]:
        """Stream the reply; tool calls come after the text, then `ReplyDone`."""
        max_tokens, temperature = self._sampling
        stream = self._llm.stream_chat_plain.remote(
            list(messages), list(tools) or None, max_tokens, temperature
        )
        requests: list[ToolRequest] = []
        reason = "stop"
        async for item in _bounded(stream, self._timeout_s):
            if "text" in item:
                yield ReplyText(item["text"])
            elif "tool_call_id" in item:
                requests.append(ToolRequest(item["tool_call_id"], item["name"], item["arguments"]))
            else:
                reason = item.get("finish_reason", reason)
        for request in requests:
            yield request
        yield ReplyDone("tool_calls" if requests else reason)

    async def speak(self, text: str, sample_rate: int) -> AsyncIterator[bytes]:
        """Stream PCM16 speech for one piece of text."""
        stream = self._tts.synthesize.remote(text, sample_rate, "pcm16")
        async for chunk in _bounded(stream, self._timeout_s):
            yield chunk


async def _bounded(response: object, timeout_s: float) -> AsyncIterator[Any]:
    """A Serve response stream's items, each awaited at most `timeout_s`; errors: BackendError."""
    stream = cast("DeploymentResponseGenerator[Any]", response)
    iterator = stream.__aiter__()
    try:
        while True:
            try:
                item = await _next(iterator, timeout_s)
            except StopAsyncIteration:
                return
            yield item
    finally:
        stream.cancel()  # type: ignore[no-untyped-call]


async def _next(iterator: AsyncIterator[Any], timeout_s: float) -> Any:  # noqa: ANN401
    try:
        return await asyncio.wait_for(iterator.__anext__(), timeout_s)
    except StopAsyncIteration:
        raise
    except TimeoutError as error:
        raise BackendError(f"no model output within {timeout_s:g} s") from error
    except Exception as error:
        raise BackendError(f"model plane failed: {type(error).__name__}") from error
