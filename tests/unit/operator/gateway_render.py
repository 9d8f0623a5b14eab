"""The gateway config and Deployment the operator renders for one agent (shared by unit tests)."""

from __future__ import annotations

from typing import Any

import yaml

from switchboard_api import Tenant, VoiceAgent
from switchboard_api.gateway import GatewayConfig
from switchboard_operator.render.agent import CONFIG_KEY, agent_children
from switchboard_operator.settings import OperatorSettings

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}


def rendered_gateway(
    agent: VoiceAgent, tenant: Tenant, **options: Any
) -> tuple[GatewayConfig, dict[str, Any]]:
    """The parsed gateway config and the Deployment (no autoscaler, monitor or alert rule)."""
    children = agent_children(
        agent,
        tenant,
        OWNER,
        OperatorSettings(),
        autoscaler="none",
        service_monitor_installed=False,
        prometheus_rule_installed=False,
        **options,
    )
    config_map = next(c for c in children if c["kind"] == "ConfigMap")
    deployment = next(c for c in children if c["kind"] == "Deployment")
    return GatewayConfig.model_validate(yaml.safe_load(config_map["data"][CONFIG_KEY])), deployment
