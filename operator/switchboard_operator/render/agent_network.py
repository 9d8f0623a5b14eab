"""An agent's own NetworkPolicies, beside the tenant's (`render.network`), for what only it needs.

Pure. Rendered only where the tenant isolates its namespace (`network.isolation: strict`, which
denies everything not allowed); each selects this agent's gateway pods only:

- `<agent>-gateway-phone`: ingress to the phone port from anywhere, when a phone channel is on
  (Twilio and jambonz connect from outside the cluster, from addresses nobody can list).
- `<agent>-gateway-twilio`: egress to Twilio's REST API (TCP 443 on the internet, every private,
  loopback, link-local and metadata range excepted), when `channels.twilio` is enabled with an
  `accountSid` (transfers, hang-ups, outbound calls). jambonz needs none: it connects in.
- `<agent>-gateway-recordings`: egress to the recordings bucket's endpoint, when the agent's
  calls are recorded: AWS S3 or a public endpoint name → the internet on its port; a
  `<service>.<namespace>.svc` endpoint → that namespace on its port; an IP address → that
  address on its port (the install's admin chose it, so a private one is allowed).

They carry the agent's label but not the tenant's, so the tenant's pruning leaves them alone;
they are owned by the agent (garbage-collected with it) and deleted by the agent's reconcile
when no longer rendered.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.naming import (
    LABEL_AGENT,
    Manifest,
    gateway_name,
    gateway_selector,
    labels,
    metadata,
)
from switchboard_operator.render.network import INTERNET
from switchboard_operator.render.recordings import recordings_egress
from switchboard_operator.render.telephony import PHONE_PORT, phone_enabled
from switchboard_operator.settings import OperatorSettings

NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
HTTPS_PORT = 443


def phone_policy_name(agent: str) -> str:
    """Ingress to the phone port."""
    return f"{gateway_name(agent)}-phone"


def twilio_policy_name(agent: str) -> str:
    """Egress to Twilio's REST API."""
    return f"{gateway_name(agent)}-twilio"


def recordings_policy_name(agent: str) -> str:
    """Egress to the recordings bucket."""
    return f"{gateway_name(agent)}-recordings"


def every_agent_policy(agent: str) -> list[str]:
    """Names of every NetworkPolicy an agent may have had."""
    return [phone_policy_name(agent), twilio_policy_name(agent), recordings_policy_name(agent)]


def _policy(agent: VoiceAgent, owner: Manifest, name: str, spec: Manifest) -> Manifest:
    agent_name = agent.metadata.name
    return {
        "apiVersion": NETWORK_POLICY[0],
        "kind": NETWORK_POLICY[1],
        "metadata": metadata(
            name,
            agent.metadata.namespace,
            owner,
            labels("network", agent_name, **{LABEL_AGENT: agent_name}),
        ),
        "spec": {"podSelector": {"matchLabels": gateway_selector(agent_name)}} | spec,
    }


def agent_policies(
    agent: VoiceAgent,
    tenant: Tenant,
    owner: Manifest,
    settings: OperatorSettings,
    *,
    recorded: bool,
) -> list[Manifest]:
    """The agent's policies above; none without tenant isolation.

    `recorded`: the gateway gets a `recordings` config (a bucket, credentials copied).
    """
    if tenant.spec.network.isolation == "none":
        return []
    name = agent.metadata.name
    policies: list[Manifest] = []
    if phone_enabled(agent):
        # No `from`: every source, inside the cluster and out.
        ingress = [{"ports": [{"protocol": "TCP", "port": PHONE_PORT}]}]
        spec = {"policyTypes": ["Ingress"], "ingress": ingress}
        policies.append(_policy(agent, owner, phone_policy_name(name), spec))
    twilio = agent.spec.channels.twilio
    if twilio.enabled and twilio.account_sid is not None:
        egress = [{"to": INTERNET, "ports": [{"protocol": "TCP", "port": HTTPS_PORT}]}]
        spec = {"policyTypes": ["Egress"], "egress": egress}
        policies.append(_policy(agent, owner, twilio_policy_name(name), spec))
    if recorded:
        namespace = agent.metadata.namespace or "default"
        spec = {"policyTypes": ["Egress"], "egress": [recordings_egress(settings, namespace)]}
        policies.append(_policy(agent, owner, recordings_policy_name(name), spec))
    return policies
