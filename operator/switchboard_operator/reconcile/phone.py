"""An agent's phone and recording extras: the recordings credentials' copy, its own policies.

The recordings bucket's credentials are a Secret of the operator's namespace with two keys
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`); the chart's Role lets the operator read only
that Secret. They are copied only into namespaces with an agent whose calls are recorded.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import RECORDINGS_KEYS, RecordingsConfig
from switchboard_operator.conditions import Stall
from switchboard_operator.kube import KubeError
from switchboard_operator.naming import Manifest
from switchboard_operator.reconcile.runtime import Runtime
from switchboard_operator.reconcile.secret_copy import SECRET
from switchboard_operator.render.agent_network import (
    NETWORK_POLICY,
    agent_policies,
    every_agent_policy,
)
from switchboard_operator.render.recordings import (
    CHART_VALUE,
    recordings_config,
    recordings_secret,
    wants_recordings,
)


async def copy_recordings_credentials(rt: Runtime, namespace: str, tenant: str) -> Stall | None:
    """Copy the bucket's credentials into the namespace; a Stall says why not."""
    source = rt.settings.recordings_secret
    where = f"Secret {rt.settings.operator_namespace}/{source}"
    try:
        secret = await rt.kube.get(*SECRET, rt.settings.operator_namespace, source)
    except KubeError as error:  # 403: the chart's Role names another Secret
        return Stall(
            "RecordingsSecretUnreadable", f"the recordings bucket's credentials {where}: {error}"
        )
    data = (secret or {}).get("data") or {}
    missing = [key for key in RECORDINGS_KEYS if not data.get(key)]
    if missing:
        why = "does not exist" if secret is None else f"has no key {', '.join(missing)}"
        return Stall(
            "RecordingsSecretMissing",
            f"the recordings bucket's credentials {where} {why} (chart value "
            f"{CHART_VALUE}.credentialsSecretRef)",
        )
    await rt.kube.apply(recordings_secret(namespace, data, tenant))
    return None


async def prepare_recordings(
    rt: Runtime, agent: VoiceAgent, tenant: Tenant
) -> tuple[RecordingsConfig | None, Stall | None]:
    """The gateway's `recordings` (None: unrecorded) and why the copy failed, if it did."""
    if not wants_recordings(agent, tenant, rt.settings):
        return None, None
    namespace = agent.metadata.namespace or "default"
    problem = await copy_recordings_credentials(rt, namespace, tenant.metadata.name)
    config = recordings_config(agent, tenant, rt.settings, copied=problem is None)
    return config, problem


async def sync_agent_policies(
    rt: Runtime, agent: VoiceAgent, tenant: Tenant, owner: Manifest, *, recorded: bool
) -> None:
    """Apply the agent's own NetworkPolicies and delete the ones it no longer has."""
    policies = agent_policies(agent, tenant, owner, rt.settings, recorded=recorded)
    for policy in policies:
        await rt.kube.apply(policy)
    kept = {p["metadata"]["name"] for p in policies}
    namespace = agent.metadata.namespace or "default"
    for name in every_agent_policy(agent.metadata.name):
        if name not in kept:
            await rt.kube.delete(*NETWORK_POLICY, namespace, name)
