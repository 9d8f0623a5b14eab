"""The model plane as data: which model deployments a set of agents needs, and the Serve config.

Agents that use the same model share one deployment (the point of a tenant model pool). The
config produced here is what `serve.run` uses locally and what the operator writes into
`RayService.spec.serveConfigV2`; its `args` are parsed by `switchboard_serve.app:build_app`.
Serve's own config keys are snake_case, so these models are too.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_api.pipeline import AsrSpec, LlmSpec, ResolvedPipeline, TtsSpec, resolve_pipeline
from switchboard_api.resources import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.voiceagent import ModelScalingSpec, ModelsScalingSpec

SERVE_IMPORT_PATH = "switchboard_serve.app:build_app"
INGRESS_DEPLOYMENT = "ingress"
Stage = Literal["asr", "llm", "tts", "embed"]

#: Voice traffic is bursty and latency-bound: scale up after seconds, down after minutes.
UPSCALE_DELAY_S = 3.0
DOWNSCALE_DELAY_S = 120.0
#: Replicas and handles push load metrics every 2 s (Serve's default is 10 s, too slow for
#: bursts of calls); the look-back window must stay longer than Serve's configured interval.
METRICS_PUSH_INTERVAL_S = 2.0
LOOK_BACK_PERIOD_S = 15.0
#: Environment of every Ray node of a model plane (the raylet reads it when it starts). Ray
#: starts its workers, and so every model replica, at nice 15 by default: on a busy machine the
#: models then lose the CPU to everything else and callers wait. Niceness can only be lowered
#: with privileges, so it is set where the raylet starts, not inside a replica.
RAY_NODE_ENV = {"RAY_worker_niceness": "0"}


class _ServeModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Where the Deepgram engines (ASR, Aura TTS) send requests; the model pool's egress allows it.
DEEPGRAM_URL = "https://api.deepgram.com"


class AsrDeployment(_ServeModel):
    """One shared ASR model deployment."""

    name: str
    spec: AsrSpec
    scaling: ModelScalingSpec


class LlmDeployment(_ServeModel):
    """One shared LLM deployment."""

    name: str
    spec: LlmSpec
    scaling: ModelScalingSpec


class TtsDeployment(_ServeModel):
    """One shared TTS deployment."""

    name: str
    spec: TtsSpec
    scaling: ModelScalingSpec


class EmbedDeployment(_ServeModel):
    """One shared embedding model deployment (knowledge-base indexing and retrieval)."""

    name: str
    spec: EmbeddingSpec
    scaling: ModelScalingSpec = ModelScalingSpec()


ModelDeployment = AsrDeployment | LlmDeployment | TtsDeployment | EmbedDeployment


class AgentModels(_ServeModel):
    """The deployments one agent's calls use, by name."""

    asr: str
    llm: str
    tts: str


class ModelPlaneArgs(_ServeModel):
    """The `args` of the Serve application: its deployments and which agent uses which."""

    asr: list[AsrDeployment] = []
    llm: list[LlmDeployment] = []
    tts: list[TtsDeployment] = []
    embed: list[EmbedDeployment] = []
    agents: dict[str, AgentModels] = {}
    #: Knowledge base (`namespace/name`) → the embedding deployment its index was built with.
    knowledge_bases: dict[str, str] = {}

    def deployments(self) -> list[ModelDeployment]:
        """Every model deployment, ASR first."""
        return [*self.asr, *self.llm, *self.tts, *self.embed]


@dataclass(frozen=True)
class AgentModelRequest:
    """What one agent asks of the model plane (after Tenant defaults are applied)."""

    key: str
    pipeline: ResolvedPipeline
    scaling: ModelsScalingSpec


def agent_request(agent: VoiceAgent, tenant: Tenant | None = None) -> AgentModelRequest:
    """What an agent needs from its tenant's pool, after the tenant's pipeline defaults."""
    defaults = tenant.spec.defaults.pipeline if tenant is not None else None
    key = f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}"
    return AgentModelRequest(
        key, resolve_pipeline(agent.spec.pipeline, defaults), agent.spec.scaling.models
    )


_PER_REQUEST_LLM_FIELDS = frozenset({"temperature", "maxTokens"})


def deployment_name(stage: Stage, spec: AsrSpec | LlmSpec | TtsSpec | EmbeddingSpec) -> str:
    """A stable, readable name: stage, model, and a hash of what makes the deployment distinct.

    Sampling settings (temperature, max tokens) travel with each request, so agents that differ
    only in those share one LLM deployment.
    """
    wire = spec.to_wire()
    if isinstance(spec, LlmSpec):
        wire = {k: v for k, v in wire.items() if k not in _PER_REQUEST_LLM_FIELDS}
    identity = json.dumps(wire, sort_keys=True)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:8]
    model = spec.voice if isinstance(spec, TtsSpec) else spec.model
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40]
    return f"{stage}-{slug}-{digest}"


def _merged(scalings: list[ModelScalingSpec]) -> ModelScalingSpec:
    """Scaling of a shared deployment that honours every agent sharing it.

    The largest floor and ceiling, and the smallest (most latency-conservative) target.
    """
    return ModelScalingSpec(
        min_replicas=max(s.min_replicas for s in scalings),
        max_replicas=max(s.max_replicas for s in scalings),
        target_ongoing_requests=min(s.target_ongoing_requests for s in scalings),
    )


def model_plane(
    requests: Sequence[AgentModelRequest], knowledge_bases: Sequence[KnowledgeBase] = ()
) -> ModelPlaneArgs:
    """Deduplicate the agents' and knowledge bases' model choices into shared deployments."""
    specs: dict[str, tuple[Stage, AsrSpec | LlmSpec | TtsSpec]] = {}
    scalings: dict[str, list[ModelScalingSpec]] = {}
    agents: dict[str, AgentModels] = {}
    for request in requests:
        names = {}
        for stage in ("asr", "llm", "tts"):
            spec = getattr(request.pipeline, stage)
            name = deployment_name(stage, spec)
            specs[name] = (stage, spec)
            scalings.setdefault(name, []).append(getattr(request.scaling, stage))
            names[stage] = name
        agents[request.key] = AgentModels(**names)
    grouped: dict[Stage, list[Any]] = {"asr": [], "llm": [], "tts": []}
    kinds = {"asr": AsrDeployment, "llm": LlmDeployment, "tts": TtsDeployment}
    for name in sorted(specs):
        stage, spec = specs[name]
        grouped[stage].append(kinds[stage](name=name, spec=spec, scaling=_merged(scalings[name])))
    embedders: dict[str, EmbeddingSpec] = {}
    kb_models: dict[str, str] = {}
    for kb in knowledge_bases:
        name = deployment_name("embed", kb.spec.embedding)
        embedders[name] = kb.spec.embedding
        kb_models[f"{kb.metadata.namespace or 'default'}/{kb.metadata.name}"] = name
    return ModelPlaneArgs(
        asr=grouped["asr"],
        llm=grouped["llm"],
        tts=grouped["tts"],
        embed=[EmbedDeployment(name=n, spec=embedders[n]) for n in sorted(embedders)],
        agents=agents,
        knowledge_bases=kb_models,
    )


def hosted_remotely(spec: AsrSpec | LlmSpec | TtsSpec | EmbeddingSpec) -> bool:
    """Whether the model runs at a provider (the replica only relays requests)."""
    if isinstance(spec, LlmSpec):
        return spec.provider == "openai-compatible"
    if isinstance(spec, AsrSpec):
        return spec.engine == "deepgram"
    if isinstance(spec, TtsSpec):
        return spec.engine == "deepgram-aura"
    return False


def actor_resources(deployment: ModelDeployment) -> dict[str, float]:
    """Ray actor resources for one replica, from the engine choice."""
    spec = deployment.spec
    if hosted_remotely(spec):
        return {"num_cpus": 0.1}
    if isinstance(spec, LlmSpec) and spec.provider == "vllm":
        return {"num_cpus": 1, "num_gpus": spec.gpus}
    if isinstance(spec, AsrSpec) and spec.device == "cuda":
        return {"num_cpus": 1, "num_gpus": 0.25}
    if isinstance(spec, TtsSpec) and spec.engine == "kokoro":
        return {"num_cpus": 1, "num_gpus": 0.25}
    return {"num_cpus": 1}


def deployment_options(deployment: ModelDeployment) -> dict[str, Any]:
    """Serve options of one model deployment: resources and voice-tuned autoscaling."""
    scaling = deployment.scaling
    return {
        "name": deployment.name,
        "max_ongoing_requests": max(1, math.ceil(2 * scaling.target_ongoing_requests)),
        "autoscaling_config": {
            "min_replicas": scaling.min_replicas,
            "initial_replicas": max(1, scaling.min_replicas),
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
            "upscale_delay_s": UPSCALE_DELAY_S,
            "downscale_delay_s": DOWNSCALE_DELAY_S,
            "look_back_period_s": LOOK_BACK_PERIOD_S,
        },
        "ray_actor_options": actor_resources(deployment),
        "health_check_period_s": 10.0,
        "health_check_timeout_s": 30.0,
        "graceful_shutdown_timeout_s": 20.0,
    }


def serve_config(
    args: ModelPlaneArgs, app_name: str = "models", route_prefix: str = "/"
) -> dict[str, Any]:
    """The Serve deploy config (`serveConfigV2`) of one tenant's model plane."""
    deployments = [deployment_options(d) for d in args.deployments()]
    push = str(METRICS_PUSH_INTERVAL_S)
    deployments.append(
        {"name": INGRESS_DEPLOYMENT, "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.1}}
    )
    return {
        "applications": [
            {
                "name": app_name,
                "route_prefix": route_prefix,
                "import_path": SERVE_IMPORT_PATH,
                "runtime_env": {
                    "env_vars": {
                        "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": push,
                        "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": push,
                    }
                },
                "args": args.model_dump(mode="json", by_alias=True, exclude_none=True),
                "deployments": deployments,
            }
        ]
    }
