"""The embedding recipe's pure parts: inputs, masked mean pooling, normalisation, batching."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from switchboard_wire import sentence_embedding as recipe

pytestmark = pytest.mark.unit


@dataclass
class FakeEncoding:
    ids: list[int]
    attention_mask: list[int]
    type_ids: list[int]


@dataclass
class FakeTokenizer:
    """Word = token; pads each batch to its longest text, truncates at `limit`."""

    limit: int = 0
    padded: bool = False
    batches: list[list[str]] = field(default_factory=list)

    def enable_truncation(self, max_length: int) -> None:
        self.limit = max_length

    def enable_padding(self) -> None:
        self.padded = True

    def encode_batch(self, texts: list[str], /) -> list[FakeEncoding]:
        self.batches.append(texts)
        rows = [[len(word) for word in text.split()][: self.limit] for text in texts]
        width = max(len(row) for row in rows)
        return [
            FakeEncoding(
                row + [0] * (width - len(row)),
                [1] * len(row) + [0] * (width - len(row)),
                [0] * width,
            )
            for row in rows
        ]


@dataclass
class Input:
    name: str


class FakeSession:
    """A 'transformer' whose hidden state for a token is (id, 1, 0, ..., 0)."""

    def __init__(self, names: Sequence[str] = ("input_ids", "attention_mask"), dim: int = 4):
        self.names, self.dim = list(names), dim
        self.feeds: list[Mapping[str, Any]] = []

    def get_inputs(self) -> list[Input]:
        return [Input(n) for n in self.names]

    def run(self, output_names: list[str] | None, input_feed: Mapping[str, Any]) -> list[Any]:
        self.feeds.append(input_feed)
        ids = input_feed["input_ids"]
        hidden = np.zeros((*ids.shape, self.dim), np.float32)
        hidden[..., 0], hidden[..., 1] = ids, 1.0
        return [hidden]


def test_mean_pooling_averages_only_the_unmasked_tokens() -> None:
    hidden = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], np.float32)
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(recipe.mean_pool(hidden, mask), [[2.0, 3.0]])


def test_mean_pooling_keeps_batch_rows_apart_and_returns_float32() -> None:
    hidden = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    mask = np.array([[1, 0, 0], [1, 1, 1]])
    pooled = recipe.mean_pool(hidden, mask)
    assert pooled.shape == (2, 5)
    assert pooled.dtype == np.float32
    np.testing.assert_allclose(pooled[0], hidden[0, 0])
    np.testing.assert_allclose(pooled[1], hidden[1].mean(axis=0))


def test_mean_pooling_refuses_a_mask_of_another_shape() -> None:
    with pytest.raises(ValueError, match="do not match"):
        recipe.mean_pool(np.zeros((2, 3, 4), np.float32), np.ones((2, 4), np.int64))
    with pytest.raises(ValueError, match="do not match"):
        recipe.mean_pool(np.zeros((2, 3), np.float32), np.ones((2, 3), np.int64))


def test_normalised_rows_have_unit_length_and_zero_rows_stay_zero() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]], np.float32)
    unit = recipe.l2_normalise(vectors)
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]])
    assert unit.dtype == np.float32


def test_feeds_are_int64_and_only_the_inputs_the_model_declares() -> None:
    encodings = [FakeEncoding([5, 6], [1, 1], [0, 0]), FakeEncoding([7, 0], [1, 0], [0, 0])]
    two = recipe.feeds(encodings, ["input_ids", "attention_mask"])
    assert set(two) == {"input_ids", "attention_mask"}
    assert all(array.dtype == np.int64 and array.shape == (2, 2) for array in two.values())
    three = recipe.feeds(encodings, ["input_ids", "attention_mask", "token_type_ids"])
    np.testing.assert_array_equal(three["token_type_ids"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="pixel_values"):
        recipe.feeds(encodings, ["input_ids", "pixel_values"])


def test_configure_truncates_at_256_and_pads_per_batch() -> None:
    tokenizer = FakeTokenizer()
    assert recipe.configure(tokenizer) is tokenizer
    assert (tokenizer.limit, tokenizer.padded) == (256, True)


def test_embed_batches_pools_over_real_tokens_and_keeps_the_order() -> None:
    tokenizer = recipe.configure(FakeTokenizer())
    session = FakeSession()
    texts = ["a bb", "ccc", "dddd e ff", "g"]
    vectors = recipe.embed(texts, tokenizer, session, batch_size=3, dimensions=4)
    assert vectors.shape == (4, 4)
    assert vectors.dtype == np.float32
    assert [len(batch) for batch in tokenizer.batches] == [3, 1]  # type: ignore[attr-defined]
    # Padding would drag the mean towards (0, 1): text 2 ("ccc") is padded to 3 tokens in its
    # batch, yet its vector is that of its one token, (3, 1) normalised.
    np.testing.assert_allclose(vectors[1], np.array([3, 1, 0, 0]) / np.sqrt(10), rtol=1e-6)
    np.testing.assert_allclose(vectors[0], np.array([1.5, 1, 0, 0]) / np.sqrt(3.25), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert set(session.feeds[0]) == {"input_ids", "attention_mask"}


def test_embedding_nothing_is_an_empty_matrix_of_the_right_width() -> None:
    vectors = recipe.embed([], FakeTokenizer(), FakeSession(), batch_size=8, dimensions=4)
    assert vectors.shape == (0, 4)


def test_a_model_of_another_width_is_refused() -> None:
    with pytest.raises(ValueError, match="4-dimensional"):
        recipe.embed(["a"], recipe.configure(FakeTokenizer()), FakeSession(), 8, dimensions=384)


def test_only_the_pinned_model_file_is_accepted(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not the model")
    assert recipe.verify_model(model, hashlib.sha256(b"not the model").hexdigest()) == model
    with pytest.raises(ValueError, match="is not the pinned"):
        recipe.verify_model(model)
