"""The model plane as data: shared deployments, resources, autoscaling, Ray's own schema."""

from __future__ import annotations

from typing import Any

import pytest
from ray.serve.schema import ServeDeploySchema

from switchboard_api.manifests import parse_manifest
from switchboard_api.pipeline import LlmSpec, ResolvedPipeline, TtsSpec
from switchboard_api.resources import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.serving import (
    SERVE_IMPORT_PATH,
    AgentModelRequest,
    ModelPlaneArgs,
    agent_request,
    deployment_name,
    model_plane,
    serve_config,
)
from switchboard_api.voiceagent import ModelScalingSpec, ModelsScalingSpec
from tests.cases.invalid import example, with_changes

pytestmark = pytest.mark.unit

DEFAULT = ModelsScalingSpec()


def _request(
    key: str, pipeline: ResolvedPipeline | None = None, scaling: ModelsScalingSpec = DEFAULT
) -> AgentModelRequest:
    return AgentModelRequest(key, pipeline or ResolvedPipeline(), scaling)


def test_agents_with_the_same_models_share_one_deployment_per_model() -> None:
    args = model_plane([_request("acme/front-desk"), _request("acme/night-desk")])
    assert (len(args.asr), len(args.llm), len(args.tts)) == (1, 1, 1)
    assert args.agents["acme/front-desk"] == args.agents["acme/night-desk"]
    assert args.agents["acme/front-desk"].llm == args.llm[0].name


def test_a_different_setting_is_a_different_deployment() -> None:
    faster = ResolvedPipeline(tts=TtsSpec(speed=1.25))
    args = model_plane([_request("a/one"), _request("a/two", faster)])
    assert len(args.tts) == 2
    assert len(args.asr) == len(args.llm) == 1
    assert args.agents["a/one"].tts != args.agents["a/two"].tts


def test_shared_scaling_takes_the_largest_bounds_and_the_smallest_target() -> None:
    busy = ModelsScalingSpec(
        llm=ModelScalingSpec(min_replicas=2, max_replicas=3, target_ongoing_requests=4)
    )
    strict = ModelsScalingSpec(
        llm=ModelScalingSpec(min_replicas=1, max_replicas=8, target_ongoing_requests=1)
    )
    args = model_plane([_request("a/busy", scaling=busy), _request("a/strict", scaling=strict)])
    assert args.llm[0].scaling == ModelScalingSpec(
        min_replicas=2, max_replicas=8, target_ongoing_requests=1
    )


def test_deployment_names_are_stable_short_and_readable() -> None:
    spec = LlmSpec()
    assert deployment_name("llm", spec) == deployment_name("llm", LlmSpec())
    assert deployment_name("llm", spec) != deployment_name("llm", LlmSpec(context_tokens=4096))
    # Sampling travels with each request: agents differing only there share the deployment.
    sampling = LlmSpec(temperature=0.1, max_tokens=40)
    assert deployment_name("llm", spec) == deployment_name("llm", sampling)
    name = deployment_name(
        "llm", LlmSpec(provider="vllm", model="meta-llama/Llama-3.1-8B-Instruct", gpus=1)
    )
    assert name.startswith("llm-meta-llama-llama-3-1-8b-instruct-")
    assert len(name) <= 63


def test_a_gpu_agent_renders_gpu_resources() -> None:
    vllm = ResolvedPipeline(llm=LlmSpec(provider="vllm", model="Qwen/Qwen2.5-7B-Instruct", gpus=2))
    config = serve_config(model_plane([_request("a/gpu", vllm)]))
    deployments = {d["name"]: d for d in config["applications"][0]["deployments"]}
    llm = next(d for name, d in deployments.items() if name.startswith("llm-"))
    assert llm["ray_actor_options"] == {"num_cpus": 1, "num_gpus": 2}
    asr = next(d for name, d in deployments.items() if name.startswith("asr-"))
    assert "num_gpus" not in asr["ray_actor_options"]


def test_autoscaling_is_voice_tuned() -> None:
    config = serve_config(model_plane([_request("a/x")]))
    for deployment in config["applications"][0]["deployments"]:
        autoscaling = deployment.get("autoscaling_config")
        if autoscaling is None:
            continue
        assert autoscaling["target_ongoing_requests"] <= 64, "never Ray Serve LLM's 1e9"
        assert autoscaling["upscale_delay_s"] <= 5
        assert autoscaling["downscale_delay_s"] >= 60
        assert deployment["max_ongoing_requests"] >= autoscaling["target_ongoing_requests"]
        assert autoscaling["look_back_period_s"] > 10, "Serve's metrics interval is 10 s"
    env = config["applications"][0]["runtime_env"]["env_vars"]
    assert float(env["RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S"]) <= 2
    assert float(env["RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S"]) <= 2


def test_the_config_passes_rays_own_schema_and_round_trips_its_args() -> None:
    pipelines = [
        ResolvedPipeline(),
        ResolvedPipeline(llm=LlmSpec(provider="vllm", model="m", gpus=1)),
    ]
    args = model_plane([_request(f"t/agent-{i}", p) for i, p in enumerate(pipelines)])
    config = serve_config(args)
    schema = ServeDeploySchema.model_validate(config)
    application = schema.applications[0]
    assert application.import_path == SERVE_IMPORT_PATH
    assert ModelPlaneArgs.model_validate(application.args) == args
    names = {d.name for d in application.deployments}
    assert names == {d.name for d in args.deployments()} | {"ingress"}


def _knowledge_base(name: str, embedding: dict[str, object] | None = None) -> KnowledgeBase:
    kb = with_changes(example("knowledgebase.yaml"), {"metadata.name": name})
    if embedding is not None:
        kb = with_changes(kb, {"spec.embedding": embedding})
    parsed = parse_manifest(kb, name)
    assert isinstance(parsed, KnowledgeBase)
    return parsed


def test_knowledge_bases_with_the_same_embedding_model_share_one_deployment() -> None:
    kbs = [
        _knowledge_base("handbook"),
        _knowledge_base("prices"),
        _knowledge_base("bulk", {"batchSize": 48}),
    ]
    args = model_plane([_request("acme/desk")], kbs)
    assert len(args.embed) == 2
    assert args.knowledge_bases["acme/handbook"] == args.knowledge_bases["acme/prices"]
    assert args.knowledge_bases["acme/bulk"] != args.knowledge_bases["acme/handbook"]
    assert all(name.startswith("embed-all-minilm-l6-v2-") for name in args.knowledge_bases.values())
    config = serve_config(args)
    ServeDeploySchema.model_validate(config)
    names = {d["name"] for d in config["applications"][0]["deployments"]}
    assert set(args.knowledge_bases.values()) <= names


def test_agents_resolved_against_their_tenant_share_the_tenants_default_llm() -> None:
    remote = {
        "provider": "openai-compatible",
        "model": "gpt-4o-mini",
        "endpoint": {"url": "https://llm.example/v1"},
    }
    tenant = parse_manifest(
        with_changes(example("tenant.yaml"), {"spec.defaults": {"pipeline": {"llm": remote}}}), "t"
    )
    first = parse_manifest(example("receptionist.yaml"), "a")
    second = parse_manifest(
        with_changes(example("receptionist.yaml"), {"metadata.name": "night", "spec.pipeline": {}}),
        "b",
    )
    assert isinstance(tenant, Tenant)
    assert isinstance(first, VoiceAgent)
    assert isinstance(second, VoiceAgent)
    requests = [agent_request(first, tenant), agent_request(second, tenant)]
    assert [r.key for r in requests] == ["acme/receptionist", "acme/night"]
    args = model_plane(requests)
    assert sorted(d.spec.provider for d in args.llm) == ["llamacpp", "openai-compatible"]
    assert args.agents["acme/night"].llm == next(
        d.name for d in args.llm if d.spec.provider != "llamacpp"
    )
    assert args.agents["acme/receptionist"].asr == args.agents["acme/night"].asr


def _agent(name: str, models: dict[str, object]) -> VoiceAgent:
    manifest = with_changes(
        example("receptionist.yaml"),
        {"metadata.name": name, "spec.pipeline": {}, "spec.scaling": {"models": models}},
    )
    agent = parse_manifest(manifest, name)
    assert isinstance(agent, VoiceAgent)
    return agent


def _autoscaling(config: dict[str, Any], deployment: str) -> dict[str, Any]:
    (options,) = [d for d in config["applications"][0]["deployments"] if d["name"] == deployment]
    autoscaling: dict[str, Any] = options["autoscaling_config"]
    return autoscaling | {"max_ongoing_requests": options["max_ongoing_requests"]}


def test_an_agents_target_ongoing_requests_reaches_each_deployments_autoscaling_config() -> None:
    agent = _agent(
        "tuned",
        {
            "asr": {"targetOngoingRequests": 1.5},
            "llm": {"targetOngoingRequests": 3},
            "tts": {"targetOngoingRequests": 5},
        },
    )
    args = model_plane([agent_request(agent)])
    config = serve_config(args)
    names = args.agents["acme/tuned"]
    assert _autoscaling(config, names.asr)["target_ongoing_requests"] == 1.5
    assert _autoscaling(config, names.tts)["target_ongoing_requests"] == 5
    llm = _autoscaling(config, names.llm)
    assert llm["target_ongoing_requests"] == 3
    assert llm["max_ongoing_requests"] == 6, "a replica queues at most twice its target"
    ServeDeploySchema.model_validate(config)


def test_agents_sharing_a_deployment_render_the_lowest_target_ongoing_requests() -> None:
    relaxed = _agent("relaxed", {"llm": {"targetOngoingRequests": 4}})
    strict = _agent("strict", {"llm": {"targetOngoingRequests": 1.5}})
    for order in ([relaxed, strict], [strict, relaxed]):
        args = model_plane([agent_request(a) for a in order])
        names = args.agents["acme/relaxed"]
        assert names == args.agents["acme/strict"], "one shared deployment per model"
        config = serve_config(args)
        assert _autoscaling(config, names.llm)["target_ongoing_requests"] == 1.5
        assert _autoscaling(config, names.asr)["target_ongoing_requests"] == 2.0, "default"
