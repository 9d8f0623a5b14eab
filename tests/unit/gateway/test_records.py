"""Call records: pairing turns from history (the stores are tested in tests/storage)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_gateway.events import TurnLatencyEvent
from switchboard_gateway.records.model import turns_from_history

pytestmark = pytest.mark.unit


def test_turns_pair_caller_messages_with_what_the_agent_said() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "assistant", "content": "Hello, thanks for…"},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
        {"role": "tool", "tool_call_id": "c", "content": "{}"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thanks"},
    ]
    latencies = [TurnLatencyEvent(1, 500, 120, 80, 100, 950, False, retrieval_ms=30)]
    turns = turns_from_history(messages, latencies)
    assert [(t.number, t.caller_text, t.agent_text) for t in turns] == [
        (0, "", "Hello, thanks for…"),
        (1, "Weather in Paris?", "It is sunny."),
        (2, "Thanks", ""),
    ]
    assert turns[1].voice_to_voice_ms == 950
    assert turns[1].retrieval_ms == 30
    assert turns[2].voice_to_voice_ms == 0
