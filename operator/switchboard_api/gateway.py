"""The call gateway's process configuration: what the operator renders and `switchboard up` builds.

One file (YAML or JSON) per gateway process. Secrets stay out of it: the call store's URL may be
given instead by the `SWITCHBOARD_CALL_STORE_URL` environment variable (from a Secret), and API
keys appear only as SHA-256 hashes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from switchboard_api._base import ApiModel
from switchboard_api.knowledgebase import PACKAGED_EMBEDDING_MODEL, RetrievalSpec
from switchboard_api.pipeline import ModelName
from switchboard_api.resources import Tenant, VoiceAgent
from switchboard_api.tls import TlsFilesConfig

_SHA256_HEX = r"^[0-9a-f]{64}$"
#: The call store's URL in a tenant namespace: the operator's copy of the install's Secret.
CALL_STORE_SECRET = "switchboard-call-store"  # noqa: S105 (a name)
CALL_STORE_KEY = "url"
#: The environment variable a gateway reads the call store's URL from.
CALL_STORE_URL_ENV = "SWITCHBOARD_CALL_STORE_URL"
#: The recordings bucket's credentials in a tenant namespace: the operator's copy of the
#: install's Secret, with boto3's environment variable names as keys.
RECORDINGS_SECRET = "switchboard-recordings"  # noqa: S105 (a name)
RECORDINGS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


class CallStoreConfig(ApiModel):
    """Where call records go and how long they stay."""

    url: Annotated[
        str | None,
        Field(
            pattern=r"^(sqlite:///.+|postgres(ql)?://.+)$",
            description="sqlite:///ABSOLUTE/PATH or postgresql://… (no password: use the env var)",
        ),
    ] = "sqlite:////var/lib/switchboard/calls.db"
    #: The environment variable holding the URL (a libpq URI from a Secret); when set, the
    #: process refuses to start without it and `url` is not used (clusters).
    url_env: Annotated[str | None, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,252}$")] = None
    #: Bring the schema up to date at start (`switchboard up`); false: only check it and refuse
    #: an older one (clusters, where the chart's hook Job migrates once per release).
    migrate: bool = True
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30

    @model_validator(mode="after")
    def _has_a_url(self) -> CallStoreConfig:
        if self.url is None and self.url_env is None:
            raise ValueError("a call store needs url or urlEnv")
        return self


class KnowledgeSearchConfig(ApiModel):
    """How a gateway searches one knowledge base: its store, embedding model and retrieval."""

    #: The environment variable holding the store's URL (a libpq URI, from a Secret).
    store_url_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,252}$")]
    #: The model the index was built with; questions are embedded with it (model plane).
    embedding_model: ModelName = PACKAGED_EMBEDDING_MODEL
    retrieval: RetrievalSpec = RetrievalSpec()


_KB_KEY = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class CallQuotaConfig(ApiModel):
    """The tenant's `quotas.maxConcurrentCalls`, held across its gateways as call-slot Leases."""

    #: Calls at once across every gateway replica of the tenant (0 refuses every call).
    limit: Annotated[int, Field(ge=0, le=1_000_000)]
    #: The tenant namespace, where the slot Leases live.
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
    #: The tenant: the slots' label value.
    tenant: Annotated[str, Field(min_length=1, max_length=253)]
    #: Slot `i` is the Lease `<leasePrefix><i>`.
    lease_prefix: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[-a-z0-9])?$")] = (
        "switchboard-call-slot-"
    )


_FILE = r"^/[^\s]+$"


class TelephonyConfig(ApiModel):
    """What a gateway needs for phone calls beyond the agents' own specs.

    Credentials (`channels.twilio.authTokenSecretRef`, `channels.jambonz.basicAuthSecretRef`)
    are read like every Secret a spec names: from `SWITCHBOARD_SECRET_<NAME>_<KEY>`
    (`secret_env_name`), which the operator fills from the Secret and a local user exports.
    """

    #: The phone port (HTTP and WebSocket, aiohttp): Twilio's webhook and media streams,
    #: jambonz's application sockets, outbound calls. Served only when an agent has a phone
    #: channel.
    port: Annotated[int, Field(ge=0, le=65535)] = 8090
    #: The gateway's public https:// base URL (from `exposure.hostname`, or `switchboard up
    #: --public-url`); an agent's `channels.twilio.publicUrl` wins.
    public_url: Annotated[str | None, Field(pattern=r"^https://[^\s/?#]+(/[^\s?#]*)?$")] = None
    #: Twilio's REST API (an edge location such as https://api.dublin.ie1.twilio.com).
    twilio_api_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] = "https://api.twilio.com"


class S3RecordingsConfig(ApiModel):
    """An S3-compatible bucket for recordings.

    Credentials come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, from a
    Secret), as boto3 reads them.
    """

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    prefix: Annotated[str, Field(max_length=200)] = "recordings/"
    endpoint_url: Annotated[str | None, Field(pattern=r"^https?://[^\s]+$")] = None
    region: Annotated[str | None, Field(max_length=64)] = None


class RecordingsConfig(ApiModel):
    """Where call recordings go (a directory locally, a bucket in clusters) and for how long."""

    directory: Annotated[str | None, Field(pattern=_FILE)] = None
    s3: S3RecordingsConfig | None = None
    #: The tenant's `retention.recordingsDays` (else `transcriptsDays`).
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30

    @model_validator(mode="after")
    def _one_place(self) -> RecordingsConfig:
        if (self.directory is None) == (self.s3 is None):
            raise ValueError("recordings go to exactly one of directory or s3")
        return self


#: The environment variable `switchboard call` reads its API key from (the chart's `helm test`).
API_KEY_ENV = "SWITCHBOARD_API_KEY"


class GatewayConfig(ApiModel):
    """One gateway process: its agents, where their models are, and its limits."""

    model_plane_url: Annotated[str, Field(pattern=r"^https?://.+")]
    agents: Annotated[list[VoiceAgent], Field(min_length=1)]
    #: Tenants of the agents (by name), for their pipeline defaults and egress allow-lists.
    tenants: list[Tenant] = []
    #: Agent (`namespace/name`) → accepted API-key hashes.
    api_key_hashes: dict[str, list[Annotated[str, Field(pattern=_SHA256_HEX)]]] = {}
    #: Agent (`namespace/name`) → files of API keys (one per line), re-read when they change:
    #: the agent's and its tenant's Secrets, mounted by the operator.
    api_key_files: dict[str, list[Annotated[str, Field(pattern=r"^/[^\s]+$")]]] = {}
    #: An agent with no key at all refuses every call (clusters); else it accepts any caller.
    require_api_keys: bool = False
    host: str = "0.0.0.0"  # noqa: S104 (a server in a pod listens on all interfaces)
    grpc_port: Annotated[int, Field(ge=0, le=65535)] = 50051
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_concurrent_calls: Annotated[int, Field(ge=1, le=1000)] = 50
    #: Calls the agents' models serve at once within the voice-to-voice objective: past it, new
    #: calls are refused (`over_capacity`) and live ones keep their latency (docs/limits.md).
    #: None: only `maxConcurrentCalls` bounds them (a model plane that scales by itself).
    capacity_calls: Annotated[int | None, Field(ge=1, le=1000)] = None
    drain_timeout_seconds: Annotated[int, Field(ge=0, le=3600)] = 120
    store: CallStoreConfig | None = CallStoreConfig()
    #: Knowledge base (`namespace/name`) → how to search it. Agents search the ones they name;
    #: `switchboard up` passes its own search instead and leaves this empty.
    knowledge_bases: dict[Annotated[str, Field(pattern=_KB_KEY)], KnowledgeSearchConfig] = {}
    #: Serve the web console and the call-records API on the HTTP port. Records hold
    #: transcripts: enable only where that port is private (`switchboard up` binds loopback).
    console: bool = False
    #: `Host` names the HTTP port answers besides loopback names and the bound host (`name` or
    #: `name:port`). A pod also answers its own host name and IP (kubelet probes, peers); the
    #: probes `/healthz`, `/readyz`, `/metrics` answer any Host.
    allowed_hosts: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-\[\]:]{1,260}$")]] = []
    #: Browser origins (`https://app.example.com`) that may open WebSocket calls and use the HTTP
    #: API, besides the console's own. Requests without `Origin` (non-browser clients) pass.
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^/\s]+$")]] = []
    #: `switchboard up`'s per-run secret: the console needs it (cookie or bearer) and every
    #: agent accepts it as an API key. Never logged; None in clusters.
    local_token: Annotated[str | None, Field(min_length=16, repr=False)] = None
    #: Serve both ports over TLS with this certificate and key (re-read as they change).
    tls: TlsFilesConfig | None = None
    #: The tenant's call quota across its gateways (None: only `maxConcurrentCalls` per process).
    call_quota: CallQuotaConfig | None = None
    #: Phone calls (Twilio, jambonz): credential files, public URL, REST API.
    telephony: TelephonyConfig = TelephonyConfig()
    #: Where recordings of agents with `callPolicy.recording` go (None: they are not recorded,
    #: and the operator says so in the agent's status).
    recordings: RecordingsConfig | None = None

    @model_validator(mode="after")
    def _keys_name_known_agents(self) -> GatewayConfig:
        known = {f"{a.metadata.namespace or 'default'}/{a.metadata.name}" for a in self.agents}
        unknown = sorted((set(self.api_key_hashes) | set(self.api_key_files)) - known)
        if unknown:
            raise ValueError(f"API keys name agents this gateway does not serve: {unknown}")
        return self
