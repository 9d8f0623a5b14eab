"""Who may call an agent's gateway: the API-key Secrets of the agent and its tenant, mounted.

The operator never reads these Secrets: it projects them into the gateway pod, one file per
reference, and lists the files in the gateway config. The gateway hashes the keys and re-reads
the files when the kubelet updates them, so keys rotate without a rollout. An agent with no
key refuses every call (`require_api_keys`), and its `AccessReady` condition says so.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.common import ApiKeyRef
from switchboard_operator.conditions import Check
from switchboard_operator.naming import Manifest

API_KEYS_DIR = "/etc/switchboard-api-keys"
API_KEYS_VOLUME = "api-keys"


def api_key_refs(agent: VoiceAgent, tenant: Tenant) -> list[ApiKeyRef]:
    """The agent's key Secrets, then its tenant's, without repeats."""
    refs: list[ApiKeyRef] = []
    for ref in [*agent.spec.access.api_key_secret_refs, *tenant.spec.access.api_key_secret_refs]:
        if ref not in refs:
            refs.append(ref)
    return refs


def allowed_origins(agent: VoiceAgent, tenant: Tenant) -> list[str]:
    """Browser origins that may open calls: the agent's, then its tenant's, without repeats."""
    origins = [*agent.spec.access.allowed_origins, *tenant.spec.access.allowed_origins]
    return list(dict.fromkeys(origins))


def api_key_files(agent: VoiceAgent, tenant: Tenant) -> list[str]:
    """Where the gateway finds each key Secret's value (one file per reference)."""
    return [f"{API_KEYS_DIR}/{index}" for index in range(len(api_key_refs(agent, tenant)))]


def api_key_volume(agent: VoiceAgent, tenant: Tenant) -> tuple[Manifest, Manifest] | None:
    """The projected volume of the key Secrets and its mount; None without keys."""
    refs = api_key_refs(agent, tenant)
    if not refs:
        return None
    sources = [
        {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": str(index)}]}}
        for index, ref in enumerate(refs)
    ]
    volume = {"name": API_KEYS_VOLUME, "projected": {"sources": sources, "defaultMode": 0o444}}
    mount = {"name": API_KEYS_VOLUME, "mountPath": API_KEYS_DIR, "readOnly": True}
    return volume, mount


def access_check(agent: VoiceAgent, tenant: Tenant) -> Check:
    """`AccessReady`: callers can authenticate (some API key is configured), or need not."""
    refs = api_key_refs(agent, tenant)
    public = agent.spec.access.public
    if public.enabled:
        keys = f"; {len(refs)} API-key Secret(s) mounted" if refs else ""
        return Check(
            "AccessReady",
            True,
            "Public",
            "calls without credentials are admitted (spec.access.public),"
            f" {public.calls_per_minute_per_address} per minute per caller address{keys}",
        )
    if not refs:
        return Check(
            "AccessReady",
            False,
            "NoApiKeys",
            "no API key is configured (spec.access.apiKeySecretRefs, or the Tenant's): the"
            " gateway refuses every call",
        )
    return Check("AccessReady", True, "ApiKeysMounted", f"{len(refs)} API-key Secret(s) mounted")
