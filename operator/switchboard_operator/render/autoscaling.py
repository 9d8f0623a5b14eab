"""How a VoiceAgent's gateway scales: KEDA on live calls, an HPA on live calls or CPU, or none."""

from __future__ import annotations

from typing import Literal

from switchboard_api import VoiceAgent
from switchboard_operator.naming import Manifest, gateway_name
from switchboard_operator.settings import OperatorSettings

Autoscaler = Literal["keda", "hpa-calls", "hpa-cpu", "none"]


def choose_autoscaler(
    agent: VoiceAgent,
    *,
    keda_installed: bool,
    custom_metrics_api: bool,
    suspended: bool = False,
) -> Autoscaler:
    """Which autoscaler the gateway gets: exactly one of KEDA or an HPA, or none.

    KEDA when asked for and installed; otherwise an HPA on live calls when a custom metrics API
    serves them, else on CPU. `none` (or a suspended tenant) leaves replicas to `spec.replicas`.
    """
    backend = agent.spec.scaling.gateway.backend
    if backend == "none" or suspended:
        return "none"
    if backend == "keda" and keda_installed:
        return "keda"
    return "hpa-calls" if custom_metrics_api else "hpa-cpu"


def active_calls_query(agent: VoiceAgent) -> str:
    """PromQL: live calls of this agent across its gateway pods."""
    key = f"{agent.metadata.namespace}/{agent.metadata.name}"
    return f'sum(switchboard_active_calls{{agent="{key}"}}) or vector(0)'


def _scale_down_behavior(agent: VoiceAgent) -> Manifest:
    """Scale down one pod a minute after calls have been low for the drain timeout or 5 min."""
    window = max(300, agent.spec.gateway.drain.timeout_seconds)
    return {
        "scaleDown": {
            "stabilizationWindowSeconds": min(window, 3600),
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }


def autoscaler_manifest(
    agent: VoiceAgent, meta: Manifest, settings: OperatorSettings, kind: Autoscaler
) -> Manifest | None:
    """A KEDA ScaledObject or an HPA (with `meta`) targeting the gateway Deployment.

    None for `none`.
    """
    if kind == "none":
        return None
    name = agent.metadata.name
    scaling = agent.spec.scaling.gateway
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": gateway_name(name)}
    if kind == "keda":
        return {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": target,
                "minReplicaCount": scaling.min_replicas,
                "maxReplicaCount": scaling.max_replicas,
                "pollingInterval": 15,
                "cooldownPeriod": 300,
                "advanced": {
                    "horizontalPodAutoscalerConfig": {"behavior": _scale_down_behavior(agent)}
                },
                "triggers": [
                    {
                        "type": "prometheus",
                        "name": "active-calls",
                        "metadata": {
                            "serverAddress": settings.prometheus_url,
                            "query": active_calls_query(agent),
                            "threshold": str(scaling.target_active_calls_per_replica),
                        },
                    }
                ],
            },
        }
    metric: Manifest
    if kind == "hpa-calls":
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": "switchboard_active_calls"},
                "target": {
                    "type": "AverageValue",
                    "averageValue": str(scaling.target_active_calls_per_replica),
                },
            },
        }
    else:
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": target,
            # An HPA cannot scale to zero without a feature gate; KEDA can.
            "minReplicas": max(1, scaling.min_replicas),
            "maxReplicas": scaling.max_replicas,
            "metrics": [metric],
            "behavior": _scale_down_behavior(agent),
        },
    }
