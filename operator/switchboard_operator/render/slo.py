"""A VoiceAgent's latency objective (`spec.slo`) as a prometheus-operator PrometheusRule.

The gateway observes `switchboard_stage_latency_seconds{agent="<namespace>/<name>",
stage="voice_to_voice"}`: from the end of the caller's speech to the agent's first audio, which
is what `spec.slo.timeToFirstAudioMs` bounds. The rule alerts when the agent's p95 over five
minutes stays above the objective. The chart's own PrometheusRule keeps its fleet-wide
voice-to-voice alert; this one is the agent's own objective, owned by the agent.
"""

from __future__ import annotations

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.naming import Manifest, agent_labels, metadata, slo_rule_name

SLO_ALERT = "SwitchboardAgentSloBreached"
#: How long the p95 stays above the objective before the alert fires (the chart's default).
SLO_ALERT_FOR = "10m"


def agent_key(agent: VoiceAgent) -> str:
    """The `agent` label the gateway puts on its metrics: `namespace/name`."""
    return f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}"


def slo_query(agent: VoiceAgent, objective_ms: int) -> str:
    """PromQL that holds while the agent's voice-to-voice p95 is above its objective."""
    selector = f'stage="voice_to_voice",agent="{agent_key(agent)}"'
    p95 = (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(switchboard_stage_latency_seconds_bucket{{{selector}}}[5m])))"
    )
    return f"{p95} > {objective_ms / 1000:g}"


def slo_rule(agent: VoiceAgent, tenant: Tenant, owner: Manifest) -> Manifest | None:
    """The agent's SLO alert, or None when the agent sets no `spec.slo`."""
    slo = agent.spec.slo
    if slo is None:
        return None
    objective_ms = slo.time_to_first_audio_ms
    key = agent_key(agent)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(
            slo_rule_name(agent.metadata.name),
            agent.metadata.namespace,
            owner,
            agent_labels("slo", agent.metadata.name, tenant.metadata.name),
        ),
        "spec": {
            "groups": [
                {
                    "name": "switchboard.slo",
                    "rules": [
                        {
                            "alert": SLO_ALERT,
                            "expr": slo_query(agent, objective_ms),
                            "for": SLO_ALERT_FOR,
                            "labels": {"severity": "warning", "agent": key},
                            "annotations": {
                                "summary": f"Voice-to-voice p95 of {key} is over its objective "
                                f"of {objective_ms} ms",
                                "description": "Callers wait {{ $value | humanizeDuration }} "
                                "(p95) from the end of their speech to the agent's first audio; "
                                f"spec.slo.timeToFirstAudioMs is {objective_ms}.",
                            },
                        }
                    ],
                }
            ]
        },
    }
