"""The agent's and tenant's API-key Secrets reach the gateway as mounted files, never read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import GatewayConfig
from switchboard_gateway.transports.http_guard import CALL_PATH, HttpGuard, Verdict
from switchboard_operator.render.access import API_KEYS_DIR, access_check
from tests.unit.operator.gateway_render import rendered_gateway

pytestmark = pytest.mark.unit


def tenant(*refs: dict[str, str], origins: tuple[str, ...] = ()) -> Tenant:
    access = {"apiKeySecretRefs": list(refs), "allowedOrigins": list(origins)}
    return Tenant.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"namespace": {"name": "acme"}, "access": access},
        }
    )


def agent(*refs: dict[str, str], origins: tuple[str, ...] = ()) -> VoiceAgent:
    access = {"apiKeySecretRefs": list(refs), "allowedOrigins": list(origins)}
    return VoiceAgent.model_validate(
        {
            "apiVersion": "switchboard.dev/v1alpha1",
            "kind": "VoiceAgent",
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Be brief."}, "access": access},
        }
    )


def rendered(a: VoiceAgent, t: Tenant) -> tuple[GatewayConfig, dict[str, Any]]:
    config, deployment = rendered_gateway(a, t)
    return config, deployment["spec"]["template"]["spec"]


def test_agent_and_tenant_keys_are_projected_and_listed_without_repeats() -> None:
    own, shared = {"name": "front-keys", "key": "keys"}, {"name": "acme-keys", "key": "k"}
    config, pod = rendered(agent(own, shared), tenant(shared))
    assert config.require_api_keys
    assert config.api_key_files == {"acme/front": [f"{API_KEYS_DIR}/0", f"{API_KEYS_DIR}/1"]}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "api-keys"]
    assert volume["projected"]["sources"] == [
        {"secret": {"name": "front-keys", "items": [{"key": "keys", "path": "0"}]}},
        {"secret": {"name": "acme-keys", "items": [{"key": "k", "path": "1"}]}},
    ]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "api-keys"]
    assert mount == {"name": "api-keys", "mountPath": API_KEYS_DIR, "readOnly": True}
    env = pod["containers"][0].get("env", [])
    names = {
        ref["valueFrom"]["secretKeyRef"]["name"]
        for ref in env
        if "valueFrom" in ref and "secretKeyRef" in ref["valueFrom"]
    }
    assert not names & {"front-keys", "acme-keys"}  # mounted, never in the environment
    assert access_check(agent(own), tenant()).ok


def test_without_any_key_the_gateway_refuses_all_and_the_condition_says_why() -> None:
    config, pod = rendered(agent(), tenant())
    assert config.require_api_keys
    assert config.api_key_files == {"acme/front": []}
    assert all(v["name"] != "api-keys" for v in pod["volumes"])
    check = access_check(agent(), tenant())
    assert (check.ok, check.reason) == (False, "NoApiKeys")
    assert "spec.access.apiKeySecretRefs" in check.message


def test_browser_origins_of_the_agent_and_tenant_are_the_only_foreign_pages_let_in() -> None:
    config, _ = rendered(
        agent(origins=("https://shop.example.com",)),
        tenant(origins=("https://app.example.com", "https://shop.example.com")),
    )
    assert config.allowed_origins == ["https://shop.example.com", "https://app.example.com"]
    guard = HttpGuard.build(config.allowed_hosts, config.allowed_origins, None, config.host)
    host = "front-gateway.acme.svc.cluster.local:8080"
    assert host.rsplit(":", 1)[0] in {h.rsplit(":", 1)[0] for h in config.allowed_hosts}

    def verdict(origin: str | None) -> Verdict:
        headers = {"Host": host} | ({"Origin": origin} if origin else {})
        return guard.judge("GET", CALL_PATH, "", headers)

    assert verdict("https://app.example.com") is Verdict.ALLOW
    assert verdict("https://shop.example.com") is Verdict.ALLOW
    assert verdict(None) is Verdict.ALLOW  # not a browser: the API key decides
    for foreign in ("https://evil.example", "http://app.example.com", "null"):
        assert verdict(foreign) is Verdict.WRONG_ORIGIN, foreign


@pytest.mark.parametrize("origin", ["https://app.example.com/path", "app.example.com", "ftp://x"])
def test_a_malformed_origin_is_refused_naming_the_field(origin: str) -> None:
    with pytest.raises(ValidationError) as refused:
        agent(origins=(origin,))
    assert "allowedOrigins" in str(refused.value)


def test_a_public_agent_is_ready_without_keys_and_a_tenant_cannot_be_made_public() -> None:
    manifest = agent().model_dump(by_alias=True, exclude_none=True)
    manifest["spec"]["access"]["public"] = {"enabled": True}
    public = VoiceAgent.model_validate(manifest)
    check = access_check(public, tenant())
    assert (check.ok, check.reason) == (True, "Public")
    assert "6 per minute" in check.message
    config, _ = rendered(public, tenant())
    assert config.require_api_keys, "keys stay required: only credential-less calls are public"
    assert config.agents[0].spec.access.public.enabled
    with pytest.raises(ValidationError, match="public"):
        Tenant.model_validate(
            {
                "apiVersion": "switchboard.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "acme"},
                "spec": {"namespace": {"name": "acme"}, "access": {"public": {"enabled": True}}},
            }
        )
    with pytest.raises(ValidationError, match="trustedProxyCIDRs"):
        VoiceAgent.model_validate(
            {
                "apiVersion": "switchboard.dev/v1alpha1",
                "kind": "VoiceAgent",
                "metadata": {"name": "front", "namespace": "acme"},
                "spec": {
                    "prompt": {"system": "Hi."},
                    "access": {"public": {"enabled": True, "trustedProxyCIDRs": ["10.0.0.0/33"]}},
                },
            }
        )
