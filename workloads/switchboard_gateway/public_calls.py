"""Calls without credentials to a public agent: who the caller is, and how often it may call.

A public agent (`spec.access.public.enabled`) admits callers that carry no key or token, at most
`callsPerMinutePerAddress` call starts per caller address in any 60 s. An IPv6 caller is counted
by its /64 (one host is routinely given a whole /64), an IPv4-mapped address as its IPv4. The
caller's address is the connection's peer, or, when the peer is a trusted proxy, the last
address of `X-Forwarded-For` that is not itself a trusted proxy (proxies append to the header,
so addresses left of that are the client's word, not the proxy's).
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WINDOW_S = 60.0
#: Addresses remembered at once; the least recently seen are forgotten beyond (bounded memory
#: whatever a flood of spoofed sources does; a forgotten address starts a fresh window).
MAX_TRACKED_ADDRESSES = 100_000
#: An `X-Forwarded-For` longer than this is not read (the peer's address counts instead).
MAX_FORWARDED_CHARS = 2048


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def caller_address(peer: str, forwarded_for: str, trusted: Iterable[Network]) -> Address | None:
    """The caller's address: `peer`, or the client a trusted proxy names (see module doc)."""
    address = _address(peer)
    proxies = tuple(trusted)
    if address is None or not forwarded_for or len(forwarded_for) > MAX_FORWARDED_CHARS:
        return address
    if not any(address in net for net in proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        named = _address(hop)
        if named is None:
            return address  # a malformed header: trust only what the connection shows
        if not any(named in net for net in proxies):
            return named
    return address


def rate_key(address: Address) -> str:
    """What calls are counted against: an IPv4 address, or an IPv6 address's /64."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class AddressRateLimiter:
    """At most `per_minute` call starts per caller key in any `WINDOW_S`."""

    per_minute: int
    max_tracked: int = MAX_TRACKED_ADDRESSES
    _starts: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict, repr=False)

    def allow(self, key: str, now: float) -> bool:
        """Count a start for `key` at `now` (monotonic seconds); False when over the limit."""
        starts = self._starts.pop(key, None) or deque()
        while starts and now - starts[0] >= WINDOW_S:
            starts.popleft()
        allowed = len(starts) < self.per_minute
        if allowed:
            starts.append(now)
        self._starts[key] = starts  # most recently seen last
        while len(self._starts) > self.max_tracked:
            self._starts.popitem(last=False)
        return allowed


@dataclass
class PublicAccess:
    """A public agent's limit on calls without credentials, and the proxies it trusts."""

    limiter: AddressRateLimiter
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def build(cls, per_minute: int, trusted_cidrs: Iterable[str] = ()) -> PublicAccess:
        """From the agent's `spec.access.public`."""
        nets = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in trusted_cidrs)
        return cls(AddressRateLimiter(per_minute), nets)

    def admit(self, peer: str, forwarded_for: str, now: float) -> bool:
        """Count one call start from this caller; False when its address is over the limit.

        A call whose address cannot be told (no peer: an in-process transport) is counted
        against one shared key, so it is limited rather than free.
        """
        address = caller_address(peer, forwarded_for, self.trusted_proxies)
        key = rate_key(address) if address is not None else "unknown"
        return self.limiter.allow(key, now)
