"""The retry policy: which outcomes are tried again, how often, after how long."""

from __future__ import annotations

import pytest

from switchboard_wire.retry import DEFAULT_RETRY, RETRYABLE_STATUS, RetryPolicy

pytestmark = pytest.mark.unit


def test_no_answer_and_not_now_statuses_are_retried_until_the_retries_are_spent() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.attempts == 3
    assert policy.retries(0, None), "a connection failure"
    assert policy.retries(1, 503)
    assert not policy.retries(2, 503), "the last attempt is not retried"
    assert not policy.retries(2, None)


@pytest.mark.parametrize("status", [200, 400, 401, 404, 413, 422, 501])
def test_answers_that_retrying_cannot_change_are_final(status: int) -> None:
    assert not DEFAULT_RETRY.retries(0, status)


def test_the_shared_retryable_statuses() -> None:
    assert {408, 409, 429, 500, 502, 503, 504} == RETRYABLE_STATUS
    assert all(DEFAULT_RETRY.retries(0, status) for status in RETRYABLE_STATUS)


def test_backoff_doubles_from_the_first_delay() -> None:
    policy = RetryPolicy(backoff_s=0.1)
    assert [policy.delay(n) for n in range(3)] == pytest.approx([0.1, 0.2, 0.4])


def test_a_narrower_set_retries_only_its_statuses() -> None:
    webhooks = RetryPolicy(max_retries=1, retryable_status=frozenset({429, 503}))
    assert webhooks.retries(0, 429)
    assert not webhooks.retries(0, 500)
    assert webhooks.retries(0, None)
