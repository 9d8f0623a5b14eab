"""The indexing Job's embedder waits for a model pool that is still starting, and only then."""

from __future__ import annotations

import httpx
import pytest

from switchboard_knowledge.embedding import EmbeddingError, ModelPlaneEmbedder

pytestmark = pytest.mark.unit


def _answers(*steps: int | None) -> tuple[httpx.MockTransport, list[int]]:
    """A model plane answering each request with the next step (None: DNS failure)."""
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        step = steps[min(len(seen), len(steps) - 1)]
        seen.append(1)
        if step is None:
            raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
        if step == 200:
            return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
        if step == 4040:  # the pool serves, but not this model
            body = {"error": {"message": "no such model", "code": "model_not_found"}}
            return httpx.Response(404, json=body)
        return httpx.Response(step, json={"error": {"message": "not yet"}})

    return httpx.MockTransport(handle), seen


def test_the_first_request_waits_through_dns_failures_and_503s_until_served() -> None:
    transport, seen = _answers(None, None, 503, 404, 200)
    slept: list[float] = []
    embedder = ModelPlaneEmbedder(
        "http://pool:8000", "m", transport=transport, ready_wait_s=600, sleep=slept.append
    )
    assert embedder.embed(["a"]) == [[1.0, 0.0]]
    assert len(seen) == 5
    assert slept == [1.0, 2.0, 4.0, 8.0]


def test_it_gives_up_after_the_wait_naming_the_last_problem() -> None:
    transport, _ = _answers(None)
    clock = [0.0]
    embedder = ModelPlaneEmbedder(
        "http://pool:8000",
        "m",
        transport=transport,
        ready_wait_s=5,
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
    )
    with pytest.raises(EmbeddingError, match=r"did not serve within 5 s: .*name resolution"):
        embedder.embed(["a"])


def test_once_served_and_without_a_wait_errors_are_immediate() -> None:
    transport, seen = _answers(200, 503)
    embedder = ModelPlaneEmbedder("http://pool:8000", "m", transport=transport, ready_wait_s=60)
    embedder.embed(["a"])
    with pytest.raises(EmbeddingError, match="answered 503"):
        embedder.embed(["b"])
    assert len(seen) == 2
    search, _ = _answers(None)
    with pytest.raises(EmbeddingError, match="unreachable"):
        ModelPlaneEmbedder("http://pool:8000", "m", transport=search).embed(["q"])


def test_a_model_the_serving_pool_lacks_fails_at_once_without_waiting() -> None:
    transport, seen = _answers(4040)
    slept: list[float] = []
    embedder = ModelPlaneEmbedder(
        "http://pool:8000", "m", transport=transport, ready_wait_s=600, sleep=slept.append
    )
    with pytest.raises(EmbeddingError, match="answered 404: no such model"):
        embedder.embed(["a"])
    assert len(seen) == 1
    assert slept == []
