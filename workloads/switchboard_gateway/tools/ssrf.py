"""Where tool webhooks may not go: the guard checks the address a URL resolves to.

The ranges are `switchboard_api.egress` (shared with knowledge-base URL sources); shorthand IPv4
(`127.1`) is checked as the address the resolver turns it into. The request then goes to the
checked address, so a DNS answer that changes between check and connect (rebinding) gains
nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from switchboard_api.egress import Address, EgressPolicy, unmapped


class RefusedDestinationError(ValueError):
    """A tool URL points somewhere the tenant may not send requests."""


@dataclass(frozen=True)
class Destination:
    """A checked tool URL: where to connect, and the host name to present (Host, TLS SNI)."""

    url: str
    address: Address
    host: str
    port: int


class SsrfGuard:
    """Checks tool URLs against the forbidden ranges and the tenant's allow-list."""

    def __init__(
        self,
        allow_cidrs: Iterable[str] = (),
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    ) -> None:
        self._policy = EgressPolicy(allow_cidrs)
        self._resolve = resolve or _system_resolve

    def permits(self, address: Address) -> bool:
        """Whether a request may go to `address`."""
        return self._policy.permits(address)

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
        addresses = [unmapped(ipaddress.ip_address(a)) for a in resolved]
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
