"""sentence-transformers on CPU or CUDA; the packaged model is all-MiniLM-L6-v2 (384 dimensions)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sentence_transformers import SentenceTransformer

from switchboard_api.knowledgebase import EmbeddingSpec


class SentenceTransformersEngine:
    """A sentence-transformers model loaded once and shared by every caller."""

    def __init__(self, spec: EmbeddingSpec, model_dir: Path, device: str = "cpu") -> None:
        self._batch_size = spec.batch_size
        # A local directory and local_files_only: loading never reaches for the network.
        self._model = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        dimensions = self._model.get_sentence_embedding_dimension()
        if dimensions is None:
            raise ValueError(f"{model_dir} does not declare its embedding dimension")
        self._dimensions = int(dimensions)

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        """The model's maximum sequence length (256 word pieces for MiniLM)."""
        length = self._model.max_seq_length
        if length is None:
            raise ValueError("the model does not declare a maximum sequence length")
        return int(length)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Mean-pooled, L2-normalised embeddings, batched by the spec's batch size."""
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Word pieces per text, capped at the model's maximum, summed."""
        tokenizer = self._model.tokenizer
        ids = tokenizer(list(texts), truncation=True, max_length=self.max_tokens)["input_ids"]
        return sum(len(row) for row in ids)
