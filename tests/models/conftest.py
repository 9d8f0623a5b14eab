"""Fixtures of the models tier: one real model plane on a local Ray Serve for the session."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import ray
from ray import serve

from switchboard_api.pipeline import ResolvedPipeline
from switchboard_api.resources import KnowledgeBase
from switchboard_api.serving import AgentModelRequest, model_plane, serve_config
from switchboard_api.voiceagent import ModelsScalingSpec
from switchboard_serve.app import build_app
from tests.ports import free_port


def _wait_until_running(app: str, timeout_s: float) -> None:
    """Fail with Serve's own status, not hang, when a deployment cannot start or be placed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        if status is not None and status.status == "RUNNING":
            return
        if status is not None and status.status == "DEPLOY_FAILED":
            pytest.fail(f"Serve app {app} failed to deploy: {status.message}")
        time.sleep(0.5)
    pytest.fail(f"Serve app {app} not running after {timeout_s} s: {serve.status()}")


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    port = free_port()
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
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
        application = serve_config(plane)["applications"][0]
        # Not serve.run: it waits without a bound; a replica that cannot be placed would hang CI.
        serve._run(
            build_app(application["args"]),
            name=application["name"],
            route_prefix="/",
            _blocking=False,
        )
        _wait_until_running(application["name"], timeout_s=300)
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
