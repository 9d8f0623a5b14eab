"""The three custom resources as whole objects, with the names their CRDs are published under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from switchboard_api._base import GROUP, VERSION
from switchboard_api.common import ObjectMeta
from switchboard_api.knowledgebase import KnowledgeBaseSpec, KnowledgeBaseStatus
from switchboard_api.tenant import TenantSpec, TenantStatus
from switchboard_api.voiceagent import VoiceAgentSpec, VoiceAgentStatus

CATEGORY = "voice"


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column."""

    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class ScaleSubresource:
    """Paths that back the `scale` subresource."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str


@dataclass(frozen=True)
class CrdInfo:
    """How a resource is published: names, scope, columns and subresources."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: Literal["Namespaced", "Cluster"]
    printer_columns: tuple[PrinterColumn, ...] = ()
    scale: ScaleSubresource | None = None
    #: Children append suffixes to the name, so names that become part of child names are short.
    max_name_length: int | None = None

    @property
    def name(self) -> str:
        """The CRD's own name, `<plural>.<group>`."""
        return f"{self.plural}.{GROUP}"


def _ready_column() -> PrinterColumn:
    return PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status')


def _reason_column() -> PrinterColumn:
    return PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1)


def _age_column() -> PrinterColumn:
    return PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


class _Resource(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    crd: ClassVar[CrdInfo]
    api_version: Annotated[Literal["switchboard.dev/v1alpha1"], Field(alias="apiVersion")] = (
        "switchboard.dev/v1alpha1"
    )
    metadata: ObjectMeta = ObjectMeta()

    @model_validator(mode="after")
    def _name_fits(self) -> _Resource:
        limit = self.crd.max_name_length
        if limit is not None and len(self.metadata.name) > limit:
            raise PydanticCustomError(
                "cel_rule",
                "{message}",
                {
                    "message": f"must have at most {limit} characters",
                    "field_path": ".metadata.name",
                },
            )
        return self


class Tenant(_Resource):
    """A tenant of the platform (cluster-scoped)."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="Tenant",
        plural="tenants",
        singular="tenant",
        short_names=("vtenant",),
        scope="Cluster",
        printer_columns=(
            PrinterColumn("Namespace", ".spec.namespace.name"),
            _ready_column(),
            PrinterColumn("Agents", ".status.usage.voiceAgents", type="integer"),
            PrinterColumn("Calls", ".status.usage.activeCalls", type="integer"),
            _reason_column(),
            _age_column(),
        ),
    )
    kind: Literal["Tenant"] = "Tenant"
    spec: TenantSpec
    status: TenantStatus | None = None


class VoiceAgent(_Resource):
    """A voice agent in a tenant's namespace."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="VoiceAgent",
        plural="voiceagents",
        singular="voiceagent",
        short_names=("va",),
        scope="Namespaced",
        printer_columns=(
            _ready_column(),
            PrinterColumn("Replicas", ".status.gateway.readyReplicas", type="integer"),
            PrinterColumn("Calls", ".status.activeCalls", type="integer"),
            PrinterColumn("LLM", ".spec.pipeline.llm.model", priority=1),
            _reason_column(),
            _age_column(),
        ),
        scale=ScaleSubresource(
            spec_replicas_path=".spec.replicas",
            status_replicas_path=".status.gateway.replicas",
            label_selector_path=".status.gateway.selector",
        ),
        max_name_length=40,
    )
    kind: Literal["VoiceAgent"] = "VoiceAgent"
    spec: VoiceAgentSpec
    status: VoiceAgentStatus | None = None


class KnowledgeBase(_Resource):
    """A knowledge base in a tenant's namespace."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="KnowledgeBase",
        plural="knowledgebases",
        singular="knowledgebase",
        short_names=("kb",),
        scope="Namespaced",
        printer_columns=(
            _ready_column(),
            PrinterColumn("Version", ".status.indexVersion"),
            PrinterColumn("Docs", ".status.documents", type="integer"),
            PrinterColumn("Chunks", ".status.chunks", type="integer"),
            _reason_column(),
            _age_column(),
        ),
        max_name_length=40,
    )
    kind: Literal["KnowledgeBase"] = "KnowledgeBase"
    spec: KnowledgeBaseSpec
    status: KnowledgeBaseStatus | None = None


RESOURCES: tuple[type[Tenant] | type[VoiceAgent] | type[KnowledgeBase], ...] = (
    Tenant,
    VoiceAgent,
    KnowledgeBase,
)

__all__ = [
    "CATEGORY",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "CrdInfo",
    "KnowledgeBase",
    "PrinterColumn",
    "ScaleSubresource",
    "Tenant",
    "VoiceAgent",
]
