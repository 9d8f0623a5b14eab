"""The packaged MiniLM on onnxruntime, in-process: the model plane's and the indexer's engine."""

from __future__ import annotations

import numpy as np
import pytest

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_indexer.embedding import InProcessEmbedder
from switchboard_serve.embed.onnx import OnnxEmbeddingEngine
from switchboard_serve.engines import make_embedder
from switchboard_serve.packaged import embedding_model_files

pytestmark = pytest.mark.models

TEXTS = [
    "What time do you open on Saturday?",
    "When are you open at the weekend?",
    "Free parking is available in the car park behind the building for up to two hours.",
    "ok",
]


@pytest.fixture(scope="module")
def engine() -> OnnxEmbeddingEngine:
    return OnnxEmbeddingEngine(EmbeddingSpec(batch_size=3), *embedding_model_files(), threads=2)


def test_vectors_are_384_wide_unit_length_and_rank_a_paraphrase_first(
    engine: OnnxEmbeddingEngine,
) -> None:
    vectors = engine.embed(TEXTS)
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > max(similarity[0, 2], similarity[0, 3]) + 0.1


def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(engine: OnnxEmbeddingEngine) -> None:
    batched = engine.embed(TEXTS)  # "ok" shares no batch; the others are padded to the longest
    alone = np.stack([engine.embed([text])[0] for text in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-4)


def test_tokens_are_counted_with_special_tokens_and_capped_at_the_window(
    engine: OnnxEmbeddingEngine,
) -> None:
    assert engine.max_tokens == 256
    assert engine.count_tokens(["ok"]) == 3  # [CLS] ok [SEP]
    assert engine.count_tokens(["ok", "word " * 1000]) == 3 + 256
    long = engine.embed(["word " * 1000, "word " * 2000])
    np.testing.assert_allclose(long[0], long[1], atol=1e-5)  # the rest is not embedded


def test_the_model_plane_and_the_indexer_make_the_same_vectors(
    engine: OnnxEmbeddingEngine,
) -> None:
    indexer = np.asarray(InProcessEmbedder(batch_size=2).embed(TEXTS), dtype=np.float32)
    plane = make_embedder(EmbeddingSpec()).embed(TEXTS)
    np.testing.assert_allclose(indexer, engine.embed(TEXTS), atol=1e-5)
    np.testing.assert_allclose(plane, indexer, atol=1e-5)
