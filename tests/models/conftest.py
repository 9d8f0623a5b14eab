"""Fixtures of the models tier: one real model plane on a local Ray Serve for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from switchboard_api.pipeline import ResolvedPipeline
from switchboard_api.resources import KnowledgeBase
from switchboard_api.serving import AgentModelRequest, model_plane
from switchboard_api.voiceagent import ModelsScalingSpec
from switchboard_serve import local
from tests.ports import free_port


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    agents = [
        AgentModelRequest(f"acme/{name}", ResolvedPipeline(), ModelsScalingSpec())
        for name in ("front-desk", "night-desk")
    ]
    handbook = KnowledgeBase.model_validate(
        {
            "metadata": {"name": "handbook", "namespace": "acme"},
            "spec": {"sources": [{"name": "faq", "inline": {"text": "Open 9 to 5."}}]},
        }
    )
    plane = model_plane(agents, [handbook])
    local.normal_priority()
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        try:
            url = local.deploy(plane, port=free_port(), timeout_s=300)
        except local.ModelPlaneStartError as error:
            pytest.fail(f"the model plane did not start: {error}")
        yield url
    finally:
        local.shutdown()
