"""llama.cpp's evaluated prompts, kept per conversation so the next turn only reads what is new.

One `Llama` object serves every call on a replica, and its live KV cache holds one prompt at a
time: when calls (or the health probe) take turns, each turn of a call would read its whole
context again. `PromptCache` keeps the evaluated state of recent prompts, finds the one sharing
the longest prefix with a new prompt, and drops a state as soon as a longer one of the same
conversation supersedes it, so its memory holds one state per conversation, not one per turn.

`LeanLlama` saves and restores states without the logits matrix llama-cpp-python copies with
each one (up to `n_batch * n_vocab` floats, ~100 MB for SmolLM2): with `logits_all` off nothing
reads those logits (sampling happens inside llama.cpp), and copying them cost more than the KV
cache itself.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp.llama import Llama, LlamaState
from llama_cpp.llama_cache import BaseLlamaCache

Key = tuple[int, ...]


def shared_prefix(a: npt.NDArray[np.intc], b: npt.NDArray[np.intc]) -> int:
    """How many leading tokens `a` and `b` have in common."""
    n = min(a.size, b.size)
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if differ.size else n


def state_bytes(state: LlamaState) -> int:
    """The memory one saved state holds."""
    return int(state.llama_state_size) + int(state.input_ids.nbytes) + int(state.scores.nbytes)


class PromptCache(BaseLlamaCache):
    """Saved states by token sequence: longest shared prefix wins, least recently used goes first.

    Storing a state drops the stored ones whose tokens are a prefix of its own: any prompt they
    could serve, the new state serves at least as far.
    """

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)
        self._states: OrderedDict[Key, LlamaState] = OrderedDict()
        self._arrays: dict[Key, npt.NDArray[np.intc]] = {}

    @property
    def cache_size(self) -> int:
        """Bytes held by the saved states."""
        return sum(state_bytes(s) for s in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def longest(self, tokens: Sequence[int]) -> tuple[Key | None, int]:
        """The stored key sharing the most leading tokens with `tokens`, and how many."""
        wanted = np.asarray(tokens, dtype=np.intc)
        best: Key | None = None
        best_length = 0
        for key in reversed(self._states):  # the most recent wins a tie
            length = shared_prefix(self._arrays[key], wanted)
            if length > best_length:
                best, best_length = key, length
        return best, best_length

    def _find_longest_prefix_key(self, key: Key) -> Key | None:
        return self.longest(key)[0]

    def __getitem__(self, key: Sequence[int]) -> LlamaState:
        found, _ = self.longest(key)
        if found is None:
            raise KeyError("no saved prompt shares a prefix")
        self._states.move_to_end(found)
        return self._states[found]

    def __contains__(self, key: Sequence[int]) -> bool:
        return self.longest(key)[0] is not None

    def __setitem__(self, key: Sequence[int], value: LlamaState) -> None:
        new = tuple(int(t) for t in key)
        array = np.asarray(new, dtype=np.intc)
        for old in list(self._states):
            if len(old) <= len(new) and shared_prefix(self._arrays[old], array) == len(old):
                self._drop(old)
        self._states[new] = value
        self._arrays[new] = array
        while self.cache_size > self.capacity_bytes and len(self._states) > 1:
            self._drop(next(iter(self._states)))

    def _drop(self, key: Key) -> None:
        del self._states[key]
        del self._arrays[key]


class LeanLlama(Llama):
    """A `Llama` whose saved states hold the KV cache and tokens, not a copy of the logits."""

    def save_state(self) -> LlamaState:
        """The context's state (KV cache, tokens) as of now."""
        size = llama_cpp.llama_state_get_size(self.ctx)
        buffer = (ctypes.c_uint8 * int(size))()
        written = int(llama_cpp.llama_state_get_data(self.ctx, buffer, size))
        if written > int(size):
            raise RuntimeError("llama.cpp wrote more state than it said it would")
        return LlamaState(
            input_ids=self.input_ids.copy(),
            scores=np.zeros((0, self.n_vocab()), dtype=np.single),
            n_tokens=self.n_tokens,
            llama_state=ctypes.string_at(buffer, written),
            llama_state_size=written,
            seed=self._seed,
        )

    def load_state(self, state: LlamaState) -> None:
        """Restore a saved state; the next `eval` refreshes the logits before sampling."""
        self.input_ids = state.input_ids.copy()
        self.n_tokens = state.n_tokens
        self._requires_eval = True
        self._seed = state.seed
        data = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
        if llama_cpp.llama_state_set_data(self.ctx, data, state.llama_state_size) != (
            state.llama_state_size
        ):
            raise RuntimeError("llama.cpp did not take the saved state")

    def remember(self) -> None:
        """Save the state evaluated so far (a completion closed early is not saved upstream)."""
        cache = self.cache
        if cache is None or self.n_tokens == 0:
            return
        cache[self.input_ids[: self.n_tokens].tolist()] = self.save_state()
