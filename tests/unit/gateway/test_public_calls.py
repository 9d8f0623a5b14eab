"""Public agents: calls without credentials, limited per caller address, told apart from bad keys."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.callers import authenticate
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.public_calls import (
    AddressRateLimiter,
    PublicAccess,
    caller_address,
    rate_key,
)
from switchboard_gateway.testing.calls import agent_config
from switchboard_gateway.transports.grpc.codec import outbound_from_proto, outbound_to_proto
from switchboard_gateway.transports.grpc.server import start_with_peer as grpc_with_peer
from switchboard_gateway.transports.websocket.codec import outbound_to_json
from switchboard_gateway.transports.websocket.server import start_with_peer as ws_with_peer

pytestmark = pytest.mark.unit

KEY = "sk-" + "p" * 40
PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def public_gateway(tmp_path: Path, per_minute: int = 3) -> Gateway:
    (tmp_path / "keys").write_text(KEY)
    ring = KeyRing(files=(tmp_path / "keys",), required=True)
    config = agent_config()
    entry = AgentEntry(config, None, ring, public=PublicAccess.build(per_minute, ["10.0.0.0/8"]))  # type: ignore[arg-type]
    return Gateway({config.key: entry})


def start(peer: str, api_key: str = "", forwarded: str = "") -> StartCall:
    return StartCall("tester", api_key=api_key, peer=peer, forwarded_for=forwarded)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "", "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not a proxy: header ignored
        ("10.1.1.1", "198.51.100.1", "198.51.100.1"),
        ("10.1.1.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the client's word is left
        ("10.1.1.1", "198.51.100.1, 10.2.2.2", "198.51.100.1"),  # proxies chain
        ("10.1.1.1", "10.2.2.2", "10.1.1.1"),  # only proxies: the peer
        ("10.1.1.1", "not-an-ip", "10.1.1.1"),
        ("10.1.1.1", "x" * 3000, "10.1.1.1"),
        ("::ffff:203.0.113.9", "", "203.0.113.9"),
        ("[2001:db8::1]", "", "2001:db8::1"),
        ("", "198.51.100.1", None),
    ],
)
def test_the_caller_address_believes_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: str, expected: str | None
) -> None:
    address = caller_address(peer, forwarded, PROXIES)
    assert (str(address) if address is not None else None) == expected


def test_ipv6_callers_are_counted_by_their_64() -> None:
    one, same, other = (
        ipaddress.ip_address(a) for a in ("2001:db8::1", "2001:db8::ff", "2001:db8:0:1::1")
    )
    assert rate_key(one) == rate_key(same) == "2001:db8::/64"
    assert rate_key(other) != rate_key(one)
    assert rate_key(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1"


def test_the_limiter_slides_its_window_and_forgets_the_least_recent_addresses() -> None:
    limiter = AddressRateLimiter(per_minute=2, max_tracked=3)
    assert limiter.allow("a", 0.0)
    assert limiter.allow("a", 10.0)
    assert not limiter.allow("a", 59.0)
    assert limiter.allow("a", 60.5)  # the first start left the window
    for name in ("b", "c", "d"):
        assert limiter.allow(name, 61.0)
    assert len(limiter._starts) == 3
    assert "a" not in limiter._starts


def test_a_public_agent_admits_anonymous_calls_up_to_the_limit_per_address(tmp_path: Path) -> None:
    gate = public_gateway(tmp_path, per_minute=3)
    for _ in range(3):
        assert isinstance(gate.admit(start("203.0.113.9"), "websocket"), Admission)
    refused = gate.admit(start("203.0.113.9"), "websocket")
    assert isinstance(refused, CallEndedEvent)
    assert refused.reason is EndReason.RATE_LIMITED
    assert gate.metrics.value("switchboard_calls_rejected_total", reason="rate_limited") == 1
    # Another address, a caller behind the trusted proxy, and keyed calls are not held back.
    assert isinstance(gate.admit(start("203.0.113.10"), "grpc"), Admission)
    assert isinstance(gate.admit(start("10.0.0.5", forwarded="198.51.100.7"), "grpc"), Admission)
    assert isinstance(gate.admit(start("203.0.113.9", api_key=KEY), "grpc"), Admission)


def test_a_wrong_credential_is_refused_even_where_the_public_may_call(tmp_path: Path) -> None:
    gate = public_gateway(tmp_path)
    for credential in ("sk-wrong", "eyJhbGciOiJub25lIn0.e30.", KEY + " "):
        refused = gate.admit(start("203.0.113.9", api_key=credential), "grpc")
        assert isinstance(refused, CallEndedEvent)
        assert refused.reason is EndReason.UNAUTHENTICATED


def test_a_private_agent_refuses_anonymous_calls_and_an_open_one_admits_anyone(
    tmp_path: Path,
) -> None:
    (tmp_path / "keys").write_text(KEY)
    private = KeyRing(files=(tmp_path / "keys",), required=True)
    refused = authenticate(private, None, "test/tester", start("203.0.113.9"), now=0, monotonic=0)
    assert isinstance(refused, CallEndedEvent)
    assert refused.reason is EndReason.UNAUTHENTICATED
    caller = authenticate(KeyRing(), None, "test/tester", start(""), now=0, monotonic=0)
    assert not isinstance(caller, CallEndedEvent)
    assert caller.kind == "open"


def test_both_transports_carry_the_rate_limited_reason() -> None:
    ended = CallEndedEvent(EndReason.RATE_LIMITED, "too many")
    assert outbound_from_proto(outbound_to_proto(ended)) == ended
    assert json.loads(outbound_to_json(ended))["reason"] == "rate_limited"


class _GrpcContext:
    def __init__(self, peer: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self._peer, self._metadata = peer, metadata

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:203.0.113.9:51234", "203.0.113.9"),
        ("ipv6:[2001:db8::1]:51234", "[2001:db8::1]"),
        ("unix:/run/gw.sock", ""),
        ("", ""),
    ],
)
def test_grpc_starts_carry_the_peer_and_its_forwarded_for(peer: str, address: str) -> None:
    context = _GrpcContext(
        peer, (("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "10.0.0.1"))
    )
    stamped = grpc_with_peer(start(""), context)  # type: ignore[arg-type]
    assert (stamped.peer, stamped.forwarded_for) == (address, "198.51.100.1,10.0.0.1")
    if address:
        assert caller_address(stamped.peer, "", ()) is not None


def test_websocket_starts_carry_the_peer_and_every_forwarded_for_header() -> None:
    request = Request(
        "/v1/calls", Headers([("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "5.6.7.8")])
    )
    connection = SimpleNamespace(remote_address=("203.0.113.9", 4444), request=request)
    stamped = ws_with_peer(start(""), connection)  # type: ignore[arg-type]
    assert (stamped.peer, stamped.forwarded_for) == ("203.0.113.9", "1.2.3.4,5.6.7.8")
