"""The `VoiceAgent` resource: one conversational agent, its pipeline, tools, channels and scale."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from switchboard_api._base import (
    MAX_TEXT,
    ApiModel,
    ObjectName,
    ShortName,
    Text,
    cel,
    check,
    list_map,
    validations,
)
from switchboard_api.channels import ChannelsSpec
from switchboard_api.common import ConfigMapKeyRef, ResourceStatus, SecretKeyRef
from switchboard_api.egress import EgressRefusedError, destination
from switchboard_api.exposure import ExposureSpec
from switchboard_api.limits import CallLimitsSpec
from switchboard_api.pipeline import PipelineSpec
from switchboard_api.public_access import AgentAccessSpec
from switchboard_api.tls import GatewayTlsSpec

BUILTIN_TOOLS = ("end_call", "transfer_call", "search_knowledge_base")


_ONE_PROMPT_SOURCE = cel(
    "has(self.system) != has(self.configMapKeyRef)",
    message="set exactly one of system or configMapKeyRef",
    reason="FieldValueRequired",
)


_CALLER_VARIABLES_ARE_NOT_THE_AGENTS = cel(
    "!has(self.callerVariables) || !has(self.variables)"
    " || self.callerVariables.all(n, !(n in self.variables))",
    message="a caller variable must not also be one of the agent's own variables",
    field_path=".callerVariables",
    reason="FieldValueForbidden",
)


#: Prompt variables a phone call sets (`{{caller_number}}` etc.); empty on other calls.
PHONE_VARIABLES = ("caller_number", "agent_number", "call_direction", "call_sid")
_PHONE_LIST = "[" + ", ".join(f"'{name}'" for name in PHONE_VARIABLES) + "]"
_PHONE_MESSAGE = (
    "caller_number, agent_number, call_direction and call_sid are set by the phone call"
)
_AGENT_VARIABLES_ARE_NOT_THE_PHONES = cel(
    f"!has(self.variables) || self.variables.all(n, !(n in {_PHONE_LIST}))",
    message=f"{_PHONE_MESSAGE}, never in prompt.variables",
    field_path=".variables",
    reason="FieldValueForbidden",
)
_CALLER_VARIABLES_ARE_NOT_THE_PHONES = cel(
    f"!has(self.callerVariables) || self.callerVariables.all(n, !(n in {_PHONE_LIST}))",
    message=f"{_PHONE_MESSAGE}, never by a caller (prompt.callerVariables)",
    field_path=".callerVariables",
    reason="FieldValueForbidden",
)


class PromptSpec(
    ApiModel,
    json_schema_extra=validations(
        _ONE_PROMPT_SOURCE,
        _CALLER_VARIABLES_ARE_NOT_THE_AGENTS,
        _AGENT_VARIABLES_ARE_NOT_THE_PHONES,
        _CALLER_VARIABLES_ARE_NOT_THE_PHONES,
    ),
):
    """The system prompt (inline or from a ConfigMap), greeting and template variables."""

    system: Annotated[str, Field(min_length=1, max_length=32_768)] | None = None
    config_map_key_ref: ConfigMapKeyRef | None = None
    greeting: Annotated[str, Field(max_length=1000)] | None = None
    outbound_greeting: Annotated[
        str | None,
        Field(
            max_length=1000,
            description="The greeting of calls the agent places (`switchboard dial`); "
            "default: `greeting`.",
        ),
    ] = None
    variables: Annotated[
        dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)], Text],
        Field(max_length=64),
    ] = {}
    caller_variables: Annotated[
        list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]],
        Field(
            max_length=64,
            json_schema_extra={"x-kubernetes-list-type": "set"},
            description="Variables a caller may set in its start; any other is refused. "
            "The agent's own variables are never the caller's to change.",
        ),
    ] = []
    cached_phrases: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]],
        Field(
            max_length=50,
            json_schema_extra={"x-kubernetes-list-type": "set"},
            description="Fixed lines the agent says word for word (e.g. 'One moment, please.'): "
            "their speech is synthesised once and replayed. A reply sentence is replayed only "
            "when it equals one of these exactly; greetings, the recording notice and the "
            "handoff line are cached without being listed.",
        ),
    ] = []

    @model_validator(mode="after")
    def _rules(self) -> PromptSpec:
        check(_ONE_PROMPT_SOURCE, (self.system is None) != (self.config_map_key_ref is None))
        check(
            _CALLER_VARIABLES_ARE_NOT_THE_AGENTS,
            not set(self.caller_variables) & set(self.variables),
        )
        check(_AGENT_VARIABLES_ARE_NOT_THE_PHONES, not set(self.variables) & set(PHONE_VARIABLES))
        check(
            _CALLER_VARIABLES_ARE_NOT_THE_PHONES,
            not set(self.caller_variables) & set(PHONE_VARIABLES),
        )
        return self


#: An http(s) URL with a host, an optional numeric port and no userinfo, spaces or backslashes.
#: The local models read it further with the SSRF guard's strict parser (`egress.destination`).
TOOL_URL_PATTERN = (
    r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?"
    r"([/?#][\x21-\x5b\x5d-\x7e]*)?$"
)
_TOOL_URL = cel(
    "isURL(self) && (url(self).getPort() == '' || "
    "(int(url(self).getPort()) >= 1 && int(url(self).getPort()) <= 65535))",
    message="must be an http(s) URL with a host and a port from 1 to 65535",
    reason="FieldValueInvalid",
)


class HttpToolSpec(ApiModel):
    """How a tool runs: an HTTP webhook, signed with HMAC-SHA256 when a signing key is given."""

    url: Annotated[
        str,
        Field(
            max_length=2048,
            # The pattern is the API server's; locally `_url` reads the URL with the same pattern
            # and the SSRF guard's parser, and says what is wrong instead of quoting the regex.
            json_schema_extra={"pattern": TOOL_URL_PATTERN, **validations(_TOOL_URL)},
        ),
    ]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    timeout_ms: Annotated[int, Field(ge=100, le=30_000)] = 5000
    retries: Annotated[int, Field(ge=0, le=3)] = 1
    signing_secret_ref: SecretKeyRef | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        try:
            if not re.fullmatch(TOOL_URL_PATTERN, url):
                raise EgressRefusedError(
                    "not of the form http(s)://host[:port][/path], without userinfo or spaces"
                )
            destination(url)
        except EgressRefusedError as error:
            raise PydanticCustomError(
                "cel_rule",
                "{message} ({reason})",
                {"message": _TOOL_URL["message"], "reason": str(error)},
            ) from None
        return url


_NOT_A_BUILTIN = cel(
    "!(self.name in ['end_call', 'transfer_call', 'search_knowledge_base'])",
    message="this tool name is reserved for a built-in tool",
    message_expression="'tool name ' + self.name + ' is reserved for a built-in tool'",
    field_path=".name",
    reason="FieldValueForbidden",
)


class ToolParameters(ApiModel):
    """The JSON schema of a tool's arguments: an object schema (other keywords pass through)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["object"] = "object"
    properties: Annotated[dict[str, dict[str, Any]], Field(max_length=64)] = {}
    required: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=64)] = []


class ToolSpec(ApiModel, json_schema_extra=validations(_NOT_A_BUILTIN)):
    """A function the LLM may call, described by a JSON schema and executed as a webhook."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
    description: Annotated[str, Field(min_length=1, max_length=1024)]
    parameters: ToolParameters = ToolParameters()
    http: HttpToolSpec
    filler: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> ToolSpec:
        check(_NOT_A_BUILTIN, self.name not in BUILTIN_TOOLS)
        return self


class KnowledgeBaseRef(ApiModel):
    """A KnowledgeBase in the same namespace that the agent may search."""

    name: ObjectName
    top_k: Annotated[int, Field(ge=1, le=20)] = 4
    #: Search with the caller's words before every reply and hand the model the passages (as
    #: a `search_knowledge_base` call the transcript shows); the tool stays on offer too.
    auto_context: bool = False


class HandoffSpec(ApiModel):
    """When and where a phone call goes to a human, and what the agent says first."""

    keywords: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]],
        Field(
            max_length=32,
            description="Words or phrases that, in the caller's words (any case), transfer "
            "the call at once; the model's own transfer_call tool transfers it too.",
        ),
    ] = []
    transfer_to: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s]+)$",
            description="An E.164 number or a SIP URI the call is redirected to.",
        ),
    ]
    message: Annotated[
        str,
        Field(
            min_length=1,
            max_length=300,
            description="What the agent says before the call is transferred.",
        ),
    ] = "Let me transfer you to a colleague. Please hold."
    transfer_call_tool: Annotated[
        bool,
        Field(
            description="Offer the model the built-in transfer_call tool. Very small models "
            "call it too eagerly; turn it off for them and keep the keywords."
        ),
    ] = True


class BargeInSpec(ApiModel):
    """When caller speech interrupts the agent."""

    enabled: bool = True
    min_speech_ms: Annotated[int, Field(ge=50, le=2000)] = 200
    min_words: Annotated[int, Field(ge=0, le=10)] = 0


_IDLE_BELOW_MAX = cel(
    "self.idleTimeoutSeconds < self.maxCallDurationSeconds",
    message="idleTimeoutSeconds must be below maxCallDurationSeconds",
    field_path=".idleTimeoutSeconds",
)
_NOTICE_NEEDS_RECORDING = cel(
    "!has(self.recordingNotice) || self.recording",
    message="callPolicy.recordingNotice is spoken only when callPolicy.recording is true",
    field_path=".recordingNotice",
    reason="FieldValueForbidden",
)


class DtmfSpec(ApiModel):
    """How keypad digits become a caller turn ("the caller pressed 1 2 3 #")."""

    max_digits: Annotated[
        int | None,
        Field(ge=1, le=32, description="End the turn once this many digits are pressed."),
    ] = None
    finish_on_key: Annotated[
        Literal["#", "*"] | None,
        Field(description="A key that ends the turn at once (it is part of the turn)."),
    ] = "#"
    inter_digit_timeout_ms: Annotated[
        int,
        Field(
            ge=200,
            le=10_000,
            description="End the turn when no further digit comes for this long.",
        ),
    ] = 2000


class CallPolicySpec(
    ApiModel, json_schema_extra=validations(_IDLE_BELOW_MAX, _NOTICE_NEEDS_RECORDING)
):
    """Limits and behaviour of every call."""

    max_call_duration_seconds: Annotated[int, Field(ge=30, le=14_400)] = 1800
    idle_timeout_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    barge_in: BargeInSpec = BargeInSpec()
    recording: Annotated[
        bool,
        Field(
            description="Record every call as a two-channel WAV (caller left, agent right), "
            "kept for the tenant's retention.recordingsDays."
        ),
    ] = False
    recording_notice: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=300,
            description="Said before the greeting when recording, e.g. 'This call may be "
            "recorded.'",
        ),
    ] = None
    dtmf: DtmfSpec = DtmfSpec()
    limits: CallLimitsSpec = CallLimitsSpec()
    end_call_tool: Annotated[
        bool,
        Field(
            description="Offer the built-in end_call tool, so the agent may hang up after a "
            "goodbye. Very small models call it too eagerly; turn it off for them."
        ),
    ] = True

    @model_validator(mode="after")
    def _rules(self) -> CallPolicySpec:
        check(_IDLE_BELOW_MAX, self.idle_timeout_seconds < self.max_call_duration_seconds)
        check(_NOTICE_NEEDS_RECORDING, self.recording_notice is None or self.recording)
        return self


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

    @model_validator(mode="after")
    def _rules(self) -> GatewayScalingSpec:
        check(_MIN_LE_MAX, self.min_replicas <= self.max_replicas)
        return self


class ModelScalingSpec(ApiModel, json_schema_extra=validations(_MIN_LE_MAX)):
    """Ray Serve autoscaling of one model deployment, tuned for voice (small queues)."""

    min_replicas: Annotated[int, Field(ge=0, le=1000)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 4
    target_ongoing_requests: Annotated[float, Field(gt=0, le=64)] = 2.0

    @model_validator(mode="after")
    def _rules(self) -> ModelScalingSpec:
        check(_MIN_LE_MAX, self.min_replicas <= self.max_replicas)
        return self


class ModelsScalingSpec(ApiModel):
    """Autoscaling per model stage."""

    asr: ModelScalingSpec = ModelScalingSpec()
    llm: ModelScalingSpec = ModelScalingSpec()
    tts: ModelScalingSpec = ModelScalingSpec()


class ScalingSpec(ApiModel):
    """Scaling of the agent's gateway and model deployments."""

    gateway: GatewayScalingSpec = GatewayScalingSpec()
    models: ModelsScalingSpec = ModelsScalingSpec()


class DrainSpec(ApiModel):
    """How long a terminating gateway waits for active calls to finish."""

    timeout_seconds: Annotated[int, Field(ge=0, le=3600)] = 120


class GatewaySpec(ApiModel):
    """Per-replica gateway limits."""

    max_concurrent_calls_per_replica: Annotated[int, Field(ge=1, le=1000)] = 50
    drain: DrainSpec = DrainSpec()
    #: TLS terminated by the gateway on both ports (gRPC over TLS, HTTPS/WSS); absent: plain.
    tls: GatewayTlsSpec | None = None


class SloSpec(ApiModel):
    """Latency objective the agent is alerted on (a PrometheusRule per agent)."""

    time_to_first_audio_ms: Annotated[int, Field(ge=100, le=10_000)] = 1200


_TARGET_WITHIN_CAPACITY = cel(
    "self.scaling.gateway.targetActiveCallsPerReplica <= self.gateway.maxConcurrentCallsPerReplica",
    message=(
        "scaling.gateway.targetActiveCallsPerReplica must not exceed "
        "gateway.maxConcurrentCallsPerReplica"
    ),
    field_path=".scaling.gateway.targetActiveCallsPerReplica",
)
_EXPOSED_TLS_NOT_YET = cel(
    "!has(self.exposure) || !has(self.gateway.tls)",
    message=(
        "exposure with gateway.tls is not available yet: routes reach the gateway in plain "
        "text (re-encryption through a BackendTLSPolicy is not rendered); terminate TLS at "
        "the route (exposure.tls) or drop one of them"
    ),
    field_path=".exposure",
    reason="FieldValueForbidden",
)

_HANDOFF_NEEDS_TELEPHONY = cel(
    "!has(self.handoff) || self.channels.twilio.enabled || self.channels.jambonz.enabled",
    message=(
        "handoff needs a telephony channel: enable channels.twilio or channels.jambonz "
        "(a call is transferred by the phone network)"
    ),
    field_path=".handoff",
    reason="FieldValueForbidden",
)


_TWILIO_HANDOFF_NEEDS_ACCOUNT = cel(
    "!has(self.handoff) || self.channels.jambonz.enabled || !self.channels.twilio.enabled"
    " || has(self.channels.twilio.accountSid)",
    message=(
        "handoff over Twilio needs channels.twilio.accountSid: the call is redirected through "
        "that account's REST API"
    ),
    field_path=".channels.twilio.accountSid",
    reason="FieldValueRequired",
)


class VoiceAgentSpec(
    ApiModel,
    json_schema_extra=validations(
        _TARGET_WITHIN_CAPACITY,
        _HANDOFF_NEEDS_TELEPHONY,
        _TWILIO_HANDOFF_NEEDS_ACCOUNT,
        _EXPOSED_TLS_NOT_YET,
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
    call_policy: CallPolicySpec = CallPolicySpec()
    scaling: ScalingSpec = ScalingSpec()
    gateway: GatewaySpec = GatewaySpec()
    access: AgentAccessSpec = AgentAccessSpec()
    exposure: Annotated[
        ExposureSpec | None,
        Field(
            description="Reach the agent from outside the cluster: Gateway API routes (or an "
            "Ingress) to its gateway for this host, TLS through cert-manager when asked."
        ),
    ] = None
    slo: Annotated[
        SloSpec | None,
        Field(
            description="Alert when the agent's voice-to-voice p95 exceeds this objective "
            "(a PrometheusRule the operator keeps where prometheus-operator is installed)."
        ),
    ] = None
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

    @model_validator(mode="after")
    def _rules(self) -> VoiceAgentSpec:
        check(
            _TARGET_WITHIN_CAPACITY,
            self.scaling.gateway.target_active_calls_per_replica
            <= self.gateway.max_concurrent_calls_per_replica,
        )
        check(_HANDOFF_NEEDS_TELEPHONY, self.handoff is None or self.channels.telephony)
        channels = self.channels
        check(
            _TWILIO_HANDOFF_NEEDS_ACCOUNT,
            self.handoff is None
            or channels.jambonz.enabled
            or not channels.twilio.enabled
            or channels.twilio.account_sid is not None,
        )
        check(_EXPOSED_TLS_NOT_YET, self.exposure is None or self.gateway.tls is None)
        return self


class AgentEndpoints(ApiModel):
    """Where callers connect."""

    grpc: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    websocket: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    twilio: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    #: The WebSocket URL a jambonz application connects to (`ws.jambonz.org`).
    jambonz: Annotated[str, Field(max_length=MAX_TEXT)] | None = None


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
