"""Where tool webhooks may not go: the guard checks the address a URL resolves to.

Loopback, link-local (cloud metadata lives at 169.254.169.254), private, shared, reserved,
multicast and unspecified addresses are refused unless a CIDR of the tenant's egress allow-list
covers them. IPv4-mapped IPv6 (`::ffff:127.0.0.1`) and shorthand IPv4 (`127.1`) are checked as
the IPv4 address they reach. The request then goes to the checked address, so a DNS answer
that changes between check and connect (rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"))


class RefusedDestinationError(ValueError):
    """A tool URL points somewhere the tenant may not send requests."""


@dataclass(frozen=True)
class Destination:
    """A checked tool URL: where to connect, and the host name to present (Host, TLS SNI)."""

    url: str
    address: Address
    host: str
    port: int


def _unmapped(address: Address) -> Address:
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


_SHARED = ipaddress.ip_network("100.64.0.0/10")


class SsrfGuard:
    """Checks tool URLs against the forbidden ranges and the tenant's allow-list."""

    def __init__(
        self,
        allow_cidrs: Iterable[str] = (),
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._allowed: tuple[Network, ...] = tuple(
            ipaddress.ip_network(c, strict=False) for c in allow_cidrs
        )
        self._resolve = resolve or _system_resolve

    def permits(self, address: Address) -> bool:
        """Whether a request may go to `address`."""
        address = _unmapped(address)
        if any(address in network for network in self._allowed):
            return True
        return not _forbidden(address)

    async def check(self, url: str) -> Destination:
        """Resolve `url`'s host; refuse it unless every address it resolves to is permitted."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RefusedDestinationError("tool URLs must be http(s) with a host")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            resolved = await self._resolve(parts.hostname, port)
        except OSError as error:
            raise RefusedDestinationError(f"cannot resolve the tool host: {error}") from None
        addresses = [_unmapped(ipaddress.ip_address(a)) for a in resolved]
        if not addresses:
            raise RefusedDestinationError("the tool host resolves to no address")
        refused = [a for a in addresses if not self.permits(a)]
        if refused:
            raise RefusedDestinationError(
                f"the tool host resolves to a refused address {refused[0]}"
            )
        return Destination(url, addresses[0], parts.hostname, port)


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
