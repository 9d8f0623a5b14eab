"""Invalid objects that both the API server and our local models must reject.

Each case starts from a valid example manifest and changes it; `field` is the path the error
must name and `fragment` a piece of the message. `rule` names the CEL rule the case exercises
(verbatim from the CRD), so a test can prove that every CEL rule has a negative case.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DELETE = object()


def example(name: str) -> dict[str, Any]:
    """A fresh copy of an example manifest."""
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return document


def with_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Copy `base` and set (or, with DELETE, remove) dotted paths such as `spec.tools[0].name`."""
    result = copy.deepcopy(base)
    for path, value in changes.items():
        parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
        node: Any = result
        for part in parts[:-1]:
            if isinstance(part, str) and part not in node:
                node[part] = {}
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return result


@dataclass(frozen=True)
class InvalidCase:
    """One object the API server must reject."""

    id: str
    base: str
    changes: dict[str, Any]
    field: str
    fragment: str
    rule: str | None = None
    #: The local models word a few schema rules differently (pydantic's own key patterns).
    local_fragment: str | None = None

    def manifest(self) -> dict[str, Any]:
        """The invalid object."""
        return with_changes(example(self.base), self.changes)


TENANT, AGENT, TOOLS_AGENT, KB = (
    "tenant.yaml",
    "receptionist.yaml",
    "booking-agent.yaml",
    "knowledgebase.yaml",
)
SECRET = {"name": "keys", "key": "k"}

#: Fields the API refuses because nothing implements them yet (a field the API accepts does
#: something). Each message says the feature is not available yet and names the field.
NOT_YET = "is not available yet"
REFUSED: tuple[InvalidCase, ...] = (
    InvalidCase(
        "exposed-gateway-tls-not-yet",
        AGENT,
        {
            "spec.exposure": {"hostname": "desk.example.com"},
            "spec.gateway": {"tls": {"secretName": "desk-tls"}},
        },
        "spec.exposure",
        f"exposure with gateway.tls {NOT_YET}",
        rule="!has(self.exposure) || !has(self.gateway.tls)",
    ),
    InvalidCase(
        "provider-credentials-not-yet",
        TENANT,
        {
            "spec.secrets": {
                "providerCredentials": [
                    {"name": "deepgram", "provider": "deepgram", "secretRef": SECRET}
                ]
            }
        },
        "spec.secrets.providerCredentials",
        f"secrets.providerCredentials {NOT_YET}",
        rule="size(self.providerCredentials) == 0",
    ),
)

CASES: tuple[InvalidCase, ...] = (
    # --- turn-taking: Smart Turn's fields apply only to it; its short silence below its longest ---
    InvalidCase(
        "smart-turn-threshold-only-for-smart-turn",
        AGENT,
        {"spec.pipeline.turn": {"smartTurnThreshold": 0.6}},
        "spec.pipeline.turn.smartTurnThreshold",
        "turn.smartTurnThreshold applies only to strategy smart-turn",
        rule="self.strategy == 'smart-turn' || !has(self.smartTurnThreshold)",
    ),
    InvalidCase(
        "max-endpointing-silence-only-for-smart-turn",
        AGENT,
        {"spec.pipeline.turn": {"strategy": "silence", "maxEndpointingSilenceMs": 2000}},
        "spec.pipeline.turn.maxEndpointingSilenceMs",
        "turn.maxEndpointingSilenceMs applies only to strategy smart-turn",
        rule="self.strategy == 'smart-turn' || !has(self.maxEndpointingSilenceMs)",
    ),
    InvalidCase(
        "smart-turn-silence-below-max",
        AGENT,
        {
            "spec.pipeline.turn": {
                "strategy": "smart-turn",
                "endpointingSilenceMs": 800,
                "maxEndpointingSilenceMs": 800,
            }
        },
        "spec.pipeline.turn.endpointingSilenceMs",
        "turn.endpointingSilenceMs must be below turn.maxEndpointingSilenceMs",
        rule="self.strategy != 'smart-turn' || (has(self.endpointingSilenceMs) ? "
        "self.endpointingSilenceMs : 200) < (has(self.maxEndpointingSilenceMs) ? "
        "self.maxEndpointingSilenceMs : 2000)",
    ),
    InvalidCase(
        "tenant-default-smart-turn-silence-below-default-max",
        TENANT,
        {
            "spec.defaults": {
                "pipeline": {"turn": {"strategy": "smart-turn", "endpointingSilenceMs": 2500}}
            }
        },
        "spec.defaults.pipeline.turn.endpointingSilenceMs",
        "(2000 when omitted)",
        rule="self.strategy != 'smart-turn' || (has(self.endpointingSilenceMs) ? "
        "self.endpointingSilenceMs : 200) < (has(self.maxEndpointingSilenceMs) ? "
        "self.maxEndpointingSilenceMs : 2000)",
    ),
    # --- telephony: credentials required, handoff needs a phone channel ---
    InvalidCase(
        "handoff-needs-telephony",
        AGENT,
        {"spec.handoff": {"keywords": ["human"], "transferTo": "+15550100200"}},
        "spec.handoff",
        "handoff needs a telephony channel",
        rule="!has(self.handoff) || self.channels.twilio.enabled || self.channels.jambonz.enabled",
    ),
    InvalidCase(
        "twilio-handoff-needs-account",
        AGENT,
        {
            "spec.channels": {"twilio": {"enabled": True, "authTokenSecretRef": SECRET}},
            "spec.handoff": {"transferTo": "+15550100200"},
        },
        "spec.channels.twilio.accountSid",
        "handoff over Twilio needs channels.twilio.accountSid",
        rule="!has(self.handoff) || self.channels.jambonz.enabled || !self.channels.twilio.enabled"
        " || has(self.channels.twilio.accountSid)",
    ),
    InvalidCase(
        "twilio-needs-auth-token",
        AGENT,
        {"spec.channels": {"twilio": {"enabled": True}}},
        "spec.channels.twilio.authTokenSecretRef",
        "channels.twilio.authTokenSecretRef is required",
        rule="!self.twilio.enabled || has(self.twilio.authTokenSecretRef)",
    ),
    InvalidCase(
        "jambonz-needs-basic-auth",
        AGENT,
        {"spec.channels": {"jambonz": {"enabled": True}}},
        "spec.channels.jambonz.basicAuthSecretRef",
        "channels.jambonz.basicAuthSecretRef is required",
        rule="!self.jambonz.enabled || has(self.jambonz.basicAuthSecretRef)",
    ),
    InvalidCase(
        "jambonz-sample-rate",
        AGENT,
        {"spec.channels": {"jambonz": {"enabled": False, "sampleRate": 24000}}},
        "spec.channels.jambonz.sampleRate",
        "channels.jambonz.sampleRate must be 8000 or 16000",
        rule="self.jambonz.sampleRate == 8000 || self.jambonz.sampleRate == 16000",
    ),
    InvalidCase(
        "twilio-account-sid-pattern",
        AGENT,
        {"spec.channels": {"twilio": {"enabled": False, "accountSid": "not-a-sid"}}},
        "spec.channels.twilio.accountSid",
        "should match",
    ),
    InvalidCase(
        "twilio-public-url-https",
        AGENT,
        {"spec.channels": {"twilio": {"enabled": False, "publicUrl": "http://plain.example"}}},
        "spec.channels.twilio.publicUrl",
        "should match",
    ),
    InvalidCase(
        "recording-notice-needs-recording",
        AGENT,
        {"spec.callPolicy": {"recordingNotice": "This call may be recorded."}},
        "spec.callPolicy.recordingNotice",
        "callPolicy.recordingNotice is spoken only when callPolicy.recording is true",
        rule="!has(self.recordingNotice) || self.recording",
    ),
    InvalidCase(
        "dtmf-finish-key-enum",
        AGENT,
        {"spec.callPolicy": {"dtmf": {"finishOnKey": "5"}}},
        "spec.callPolicy.dtmf.finishOnKey",
        "Unsupported value",
    ),
    # --- schema (OpenAPI) validation: types, enums, bounds, patterns, required ---
    InvalidCase(
        "llm-provider-enum",
        AGENT,
        {"spec.pipeline.llm.provider": "gpt"},
        "spec.pipeline.llm.provider",
        "Unsupported value",
    ),
    InvalidCase(
        "gateway-max-below-one",
        AGENT,
        {"spec.scaling.gateway.maxReplicas": 0},
        "spec.scaling.gateway.maxReplicas",
        "greater than or equal to 1",
    ),
    InvalidCase(
        "tool-url-scheme",
        TOOLS_AGENT,
        {"spec.tools[0].http.url": "ftp://x/y"},
        "spec.tools[0].http.url",
        "should match",
    ),
    InvalidCase(
        "tool-url-two-ports",
        TOOLS_AGENT,
        {"spec.tools[0].http.url": "http://127.0.0.1:80:81/x"},
        "spec.tools[0].http.url",
        "should match",
    ),
    InvalidCase(
        "tool-url-userinfo",
        TOOLS_AGENT,
        {"spec.tools[0].http.url": "http://user:pw@example.com/x"},
        "spec.tools[0].http.url",
        "should match",
    ),
    InvalidCase(
        "tool-url-port-out-of-range",
        TOOLS_AGENT,
        {"spec.tools[0].http.url": "http://example.com:99999/x"},
        "spec.tools[0].http.url",
        "a port from 1 to 65535",
        rule=(
            "isURL(self) && (url(self).getPort() == '' || "
            "(int(url(self).getPort()) >= 1 && int(url(self).getPort()) <= 65535))"
        ),
    ),
    InvalidCase(
        "files-path-climbs-out",
        KB,
        {"spec.sources[1]": {"name": "docs", "files": {"path": "../../etc"}}},
        "spec.sources[1].files.path",
        "may not contain '..' components",
        rule="!self.path.matches('(^~|(^|/)[.][.](/|$))')",
    ),
    InvalidCase(
        "files-pattern-absolute",
        KB,
        {"spec.sources[1]": {"name": "docs", "files": {"path": "docs", "pattern": "/etc/*"}}},
        "spec.sources[1].files.pattern",
        "files.pattern must be relative",
        rule="!self.pattern.startsWith('/') && !self.pattern.matches('(^~|(^|/)[.][.](/|$))')",
    ),
    InvalidCase(
        "negative-replicas",
        AGENT,
        {"spec.replicas": -1},
        "spec.replicas",
        "greater than or equal to 0",
    ),
    InvalidCase("prompt-required", AGENT, {"spec.prompt": DELETE}, "spec.prompt", "Required value"),
    InvalidCase(
        "vad-threshold-exclusive",
        AGENT,
        {"spec.pipeline.vad": {"threshold": 1.0}},
        "spec.pipeline.vad.threshold",
        "less than 1",
    ),
    InvalidCase("kb-needs-a-source", KB, {"spec.sources": []}, "spec.sources", "at least 1"),
    # --- CEL rules ---
    InvalidCase(
        "serviceaccount-admin-needs-namespace",
        TENANT,
        {"spec.admins": [{"kind": "ServiceAccount", "name": "ci"}]},
        "spec.admins[0].namespace",
        "needs a namespace",
        rule="self.kind != 'ServiceAccount' || has(self.namespace)",
    ),
    InvalidCase(
        "deepgram-asr-needs-key",
        AGENT,
        {"spec.pipeline.asr": {"engine": "deepgram"}},
        "spec.pipeline.asr.apiKeySecretRef",
        "needs apiKeySecretRef",
        rule="self.engine != 'deepgram' || has(self.apiKeySecretRef)",
    ),
    InvalidCase(
        "deepgram-asr-no-device",
        AGENT,
        {"spec.pipeline.asr": {"engine": "deepgram", "device": "cuda", "apiKeySecretRef": SECRET}},
        "spec.pipeline.asr.device",
        "only to self-hosted",
        rule="self.engine != 'deepgram' || self.device == 'auto'",
    ),
    InvalidCase(
        "endpoint-only-for-openai-compatible",
        AGENT,
        {"spec.pipeline.llm.endpoint": {"url": "https://llm.example/v1"}},
        "spec.pipeline.llm.endpoint",
        "required for provider openai-compatible",
        rule="(self.provider == 'openai-compatible') == has(self.endpoint)",
    ),
    InvalidCase(
        "openai-compatible-needs-endpoint",
        AGENT,
        {"spec.pipeline.llm": {"provider": "openai-compatible"}},
        "spec.pipeline.llm.endpoint",
        "required for provider openai-compatible",
        rule="(self.provider == 'openai-compatible') == has(self.endpoint)",
    ),
    InvalidCase(
        "vllm-needs-gpus",
        AGENT,
        {"spec.pipeline.llm": {"provider": "vllm"}},
        "spec.pipeline.llm.gpus",
        "provider vllm needs gpus >= 1",
        rule="self.provider != 'vllm' || self.gpus >= 1",
    ),
    InvalidCase(
        "gpus-only-for-vllm",
        AGENT,
        {"spec.pipeline.llm": {"gpus": 1}},
        "spec.pipeline.llm.gpus",
        "gpus applies only to provider vllm",
        rule="self.provider == 'vllm' || self.gpus == 0",
    ),
    InvalidCase(
        "max-tokens-below-context",
        AGENT,
        {"spec.pipeline.llm": {"maxTokens": 4096, "contextTokens": 2048}},
        "spec.pipeline.llm.maxTokens",
        "maxTokens must be below contextTokens",
        rule="self.maxTokens < self.contextTokens",
    ),
    InvalidCase(
        "aura-needs-key",
        AGENT,
        {"spec.pipeline.tts": {"engine": "deepgram-aura"}},
        "spec.pipeline.tts.apiKeySecretRef",
        "needs apiKeySecretRef",
        rule="self.engine != 'deepgram-aura' || has(self.apiKeySecretRef)",
    ),
    InvalidCase(
        "prompt-one-of",
        AGENT,
        {"spec.prompt.configMapKeyRef": {"name": "p", "key": "system.txt"}},
        "spec.prompt",
        "set exactly one of system or configMapKeyRef",
        rule="has(self.system) != has(self.configMapKeyRef)",
    ),
    InvalidCase(
        "prompt-variable-key",
        AGENT,
        {"spec.prompt.variables": {"bad-key": "x"}},
        "spec.prompt.variables",
        "every key must match",
        rule='self.all(k, k.matches("^[A-Za-z_][A-Za-z0-9_]*$"))',
        local_fragment="should match pattern",
    ),
    InvalidCase(
        "caller-variable-is-the-agents",
        AGENT,
        {"spec.prompt.callerVariables": ["company"]},
        "spec.prompt.callerVariables",
        "must not also be one of the agent's own variables",
        rule="!has(self.callerVariables) || !has(self.variables)"
        " || self.callerVariables.all(n, !(n in self.variables))",
    ),
    InvalidCase(
        "agent-variable-is-the-phones",
        AGENT,
        {"spec.prompt.variables": {"caller_number": "+15550001111"}},
        "spec.prompt.variables",
        "set by the phone call, never in prompt.variables",
        rule="!has(self.variables) || self.variables.all(n, !(n in ['caller_number',"
        " 'agent_number', 'call_direction', 'call_sid']))",
    ),
    InvalidCase(
        "caller-variable-is-the-phones",
        AGENT,
        {"spec.prompt.callerVariables": ["call_sid"]},
        "spec.prompt.callerVariables",
        "never by a caller",
        rule="!has(self.callerVariables) || self.callerVariables.all(n, !(n in"
        " ['caller_number', 'agent_number', 'call_direction', 'call_sid']))",
    ),
    InvalidCase(
        "tool-name-reserved",
        TOOLS_AGENT,
        {"spec.tools[0].name": "end_call"},
        "spec.tools[0].name",
        "reserved for a built-in tool",
        rule="!(self.name in ['end_call', 'transfer_call', 'search_knowledge_base'])",
    ),
    InvalidCase(
        "tool-parameters-object",
        TOOLS_AGENT,
        {"spec.tools[1].parameters": {"type": "array"}},
        "spec.tools[1].parameters.type",
        "Unsupported value",
    ),
    InvalidCase(
        "at-least-one-channel",
        AGENT,
        {"spec.channels": {"grpc": {"enabled": False}, "websocket": {"enabled": False}}},
        "spec.channels",
        "enable at least one channel",
        rule="self.grpc.enabled || self.websocket.enabled || self.twilio.enabled || self.jambonz.enabled",
    ),
    InvalidCase(
        "idle-below-max-duration",
        AGENT,
        {"spec.callPolicy": {"idleTimeoutSeconds": 600, "maxCallDurationSeconds": 300}},
        "spec.callPolicy.idleTimeoutSeconds",
        "idleTimeoutSeconds must be below maxCallDurationSeconds",
        rule="self.idleTimeoutSeconds < self.maxCallDurationSeconds",
    ),
    InvalidCase(
        "gateway-min-le-max",
        AGENT,
        {"spec.scaling": {"gateway": {"minReplicas": 5, "maxReplicas": 2}}},
        "spec.scaling.gateway.minReplicas",
        "minReplicas must not exceed maxReplicas",
        rule="self.minReplicas <= self.maxReplicas",
    ),
    InvalidCase(
        "model-min-le-max",
        AGENT,
        {"spec.scaling": {"models": {"llm": {"minReplicas": 3, "maxReplicas": 1}}}},
        "spec.scaling.models.llm.minReplicas",
        "minReplicas must not exceed maxReplicas",
        rule="self.minReplicas <= self.maxReplicas",
    ),
    InvalidCase(
        "target-within-capacity",
        AGENT,
        {"spec.scaling": {"gateway": {"targetActiveCallsPerReplica": 80}}},
        "spec.scaling.gateway.targetActiveCallsPerReplica",
        "must not exceed gateway.maxConcurrentCallsPerReplica",
        rule="self.scaling.gateway.targetActiveCallsPerReplica <= self.gateway.maxConcurrentCallsPerReplica",
    ),
    InvalidCase("agent-name-length", AGENT, {"metadata.name": "a" * 41}, "metadata.name", "40"),
    InvalidCase("kb-name-length", KB, {"metadata.name": "k" * 41}, "metadata.name", "40"),
    InvalidCase(
        "tenant-system-namespace",
        TENANT,
        {"spec.namespace.name": "kube-system"},
        "spec.namespace.name",
        "cannot own a system namespace",
        rule="!(self in ['default', 'kube-system', 'kube-public', 'kube-node-lease'])",
    ),
    InvalidCase(
        "egress-cidr",
        TENANT,
        {"spec.network.egress": {"allowCIDRs": ["10.0.0.0/33"]}},
        "spec.network.egress.allowCIDRs[0]",
        "must be a CIDR",
        rule="isCIDR(self)",
    ),
    InvalidCase(
        "ingress-allow-needs-strict",
        TENANT,
        {"spec.network.isolation": "none"},
        "spec.network.allowIngressFromNamespaces",
        "only narrows strict isolation",
        rule="self.isolation == 'strict' || size(self.allowIngressFromNamespaces) == 0",
    ),
    InvalidCase(
        "quota-key",
        TENANT,
        {"spec.quotas.resourceQuota": {"Limits CPU": "1"}},
        "spec.quotas.resourceQuota",
        "every key must match",
        rule='self.all(k, k.matches("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[-a-zA-Z0-9_.]+)?$"))',
        local_fragment="should match pattern",
    ),
    InvalidCase(
        "quota-key-length",
        TENANT,
        {"spec.quotas.resourceQuota": {"a" * 254: "1"}},
        "spec.quotas.resourceQuota",
        "at most 253 characters",
        rule="self.all(k, size(k) <= 253)",
    ),
    InvalidCase(
        "variable-key-length",
        AGENT,
        {"spec.prompt.variables": {"v" * 65: "x"}},
        "spec.prompt.variables",
        "at most 64 characters",
        rule="self.all(k, size(k) <= 64)",
    ),
    InvalidCase(
        "source-one-of",
        KB,
        {"spec.sources[0].url": {"url": "https://acme.example/faq"}},
        "spec.sources[0]",
        "set exactly one of inline, configMapRef, url, s3 or files",
        rule="[has(self.inline), has(self.configMapRef), has(self.url), has(self.s3), has(self.files)].filter(x, x).size() == 1",
    ),
    InvalidCase(
        "overlap-below-size",
        KB,
        {"spec.chunking": {"sizeTokens": 64, "overlapTokens": 64}},
        "spec.chunking.overlapTokens",
        "overlapTokens must be below sizeTokens",
        rule="self.overlapTokens < self.sizeTokens",
    ),
    InvalidCase(
        "postgres-store-needs-settings",
        KB,
        {"spec.store": {"type": "postgres"}},
        "spec.store.postgres",
        "required for type postgres",
        rule="(self.type == 'postgres') == has(self.postgres)",
    ),
    InvalidCase(
        "exposure-hostname-wildcard",
        AGENT,
        {"spec.exposure": {"hostname": "*.acme.example"}},
        "spec.exposure.hostname",
        "should match",
    ),
    InvalidCase(
        "exposure-hostname-address",
        AGENT,
        {"spec.exposure": {"hostname": "203.0.113.7"}},
        "spec.exposure.hostname",
        "must be a DNS name, not an IP address",
        rule="!self.hostname.matches('^[0-9.]+$')",
    ),
    InvalidCase(
        "exposure-issuer-kind",
        AGENT,
        {
            "spec.exposure": {
                "hostname": "front-desk.acme.example",
                "tls": {
                    "secretName": "front-desk-tls",
                    "issuerRef": {"name": "le", "kind": "Acme"},
                },
            }
        },
        "spec.exposure.tls.issuerRef.kind",
        "Unsupported value",
    ),
    *REFUSED,
)

#: CEL rules exercised by an update rather than a create (see test_tenant_namespace_is_immutable).
TRANSITION_RULES = frozenset({"self == oldSelf"})
