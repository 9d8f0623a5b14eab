"""Warm an agent's models before its first call, and cache its greeting.

The first request to a fresh replica pays for lazy initialisation (ONNX sessions, the LLM's
prompt cache); a greeting synthesised once is replayed from the phrase cache on every call.
"""

from __future__ import annotations

import asyncio
import logging

from switchboard_gateway.agent import AgentConfig, Prompts
from switchboard_gateway.backends.base import ModelBackend
from switchboard_gateway.prompt import TemplateError
from switchboard_wire.chat import ReplyText

log = logging.getLogger(__name__)

WARM_UP_RATE = 16_000
#: Half a second of silence: enough to run the ASR model end to end.
_SILENCE = bytes(WARM_UP_RATE)
WARM_UP_TIMEOUT_S = 120.0


async def _first_words(config: AgentConfig, backend: ModelBackend, system: str) -> None:
    """Ask for a reply with the agent's real system prompt (warms llama.cpp's prefix cache)."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "Hello."}]
    events = backend.reply(messages, config.tool_definitions())
    try:
        async for event in events:
            if isinstance(event, ReplyText):
                break
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def _speak(backend: ModelBackend, text: str) -> None:
    async for _ in backend.speak(text, WARM_UP_RATE, phrase=True):
        pass


def _default_prompts(config: AgentConfig) -> Prompts:
    """The prompts with the agent's own variables.

    A greeting that needs the caller's variables is not cached (no call would replay it), and a
    system prompt that needs them is warmed as written.
    """
    try:
        return config.prompts({})
    except TemplateError:
        return Prompts(config.system_template, None)


async def warm_up_agent(
    config: AgentConfig, backend: ModelBackend, timeout_s: float = WARM_UP_TIMEOUT_S
) -> None:
    """ASR, LLM and TTS each answer once; the greeting is synthesised into the phrase cache.

    Raises `BackendError` (or `TimeoutError`) when a model does not answer: a platform that
    cannot warm up cannot take calls either.
    """
    prompts = _default_prompts(config)
    async with asyncio.timeout(timeout_s):
        await backend.transcribe(_SILENCE, WARM_UP_RATE, None, final=True)
        await _first_words(config, backend, prompts.system)
        await _speak(backend, prompts.greeting or "Hello.")
