"""Streaming HTTP calls to cloud providers, retried only before the first item is delivered.

A retry after the caller has seen output would make the agent say (or hear) things twice, so
transient failures (what `switchboard_wire.retry` calls retryable: a connection error, a
"not now" status) are retried with exponential backoff only while nothing has been yielded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from switchboard_wire.retry import DEFAULT_RETRY, RetryPolicy

T = TypeVar("T")


class RemoteError(RuntimeError):
    """The provider refused or failed the request (after any retries allowed)."""


@dataclass(frozen=True)
class Provider:
    """Where a provider's API is and how patiently to talk to it."""

    base_url: str
    client: httpx.Client = field(default_factory=httpx.Client)
    policy: RetryPolicy = DEFAULT_RETRY
    timeout_s: float = 10.0

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url.rstrip("/") + path

    @property
    def timeout(self) -> httpx.Timeout:
        """The timeout of each request."""
        return httpx.Timeout(self.timeout_s)


def stream_items(
    client: httpx.Client,
    request: dict[str, Any],
    items: Callable[[httpx.Response], Iterator[T]],
    policy: RetryPolicy,
    error: type[RemoteError] = RemoteError,
) -> Iterator[T]:
    """Send `request` (arguments of `client.stream`) and yield `items(response)`."""
    for attempt in range(policy.attempts):
        emitted = False
        try:
            with client.stream(**request) as response:
                if response.status_code >= 400:
                    detail = response.read().decode(errors="replace")[:300]
                    if policy.retries(attempt, response.status_code):
                        time.sleep(policy.delay(attempt))
                        continue
                    raise error(f"endpoint answered {response.status_code}: {detail}")
                for item in items(response):
                    emitted = True
                    yield item
                return
        except httpx.TransportError as failure:
            if emitted or not policy.retries(attempt, None):
                raise error(f"endpoint unreachable: {failure}") from failure
            time.sleep(policy.delay(attempt))
