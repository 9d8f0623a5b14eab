"""The LLM's prompt cache: longest shared prefix, one state per conversation, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from llama_cpp.llama import LlamaState

from switchboard_serve.llm.prompt_cache import PromptCache, shared_prefix, state_bytes

pytestmark = pytest.mark.unit


def state(tokens: list[int], kv_bytes: int = 1000) -> LlamaState:
    return LlamaState(
        input_ids=np.asarray(tokens, dtype=np.intc),
        scores=np.zeros((0, 8), dtype=np.single),
        n_tokens=len(tokens),
        llama_state=bytes(kv_bytes),
        llama_state_size=kv_bytes,
        seed=0,
    )


def test_the_shared_prefix_counts_leading_equal_tokens() -> None:
    a = np.asarray([1, 2, 3, 4], dtype=np.intc)
    assert shared_prefix(a, np.asarray([1, 2, 9], dtype=np.intc)) == 2
    assert shared_prefix(a, np.asarray([1, 2], dtype=np.intc)) == 2
    assert shared_prefix(a, np.asarray([7], dtype=np.intc)) == 0


def test_the_state_sharing_the_longest_prefix_is_found() -> None:
    cache = PromptCache(1 << 20)
    system, other = [1, 2, 3, 4], [1, 9, 9]
    cache[system] = state(system)
    cache[other] = state(other)
    found = cache[[1, 2, 3, 4, 5, 6]]
    assert found.n_tokens == 4
    assert [1, 2, 3] in cache
    assert [8] not in cache
    with pytest.raises(KeyError):
        cache[[8, 1]]


def test_a_conversations_newer_state_replaces_the_one_it_extends() -> None:
    cache = PromptCache(1 << 20)
    cache[[1, 2, 3]] = state([1, 2, 3])
    cache[[1, 2, 7]] = state([1, 2, 7])  # another call: kept
    cache[[1, 2, 3, 4, 5]] = state([1, 2, 3, 4, 5])
    assert len(cache) == 2
    assert cache[[1, 2, 3]].n_tokens == 5
    assert cache[[1, 2, 7, 1]].n_tokens == 3


def test_the_least_recently_used_state_goes_first_when_memory_runs_out() -> None:
    one = state_bytes(state([1, 2]))
    cache = PromptCache(3 * one)
    for first in (10, 20, 30):
        cache[[first, 1]] = state([first, 1])
    assert cache[[10, 1, 5]].n_tokens == 2  # used: now the most recent
    cache[[40, 1]] = state([40, 1])
    assert len(cache) == 3
    assert cache.cache_size <= 3 * one
    assert [20] not in cache
    assert all(kept in cache for kept in ([10], [30], [40]))
