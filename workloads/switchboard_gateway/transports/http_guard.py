"""Who may use the gateway's HTTP port: Host names, browser origins, methods and the local token.

Pure decisions, no I/O: `plain_http` asks them before it answers anything but a probe.

- **Host** (DNS rebinding): a page on `attacker.example` that rebinds its name to 127.0.0.1
  still sends `Host: attacker.example`. Only loopback names, the bound host, the machine's own
  names when bound to every interface, and configured names are served.
- **Origin** (cross-site pages): a browser always sends `Origin` on a WebSocket upgrade and on
  cross-origin requests. It must be the origin the request was sent to (the console's own) or a
  configured one. Non-browser clients send none and are judged by the token or API key instead.
- **Token** (`switchboard up` only): a random secret in the printed URL, kept as an HttpOnly,
  SameSite=Strict cookie (the pattern Jupyter uses), or sent as `Authorization: Bearer`.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

CALL_PATH = "/v1/calls"
#: Where servers mint call tokens (POST, authenticated by an API key, not by the guard's token).
TOKEN_PATH = "/v1/tokens"  # noqa: S105 (a path)
COOKIE = "switchboard_token"
#: Probes (kubelet, Prometheus) come by pod IP with no token: always answered.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ALLOWED_METHODS = ("GET", "HEAD")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (names of "every interface")


class Verdict(Enum):
    """What the guard decides about one request."""

    ALLOW = "allow"
    WRONG_HOST = "wrong_host"
    WRONG_METHOD = "wrong_method"
    WRONG_ORIGIN = "wrong_origin"
    NO_TOKEN = "no_token"  # noqa: S105 (a verdict's name, not a secret)
    LOGIN = "login"


def split_host(value: str) -> tuple[str, int | None] | None:
    """A `Host` header as (lower-case name, port); None when malformed.

    IPv6 literals lose their brackets (`[::1]:80` → `("::1", 80)`).
    """
    value = value.strip().lower()
    if not value or any(c.isspace() or c in "/@?#\\" for c in value):
        return None
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_raw = value.partition(":")
        port_text = port_text_raw if colon else None
        if ":" in port_text_raw:
            return None
    if not name:
        return None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def _normalise(name: str) -> str:
    name = name.strip().lower().removeprefix("[").removesuffix("]")
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name.rstrip(".")


def own_names(bound_host: str) -> frozenset[str]:
    """The names a server bound to `bound_host` is reached by, besides loopback.

    Bound to every interface (a pod): the machine's host name and its addresses, so kubelet
    probes and peers that use the pod IP are served. Otherwise just the bound host.
    """
    if _normalise(bound_host) not in _WILDCARDS:
        return frozenset({_normalise(bound_host)})
    names = {socket.gethostname()}
    with contextlib.suppress(OSError):  # a host name that does not resolve: the name alone
        names.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    return frozenset(_normalise(str(n)) for n in names)


@dataclass(frozen=True)
class HttpGuard:
    """The HTTP port's rules; build it with `HttpGuard.build`."""

    #: (name, port or None for any port) pairs a request's `Host` may name.
    hosts: frozenset[tuple[str, int | None]]
    #: Exact origins (`https://app.example.com`) allowed besides the request's own.
    origins: frozenset[str] = frozenset()
    #: The local token (`switchboard up`); None: no token is asked for.
    token: str | None = None

    @classmethod
    def build(
        cls,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        token: str | None = None,
        bound_host: str = "127.0.0.1",
    ) -> HttpGuard:
        """Loopback names, the bound host's names, and `allowed_hosts` (`name` or `name:port`)."""
        hosts: set[tuple[str, int | None]] = {(n, None) for n in LOOPBACK_NAMES}
        hosts.update((n, None) for n in own_names(bound_host))
        for entry in allowed_hosts:
            parsed = split_host(entry)
            if parsed is None:
                raise ValueError(f"not a host name: {entry!r}")
            hosts.add((_normalise(parsed[0]), parsed[1]))
        origins = frozenset(o.strip().lower().rstrip("/") for o in allowed_origins)
        return cls(frozenset(hosts), origins, token or None)

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether the request's `Host` names this server."""
        parsed = split_host(host_header or "")
        if parsed is None:
            return False
        name, port = _normalise(parsed[0]), parsed[1]
        return (name, None) in self.hosts or (port is not None and (name, port) in self.hosts)

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """No `Origin` (not a browser), the request's own origin, or a configured one."""
        if origin is None:
            return True
        origin = origin.strip().lower().rstrip("/")
        own = (host_header or "").strip().lower()
        if own and origin in (f"http://{own}", f"https://{own}"):
            return True
        return origin in self.origins

    def token_matches(self, candidate: str | None) -> bool:
        """Whether `candidate` is the local token (constant time); False without one."""
        if self.token is None or not candidate:
            return False
        # Headers may carry undecodable bytes as surrogates: they compare, never raise.
        return hmac.compare_digest(candidate.encode("utf-8", "surrogatepass"), self.token.encode())

    def presented_token(self, cookie_header: str | None, authorization: str | None) -> str | None:
        """The token a request carries: `Authorization: Bearer …`, else the cookie."""
        if authorization and authorization.startswith("Bearer "):
            return authorization.removeprefix("Bearer ").strip()
        return cookie_value(cookie_header)

    def judge(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
    ) -> Verdict:
        """The verdict on one request (`path` without its query).

        `headers` is case-insensitive for websockets' `Headers`; plain dicts need canonical case.
        """
        if path in PROBE_PATHS and method in ALLOWED_METHODS:
            return Verdict.ALLOW
        host = _single(headers, "Host")
        if not self.host_allowed(host):
            return Verdict.WRONG_HOST
        minting = path == TOKEN_PATH and method == "POST"
        if method not in ALLOWED_METHODS and not minting:
            return Verdict.WRONG_METHOD
        try:
            origin = headers.get("Origin")
        except LookupError:  # several Origin headers: no browser sends that
            return Verdict.WRONG_ORIGIN
        if not self.origin_allowed(origin, host):
            return Verdict.WRONG_ORIGIN
        if self.token is None or minting:
            return Verdict.ALLOW
        if path == "/" and self.token_matches(query_token(query)):
            return Verdict.LOGIN
        bearer = self.presented_token(None, _single(headers, "Authorization"))
        if self.token_matches(bearer) or self.token_matches(token_cookie(headers)):
            return Verdict.ALLOW
        # A call without the cookie may still carry the token as its start's apiKey.
        return Verdict.ALLOW if path == CALL_PATH else Verdict.NO_TOKEN


def _single(headers: Mapping[str, str], name: str) -> str | None:
    """A header sent once; None when missing or repeated (websockets raises on `get` then)."""
    try:
        return headers.get(name)
    except LookupError:
        return None


def token_cookie(headers: Mapping[str, str]) -> str | None:
    """The token cookie, from any of the request's `Cookie` headers."""
    get_all = getattr(headers, "get_all", None)
    values = get_all("Cookie") if get_all is not None else [headers.get("Cookie") or ""]
    return next((v for v in map(cookie_value, values) if v is not None), None)


def cookie_value(cookie_header: str | None) -> str | None:
    """The `switchboard_token` cookie in a `Cookie` header, if any."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def query_token(query: str) -> str | None:
    """The `token` parameter of a query string."""
    return next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == "token"), None)


def login_location(query: str) -> str:
    """Where a login redirects: `/` with the rest of the query, without the token."""
    rest = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    return "/" + (f"?{urlencode(rest)}" if rest else "")


def session_cookie(token: str) -> str:
    """The `Set-Cookie` value that keeps the token in the browser (never readable by scripts)."""
    return f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
