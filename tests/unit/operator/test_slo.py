"""An agent's `spec.slo` becomes its own PrometheusRule, only where prometheus-operator is."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.render.agent import agent_children
from switchboard_operator.render.slo import SLO_ALERT, slo_rule
from switchboard_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "VoiceAgent", "metadata": {"name": "front", "uid": "u-1"}}
TENANT = Tenant.model_validate(
    {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
)


def agent(**spec: object) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": "front", "namespace": "acme"},
            "spec": {"prompt": {"system": "Hi"}, **spec},
        }
    )


def kinds(a: VoiceAgent, *, prometheus_rule_installed: bool) -> list[str]:
    children = agent_children(
        a,
        TENANT,
        OWNER,
        OperatorSettings(),
        autoscaler="keda",
        service_monitor_installed=True,
        prometheus_rule_installed=prometheus_rule_installed,
    )
    return [c["kind"] for c in children]


def only_rule(rule: dict[str, Any]) -> dict[str, Any]:
    ((group,),) = [rule["spec"]["groups"]]
    (alert,) = group["rules"]
    return dict(alert)


def test_the_objective_becomes_a_p95_voice_to_voice_alert_on_this_agent() -> None:
    rule = slo_rule(agent(slo={"timeToFirstAudioMs": 900}), TENANT, OWNER)
    assert rule is not None
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    alert = only_rule(rule)
    assert alert["alert"] == SLO_ALERT == "SwitchboardAgentSloBreached"
    assert alert["expr"] == (
        "histogram_quantile(0.95, sum by (le) (rate(switchboard_stage_latency_seconds_bucket"
        '{stage="voice_to_voice",agent="acme/front"}[5m]))) > 0.9'
    )
    assert alert["labels"] == {"severity": "warning", "agent": "acme/front"}
    assert "900 ms" in alert["annotations"]["summary"]


def test_the_rule_is_named_labelled_and_owned_like_the_agents_other_children() -> None:
    rule = slo_rule(agent(slo={}), TENANT, OWNER)
    assert rule is not None
    meta = rule["metadata"]
    assert (meta["name"], meta["namespace"]) == ("front-slo", "acme")
    assert meta["ownerReferences"][0]["uid"] == "u-1"
    assert meta["labels"]["switchboard.dev/voice-agent"] == "front"
    assert meta["labels"]["switchboard.dev/tenant"] == "acme"
    assert only_rule(rule)["expr"].endswith("> 1.2"), "the objective's default, 1200 ms"


def test_no_rule_without_an_objective_or_without_prometheus_operator() -> None:
    assert slo_rule(agent(), TENANT, OWNER) is None
    assert "PrometheusRule" not in kinds(agent(), prometheus_rule_installed=True)
    with_slo = agent(slo={"timeToFirstAudioMs": 1500})
    assert "PrometheusRule" not in kinds(with_slo, prometheus_rule_installed=False)
    assert kinds(with_slo, prometheus_rule_installed=True).count("PrometheusRule") == 1
