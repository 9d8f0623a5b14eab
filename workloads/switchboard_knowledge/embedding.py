"""Embedding texts through the model plane's OpenAI-compatible `/v1/embeddings`, in batches.

The indexing Job, `switchboard up` and the gateways embed with the same deployment: the chunks
at build time, the questions at search time. Every index version records the model it was built
with, and a search refuses a version embedded by another model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx

from switchboard_wire.embeddings import EMBEDDINGS_MAX_INPUTS

#: Inputs per request at most: what the model plane accepts.
MAX_BATCH = EMBEDDINGS_MAX_INPUTS
REQUEST_TIMEOUT_S = 60.0
#: Answers that mean "not serving yet" while a model pool starts (its Service not yet in DNS,
#: Serve's proxy up before the application routes: 404 without our `model_not_found` error).
_STARTING_STATUSES = frozenset({404, 502, 503, 504})
log = logging.getLogger(__name__)


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
        ready_wait_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """An embedder of `model` at `base_url`.

        `ready_wait_s`: how long the first request may wait for a model plane that is still
        starting (unreachable, or answering 404/502/503/504), retrying with backoff. An
        indexing Job often starts before its tenant's model pool serves; a search never waits.
        """
        self._model, self._batch = model, max(1, min(batch_size, MAX_BATCH))
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )
        self._ready_wait_s, self._sleep = ready_wait_s, sleep
        self._served = ready_wait_s <= 0

    @property
    def model(self) -> str:
        """The embedding model's name."""
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed `texts`, `batch_size` per request."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch):
            batch = list(texts[start : start + self._batch])
            response = self._post(batch) if self._served else self._post_when_served(batch)
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

    def _post(self, batch: list[str]) -> httpx.Response:
        try:
            return self._client.post("/v1/embeddings", json={"model": self._model, "input": batch})
        except httpx.HTTPError as error:
            raise EmbeddingError(f"the model plane is unreachable: {error}") from error

    def _post_when_served(self, batch: list[str]) -> httpx.Response:
        deadline = time.monotonic() + self._ready_wait_s
        delay = 1.0
        while True:
            try:
                response = self._post(batch)
                if not _starting(response):
                    self._served = True
                    return response
                problem: str = f"it answered {response.status_code}"
            except EmbeddingError as error:
                problem = str(error)
            if time.monotonic() + delay > deadline:
                raise EmbeddingError(
                    f"the model plane did not serve within {self._ready_wait_s:.0f} s: {problem}"
                )
            log.info("waiting for the model plane (%s); next try in %.0f s", problem, delay)
            self._sleep(delay)
            delay = min(delay * 2, 30.0)


def _starting(response: httpx.Response) -> bool:
    """Whether the answer comes from a pool still starting (a model it lacks is final)."""
    if response.status_code not in _STARTING_STATUSES:
        return False
    try:
        return bool(response.json()["error"]["code"] != "model_not_found")
    except (ValueError, KeyError, TypeError):
        return True


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
