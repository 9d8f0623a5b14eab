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


def test_the_ray_pods_are_sized_by_the_settings_and_name_the_ports_kuberay_looks_up() -> None:
    settings = OperatorSettings(
        head_cpu="200m", head_memory="3Gi", worker_cpu="900m", worker_ray_cpus=6
    )
    cluster = model_pool(TENANT, OWNER, [agent("front", 3)], [], settings)["spec"][
        "rayClusterConfig"
    ]
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert head["resources"] == {
        "requests": {"cpu": "200m", "memory": "3Gi"},
        "limits": {"memory": "3Gi"},
    }
    assert {"dashboard", "gcs-server", "serve"} <= {p["name"] for p in head["ports"]}
    (worker,) = cluster["workerGroupSpecs"]
    assert worker["rayStartParams"] == {"num-cpus": "6"}
    assert worker["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "900m"
    assert cluster["autoscalerOptions"]["resources"]["requests"]["cpu"] == "100m"
    default = model_pool(TENANT, OWNER, [agent("front", 3)], [], OperatorSettings())
    assert default["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["rayStartParams"] == {}


def test_every_ray_node_starts_its_workers_at_normal_priority() -> None:
    pool = model_pool(TENANT, OWNER, [agent("front", 3)], [], OperatorSettings())
    cluster = pool["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        (container,) = group["template"]["spec"]["containers"]
        assert {"name": "RAY_worker_niceness", "value": "0"} in container["env"]
