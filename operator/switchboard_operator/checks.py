"""Whether a spec can be reconciled as written (pure): allowed models, quotas, GPUs.

Each problem becomes `Stalled=True` with a CamelCase reason and a message that names the
field, so `kubectl describe` tells the user what to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.serving import actor_resources, agent_request, model_plane
from switchboard_operator.conditions import Stall
from switchboard_operator.naming import Manifest
from switchboard_operator.observe import creation_time


def model_problem(agent: VoiceAgent, tenant: Tenant) -> Stall | None:
    """A stage whose model the tenant does not allow (an empty allow-list allows any)."""
    request = agent_request(agent, tenant)
    allowed = tenant.spec.allowed_models
    chosen = {
        "asr": request.pipeline.asr.model,
        "llm": request.pipeline.llm.model,
        "tts": request.pipeline.tts.voice,
    }
    for stage, model in chosen.items():
        permitted = getattr(allowed, stage)
        if permitted and model not in permitted:
            field = "voice" if stage == "tts" else "model"
            return Stall(
                "ModelNotAllowed",
                f"spec.pipeline.{stage}.{field}: {model} is not in Tenant "
                f"{tenant.metadata.name}'s allowedModels.{stage} ({', '.join(permitted)})",
            )
    if tenant.spec.quotas.gpus == 0:
        args = model_plane([request])
        gpu = [d.name for d in args.deployments() if actor_resources(d).get("num_gpus", 0)]
        if gpu:
            return Stall(
                "GpuQuotaExceeded",
                f"spec.pipeline: {', '.join(gpu)} needs a GPU and Tenant "
                f"{tenant.metadata.name} has quotas.gpus 0",
            )
    return None


def source_problem(kb: KnowledgeBase) -> Stall | None:
    """A source a cluster cannot read: local files exist only for `switchboard up`."""
    for index, source in enumerate(kb.spec.sources):
        if source.files is not None:
            return Stall(
                "UnsupportedSource",
                f"spec.sources[{index}].files: local files are read only by `switchboard up`; "
                "in a cluster use configMapRef, url or s3",
            )
    return None


def rank(name: str, siblings: Sequence[Manifest]) -> int:
    """Position of the object `name` among live siblings by creation time, then name."""
    live = sorted(
        (s for s in siblings if not s["metadata"].get("deletionTimestamp")),
        key=lambda o: (creation_time(o), o["metadata"]["name"]),
    )
    names = [s["metadata"]["name"] for s in live]
    return names.index(name) if name in names else len(names)


def quota_problem(
    obj: Manifest, siblings: Sequence[Manifest], limit: int | None, field: str, tenant: str
) -> Stall | None:
    """Objects beyond the tenant's count quota (the oldest ones keep running)."""
    if limit is None:
        return None
    position = rank(obj["metadata"]["name"], siblings)
    if position < limit:
        return None
    return Stall(
        "QuotaExceeded",
        f"Tenant {tenant} allows {limit} ({field}); this is number {position + 1} by creation time",
    )


def admitted_agents(
    tenant: Tenant, agents: Sequence[tuple[VoiceAgent, Manifest]]
) -> list[VoiceAgent]:
    """Agents whose models belong in the pool: allowed models, within maxVoiceAgents."""
    bodies = [body for _, body in agents]
    limit = tenant.spec.quotas.max_voice_agents
    return [
        agent
        for agent, body in agents
        if model_problem(agent, tenant) is None
        and quota_problem(body, bodies, limit, "quotas.maxVoiceAgents", tenant.metadata.name)
        is None
    ]
