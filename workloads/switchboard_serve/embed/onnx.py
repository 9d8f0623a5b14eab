"""all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: the packaged embeddings, no torch.

The recipe (tokenisation, pooling, normalisation) is `switchboard_wire.sentence_embedding`,
shared with the indexer so that chunks and questions land in the same vector space.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime
from tokenizers import Tokenizer

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_wire import sentence_embedding as recipe

#: Length of a MiniLM vector.
DIMENSIONS = 384


class OnnxEmbeddingEngine:
    """One ONNX session and tokenizer, loaded once and shared by every caller."""

    def __init__(
        self, spec: EmbeddingSpec, model_file: Path, tokenizer_file: Path, threads: int = 0
    ) -> None:
        self._batch_size = spec.batch_size
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default (all cores)
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(recipe.verify_model(model_file)), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        recipe.configure(self._tokenizer)

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return DIMENSIONS

    @property
    def max_tokens(self) -> int:
        """Word pieces per text the model sees at most (256, [CLS] and [SEP] included)."""
        return recipe.MAX_TOKENS

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Mean-pooled, L2-normalised embeddings, batched by the spec's batch size."""
        return recipe.embed(texts, self._tokenizer, self._session, self._batch_size, DIMENSIONS)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Word pieces per text, capped at the model's maximum, summed (padding excluded)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return sum(sum(e.attention_mask) for e in encodings)
