"""Long calls: old turns are dropped in blocks, so the prompt's beginning stays put between trims."""

from __future__ import annotations

import itertools
import json

import pytest

from switchboard_gateway.conversation.history import (
    TRIM_TO,
    ConversationHistory,
    approximate_tokens,
)

pytestmark = pytest.mark.unit

SYSTEM = "You are the receptionist of Acme Dental. Answer in one or two short sentences."
#: ~200 tokens, the longest reply the measured long call produced per turn.
REPLY = "We are open from nine to five on weekdays and ten to two on Saturdays. " * 11


def _long_call(turns: int) -> tuple[ConversationHistory, list[list[dict[str, object]]]]:
    history = ConversationHistory(SYSTEM, context_tokens=2048, reply_tokens=200)
    history.add_agent_line("Hello, thanks for calling Acme Dental. How can I help?")
    sent = []
    for number in range(turns):
        history.add({"role": "user", "content": f"Question number {number}: when are you open?"})
        sent.append(history.for_model())
        history.add_reply(f"Answer {number}. {REPLY}", [])
    return history, sent


def _bytes(messages: list[dict[str, object]]) -> str:
    return json.dumps(messages, sort_keys=True)


def test_each_prompt_begins_with_the_whole_previous_prompt_until_a_block_is_trimmed() -> None:
    _, sent = _long_call(40)
    trims = [n for n in range(1, 40) if sent[n][1] != sent[n - 1][1]]
    assert trims, "a 40-turn call of 200-token replies outgrows 2,048 tokens"
    for number in range(1, 40):
        if number in trims:
            continue
        before = sent[number - 1]
        assert _bytes(sent[number][: len(before)]) == _bytes(before), f"turn {number}"
    # Blocks, not one turn at a time: most turns reuse the previous prompt whole.
    assert len(trims) <= 40 // 3
    assert min(b - a for a, b in itertools.pairwise(trims)) >= 3


def test_the_system_prompt_stays_first_and_every_prompt_fits_beside_a_full_reply() -> None:
    _, sent = _long_call(40)
    for messages in sent:
        assert messages[0] == {"role": "system", "content": SYSTEM}
        assert messages[1]["role"] == "user"
        assert sum(approximate_tokens(m) for m in messages) <= 2048 - 200
    assert sent[-1][-1]["content"] == "Question number 39: when are you open?"


def test_a_block_trim_brings_the_turns_down_to_the_trim_share_of_the_budget() -> None:
    _, sent = _long_call(40)
    budget = 2048 - 200 - approximate_tokens(sent[0][0])
    for before, after in itertools.pairwise(sent):
        if after[1] != before[1]:
            assert sum(approximate_tokens(m) for m in after[1:]) <= budget * TRIM_TO


def test_the_newest_turn_is_kept_even_when_it_alone_is_over_the_budget() -> None:
    history = ConversationHistory("s", context_tokens=300, reply_tokens=100)
    history.add({"role": "user", "content": "hi"})
    history.add({"role": "assistant", "content": "hello"})
    history.add({"role": "user", "content": "z" * 2000})
    assert [m["role"] for m in history.for_model()] == ["system", "user"]
    assert history.for_model()[1]["content"] == "z" * 2000


def test_a_message_removed_after_a_trim_leaves_the_newest_turn_sent() -> None:
    history, _ = _long_call(30)
    kept = history.first_kept
    del history.messages[kept:]
    history.add({"role": "user", "content": "still there?"})
    assert history.for_model()[-1]["content"] == "still there?"
