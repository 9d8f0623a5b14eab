"""Where a tenant's outbound requests (tool webhooks, knowledge-base URLs) may not go.

Refused: loopback, link-local, private, shared (100.64/10), IETF protocol assignments
(192.0.0.0/24), documentation, benchmarking, reserved, multicast and unspecified addresses,
unless an explicit CIDR of the tenant's egress allow-list (`Tenant.spec.network.egress.allowCIDRs`)
covers them. Explicit means inside one special-purpose range: `10.20.0.0/16` opens that part of
10.0.0.0/8, while `0.0.0.0/0`, `::/0` or `8.0.0.0/5` open the tenant's NetworkPolicy egress to
the internet and no private, loopback or link-local address to a tool or a URL source. The
cloud metadata service (169.254.169.254, fd00:ec2::254) is refused whatever the allow-list says.

An IPv6 address that carries an IPv4 address is judged by the IPv4 address it reaches: IPv4-mapped
(::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), IPv4-compatible (::/96, deprecated), 6to4
(2002::/16), NAT64 (64:ff9b::/96) and Teredo (2001::/32: the client and the server). Every
embedded address must be permitted, and the allow-list is matched against the embedded address,
never the IPv6 wrapper: allowing `10.0.0.0/8` lets `2002:a00:1::` through, allowing `2002::/16`
lets nothing through that its embedded address would not. The local-use NAT64 prefix
64:ff9b:1::/48 may embed at any RFC 6052 position (/48, /56, /64, /96), so the IPv4 address at
every one of them must be permitted.

`destination` reads a URL strictly: anything malformed or ambiguous between URL parsers and
resolvers is refused with a reason (`EgressRefusedError`) rather than normalised. In particular
a host that looks numeric must be a canonical dotted quad: `2130706433`, `0x7f.1`, `127.1` and
`017700000001` (which `getaddrinfo` reads as 127.0.0.1) are refused, not converted. Also refused:
userinfo (`http://evil@host/`), a trailing dot, non-ASCII (give IDNs in punycode), IPv6 zone
ids, schemes other than http(s), and ports outside 1-65535. Pure: resolving names is the
caller's business.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefusedError(ValueError):
    """A destination is malformed or forbidden; the message says why."""


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


_METADATA = _nets("169.254.169.254/32", "fd00:ec2::254/128")
#: Beyond Python's `is_private`/`is_reserved`/… flags, so the verdict does not depend on the
#: Python version: IANA's special-purpose ranges that are not globally reachable.
_FORBIDDEN = _nets(
    "0.0.0.0/8",
    "100.64.0.0/10",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "::/127",
    "100::/64",
    "2001:db8::/32",
    "2001:10::/28",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
)
#: The special-purpose ranges an allow-list entry must lie inside to open anything: those above
#: plus the ones Python's flags cover.
SPECIAL_PURPOSE: tuple[Network, ...] = _FORBIDDEN + _nets(
    "10.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "255.255.255.255/32",
    "::1/128",
    "ff00::/8",
)
_MAPPED, _TRANSLATED, _COMPATIBLE, _NAT64, _NAT64_LOCAL, _TEREDO, _SIXTOFOUR = _nets(
    "::ffff:0:0/96",
    "::ffff:0:0:0/96",
    "::/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "2001::/32",
    "2002::/16",
)
_UNSPECIFIED_AND_LOOPBACK = ipaddress.ip_network("::/127")
_LOW32 = 0xFFFFFFFF


def _rfc6052(value: int, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address at an RFC 6052 position (bits 64-71, the `u` octet, are skipped)."""
    if prefix_length == 96:
        return ipaddress.IPv4Address(value & _LOW32)
    bits = format(value, "0128b")
    without_u = bits[:64] + bits[72:]
    return ipaddress.IPv4Address(int(without_u[prefix_length : prefix_length + 32], 2))


def embedded(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for IPv4 and plain IPv6)."""
    if isinstance(address, ipaddress.IPv4Address) or address in _UNSPECIFIED_AND_LOOPBACK:
        return []
    value = int(address)
    if address in _MAPPED or address in _TRANSLATED or address in _COMPATIBLE:
        return [ipaddress.IPv4Address(value & _LOW32)]
    if address in _NAT64:
        return [_rfc6052(value, 96)]
    if address in _NAT64_LOCAL:
        return [_rfc6052(value, length) for length in (48, 56, 64, 96)]
    if address.teredo is not None:
        server, client = address.teredo
        return [client, server]
    if address.sixtofour is not None:
        return [address.sixtofour]
    return []


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
        or any(address in network for network in _FORBIDDEN)
    )


def parse_address(text: str) -> Address:
    """An address from text (a resolver's answer); anything else is refused."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise EgressRefusedError(f"{text!r} is not an IP address") from None


@dataclass(frozen=True)
class Target:
    """A URL read strictly: where to resolve and connect."""

    scheme: str
    #: A DNS name or a canonical IP literal (IPv6 without brackets).
    host: str
    port: int
    #: The parsed address when the host is an IP literal, else None (a name to resolve).
    address: Address | None


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NETLOC = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]*)(:[0-9]{1,5})?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def _host_address(host: str, bracketed: bool) -> Address | None:
    if bracketed:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise EgressRefusedError(f"[{host}] is not an IPv6 address") from None
    if not host or host.endswith("."):
        raise EgressRefusedError("the host is empty or ends with a dot")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise EgressRefusedError(f"{host!r} is not a DNS name or IP address")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    try:  # a numeric last label makes it IPv4 to URL parsers and resolvers alike
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    if address is None or str(address) != host:
        raise EgressRefusedError(f"{host!r} is not a canonical dotted-quad IPv4 address")
    return address


def destination(url: str) -> Target:
    """`url` read strictly; a malformed or ambiguous URL is refused (`EgressRefusedError`)."""
    if not url.isascii() or any(c.isspace() or not c.isprintable() or c == "\\" for c in url):
        raise EgressRefusedError("the URL holds non-ASCII, space, control or backslash characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise EgressRefusedError(f"malformed URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise EgressRefusedError("only http(s) URLs are allowed")
    netloc = parts.netloc.lower()
    if "@" in netloc:
        raise EgressRefusedError("URLs with userinfo (user@host) are refused")
    if "%" in netloc:
        raise EgressRefusedError("percent-encoded hosts and IPv6 zone ids are refused")
    if not _NETLOC.match(netloc):
        raise EgressRefusedError(f"malformed host and port {netloc!r}")
    if port == 0:
        raise EgressRefusedError("port 0 is refused")
    bracketed = netloc.startswith("[")
    host = parts.hostname or ""
    address = _host_address(host, bracketed)
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), address)


def explicit(network: Network) -> bool:
    """Whether an allow-list entry lies inside one special-purpose range (and so opens it)."""
    return any(
        network.version == special.version and network.subnet_of(special)  # type: ignore[arg-type]
        for special in SPECIAL_PURPOSE
    )


class EgressPolicy:
    """The forbidden ranges, minus a tenant's allow-list (never minus the metadata service)."""

    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        networks = [ipaddress.ip_network(c, strict=False) for c in allow_cidrs]
        #: The explicit entries: each inside one special-purpose range (see the module's doc).
        self.allowed: tuple[Network, ...] = tuple(n for n in networks if explicit(n))

    def _permits_one(self, address: Address) -> bool:
        if any(address in network for network in _METADATA):
            return False
        if any(address in network for network in self.allowed):
            return True
        return not _forbidden(address)

    def permits(self, address: Address) -> bool:
        """Whether a request may go to `address` (judged by any IPv4 address it carries)."""
        carried = embedded(address)
        if carried:
            return all(self._permits_one(inner) for inner in carried)
        return self._permits_one(address)

    def refused(self, addresses: Iterable[str]) -> list[Address]:
        """The addresses among `addresses` (text) a request may not go to.

        Text that is not an address raises `EgressRefusedError`.
        """
        checked = (unmapped(parse_address(text)) for text in addresses)
        return [address for address in checked if not self.permits(address)]
