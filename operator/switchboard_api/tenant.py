"""The `Tenant` resource (cluster-scoped): a namespace with quotas, isolation and credentials."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from switchboard_api._base import (
    DNS_LABEL,
    ApiModel,
    Quantity,
    ShortName,
    cel,
    check,
    list_map,
    validations,
)
from switchboard_api.common import AccessSpec, ResourceStatus, SecretKeyRef, Subject
from switchboard_api.pipeline import ModelName, PipelineSpec

_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NOT_SYSTEM = cel(
    "!(self in ['default', 'kube-system', 'kube-public', 'kube-node-lease'])",
    message="a tenant cannot own a system namespace",
)


class TenantNamespace(
    ApiModel,
    json_schema_extra=validations(
        cel("self == oldSelf", message="namespace is immutable once set"),
    ),
):
    """The namespace the tenant's agents live in; created by the operator unless `create: false`."""

    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=63,
            pattern=DNS_LABEL,
            json_schema_extra=validations(_NOT_SYSTEM),
        ),
    ]
    create: bool = True

    @field_validator("name")
    @classmethod
    def _not_system(cls, name: str) -> str:
        check(_NOT_SYSTEM, name not in _SYSTEM_NAMESPACES)
        return name


_QUOTA_KEY = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[-a-zA-Z0-9_.]+)?$"


class TenantQuotas(ApiModel):
    """Limits on what a tenant may run. Unset means unlimited, bounded by the cluster."""

    max_concurrent_calls: Annotated[
        int | None,
        Field(
            ge=0,
            le=1_000_000,
            description=(
                "Calls at once across all the tenant's gateway replicas (call-slot Leases in its"
                " namespace); a call over it is refused with `quota_exceeded`. Unset: no"
                " tenant-wide limit."
            ),
        ),
    ] = None
    max_voice_agents: Annotated[int, Field(ge=0, le=10_000)] | None = None
    max_knowledge_bases: Annotated[int, Field(ge=0, le=10_000)] | None = None
    gpus: Annotated[int, Field(ge=0, le=1024)] = 0
    resource_quota: Annotated[
        dict[Annotated[str, Field(max_length=253, pattern=_QUOTA_KEY)], Quantity],
        Field(
            max_length=32,
            description="`ResourceQuota.spec.hard` of the tenant namespace (`limits.cpu: 16`).",
        ),
    ] = {}


class AllowedModels(ApiModel):
    """Models agents of this tenant may use, per stage. An empty list allows any."""

    asr: Annotated[list[ModelName], Field(max_length=64)] = []
    llm: Annotated[list[ModelName], Field(max_length=64)] = []
    tts: Annotated[list[ModelName], Field(max_length=64)] = []


class TenantDefaults(ApiModel):
    """Presets merged into the tenant's agents, stage by stage."""

    pipeline: PipelineSpec = PipelineSpec()


_IS_CIDR = cel("isCIDR(self)", message="must be a CIDR such as 10.0.0.0/8")


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        check(_IS_CIDR, False)
    return value


Cidr = Annotated[
    str,
    Field(max_length=64, json_schema_extra=validations(_IS_CIDR)),
    AfterValidator(_cidr),
]


class EgressSpec(ApiModel):
    """Outbound traffic the tenant's pods may send beyond what the platform needs.

    `allowCIDRs` opens the NetworkPolicy egress of every pod of the tenant to these ranges (tool
    webhooks, URL and S3 sources, databases outside the cluster). Tools and URL sources are also
    judged by the SSRF guard: an entry opens private, loopback or link-local addresses to them
    only when it lies inside such a range (`10.20.0.0/16`; never `0.0.0.0/0`), and the cloud
    metadata service stays refused whatever is listed.
    """

    allow_cidrs: Annotated[list[Cidr], Field(max_length=64, alias="allowCIDRs")] = []


_ALLOW_NEEDS_STRICT = cel(
    "self.isolation == 'strict' || size(self.allowIngressFromNamespaces) == 0",
    message="allowIngressFromNamespaces only narrows strict isolation",
    field_path=".allowIngressFromNamespaces",
    reason="FieldValueForbidden",
)


class NetworkSpec(ApiModel, json_schema_extra=validations(_ALLOW_NEEDS_STRICT)):
    """Network isolation: default-deny plus explicit allows (`strict`), or none."""

    isolation: Literal["strict", "none"] = "strict"
    allow_ingress_from_namespaces: Annotated[
        list[Annotated[str, Field(max_length=63, pattern=DNS_LABEL)]], Field(max_length=64)
    ] = []
    egress: EgressSpec = EgressSpec()

    @model_validator(mode="after")
    def _rules(self) -> NetworkSpec:
        check(
            _ALLOW_NEEDS_STRICT,
            self.isolation == "strict" or not self.allow_ingress_from_namespaces,
        )
        return self


class ProviderCredential(ApiModel):
    """A cloud provider's API key, kept in a Secret of the tenant namespace."""

    name: ShortName
    provider: Literal["openai", "deepgram", "twilio", "anthropic", "other"]
    secret_ref: SecretKeyRef


#: No agent field refers to a credential by name yet, and the operator projects only the
#: Secrets agents name themselves (`apiKeySecretRef`): a listed credential would do nothing.
_CREDENTIALS_NOT_YET = cel(
    "size(self.providerCredentials) == 0",
    message=(
        "secrets.providerCredentials is not available yet: agents cannot refer to them; "
        "name the Secret in the agent's apiKeySecretRef instead and remove it"
    ),
    field_path=".providerCredentials",
    reason="FieldValueForbidden",
)


class TenantSecrets(ApiModel, json_schema_extra=validations(_CREDENTIALS_NOT_YET)):
    """Credentials agents may refer to by name (refused until agents can)."""

    provider_credentials: Annotated[
        list[ProviderCredential], Field(max_length=32, json_schema_extra=list_map("name"))
    ] = []

    @model_validator(mode="after")
    def _rules(self) -> TenantSecrets:
        check(_CREDENTIALS_NOT_YET, not self.provider_credentials)
        return self


class RetentionSpec(ApiModel):
    """How long call data is kept. 0 keeps none."""

    transcripts_days: Annotated[int, Field(ge=0, le=3650)] = 30
    recordings_days: Annotated[
        int | None,
        Field(
            ge=0,
            le=3650,
            description="Days a call recording is kept (agents with callPolicy.recording); "
            "default: transcriptsDays. 0 records nothing.",
        ),
    ] = None

    @property
    def recordings_kept_days(self) -> int:
        """Days recordings are kept (`recordingsDays`, else `transcriptsDays`)."""
        return self.transcripts_days if self.recordings_days is None else self.recordings_days


class TenantSpec(ApiModel):
    """A tenant: its namespace, admins, quotas, allowed models, defaults, network and retention."""

    namespace: TenantNamespace
    admins: Annotated[list[Subject], Field(max_length=64)] = []
    quotas: TenantQuotas = TenantQuotas()
    allowed_models: AllowedModels = AllowedModels()
    defaults: TenantDefaults = TenantDefaults()
    network: NetworkSpec = NetworkSpec()
    secrets: TenantSecrets = TenantSecrets()
    retention: RetentionSpec = RetentionSpec()
    #: API keys valid for every agent of the tenant (beside each agent's own).
    access: AccessSpec = AccessSpec()
    suspend: bool = False


class TenantUsage(ApiModel):
    """What the tenant uses now."""

    voice_agents: Annotated[int, Field(ge=0)] = 0
    knowledge_bases: Annotated[int, Field(ge=0)] = 0
    active_calls: Annotated[int, Field(ge=0)] = 0


class TenantStatus(ResourceStatus):
    """Observed state: conditions Ready, Reconciling, Stalled, NamespaceReady, ModelPoolReady."""

    namespace: Annotated[str, Field(max_length=63)] | None = None
    usage: TenantUsage | None = None
