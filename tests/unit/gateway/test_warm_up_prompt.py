"""The warm-up asks the LLM what a call's first turn will ask, so its prompt cache holds it."""

from __future__ import annotations

import pytest

from switchboard_gateway.backends.warm_up import first_turn
from switchboard_gateway.conversation.history import ConversationHistory

pytestmark = pytest.mark.unit

SYSTEM = "You are the receptionist of Acme Dental. Answer in one short sentence."


def test_the_warm_up_sends_the_first_turn_as_the_calls_history_will() -> None:
    history = ConversationHistory(SYSTEM, context_tokens=2048, reply_tokens=200)
    history.add_agent_line("This call is recorded.")
    history.add_agent_line("Hello, Acme Dental, how can I help?")
    history.add({"role": "user", "content": "What time do you open on Saturday?"})
    sent = history.for_model()
    warm = first_turn(SYSTEM, said="What time do you open on Saturday?")
    assert warm == sent
    # Only the caller's words differ from the warm-up's: the rest is in the prompt cache.
    assert first_turn(SYSTEM)[:-1] == sent[:-1]
