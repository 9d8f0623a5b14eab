"""Call tokens: short-lived JWTs a server mints with its API key for a browser or a phone.

A browser page must never hold an API key. Its backend asks the gateway's token endpoint
(`POST /v1/tokens`, with the key as a Bearer credential) for a token scoped to one agent, with
an expiry of at most `MAX_TTL_S` and optionally the caller variables the call will carry; the
page starts its call with the token where an API key would go.

Tokens are HS256 JWTs signed with a key derived from the API key that minted them
(HMAC-SHA256 of `SIGNING_CONTEXT` under the raw key), named by `kid`, a prefix of the API key's
SHA-256. No extra secret exists: every replica that accepts the API key can check its tokens,
and revoking the key (removing it from its Secret) revokes every token it minted. Keys the
gateway knows only by hash (a config's `apiKeyHashes`) cannot sign.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

#: What the signing key of an API key is derived for (a new version changes every signer).
SIGNING_CONTEXT = b"switchboard call token v1"
ALGORITHM = "HS256"
ISSUER = "switchboard"
#: The longest a token may live, and what a mint gets by default.
MAX_TTL_S = 900
DEFAULT_TTL_S = 300
#: Tolerated clock difference between the replica that minted a token and the one checking it.
LEEWAY_S = 5
#: Longer credentials are not tokens the gateway minted (a bound on parsing work).
MAX_TOKEN_CHARS = 8192
_KID_CHARS = 16


def signing_key(api_key: str) -> bytes:
    """The HS256 key the tokens of `api_key` are signed with."""
    raw = api_key.encode("utf-8", "surrogatepass")
    return hmac.new(raw, SIGNING_CONTEXT, hashlib.sha256).digest()


def key_id(api_key: str) -> str:
    """The `kid` of the tokens of `api_key`: a prefix of its SHA-256 (which configs hold anyway)."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:_KID_CHARS]


def looks_like_token(credential: str) -> bool:
    """Whether a credential has a JWT's shape (API keys are checked as keys otherwise)."""
    return credential.startswith("eyJ") and credential.count(".") == 2


@dataclass(frozen=True)
class CallToken:
    """A minted token and what it allows."""

    token: str
    agent: str
    expires_at: int
    variables: Mapping[str, str]


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token lets its bearer do: call `agent` with these variables until then."""

    agent: str
    expires_at: int
    variables: Mapping[str, str]


def mint(
    api_key: str,
    agent: str,
    *,
    now: int,
    ttl_s: int = DEFAULT_TTL_S,
    variables: Mapping[str, str] | None = None,
) -> CallToken:
    """A token for one call of `agent` (its `namespace/name`), signed for `api_key`."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl must be between 1 and {MAX_TTL_S} seconds")
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": agent,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_urlsafe(12),
    }
    if variables:
        claims["vars"] = dict(variables)
    token = jwt.encode(
        claims, signing_key(api_key), algorithm=ALGORITHM, headers={"kid": key_id(api_key)}
    )
    return CallToken(token, agent, now + ttl_s, dict(variables or {}))


def verify(token: str, signers: Mapping[str, bytes], agent: str, *, now: int) -> TokenClaims | None:
    """The claims of `token` when it is valid for a call to `agent` now; else None.

    Valid means: HS256 only (never `none` or another algorithm), signed with the key its `kid`
    names among `signers`, issued by the gateway for exactly `agent`, not expired, and minted
    for no longer than `MAX_TTL_S`; caller variables, when present, a flat string map.
    """
    if len(token) > MAX_TOKEN_CHARS or not looks_like_token(token):
        return None
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str) or kid not in signers:
            return None
        claims = jwt.decode(
            token,
            signers[kid],
            algorithms=[ALGORITHM],
            audience=agent,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "aud", "iss"], "verify_iat": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return _claims(claims, agent, now)


def _claims(claims: Mapping[str, object], agent: str, now: int) -> TokenClaims | None:
    issued, expires = claims.get("iat"), claims.get("exp")
    if claims.get("aud") != agent or not isinstance(issued, int) or not isinstance(expires, int):
        return None
    # PyJWT checked `exp` against its own clock; the caller's clock decides too (tests, skew).
    if expires + LEEWAY_S < now or issued - LEEWAY_S > now or expires - issued > MAX_TTL_S:
        return None
    variables = claims.get("vars", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        return None
    return TokenClaims(agent, expires, variables)
