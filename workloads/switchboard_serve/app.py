"""The Serve application builder named in the Serve config (`import_path`)."""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from switchboard_api.serving import (
    INGRESS_DEPLOYMENT,
    ModelDeployment,
    ModelPlaneArgs,
    deployment_options,
)
from switchboard_serve.deployments import AsrServer, EmbedServer, LlmServer, TtsServer
from switchboard_serve.http_api import ModelPlaneApi


def build_app(args: dict[str, Any]) -> Application:
    """Bind one deployment per shared model and the HTTP ingress in front of them."""
    plane = ModelPlaneArgs.model_validate(args)

    def bind(cls: type, deployment: ModelDeployment) -> Application:
        options = deployment_options(deployment)
        return serve.deployment(**options)(cls).bind(deployment.model_dump(mode="json"))

    asr = {d.name: bind(AsrServer, d) for d in plane.asr}
    llm = {d.name: bind(LlmServer, d) for d in plane.llm}
    tts = {d.name: bind(TtsServer, d) for d in plane.tts}
    embed = {d.name: bind(EmbedServer, d) for d in plane.embed}
    ingress = serve.deployment(
        name=INGRESS_DEPLOYMENT, num_replicas=1, ray_actor_options={"num_cpus": 0.1}
    )(ModelPlaneApi)
    return ingress.bind(asr, llm, tts, embed, plane.model_dump(mode="json"))
