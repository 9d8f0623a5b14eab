"""Stream nonces are single-use for as long as a call may last, in bounded memory."""

from __future__ import annotations

import pytest

from switchboard_gateway.transports.twilio.replay import UsedNonces

pytestmark = pytest.mark.unit


def test_a_nonce_is_accepted_once_until_it_expires() -> None:
    nonces = UsedNonces(ttl_s=10)
    assert nonces.first_use("a", now=0)
    assert not nonces.first_use("a", now=9.9)
    assert nonces.first_use("b", now=5)
    assert nonces.first_use("a", now=10.1), "forgotten once a call could no longer be running"


def test_at_most_the_limit_is_remembered_the_oldest_forgotten_first() -> None:
    nonces = UsedNonces(ttl_s=100, limit=3)
    for i, nonce in enumerate("abcd"):
        assert nonces.first_use(nonce, now=i)
    assert nonces.first_use("a", now=5), "the oldest made room"
    assert not nonces.first_use("d", now=5)
