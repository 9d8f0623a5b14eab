"""Call tokens: minted with an API key, scoped to one agent, short-lived; tampering never calls."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import jwt
import pytest

from switchboard_gateway.api_keys import KeyRing, hash_api_key
from switchboard_gateway.call_tokens import (
    MAX_TTL_S,
    key_id,
    mint,
    signing_key,
    verify,
)
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config
from tests.call_tokens import tampered_tokens

pytestmark = pytest.mark.unit

KEY, OTHER_KEY = "sk-live-" + "a" * 32, "sk-live-" + "b" * 32
AGENT, OTHER_AGENT = "test/tester", "test/other"


def now() -> int:
    return int(time.time())


def ring_with(tmp_path: Path, *keys: str) -> KeyRing:
    path = tmp_path / "keys"
    path.write_text("\n".join(keys))
    return KeyRing(files=(path,), required=True)


def gateway_with(ring: KeyRing, **spec: object) -> Gateway:
    config = agent_config(**spec)
    return Gateway({config.key: AgentEntry(config, backend=None, keys=ring)})  # type: ignore[arg-type]


def test_a_minted_token_verifies_for_its_agent_only_and_decodes_with_pyjwt() -> None:
    token = mint(KEY, AGENT, now=now(), ttl_s=60, variables={"name": "Ada"})
    signers = {key_id(KEY): signing_key(KEY)}
    claims = verify(token.token, signers, AGENT, now=now())
    assert claims is not None
    assert dict(claims.variables) == {"name": "Ada"}
    assert verify(token.token, signers, OTHER_AGENT, now=now()) is None
    assert (
        verify(token.token, {key_id(OTHER_KEY): signing_key(OTHER_KEY)}, AGENT, now=now()) is None
    )
    # An independent JWT implementation agrees on what was signed.
    decoded = jwt.decode(token.token, signing_key(KEY), algorithms=["HS256"], audience=AGENT)
    assert decoded["exp"] - decoded["iat"] == 60
    assert jwt.get_unverified_header(token.token)["kid"] == hash_api_key(KEY)[:16]


def test_mint_refuses_lifetimes_beyond_the_maximum() -> None:
    with pytest.raises(ValueError, match="ttl"):
        mint(KEY, AGENT, now=now(), ttl_s=MAX_TTL_S + 1)
    with pytest.raises(ValueError, match="ttl"):
        mint(KEY, AGENT, now=now(), ttl_s=0)


def test_a_thousand_tampered_tokens_never_get_a_call(tmp_path: Path) -> None:
    ring = ring_with(tmp_path, KEY)
    gate = gateway_with(ring)
    good = mint(KEY, AGENT, now=now()).token
    assert isinstance(gate.admit(StartCall(agent=AGENT, api_key=good), "websocket"), Admission)
    forged = list(tampered_tokens(KEY, AGENT, 1000))
    assert len(forged) == 1000
    assert len({token for token, _ in forged}) == 1000, "distinct tokens"
    for token, what in forged:
        assert verify(token, ring.signers, AGENT, now=now()) is None, what
        refused = gate.admit(StartCall(agent=AGENT, api_key=token), "grpc")
        assert isinstance(refused, CallEndedEvent), what
        assert refused.reason is EndReason.UNAUTHENTICATED, what
    refusals = gate.metrics.rejected.labels("unauthenticated")._value.get()
    assert refusals == 1000


def test_revoking_the_key_revokes_its_tokens_and_a_rotated_key_mints_anew(tmp_path: Path) -> None:
    ring = ring_with(tmp_path, KEY, OTHER_KEY)
    gate = gateway_with(ring)
    old = mint(KEY, AGENT, now=now()).token
    assert isinstance(gate.admit(StartCall(agent=AGENT, api_key=old), "grpc"), Admission)
    (tmp_path / "keys").write_text(OTHER_KEY)
    assert ring.reload()
    refused = gate.admit(StartCall(agent=AGENT, api_key=old), "grpc")
    assert isinstance(refused, CallEndedEvent)
    assert refused.reason is EndReason.UNAUTHENTICATED
    fresh = mint(OTHER_KEY, AGENT, now=now()).token
    assert isinstance(gate.admit(StartCall(agent=AGENT, api_key=fresh), "grpc"), Admission)


def test_keys_known_only_by_hash_cannot_sign_and_the_local_token_can() -> None:
    hashed = KeyRing(frozenset({hash_api_key(KEY)}), required=True)
    assert hashed.accepts(KEY)
    assert hashed.signers == {}
    token = mint(KEY, AGENT, now=now()).token
    refused = gateway_with(hashed).admit(StartCall(agent=AGENT, api_key=token), "grpc")
    assert isinstance(refused, CallEndedEvent)
    local = KeyRing(required=True)
    local.add_key(KEY)
    assert isinstance(gateway_with(local).admit(StartCall(AGENT, api_key=token), "grpc"), Admission)


def test_a_tokens_variables_are_fixed_and_the_start_may_add_only_others(tmp_path: Path) -> None:
    gate = gateway_with(
        ring_with(tmp_path, KEY),
        prompt={
            "system": "Greet {{ name }} about {{ topic }}.",
            "callerVariables": ["name", "topic"],
        },
    )
    token = mint(KEY, AGENT, now=now(), variables={"name": "Ada"}).token
    admitted = gate.admit(StartCall(AGENT, api_key=token, variables={"topic": "teeth"}), "grpc")
    assert isinstance(admitted, Admission)
    assert admitted.prompts.system == "Greet Ada about teeth."
    same = gate.admit(
        StartCall(AGENT, api_key=token, variables={"name": "Ada", "topic": "x"}), "grpc"
    )
    assert isinstance(same, Admission)
    changed = gate.admit(
        StartCall(AGENT, api_key=token, variables={"name": "Eve", "topic": "x"}), "grpc"
    )
    assert isinstance(changed, CallEndedEvent)
    assert changed.reason is EndReason.PROTOCOL_ERROR
    assert "fixed by the call token" in changed.detail


def test_a_token_key_id_is_the_sha256_prefix_the_config_already_holds() -> None:
    assert key_id(KEY) == hashlib.sha256(KEY.encode()).hexdigest()[:16]
