"""The conversation pipeline of a VoiceAgent: VAD, turn-taking, ASR, LLM and TTS choices.

Stages are whole objects: a Tenant's `defaults.pipeline.asr` replaces an agent's missing `asr`
as a unit, never field by field, so what an agent runs is always one coherent choice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from switchboard_api._base import ApiModel, cel, check, validations
from switchboard_api.common import SecretKeyRef

ModelName = Annotated[
    str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.:/@]*$")
]

#: Models that ship as PyPI packages and run on any CPU (ARCHITECTURE §7).
PACKAGED_ASR_MODEL = "whisper-base"
PACKAGED_LLM_MODEL = "smollm2-135m-instruct"
PACKAGED_TTS_VOICE = "en_US-joe-medium"


class VadSpec(ApiModel):
    """Voice activity detection (Silero, 32 ms windows)."""

    engine: Literal["silero"] = "silero"
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    min_speech_ms: Annotated[int, Field(ge=32, le=2000)] = 96


#: Built-in turn-taking values. With strategy smart-turn the silence before a verdict counts is
#: short (Pipecat's VAD stop, 0.2 s): the model, not the silence, says whether the turn is over.
SILENCE_ENDPOINTING_MS = 500
SMART_TURN_ENDPOINTING_MS = 200
SMART_TURN_MAX_SILENCE_MS = 2000
SMART_TURN_THRESHOLD = 0.5

_THRESHOLD_ONLY_SMART_TURN = cel(
    "self.strategy == 'smart-turn' || !has(self.smartTurnThreshold)",
    message="turn.smartTurnThreshold applies only to strategy smart-turn",
    field_path=".smartTurnThreshold",
    reason="FieldValueForbidden",
)
_MAX_SILENCE_ONLY_SMART_TURN = cel(
    "self.strategy == 'smart-turn' || !has(self.maxEndpointingSilenceMs)",
    message="turn.maxEndpointingSilenceMs applies only to strategy smart-turn",
    field_path=".maxEndpointingSilenceMs",
    reason="FieldValueForbidden",
)
_SILENCE_BELOW_MAX = cel(
    "self.strategy != 'smart-turn' || (has(self.endpointingSilenceMs) ? self.endpointingSilenceMs"
    f" : {SMART_TURN_ENDPOINTING_MS}) < (has(self.maxEndpointingSilenceMs) ? "
    f"self.maxEndpointingSilenceMs : {SMART_TURN_MAX_SILENCE_MS})",
    message=(
        "turn.endpointingSilenceMs must be below turn.maxEndpointingSilenceMs "
        f"({SMART_TURN_MAX_SILENCE_MS} when omitted)"
    ),
    field_path=".endpointingSilenceMs",
)


class TurnSpec(
    ApiModel,
    json_schema_extra=validations(
        _THRESHOLD_ONLY_SMART_TURN, _MAX_SILENCE_ONLY_SMART_TURN, _SILENCE_BELOW_MAX
    ),
):
    """End-of-turn detection: a silence threshold, or a short silence plus Smart Turn v3.2.

    silence: the turn ends after `endpointingSilenceMs` (500 when omitted) of silence.
    smart-turn: after `endpointingSilenceMs` (200 when omitted) of silence the turn ends if the
    Smart Turn model judges it complete (probability >= `smartTurnThreshold`, 0.5 when omitted);
    otherwise it ends after `maxEndpointingSilenceMs` (2000 when omitted) of silence.
    """

    strategy: Literal["silence", "smart-turn"] = "silence"
    endpointing_silence_ms: Annotated[int, Field(ge=100, le=5000)] | None = None
    max_endpointing_silence_ms: Annotated[int, Field(ge=200, le=10000)] | None = None
    smart_turn_threshold: Annotated[float, Field(gt=0, lt=1)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> TurnSpec:
        smart = self.strategy == "smart-turn"
        check(_THRESHOLD_ONLY_SMART_TURN, smart or self.smart_turn_threshold is None)
        check(_MAX_SILENCE_ONLY_SMART_TURN, smart or self.max_endpointing_silence_ms is None)
        silence = self.endpointing_silence_ms or SMART_TURN_ENDPOINTING_MS
        longest = self.max_endpointing_silence_ms or SMART_TURN_MAX_SILENCE_MS
        check(_SILENCE_BELOW_MAX, not smart or silence < longest)
        return self


_DEEPGRAM_NEEDS_KEY = cel(
    "self.engine != 'deepgram' || has(self.apiKeySecretRef)",
    message="engine deepgram needs apiKeySecretRef",
    field_path=".apiKeySecretRef",
    reason="FieldValueRequired",
)
_DEVICE_ONLY_SELF_HOSTED = cel(
    "self.engine != 'deepgram' || self.device == 'auto'",
    message="device applies only to self-hosted engines",
    field_path=".device",
    reason="FieldValueForbidden",
)


class AsrSpec(
    ApiModel, json_schema_extra=validations(_DEEPGRAM_NEEDS_KEY, _DEVICE_ONLY_SELF_HOSTED)
):
    """Speech recognition: faster-whisper (self-hosted) or Deepgram (cloud)."""

    engine: Literal["faster-whisper", "deepgram"] = "faster-whisper"
    model: ModelName = PACKAGED_ASR_MODEL
    language: Annotated[str, Field(max_length=16, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] | None = (
        "en"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    encoder_window: Annotated[
        Literal["fit", "full"],
        Field(
            description="fit: whisper's encoder sees the utterance plus 2 s instead of a padded "
            "30 s window (about 4x faster on CPU for short utterances); full: the 30 s window."
        ),
    ] = "fit"
    max_utterance_seconds: Annotated[int, Field(ge=1, le=120)] = 30
    api_key_secret_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _rules(self) -> AsrSpec:
        deepgram = self.engine == "deepgram"
        check(_DEEPGRAM_NEEDS_KEY, not deepgram or self.api_key_secret_ref is not None)
        check(_DEVICE_ONLY_SELF_HOSTED, not deepgram or self.device == "auto")
        return self


class LlmEndpoint(ApiModel):
    """An OpenAI-compatible HTTP endpoint (OpenAI, Ollama, a vLLM server, ...)."""

    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
    api_key_secret_ref: SecretKeyRef | None = None
    timeout_ms: Annotated[int, Field(ge=100, le=120_000)] = 10_000


_ENDPOINT_IFF_REMOTE = cel(
    "(self.provider == 'openai-compatible') == has(self.endpoint)",
    message="endpoint is required for provider openai-compatible and forbidden otherwise",
    field_path=".endpoint",
)
_VLLM_NEEDS_GPUS = cel(
    "self.provider != 'vllm' || self.gpus >= 1",
    message="provider vllm needs gpus >= 1",
    field_path=".gpus",
)
_GPUS_ONLY_FOR_VLLM = cel(
    "self.provider == 'vllm' || self.gpus == 0",
    message="gpus applies only to provider vllm",
    message_expression="'gpus applies only to provider vllm, not ' + self.provider",
    field_path=".gpus",
    reason="FieldValueForbidden",
)
_MAX_TOKENS_BELOW_CONTEXT = cel(
    "self.maxTokens < self.contextTokens",
    message="maxTokens must be below contextTokens",
    field_path=".maxTokens",
)


class LlmSpec(
    ApiModel,
    json_schema_extra=validations(
        _ENDPOINT_IFF_REMOTE, _VLLM_NEEDS_GPUS, _GPUS_ONLY_FOR_VLLM, _MAX_TOKENS_BELOW_CONTEXT
    ),
):
    """The language model: llama.cpp on CPU, vLLM on GPU, or an OpenAI-compatible remote."""

    provider: Literal["llamacpp", "vllm", "openai-compatible"] = "llamacpp"
    model: ModelName = PACKAGED_LLM_MODEL
    endpoint: LlmEndpoint | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.6
    max_tokens: Annotated[int, Field(ge=1, le=8192)] = 200
    context_tokens: Annotated[int, Field(ge=256, le=131_072)] = 2048
    gpus: Annotated[int, Field(ge=0, le=8)] = 0

    @model_validator(mode="after")
    def _rules(self) -> LlmSpec:
        check(
            _ENDPOINT_IFF_REMOTE,
            (self.provider == "openai-compatible") == (self.endpoint is not None),
        )
        check(_VLLM_NEEDS_GPUS, self.provider != "vllm" or self.gpus >= 1)
        check(_GPUS_ONLY_FOR_VLLM, self.provider == "vllm" or self.gpus == 0)
        check(_MAX_TOKENS_BELOW_CONTEXT, self.max_tokens < self.context_tokens)
        return self


_AURA_NEEDS_KEY = cel(
    "self.engine != 'deepgram-aura' || has(self.apiKeySecretRef)",
    message="engine deepgram-aura needs apiKeySecretRef",
    field_path=".apiKeySecretRef",
    reason="FieldValueRequired",
)


class TtsSpec(ApiModel, json_schema_extra=validations(_AURA_NEEDS_KEY)):
    """Speech synthesis: Piper (CPU), Kokoro (GPU) or Deepgram Aura (cloud)."""

    engine: Literal["piper", "kokoro", "deepgram-aura"] = "piper"
    voice: ModelName = PACKAGED_TTS_VOICE
    speed: Annotated[float, Field(ge=0.5, le=2.0)] = 1.0
    max_characters: Annotated[int, Field(ge=1, le=10_000)] = 2000
    api_key_secret_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _rules(self) -> TtsSpec:
        check(
            _AURA_NEEDS_KEY, self.engine != "deepgram-aura" or self.api_key_secret_ref is not None
        )
        return self


class PipelineSpec(ApiModel):
    """Per-stage choices. A stage left out comes from the Tenant's defaults, then built-ins."""

    vad: VadSpec | None = None
    turn: TurnSpec | None = None
    asr: AsrSpec | None = None
    llm: LlmSpec | None = None
    tts: TtsSpec | None = None


class ResolvedPipeline(ApiModel):
    """A pipeline with every stage chosen (after Tenant defaults and built-ins)."""

    vad: VadSpec = VadSpec()
    turn: TurnSpec = TurnSpec()
    asr: AsrSpec = AsrSpec()
    llm: LlmSpec = LlmSpec()
    tts: TtsSpec = TtsSpec()


def resolve_pipeline(agent: PipelineSpec, tenant_defaults: PipelineSpec | None) -> ResolvedPipeline:
    """Choose each stage: the agent's own, else the tenant's default, else the built-in."""
    tenant = tenant_defaults or PipelineSpec()
    chosen = {
        stage: getattr(agent, stage) or getattr(tenant, stage)
        for stage in ResolvedPipeline.model_fields
    }
    return ResolvedPipeline(**{k: v for k, v in chosen.items() if v is not None})


__all__ = [
    "PACKAGED_ASR_MODEL",
    "PACKAGED_LLM_MODEL",
    "PACKAGED_TTS_VOICE",
    "SILENCE_ENDPOINTING_MS",
    "SMART_TURN_ENDPOINTING_MS",
    "SMART_TURN_MAX_SILENCE_MS",
    "SMART_TURN_THRESHOLD",
    "AsrSpec",
    "LlmEndpoint",
    "LlmSpec",
    "ModelName",
    "PipelineSpec",
    "ResolvedPipeline",
    "TtsSpec",
    "TurnSpec",
    "VadSpec",
    "resolve_pipeline",
]
