"""History trimming, barge-in truncation and prompt templates."""

from __future__ import annotations

import pytest

from switchboard_gateway.conversation.history import (
    ConversationHistory,
    SpokenPiece,
    approximate_tokens,
    played_text,
)
from switchboard_gateway.prompt import TemplateError, placeholders, render

pytestmark = pytest.mark.unit

REPLY = [SpokenPiece("Sure, I can help.", 1.0), SpokenPiece("We open at nine on weekdays.", 2.0)]


def test_the_played_part_is_whole_pieces_then_a_share_of_the_next() -> None:
    assert played_text(REPLY, 0.0) == ""
    assert played_text(REPLY, 1.0) == "Sure, I can help."
    assert played_text(REPLY, 2.0) == "Sure, I can help. We open at…"
    assert played_text(REPLY, 5.0) == "Sure, I can help. We open at nine on weekdays."


def _turns(count: int) -> list[dict[str, str]]:
    messages = []
    for i in range(count):
        messages += [
            {"role": "user", "content": f"question {i} " + "x" * 400},
            {"role": "assistant", "content": f"answer {i} " + "y" * 400},
        ]
    return messages


def test_old_turns_are_dropped_to_fit_beside_a_full_reply() -> None:
    history = ConversationHistory("You are helpful.", context_tokens=1000, reply_tokens=200)
    for message in _turns(10):
        history.add(message)
    sent = history.for_model()
    assert sent[0] == {"role": "system", "content": "You are helpful."}
    assert sent[-1]["content"].startswith("answer 9")
    assert sent[1]["role"] == "user"
    assert sum(approximate_tokens(m) for m in sent) <= 1000 - 200
    assert len(sent) < 21


def test_a_tool_call_is_never_separated_from_its_result() -> None:
    history = ConversationHistory("s", context_tokens=600, reply_tokens=100)
    for message in _turns(3):
        history.add(message)
    history.add({"role": "user", "content": "weather?"})
    history.add(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "w", "arguments": "{}"}}],
        }
    )
    history.add({"role": "tool", "tool_call_id": "c1", "content": "sunny " * 200})
    sent = history.for_model()
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool"], "the newest turn is kept whole"


def test_barge_in_truncates_the_last_spoken_reply() -> None:
    history = ConversationHistory("s", 2048, 200)
    history.add({"role": "user", "content": "hours?"})
    history.add({"role": "assistant", "content": "Sure, I can help. We open at nine on weekdays."})
    history.truncate_last_assistant(played_text(REPLY, 2.0))
    assert history.messages[-1]["content"] == "Sure, I can help. We open at…"


def test_templates_fill_variables_and_name_the_missing_ones() -> None:
    template = "You work for {{ company }}. The caller is {{caller_name}}."
    assert placeholders(template) == {"company", "caller_name"}
    assert (
        render(template, {"company": "Acme", "caller_name": "Ada"})
        == "You work for Acme. The caller is Ada."
    )
    with pytest.raises(TemplateError, match="no value for caller_name"):
        render(template, {"company": "Acme"})
    assert render("No variables here.", {}) == "No variables here."
