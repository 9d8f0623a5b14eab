"""Where tool webhooks may not go: the guard checks the address a URL resolves to.

The ranges and the strict URL reading are `switchboard_api.egress` (shared with knowledge-base
URL sources): a malformed URL, userinfo, or a non-canonical numeric host (`127.1`,
`2130706433`) is refused with a reason, never converted. The request then goes to the
checked address, so a DNS answer that changes between check and connect (rebinding) gains
nothing.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from switchboard_api.egress import (
    Address,
    EgressPolicy,
    EgressRefusedError,
    destination,
    parse_address,
    unmapped,
)


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
        """Resolve `url`'s host; refuse it unless every address it resolves to is permitted.

        A malformed or ambiguous URL (see `switchboard_api.egress.destination`) is refused too,
        with the reason; an IP literal is checked as written, without asking the resolver.
        """
        try:
            target = destination(url)
            if target.address is not None:
                resolved = [str(target.address)]
            else:
                resolved = await self._resolve(target.host, target.port)
            addresses = [unmapped(parse_address(a)) for a in resolved]
        except EgressRefusedError as error:
            raise RefusedDestinationError(f"refused tool URL: {error}") from None
        except OSError as error:
            raise RefusedDestinationError(f"cannot resolve the tool host: {error}") from None
        if not addresses:
            raise RefusedDestinationError("the tool host resolves to no address")
        refused = [a for a in addresses if not self.permits(a)]
        if refused:
            raise RefusedDestinationError(
                f"the tool host resolves to a refused address {refused[0]}"
            )
        return Destination(url, addresses[0], target.host, target.port)


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]
