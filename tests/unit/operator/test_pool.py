"""The tenant's RayService: its Serve config carries what the agents ask of their models."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from switchboard_api import Tenant, VoiceAgent
from switchboard_operator.render.pool import model_pool
from switchboard_operator.settings import OperatorSettings

pytestmark = pytest.mark.unit

OWNER = {"apiVersion": "x/v1", "kind": "Owner", "metadata": {"name": "o", "uid": "u-1"}}
TENANT = Tenant.model_validate(
    {"metadata": {"name": "acme"}, "spec": {"namespace": {"name": "acme"}}}
)


def agent(name: str, llm_target: float) -> VoiceAgent:
    return VoiceAgent.model_validate(
        {
            "metadata": {"name": name, "namespace": "acme"},
            "spec": {
                "prompt": {"system": "Hi"},
                "scaling": {"models": {"llm": {"targetOngoingRequests": llm_target}}},
            },
        }
    )


def llm_deployment(pool: dict[str, Any]) -> dict[str, Any]:
    config = yaml.safe_load(pool["spec"]["serveConfigV2"])
    (llm,) = [d for d in config["applications"][0]["deployments"] if d["name"].startswith("llm-")]
    return dict(llm)


def test_the_rayservice_carries_the_agents_target_ongoing_requests() -> None:
    pool = model_pool(TENANT, OWNER, [agent("front", 3)], [], OperatorSettings())
    assert llm_deployment(pool)["autoscaling_config"]["target_ongoing_requests"] == 3


def test_agents_sharing_the_llm_deployment_scale_it_on_the_lowest_target() -> None:
    agents = [agent("front", 3), agent("night", 1.5)]
    pool = model_pool(TENANT, OWNER, agents, [], OperatorSettings())
    assert llm_deployment(pool)["autoscaling_config"]["target_ongoing_requests"] == 1.5
