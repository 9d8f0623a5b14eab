"""Envoy Gateway's stream timeouts for an exposed agent's GRPCRoute (pure).

The Gateway API's GRPCRoute has no timeout field (standard channel), and Envoy Gateway applies
Envoy's 15 s default request timeout to gRPC routes, which ends a streaming call after 15 s.
Where Envoy Gateway's `BackendTrafficPolicy` CRD is installed, the operator attaches one to the
GRPCRoute that disables the request timeout and the stream's maximum duration ("0s", which
Envoy Gateway documents as "no limit" for streaming RPCs). Idle streams are still reclaimed by
Envoy's stream idle timeout; a call streams audio both ways, so it is never idle.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.naming import Manifest, agent_labels, gateway_name, metadata

BACKEND_TRAFFIC_POLICY = ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy")
BACKEND_TRAFFIC_POLICY_CRD = "backendtrafficpolicies.gateway.envoyproxy.io"


def grpc_policy_name(agent: str) -> str:
    """The BackendTrafficPolicy attached to an agent's GRPCRoute."""
    return f"{gateway_name(agent)}-grpc"


def grpc_stream_policy(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest:
    """No request timeout and no maximum stream duration on the agent's GRPCRoute."""
    name = agent.metadata.name
    return {
        "apiVersion": BACKEND_TRAFFIC_POLICY[0],
        "kind": BACKEND_TRAFFIC_POLICY[1],
        "metadata": metadata(
            grpc_policy_name(name),
            agent.metadata.namespace,
            owner,
            agent_labels("gateway-route", name, tenant.metadata.name),
        ),
        "spec": {
            "targetRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "GRPCRoute",
                    "name": gateway_name(name),
                }
            ],
            "timeout": {"http": {"requestTimeout": "0s", "maxStreamDuration": "0s"}},
        },
    }
