"""Who is calling: an API key, a call token minted with one, the public, or anyone (no keys).

`authenticate` decides for one call start, before anything else about the call is looked at.
A credential that is present but wrong is refused even where the public may call: a caller
that meant to authenticate and failed must find out, not be downgraded silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from switchboard_gateway.api_keys import KeyRing
from switchboard_gateway.call_tokens import looks_like_token, verify
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.public_calls import PublicAccess


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and the variables its token fixes (none for keys and the public).

    "provider": a phone call whose telephony provider's credential the transport checked.
    """

    kind: Literal["api_key", "token", "public", "open", "provider"]
    variables: Mapping[str, str] = field(default_factory=dict)


def authenticate(
    keys: KeyRing,
    public: PublicAccess | None,
    agent: str,
    start: StartCall,
    *,
    now: int,
    monotonic: float,
) -> Caller | CallEndedEvent:
    """The caller of `start` to `agent` (its `namespace/name`), or why it may not call.

    `now` is wall-clock seconds (token expiry), `monotonic` the clock of the rate limit.
    """
    credential = start.api_key
    if keys.open:
        return Caller("open")
    if not credential:
        if public is None:
            return CallEndedEvent(EndReason.UNAUTHENTICATED, "missing or invalid API key")
        if not public.admit(start.peer, start.forwarded_for, monotonic):
            detail = "too many calls without credentials from this address; try again later"
            return CallEndedEvent(EndReason.RATE_LIMITED, detail)
        return Caller("public")
    if looks_like_token(credential):
        claims = verify(credential, keys.signers, agent, now=now)
        if claims is not None:
            return Caller("token", claims.variables)
    if keys.accepts(credential):
        return Caller("api_key")
    return CallEndedEvent(EndReason.UNAUTHENTICATED, "missing or invalid API key or call token")


def variables_with_token(
    caller: Caller, variables: Mapping[str, str]
) -> dict[str, str] | CallEndedEvent:
    """The call's variables: the start's, plus those the token fixes.

    The start may not change a variable the token fixes: a page cannot rewrite what its
    backend vouched for.
    """
    merged = dict(variables)
    for name, value in caller.variables.items():
        if name in merged and merged[name] != value:
            detail = f"caller variable {name[:64]!r} is fixed by the call token"
            return CallEndedEvent(EndReason.PROTOCOL_ERROR, detail)
        merged[name] = value
    return merged
