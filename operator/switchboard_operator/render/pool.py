"""A tenant's model pool: one KubeRay `RayService` serving every model its agents use.

The Serve config comes from `switchboard_api.serving` (the same one `switchboard up` runs), so
agents choosing the same model share one deployment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from switchboard_api import KnowledgeBase, Tenant, VoiceAgent
from switchboard_api.common import SecretKeyRef, secret_env_name, secret_refs
from switchboard_api.serving import (
    RAY_NODE_ENV,
    ModelPlaneArgs,
    actor_resources,
    agent_request,
    model_plane,
    serve_config,
)
from switchboard_operator.naming import MODEL_POOL, Manifest, tenant_metadata
from switchboard_operator.settings import OperatorSettings

SERVE_PORT = 8000
#: KubeRay adds no port of its own once a container lists any, and finds the dashboard (Serve's
#: deploy API) and the GCS by these names: without them a RayService never deploys.
HEAD_PORTS = (
    {"name": "gcs-server", "containerPort": 6379},
    {"name": "dashboard", "containerPort": 8265},
    {"name": "client", "containerPort": 10001},
    {"name": "serve", "containerPort": SERVE_PORT},
)
#: The Ray autoscaler sidecar polls the GCS every few seconds: KubeRay's default reservation
#: (500m CPU) would hold a quarter of a small node for it.
AUTOSCALER_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}

_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def pool_args(
    tenant: Tenant, agents: Sequence[VoiceAgent], knowledge_bases: Sequence[KnowledgeBase]
) -> ModelPlaneArgs:
    """The deduplicated model deployments of a tenant's admitted agents and knowledge bases."""
    return model_plane([agent_request(a, tenant) for a in agents], knowledge_bases)


def _secret_env(refs: Sequence[SecretKeyRef]) -> list[Manifest]:
    return [
        {
            "name": secret_env_name(ref),
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
        for ref in refs
    ]


def _ray_pod(
    settings: OperatorSettings,
    container: str,
    resources: dict[str, str],
    env: list[Manifest],
    gpus: int = 0,
) -> Manifest:
    # No CPU limit: Ray is told its CPUs (`num-cpus`), and a throttled model answers callers late.
    limits: dict[str, Any] = {"memory": resources["memory"]}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    return {
        "spec": {
            "securityContext": _POD_SECURITY,
            "containers": [
                {
                    "name": container,
                    "image": settings.model_image,
                    "imagePullPolicy": settings.image_pull_policy,
                    "env": env,
                    "resources": {"requests": dict(resources), "limits": limits},
                    "securityContext": _CONTAINER_SECURITY,
                    "ports": list(HEAD_PORTS) if container == "ray-head" else [],
                    "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],  # noqa: S108
                }
            ],
            "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        }
    }


def needs_gpu(args: ModelPlaneArgs) -> bool:
    """Whether any deployment of the pool asks for a GPU."""
    return any(actor_resources(d).get("num_gpus", 0) for d in args.deployments())


def model_pool(
    tenant: Tenant,
    owner: Manifest,
    agents: Sequence[VoiceAgent],
    knowledge_bases: Sequence[KnowledgeBase],
    settings: OperatorSettings,
) -> Manifest:
    """The tenant's RayService; `serveConfigV2` holds one application with every model.

    Secrets the models need (remote providers' API keys) become environment variables of every
    Ray node under `secret_env_name`; the keys themselves never enter the Serve config. Every
    node also runs with `RAY_NODE_ENV` (replicas at normal priority).
    """
    args = pool_args(tenant, agents, knowledge_bases)
    config = serve_config(args) if args.deployments() else {"applications": []}
    refs: list[SecretKeyRef] = []
    for deployment in args.deployments():
        refs.extend(r for r in secret_refs(deployment.spec) if r not in refs)
    env = [{"name": k, "value": v} for k, v in RAY_NODE_ENV.items()] + _secret_env(refs)
    worker = {"cpu": settings.worker_cpu, "memory": settings.worker_memory}
    head = {"cpu": settings.head_cpu, "memory": settings.head_memory}
    worker_params = {"num-cpus": str(settings.worker_ray_cpus)} if settings.worker_ray_cpus else {}
    groups: list[Manifest] = [
        {
            "groupName": "cpu",
            "replicas": 1,
            "minReplicas": 1,
            "maxReplicas": settings.worker_max_replicas,
            "rayStartParams": worker_params,
            "template": _ray_pod(settings, "ray-worker", worker, env),
        }
    ]
    if needs_gpu(args):
        groups.append(
            {
                "groupName": "gpu",
                "replicas": 0,
                "minReplicas": 0,
                "maxReplicas": max(1, tenant.spec.quotas.gpus),
                "rayStartParams": {},
                "template": _ray_pod(settings, "ray-worker", worker, env, gpus=1),
            }
        )
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": tenant_metadata(
            MODEL_POOL, "model-pool", tenant.metadata.name, tenant.spec.namespace.name, owner
        ),
        "spec": {
            "serveConfigV2": yaml.safe_dump(config, sort_keys=False),
            "rayClusterConfig": {
                "rayVersion": settings.ray_version,
                "enableInTreeAutoscaling": True,
                "autoscalerOptions": {
                    "securityContext": _CONTAINER_SECURITY,
                    "resources": AUTOSCALER_RESOURCES,
                },
                "headGroupSpec": {
                    "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},  # noqa: S104
                    "template": _ray_pod(settings, "ray-head", head, env),
                },
                "workerGroupSpecs": groups,
            },
        },
    }
