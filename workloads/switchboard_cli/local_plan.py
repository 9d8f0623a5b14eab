"""What `switchboard up` runs for a set of manifests: pure, checked before anything starts.

The manifests are the ones a cluster would get; checks that the operator makes at reconcile
time (a prompt variable without a value, a knowledge base that does not exist) fail here at once,
naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from switchboard_api.gateway import CallStoreConfig, GatewayConfig, RecordingsConfig
from switchboard_api.manifests import LoadedManifest
from switchboard_api.resources import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.serving import (
    ModelDeployment,
    ModelPlaneArgs,
    actor_resources,
    agent_request,
    hosted_remotely,
    model_plane,
)
from switchboard_gateway.agent import AgentConfig, AgentConfigError
from switchboard_gateway.capacity import calls_for_cores

#: A local run serves one person at a laptop; more calls than this would only queue.
LOCAL_MAX_CALLS = 8
#: Ctrl-C gives calls in progress this long to finish.
LOCAL_DRAIN_S = 5


class PlanError(ValueError):
    """The manifests cannot run locally; the message names the file and the field."""


@dataclass(frozen=True)
class LocalPlan:
    """The agents to serve, their tenants and knowledge bases, and the model plane they share."""

    agents: list[VoiceAgent]
    tenants: list[Tenant]
    knowledge_bases: list[KnowledgeBase]
    plane: ModelPlaneArgs
    #: Knowledge base (`namespace/name`) → the directory of its manifest (for `files` paths).
    knowledge_dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def agent_keys(self) -> list[str]:
        """`namespace/name` of every agent."""
        return [_key(a) for a in self.agents]


def _key(resource: VoiceAgent | KnowledgeBase) -> str:
    return f"{resource.metadata.namespace or 'default'}/{resource.metadata.name}"


def plan(loaded: list[LoadedManifest]) -> LocalPlan:
    """Check the manifests as a whole and work out the model plane."""
    agents: dict[str, tuple[Path, VoiceAgent]] = {}
    tenants: list[Tenant] = []
    bases: dict[str, KnowledgeBase] = {}
    dirs: dict[str, Path] = {}
    for item in loaded:
        resource = item.resource
        if isinstance(resource, VoiceAgent):
            key = _key(resource)
            if key in agents:
                raise PlanError(f"{item.path}: VoiceAgent {key} is also in {agents[key][0]}")
            agents[key] = (item.path, resource)
        elif isinstance(resource, Tenant):
            tenants.append(resource)
        else:
            key = _key(resource)
            if key in bases:
                raise PlanError(f"{item.path}: KnowledgeBase {key} is also in {dirs[key]}")
            bases[key] = resource
            dirs[key] = item.path.parent
    if not agents:
        files = sorted({str(item.path) for item in loaded}) or ["(no files)"]
        raise PlanError(f"no VoiceAgent among {', '.join(files)}")
    requests = []
    for key, (path, agent) in agents.items():
        namespace = agent.metadata.namespace or "default"
        tenant = next((t for t in tenants if t.spec.namespace.name == namespace), None)
        try:
            AgentConfig.from_resource(agent, tenant).check()
        except AgentConfigError as error:
            raise PlanError(f"{path}: VoiceAgent {key}: spec.prompt: {error}") from None
        for index, ref in enumerate(agent.spec.knowledge_bases):
            if f"{namespace}/{ref.name}" not in bases:
                raise PlanError(
                    f"{path}: VoiceAgent {key}: spec.knowledgeBases[{index}].name: no "
                    f"KnowledgeBase {namespace}/{ref.name} among the manifests"
                )
        requests.append(agent_request(agent, tenant))
    knowledge_bases = list(bases.values())
    return LocalPlan(
        [agent for _, agent in agents.values()],
        tenants,
        knowledge_bases,
        model_plane(requests, knowledge_bases),
        dirs,
    )


def gateway_config(
    local: LocalPlan,
    *,
    model_plane_url: str,
    host: str,
    http_port: int,
    grpc_port: int,
    state_dir: Path,
    capacity: int | None = None,
) -> GatewayConfig:
    """The gateway of a local run: console on, records in the state directory's SQLite.

    Recordings (agents with `callPolicy.recording`) go to `recordings/` beside `calls.db`.
    `capacity`: calls admitted at once (`switchboard up --capacity`); by default what the
    machine's cores serve within the latency objective (`local_capacity`).
    """
    return GatewayConfig(
        model_plane_url=model_plane_url,
        agents=local.agents,
        tenants=local.tenants,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        max_concurrent_calls=LOCAL_MAX_CALLS,
        capacity_calls=capacity or local_capacity(local.plane, os.cpu_count() or 1),
        drain_timeout_seconds=LOCAL_DRAIN_S,
        store=CallStoreConfig(url=f"sqlite:///{(state_dir / 'calls.db').resolve()}"),
        console=True,
        recordings=local_recordings(local, state_dir),
    )


def local_capacity(plane: ModelPlaneArgs, cores: int) -> int | None:
    """Calls the local model plane serves within the latency objective, on `cores` CPU cores.

    Every ASR, LLM and TTS model on this machine's CPUs: `capacity.CALLS_PER_CORE` a core. A
    model on a GPU or at a provider has a capacity of its own: None (only the call limit).
    """
    models: list[ModelDeployment] = [*plane.asr, *plane.llm, *plane.tts]
    for deployment in models:
        if hosted_remotely(deployment.spec) or actor_resources(deployment).get("num_gpus"):
            return None
    return calls_for_cores(cores)


def local_recordings(local: LocalPlan, state_dir: Path) -> RecordingsConfig | None:
    """`<state dir>/recordings` when an agent records its calls, else None.

    Kept as long as the shortest `retention.recordingsDays` among those agents' tenants
    (a tenant keeping none, 0, records nothing; the gateway skips its agents).
    """
    days = []
    for agent in local.agents:
        if not agent.spec.call_policy.recording:
            continue
        namespace = agent.metadata.namespace or "default"
        tenant = next((t for t in local.tenants if t.spec.namespace.name == namespace), None)
        days.append(tenant.spec.retention.recordings_kept_days if tenant is not None else None)
    if all(d == 0 for d in days):  # no agent records (or every tenant keeps none)
        return None
    kept = [d for d in days if d]
    directory = str((state_dir / "recordings").resolve())
    if not kept:
        return RecordingsConfig(directory=directory)
    return RecordingsConfig(directory=directory, retention_days=min(kept))
