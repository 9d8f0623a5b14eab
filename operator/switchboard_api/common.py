"""Shapes shared by the three custom resources: references, RBAC subjects, conditions, metadata."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_api._base import (
    CAMEL_IDENT,
    MAX_NAME,
    ApiModel,
    ObjectName,
    cel,
    check,
    list_map,
    validations,
)


class _KeyRef(ApiModel):
    name: ObjectName
    key: Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=r"^[-._a-zA-Z0-9]+$")]


class SecretKeyRef(_KeyRef):
    """A key of a Secret in the object's namespace. Credentials are never inlined in specs."""


class ConfigMapKeyRef(_KeyRef):
    """A key of a ConfigMap in the object's namespace."""


class ApiKeyRef(_KeyRef):
    """A Secret key holding API keys that callers present, one per line.

    Several lines while a key is being rotated out. Mounted into the gateway only.
    """


class AccessSpec(ApiModel):
    """Who may call: clients with one of these API keys, browsers from these origins.

    In a cluster a gateway accepts only the keys of its agent and of its tenant, re-reading them
    when the Secrets change (no rollout, no call dropped); with none, it refuses every call.
    A browser page may open WebSocket calls only from its gateway's own origin or one listed
    here (the agent's and the tenant's); clients that send no `Origin` are not browsers.
    """

    api_key_secret_refs: Annotated[
        list[ApiKeyRef], Field(max_length=16, alias="apiKeySecretRefs")
    ] = []
    allowed_origins: Annotated[
        list[Annotated[str, Field(max_length=253, pattern=r"^https?://[^/\s]+$")]],
        Field(max_length=32),
    ] = []


_SA_NAMESPACE = cel(
    "self.kind != 'ServiceAccount' || has(self.namespace)",
    message="a ServiceAccount subject needs a namespace",
    field_path=".namespace",
    reason="FieldValueRequired",
)


class Subject(ApiModel, json_schema_extra=validations(_SA_NAMESPACE)):
    """An RBAC subject (user, group or service account), as in `rbac.authorization.k8s.io/v1`."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
    namespace: Annotated[str, Field(max_length=63)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Subject:
        check(_SA_NAMESPACE, self.kind != "ServiceAccount" or self.namespace is not None)
        return self


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A `metav1.Condition`: one observation of one aspect of an object's state."""

    type: Annotated[str, Field(min_length=1, max_length=316, pattern=CAMEL_IDENT)]
    status: ConditionStatus
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    last_transition_time: datetime
    reason: Annotated[
        str,
        Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    ]
    message: Annotated[str, Field(max_length=32768)] = ""


Conditions = Annotated[
    list[Condition],
    Field(max_length=16, json_schema_extra=list_map("type")),
]


class ResourceStatus(ApiModel):
    """Status fields every custom resource carries (kstatus-compatible, no `phase`)."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    conditions: Conditions = []


class ObjectMeta(BaseModel):
    """The parts of `metav1.ObjectMeta` that our code reads; the rest passes through untouched."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    def to_wire(self) -> dict[str, Any]:
        """Return the metadata as the API server expects it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def secret_env_name(ref: SecretKeyRef) -> str:
    """The environment variable a workload reads a referenced Secret key from.

    The operator projects each referenced key into the pods under this name; locally the user
    exports it. Keys never travel inside configs.
    """
    raw = f"{ref.name}_{ref.key}".upper()
    return "SWITCHBOARD_SECRET_" + "".join(c if c.isalnum() else "_" for c in raw)


def secret_refs(model: BaseModel) -> list[SecretKeyRef]:
    """Every Secret key a (nested) API object refers to, in field order, without repeats.

    The operator projects exactly these into the pods that need them.
    """
    found: list[SecretKeyRef] = []

    def walk(value: object) -> None:
        if isinstance(value, SecretKeyRef):
            if value not in found:
                found.append(value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(model)
    return found
