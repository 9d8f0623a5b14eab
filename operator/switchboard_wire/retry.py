"""When a request to the model plane or a provider is tried again, how often and how patiently.

Every caller retries only before the first byte of output reaches the call: a retry after that
would make the agent say (or hear) things twice. Within that window an attempt is retried when
it got no answer at all (connection refused or reset) or an answer whose status says "not now"
(`RETRYABLE_STATUS`), until `max_retries` retries are spent, after `backoff_s`, then twice that,
and so on. Callers that need a narrower set (tool webhooks, which may have side effects) pass
their own `retryable_status` and say why.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Timeout, conflict (a provider's lock), rate limit, and the server errors that mean "try
#: again" (as OpenAI's client retries them); other 4xx are the request's fault and 501/505 are
#: permanent.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry, with what backoff, and which HTTP statuses are worth it."""

    max_retries: int = 2
    #: Seconds before the first retry; each later retry waits twice as long as the one before.
    backoff_s: float = 0.1
    retryable_status: frozenset[int] = RETRYABLE_STATUS

    @property
    def attempts(self) -> int:
        """Attempts in all, the first included."""
        return self.max_retries + 1

    def delay(self, attempt: int) -> float:
        """Seconds to wait after attempt number `attempt` (from 0) before the next."""
        return self.backoff_s * float(2**attempt)

    def retries(self, attempt: int, status: int | None) -> bool:
        """Whether attempt number `attempt` (from 0) is tried again.

        `status` is the HTTP status it got, or None when it got no answer (connection failed).
        """
        if attempt >= self.max_retries:
            return False
        return status is None or status in self.retryable_status


#: The policy of model-plane and provider requests: a caller is waiting, so two quick retries
#: (after 0.1 s and 0.2 s) and then the failure.
DEFAULT_RETRY = RetryPolicy()
