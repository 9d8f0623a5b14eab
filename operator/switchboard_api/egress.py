"""Where a tenant's outbound requests (tool webhooks, knowledge-base URLs) may not go.

Loopback, link-local (cloud metadata lives at 169.254.169.254), private, shared, reserved,
multicast and unspecified addresses are refused unless a CIDR of the tenant's egress allow-list
(`Tenant.spec.egress.allowCIDRs`) covers them. IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged
as the IPv4 address it reaches. Pure: resolving names is the caller's business.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


def unmapped(address: Address) -> Address:
    """The IPv4 address behind an IPv4-mapped IPv6 address, else the address itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forbidden(address: Address) -> bool:
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or any(address in network for network in _METADATA)
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


class EgressPolicy:
    """The forbidden ranges, minus a tenant's allow-list."""

    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        self.allowed: tuple[Network, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in allow_cidrs
        )

    def permits(self, address: Address) -> bool:
        """Whether a request may go to `address`."""
        address = unmapped(address)
        if any(address in network for network in self.allowed):
            return True
        return not _forbidden(address)

    def refused(self, addresses: Iterable[str]) -> list[Address]:
        """The addresses among `addresses` (text) a request may not go to."""
        checked = (unmapped(ipaddress.ip_address(text)) for text in addresses)
        return [address for address in checked if not self.permits(address)]
