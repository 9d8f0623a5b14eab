"""Tampered call tokens: what the unit and node tiers send to prove none ever gets a call."""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator

import jwt

from switchboard_gateway.api_keys import hash_api_key
from switchboard_gateway.call_tokens import key_id, mint, signing_key


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(claims: dict[str, object], key: bytes, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})


def _raw(header: dict[str, object], claims: dict[str, object], signature: bytes) -> str:
    parts = [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode())]
    return ".".join([*parts, b64(signature)])


def tampered_tokens(
    key: str, agent: str, count: int, other_key: str = "sk-other-" + "o" * 30
) -> Iterator[tuple[str, str]]:
    """`count` distinct tokens that must never call `agent` for `key`, each with what is wrong.

    27 crafted attacks (other algorithms, other keys, the key or its hash as the HMAC key,
    expiry, audience, issuer, claims, shape) then single-character changes in each segment.
    """
    other_agent = agent + "-other"
    rng = random.Random(19)  # noqa: S311 (test data)
    kid = key_id(key)
    t = int(time.time())
    good = mint(key, agent, now=t, ttl_s=300).token
    header, payload, signature = good.split(".")
    claims = json.loads(unb64(payload))
    right = signing_key(key)
    crafted: list[tuple[str, str]] = [
        (_raw({"alg": "none", "typ": "JWT", "kid": kid}, claims, b""), "alg none"),
        (f"{header.replace('IUzI1', 'IUzM4')}.{payload}.{signature}", "alg swapped"),
        (jwt.encode(claims, right * 2, algorithm="HS512", headers={"kid": kid}), "HS512"),
        (_signed(claims, right, key_id(other_key)), "kid of another key"),
        (_signed(claims, signing_key(other_key), kid), "signed by another key, kid of this"),
        (_signed(claims, key.encode(), kid), "signed with the raw API key"),
        (
            _signed(claims, hash_api_key(key).encode(), kid),
            "signed with the key's hash (the config)",
        ),
        (_signed(claims, bytes.fromhex(hash_api_key(key)), kid), "signed with the hash's bytes"),
        (_signed({**claims, "exp": t - 60, "iat": t - 360}, right, kid), "expired"),
        (_signed({**claims, "iat": t + 600, "exp": t + 900}, right, kid), "issued in the future"),
        (_signed({**claims, "exp": t + 3600}, right, kid), "lives longer than the maximum"),
        (_signed({**claims, "aud": other_agent}, right, kid), "another agent"),
        (_signed({**claims, "aud": [agent, other_agent]}, right, kid), "audience list"),
        (_signed({**claims, "iss": "someone"}, right, kid), "another issuer"),
        (_signed({k: v for k, v in claims.items() if k != "exp"}, right, kid), "no exp"),
        (_signed({k: v for k, v in claims.items() if k != "aud"}, right, kid), "no aud"),
        (_signed({**claims, "exp": str(t + 60)}, right, kid), "exp as a string"),
        (_signed({**claims, "vars": {"name": 7}}, right, kid), "a variable not a string"),
        (_signed({**claims, "vars": ["name"]}, right, kid), "variables not a map"),
        (good + ".x", "four segments"),
        (good[:-1], "truncated signature"),
        (good + "A", "signature lengthened"),
        (f" {good}", "leading space"),
        (good.replace(".", ". "), "spaces in it"),
        ("eyJ" + "A" * 20000 + ".a.b", "oversized"),
        ("eyJ.e30.", "empty header and signature"),
        (f"{header}.{payload}.", "no signature"),
    ]
    yield from crafted[:count]
    seen = {token for token, _ in crafted}
    produced = len(crafted)
    while produced < count:
        segment = rng.choice([0, 1, 2])
        parts = [header, payload, signature]
        chars = list(parts[segment])
        position = rng.randrange(len(chars))
        replacement = rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        if replacement == chars[position]:
            continue
        chars[position] = replacement
        parts[segment] = "".join(chars)
        forged = ".".join(parts)
        # Base64url's last character can carry unused bits: a change there may decode to the
        # same bytes, i.e. the same (valid) token. Those are not tampering.
        if forged in seen or [unb64(p) for p in parts] == [
            unb64(p) for p in (header, payload, signature)
        ]:
            continue
        seen.add(forged)
        produced += 1
        yield forged, f"character {position} of segment {segment}"
