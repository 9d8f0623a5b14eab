"""Warm an agent's models before its first call, and cache its greeting.

The first request to a fresh replica pays for lazy initialisation (ONNX sessions, the LLM's
prompt cache); a greeting synthesised once is replayed from the phrase cache on every call. The
other lines every call may say the same way are cached too: the outbound greeting, the recording
notice, the handoff line and the agent's declared phrases (`prompt.cachedPhrases`), also at the
phone rate when the agent answers phones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from switchboard_gateway.agent import AgentConfig, Prompts
from switchboard_gateway.backends.base import ModelBackend
from switchboard_gateway.prompt import TemplateError, placeholders, render
from switchboard_wire.chat import ReplyText

log = logging.getLogger(__name__)

WARM_UP_RATE = 16_000
#: Half a second of silence: enough to run the ASR model end to end.
_SILENCE = bytes(WARM_UP_RATE)
WARM_UP_TIMEOUT_S = 120.0
#: Phone calls speak at 8 kHz (Twilio's μ-law, jambonz's L16 at 8 kHz).
PHONE_RATE = 8_000
PHONE_CHANNELS = frozenset({"twilio", "jambonz"})


def first_turn(system: str, said: str = "Hello.") -> list[dict[str, Any]]:
    """The messages a call's first caller turn sends the model, with `said` as the caller's words.

    The agent's lines before it (notice, greeting) are not among them: the history sends whole
    turns from a caller message on. Warming the LLM with these leaves all but the caller's words
    evaluated in its prompt cache (the model plane keeps the state even though the warm-up
    stops reading at the first words).
    """
    return [{"role": "system", "content": system}, {"role": "user", "content": said}]


async def _first_words(config: AgentConfig, backend: ModelBackend, system: str) -> None:
    """Ask for a reply to a first turn as a call will (warms llama.cpp's prompt cache)."""
    events = backend.reply(first_turn(system), config.tool_definitions())
    try:
        async for event in events:
            if isinstance(event, ReplyText):
                break
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


async def _speak(backend: ModelBackend, text: str, rate: int = WARM_UP_RATE) -> None:
    async for _ in backend.speak(text, rate, phrase=True):
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


def _same_every_call(config: AgentConfig, template: str | None) -> str | None:
    """A template's text when only the agent's own variables fill it (None: it varies)."""
    if template is None or not placeholders(template) <= set(config.variables):
        return None
    return render(template, config.variables)


def fixed_lines(config: AgentConfig) -> list[str]:
    """The lines the agent says the same way on every call that says them, once each."""
    lines = [
        _same_every_call(config, config.greeting_template),
        _same_every_call(config, config.outbound_greeting_template),
        config.recording_notice,
        config.handoff.message if config.handoff is not None else None,
        *sorted(config.cached_phrases),
    ]
    return list(dict.fromkeys(line for line in lines if line))


async def warm_up_agent(
    config: AgentConfig, backend: ModelBackend, timeout_s: float = WARM_UP_TIMEOUT_S
) -> None:
    """ASR, LLM and TTS each answer once; the greeting is synthesised into the phrase cache.

    Raises `BackendError` (or `TimeoutError`) when a model does not answer: a platform that
    cannot warm up cannot take calls either.
    """
    prompts = _default_prompts(config)
    rates = [WARM_UP_RATE] + ([PHONE_RATE] if config.channels & PHONE_CHANNELS else [])
    async with asyncio.timeout(timeout_s):
        await backend.transcribe(_SILENCE, WARM_UP_RATE, None, final=True)
        await _first_words(config, backend, prompts.system)
        for rate in rates:
            for line in fixed_lines(config) or ["Hello."]:
                await _speak(backend, line, rate)
