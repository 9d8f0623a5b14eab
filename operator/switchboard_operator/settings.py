"""Operator settings, read once from `SWITCHBOARD_OPERATOR_*` environment variables.

The Helm chart sets these; every field has a default that works on a laptop cluster. Invalid
values stop the operator at start with the variable's name in the message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_PREFIX = "SWITCHBOARD_OPERATOR_"
_OPTIONAL_NAME = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"


class SettingsError(ValueError):
    """An environment variable holds a value the operator cannot use."""


class OperatorSettings(BaseModel):
    """Everything the operator's renderers and loops need besides the resources themselves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Images of the deployables (one image per deployable; tags pinned by the chart).
    gateway_image: str = "ghcr.io/switchboard-dev/gateway:0.1.0"
    indexer_image: str = "ghcr.io/switchboard-dev/indexer:0.1.0"
    model_image: str = "ghcr.io/switchboard-dev/serve:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    #: The Ray version inside `model_image` (KubeRay needs it in `rayClusterConfig`).
    ray_version: str = "2.60.0"
    #: How often every object is reconciled again even without events (drift correction).
    resync_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    #: How often gateway pods are asked for their active calls (pod-deletion-cost, status).
    calls_poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 15.0
    #: Prometheus KEDA queries for `switchboard_active_calls`.
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    #: Namespaces allowed to reach every gateway besides the tenant's own list (Prometheus, the
    #: operator itself, which reads `/metrics` for pod-deletion-cost).
    monitoring_namespaces: tuple[str, ...] = ("monitoring",)
    operator_namespace: str = "switchboard-system"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 8000
    #: kopf's liveness endpoint (`/healthz`).
    health_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    #: kopf peering object; replicas with the same name elect one active operator.
    peering_name: str = "switchboard"
    #: The install's call store: a Secret in `operator_namespace` and its key holding a libpq URI
    #: of a PostgreSQL database, copied into each tenant namespace (`switchboard-call-store`).
    #: Empty: no call store, and agents keep no records (`RecordsReady=False`).
    call_store_secret: Annotated[str, Field(pattern=_OPTIONAL_NAME)] = ""
    call_store_key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")] = "url"
    #: The install's recordings bucket (chart value `storage.recordings`) and the Secret in
    #: `operator_namespace` holding its AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, copied into
    #: each tenant namespace with a recording agent (`switchboard-recordings`). Either empty:
    #: no recordings store (`RecordingsReady=False` on agents with `callPolicy.recording`).
    recordings_bucket: Annotated[str, Field(pattern=r"^([a-z0-9][-a-z0-9.]{1,61}[a-z0-9])?$")] = ""
    recordings_prefix: Annotated[str, Field(max_length=200)] = "recordings/"
    recordings_endpoint_url: Annotated[str, Field(pattern=r"^(https?://[^\s]+)?$")] = ""
    recordings_region: Annotated[str, Field(max_length=64)] = ""
    recordings_secret: Annotated[str, Field(pattern=_OPTIONAL_NAME)] = ""
    #: The install's default knowledge store (`store.type: default`): a Secret in
    #: `operator_namespace` and its key holding a libpq URI of a PostgreSQL+pgvector database.
    #: Empty: no default store (such knowledge bases report `StoreNotConfigured`).
    knowledge_store_secret: Annotated[
        str, Field(pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$")
    ] = ""
    knowledge_store_key: Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$")] = "url"
    #: CPU and memory of one model-pool worker and of one gateway replica.
    head_cpu: str = "1"
    head_memory: str = "4Gi"
    worker_cpu: str = "4"
    worker_memory: str = "16Gi"
    worker_max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    #: Logical CPUs Ray schedules on a worker; 0: the worker's CPU request.
    worker_ray_cpus: Annotated[int, Field(ge=0, le=1024)] = 0
    gateway_cpu: str = "1"
    gateway_memory: str = "1Gi"
    #: Upper bound of one request to the API server or to a gateway pod.
    request_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 20.0

    @property
    def default_knowledge_store(self) -> bool:
        """Whether `store.type: default` means a store here."""
        return bool(self.knowledge_store_secret)

    @property
    def call_store(self) -> bool:
        """Whether this install keeps call records (in its PostgreSQL)."""
        return bool(self.call_store_secret)

    @property
    def recordings_store(self) -> bool:
        """Whether this install has a bucket, and its credentials, for call recordings."""
        return bool(self.recordings_bucket and self.recordings_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        """Settings from `SWITCHBOARD_OPERATOR_<FIELD>` variables (upper case field names).

        Tuples are comma-separated.
        """
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for name, field in cls.model_fields.items():
            value = env.get(ENV_PREFIX + name.upper())
            if value is None:
                continue
            if field.annotation == tuple[str, ...]:
                raw[name] = tuple(v.strip() for v in value.split(",") if v.strip())
            else:
                raw[name] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors()
            )
            raise SettingsError(problems) from None
