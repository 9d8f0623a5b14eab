"""Warm an agent's models before its first call, and cache its greeting.

The first request to a fresh replica pays for lazy initialisation (ONNX sessions, the LLM's
prompt cache); a greeting synthesised once is replayed from the phrase cache on every call.
"""

from __future__ import annotations

import asyncio
import logging

from switchboard_gateway.backends.base import ReplyText
from switchboard_gateway.gateway import AgentEntry

log = logging.getLogger(__name__)

WARM_UP_RATE = 16_000
#: Half a second of silence: enough to run the ASR model end to end.
_SILENCE = bytes(WARM_UP_RATE)
WARM_UP_TIMEOUT_S = 120.0


async def _first_words(entry: AgentEntry) -> None:
    """Ask for a reply with the agent's real system prompt (warms llama.cpp's prefix cache)."""
    messages = [
        {"role": "system", "content": entry.config.system_prompt({})},
        {"role": "user", "content": "Hello."},
    ]
    events = entry.backend.reply(messages, entry.config.tool_definitions())
    try:
        async for event in events:
            if isinstance(event, ReplyText):
                break
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def _speak(entry: AgentEntry, text: str) -> None:
    async for _ in entry.backend.speak(text, WARM_UP_RATE):
        pass


async def warm_up_agent(entry: AgentEntry, timeout_s: float = WARM_UP_TIMEOUT_S) -> None:
    """ASR, LLM and TTS each answer once; the greeting is synthesised into the phrase cache.

    Raises `BackendError` (or `TimeoutError`) when a model does not answer: a platform that
    cannot warm up cannot take calls either.
    """
    async with asyncio.timeout(timeout_s):
        await entry.backend.transcribe(_SILENCE, WARM_UP_RATE, None, final=True)
        await _first_words(entry)
        greeting = entry.config.greeting({})
        await _speak(entry, greeting or "Hello.")
