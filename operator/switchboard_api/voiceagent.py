"""The `VoiceAgent` resource: one conversational agent, its pipeline, tools, channels and scale."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from switchboard_api._base import (
    MAX_TEXT,
    ApiModel,
    ObjectName,
    ShortName,
    Text,
    cel,
    list_map,
    validations,
)
from switchboard_api.common import ConfigMapKeyRef, ResourceStatus, SecretKeyRef
from switchboard_api.pipeline import PipelineSpec

BUILTIN_TOOLS = ("end_call", "transfer_call", "search_knowledge_base")


class PromptSpec(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "has(self.system) != has(self.configMapKeyRef)",
            message="set exactly one of system or configMapKeyRef",
            reason="FieldValueRequired",
        ),
    ),
):
    """The system prompt (inline or from a ConfigMap), greeting and template variables."""

    system: Annotated[str, Field(min_length=1, max_length=32_768)] | None = None
    config_map_key_ref: ConfigMapKeyRef | None = None
    greeting: Annotated[str, Field(max_length=1000)] | None = None
    variables: Annotated[
        dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)], Text],
        Field(max_length=64),
    ] = {}


class HttpToolSpec(ApiModel):
    """How a tool runs: an HTTP webhook, signed with HMAC-SHA256 when a signing key is given."""

    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = 5000
    retries: Annotated[int, Field(ge=0, le=3)] = 1
    signing_secret_ref: SecretKeyRef | None = None


class ToolSpec(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "!(self.name in ['end_call', 'transfer_call', 'search_knowledge_base'])",
            message_expression="'tool name ' + self.name + ' is reserved for a built-in tool'",
            field_path=".name",
            reason="FieldValueForbidden",
        ),
    ),
):
    """A function the LLM may call, described by a JSON schema and executed as a webhook."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    description: Annotated[str, Field(min_length=1, max_length=1024)]
    parameters: Annotated[
        dict[str, Any],
        Field(
            json_schema_extra={
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "JSON schema of the arguments (an object schema).",
            }
        ),
    ] = {"type": "object", "properties": {}}
    http: HttpToolSpec
    filler: Annotated[str, Field(max_length=200)] | None = None


class KnowledgeBaseRef(ApiModel):
    """A KnowledgeBase in the same namespace that the agent may search."""

    name: ObjectName
    top_k: Annotated[int, Field(ge=1, le=20)] = 4


class HandoffSpec(ApiModel):
    """When and where to transfer the caller to a human."""

    keywords: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=32)] = []
    transfer_to: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s]+)$")]


class ChannelToggle(ApiModel):
    """A channel that needs no configuration beyond being on or off."""

    enabled: bool = True


class TwilioChannel(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "!self.enabled || has(self.authTokenSecretRef)",
            message="an enabled twilio channel needs authTokenSecretRef (to validate X-Twilio-Signature)",
            field_path=".authTokenSecretRef",
            reason="FieldValueRequired",
        ),
    ),
):
    """Twilio Media Streams: the account's auth token validates webhook signatures."""

    enabled: bool = False
    auth_token_secret_ref: SecretKeyRef | None = None


class JambonzChannel(ApiModel):
    """jambonz `listen` WebSocket."""

    enabled: bool = False


class ChannelsSpec(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "self.grpc.enabled || self.websocket.enabled || self.twilio.enabled || self.jambonz.enabled",
            message="enable at least one channel",
        ),
    ),
):
    """How callers reach the agent."""

    grpc: ChannelToggle = ChannelToggle()
    websocket: ChannelToggle = ChannelToggle()
    twilio: TwilioChannel = TwilioChannel()
    jambonz: JambonzChannel = JambonzChannel()


class BargeInSpec(ApiModel):
    """When caller speech interrupts the agent."""

    enabled: bool = True
    min_speech_ms: Annotated[int, Field(ge=50, le=2000)] = 200
    min_words: Annotated[int, Field(ge=0, le=10)] = 0


class CallPolicySpec(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "self.idleTimeoutSeconds < self.maxCallDurationSeconds",
            message="idleTimeoutSeconds must be below maxCallDurationSeconds",
            field_path=".idleTimeoutSeconds",
        ),
    ),
):
    """Limits and behaviour of every call."""

    max_call_duration_seconds: Annotated[int, Field(ge=30, le=14_400)] = 1800
    idle_timeout_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    barge_in: BargeInSpec = BargeInSpec()
    recording: bool = False


_MIN_LE_MAX = cel(
    "self.minReplicas <= self.maxReplicas",
    message="minReplicas must not exceed maxReplicas",
    field_path=".minReplicas",
)


class GatewayScalingSpec(ApiModel, json_schema_extra=validations(_MIN_LE_MAX)):
    """Gateway autoscaling on live calls."""

    min_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 10
    target_active_calls_per_replica: Annotated[int, Field(ge=1, le=1000)] = 20
    backend: Literal["keda", "hpa", "none"] = "keda"


class ModelScalingSpec(ApiModel, json_schema_extra=validations(_MIN_LE_MAX)):
    """Ray Serve autoscaling of one model deployment, tuned for voice (small queues)."""

    min_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 4
    target_ongoing_requests: Annotated[float, Field(gt=0, le=64)] = 2.0


class ModelsScalingSpec(ApiModel):
    """Autoscaling per model stage."""

    asr: ModelScalingSpec = ModelScalingSpec()
    llm: ModelScalingSpec = ModelScalingSpec()
    tts: ModelScalingSpec = ModelScalingSpec()


class ScalingSpec(ApiModel):
    """Scaling of the agent's gateway and model deployments."""

    gateway: GatewayScalingSpec = (
        GatewayScalingSpec()
    )
    models: ModelsScalingSpec = (
        ModelsScalingSpec()
    )


class DrainSpec(ApiModel):
    """How long a terminating gateway waits for active calls to finish."""

    timeout_seconds: Annotated[int, Field(ge=0, le=3600)] = 120


class GatewaySpec(ApiModel):
    """Per-replica gateway limits."""

    max_concurrent_calls_per_replica: Annotated[int, Field(ge=1, le=1000)] = 50
    drain: DrainSpec = DrainSpec()


class SloSpec(ApiModel):
    """Latency objective the agent is alerted on."""

    time_to_first_audio_ms: Annotated[int, Field(ge=100, le=10_000)] = 1200


class VoiceAgentSpec(
    ApiModel,
    json_schema_extra=validations(
        cel(
            "self.scaling.gateway.targetActiveCallsPerReplica <= "
            "self.gateway.maxConcurrentCallsPerReplica",
            message=(
                "scaling.gateway.targetActiveCallsPerReplica must not exceed "
                "gateway.maxConcurrentCallsPerReplica"
            ),
            field_path=".scaling.gateway.targetActiveCallsPerReplica",
        ),
        cel(
            "!has(self.handoff) || self.channels.twilio.enabled || self.channels.jambonz.enabled",
            message="handoff needs a telephony channel (twilio or jambonz)",
            field_path=".handoff",
            reason="FieldValueForbidden",
        ),
    ),
):
    """What an agent is: prompt, pipeline, tools, knowledge, channels and scaling."""

    prompt: PromptSpec
    pipeline: PipelineSpec = PipelineSpec()
    tools: Annotated[list[ToolSpec], Field(max_length=32, json_schema_extra=list_map("name"))] = []
    knowledge_bases: Annotated[
        list[KnowledgeBaseRef], Field(max_length=8, json_schema_extra=list_map("name"))
    ] = []
    handoff: HandoffSpec | None = None
    channels: ChannelsSpec = ChannelsSpec()
    call_policy: CallPolicySpec = (
        CallPolicySpec()
    )
    scaling: ScalingSpec = ScalingSpec()
    gateway: GatewaySpec = GatewaySpec()
    slo: SloSpec = SloSpec()
    replicas: Annotated[
        int,
        Field(
            ge=0,
            le=1000,
            description=(
                "Gateway replicas, also set through the scale subresource (`kubectl scale va`). "
                "Used as is when scaling.gateway.backend is none; an autoscaler overrides it "
                "within scaling.gateway.minReplicas..maxReplicas otherwise."
            ),
        ),
    ] = 1


class AgentEndpoints(ApiModel):
    """Where callers connect."""

    grpc: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    websocket: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    twilio: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


class GatewayStatus(ApiModel):
    """Observed gateway replicas; `selector` serves the scale subresource."""

    replicas: Annotated[int, Field(ge=0)] = 0
    ready_replicas: Annotated[int, Field(ge=0)] = 0
    selector: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


class RevisionStatus(ApiModel):
    """Hashes of the resolved config running now and the one being rolled out."""

    current: ShortName | None = None
    desired: ShortName | None = None


class VoiceAgentStatus(ResourceStatus):
    """Observed state: conditions Ready, ModelsReady, GatewayReady, KnowledgeReady and counts."""

    endpoints: AgentEndpoints | None = None
    active_calls: Annotated[int, Field(ge=0)] = 0
    gateway: GatewayStatus | None = None
    revision: RevisionStatus | None = None


VOICEAGENT_CONDITIONS = ("Ready", "Reconciling", "Stalled", "ModelsReady", "GatewayReady", "KnowledgeReady")
