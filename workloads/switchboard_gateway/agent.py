"""An agent as one call sees it: resolved from the VoiceAgent resource (and Tenant defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard_api.limits import CallLimitsSpec
from switchboard_api.pipeline import LlmSpec, TurnSpec, VadSpec, resolve_pipeline
from switchboard_api.resources import Tenant, VoiceAgent
from switchboard_api.voiceagent import CallPolicySpec, ToolSpec
from switchboard_gateway.events import TelephonyCall
from switchboard_gateway.phone_variables import PHONE_VARIABLES, phone_variables
from switchboard_gateway.prompt import placeholders, render
from switchboard_gateway.turns.dtmf import DtmfRules

#: Built-in tools; `search_knowledge_base` (knowledge.py) joins when the agent has knowledge.
END_CALL_TOOL: dict[str, Any] = {
    "name": "end_call",
    "description": "End the call after saying goodbye, when the caller has nothing more to ask.",
    "parameters": {"type": "object", "properties": {}, "required": []},
}
TRANSFER_CALL_TOOL: dict[str, Any] = {
    "name": "transfer_call",
    "description": "Transfer the caller to a human when they ask for one.",
    "parameters": {
        "type": "object",
        "properties": {"reason": {"type": "string"}},
        "required": ["reason"],
    },
}


@dataclass(frozen=True)
class KnowledgeBaseChoice:
    """A knowledge base the agent may search (`namespace/name`) and how many passages to take."""

    key: str
    top_k: int
    auto_context: bool = False


@dataclass(frozen=True, slots=True)
class Prompts:
    """One call's rendered system prompt and greeting (the outbound one on calls it placed)."""

    system: str
    greeting: str | None
    #: Said before the greeting when the call is recorded (`callPolicy.recordingNotice`).
    recording_notice: str | None = None


@dataclass(frozen=True, slots=True)
class HandoffConfig:
    """Where a phone call goes to a human, and how (`spec.handoff`).

    The agent says `message` first; `keywords` in the caller's words hand the call over at once.
    """

    transfer_to: str
    message: str
    keywords: tuple[str, ...] = ()
    #: The model is offered `transfer_call` (`handoff.transferCallTool`).
    offer_tool: bool = True


class AgentConfigError(ValueError):
    """The agent cannot take calls as configured (e.g. a prompt variable has no value)."""


@dataclass(frozen=True)
class AgentConfig:
    """Everything the conversation loop needs to know about one agent."""

    key: str
    system_template: str
    greeting_template: str | None
    variables: dict[str, str]
    vad: VadSpec
    turn: TurnSpec
    llm: LlmSpec
    call_policy: CallPolicySpec
    tools: tuple[ToolSpec, ...]
    transfer_target: str | None = None
    #: The tenant's egress allow-list: tool webhooks may reach these private ranges.
    tool_allow_cidrs: tuple[str, ...] = ()
    knowledge_bases: tuple[KnowledgeBaseChoice, ...] = ()
    #: The channels callers may use (`spec.channels.<name>.enabled`).
    channels: frozenset[str] = frozenset({"grpc", "websocket"})
    #: The variables a caller may set in its start (`prompt.callerVariables`).
    caller_variables: frozenset[str] = frozenset()
    #: The tenant is suspended (`Tenant spec.suspend`): every call is refused, saying so.
    suspended: bool = False
    #: The greeting of calls the agent placed (`prompt.outboundGreeting`; None: `greeting`).
    outbound_greeting_template: str | None = None
    handoff: HandoffConfig | None = None
    #: Lines the agent declared fixed (`prompt.cachedPhrases`): replayed from the phrase cache.
    cached_phrases: frozenset[str] = frozenset()

    @classmethod
    def from_resource(cls, agent: VoiceAgent, tenant: Tenant | None = None) -> AgentConfig:
        """Resolve an agent (inline prompts only: ConfigMap prompts are mounted by the operator)."""
        spec = agent.spec
        if spec.prompt.system is None:
            raise AgentConfigError("the gateway needs an inline prompt.system or a mounted one")
        defaults = tenant.spec.defaults.pipeline if tenant is not None else None
        pipeline = resolve_pipeline(spec.pipeline, defaults)
        return cls(
            key=f"{agent.metadata.namespace or 'default'}/{agent.metadata.name}",
            system_template=spec.prompt.system,
            greeting_template=spec.prompt.greeting,
            variables=dict(spec.prompt.variables),
            vad=pipeline.vad,
            turn=pipeline.turn,
            llm=pipeline.llm,
            call_policy=spec.call_policy,
            tools=tuple(spec.tools),
            transfer_target=spec.handoff.transfer_to if spec.handoff is not None else None,
            tool_allow_cidrs=tuple(tenant.spec.network.egress.allow_cidrs) if tenant else (),
            knowledge_bases=tuple(
                KnowledgeBaseChoice(
                    f"{agent.metadata.namespace or 'default'}/{kb.name}", kb.top_k, kb.auto_context
                )
                for kb in spec.knowledge_bases
            ),
            channels=frozenset(
                name
                for name, on in (
                    ("grpc", spec.channels.grpc.enabled),
                    ("websocket", spec.channels.websocket.enabled),
                    ("twilio", spec.channels.twilio.enabled),
                    ("jambonz", spec.channels.jambonz.enabled),
                )
                if on
            ),
            caller_variables=frozenset(spec.prompt.caller_variables),
            suspended=tenant.spec.suspend if tenant else False,
            outbound_greeting_template=spec.prompt.outbound_greeting,
            cached_phrases=frozenset(spec.prompt.cached_phrases),
            handoff=(
                HandoffConfig(
                    spec.handoff.transfer_to,
                    spec.handoff.message,
                    tuple(spec.handoff.keywords),
                    spec.handoff.transfer_call_tool,
                )
                if spec.handoff is not None
                else None
            ),
        )

    @property
    def dtmf(self) -> DtmfRules:
        """How keypad digits are collected into caller turns (`callPolicy.dtmf`)."""
        dtmf = self.call_policy.dtmf
        return DtmfRules(dtmf.max_digits, dtmf.finish_on_key, dtmf.inter_digit_timeout_ms / 1000)

    @property
    def recording_notice(self) -> str | None:
        """What the agent says first on a recorded call (`callPolicy.recordingNotice`)."""
        policy = self.call_policy
        return policy.recording_notice if policy.recording else None

    @property
    def limits(self) -> CallLimitsSpec:
        """The per-call limits (`callPolicy.limits`)."""
        return self.call_policy.limits

    def caller_variables_problem(self, caller: Mapping[str, str]) -> str | None:
        """Why a caller's start variables are refused (naming the limit or variable), or None."""
        limits = self.limits
        if len(caller) > limits.max_caller_variables:
            return (
                f"{len(caller)} caller variables; the limit is {limits.max_caller_variables}"
                " (callPolicy.limits.maxCallerVariables)"
            )
        for name in sorted(caller):
            if name in PHONE_VARIABLES:
                return f"variable {name!r} is set by the phone call, never by the caller"
            if name not in self.caller_variables:
                settable = ", ".join(sorted(self.caller_variables)) or "none"
                return (
                    f"variable {name[:64]!r} is not one a caller may set"
                    f" (prompt.callerVariables: {settable})"
                )
            if len(caller[name]) > limits.max_caller_variable_chars:
                return (
                    f"variable {name!r} is {len(caller[name])} characters; the limit is"
                    f" {limits.max_caller_variable_chars}"
                    " (callPolicy.limits.maxCallerVariableChars)"
                )
        return None

    def variables_for(self, caller: Mapping[str, str]) -> dict[str, str]:
        """The caller's settable variables beside the agent's own (which callers never change)."""
        allowed = {k: v for k, v in caller.items() if k in self.caller_variables}
        return {**allowed, **self.variables}

    def prompts(self, caller: Mapping[str, str], telephony: TelephonyCall | None = None) -> Prompts:
        """The call's prompts; `TemplateError` names a variable nobody gave a value.

        The phone call's variables (`phone_variables`) are known to every template and win over
        any other of the same name. A call the agent placed gets the outbound greeting.
        """
        variables = {**self.variables_for(caller), **phone_variables(telephony)}
        greeting = self.greeting_template
        outbound = telephony is not None and telephony.direction == "outbound"
        if outbound and self.outbound_greeting_template is not None:
            greeting = self.outbound_greeting_template
        return Prompts(
            render(self.system_template, variables),
            render(greeting, variables) if greeting is not None else None,
            self.recording_notice,
        )

    def check(self) -> None:
        """Fail at load, not mid-call, when a template names an unknown variable."""
        templates = [
            self.system_template,
            self.greeting_template or "",
            self.outbound_greeting_template or "",
        ]
        known = set(self.variables) | self.caller_variables | PHONE_VARIABLES
        missing = set().union(*(placeholders(t) for t in templates)) - known
        if missing:
            raise AgentConfigError(
                f"{self.key}: prompt variables neither given a value nor caller-settable:"
                f" {', '.join(sorted(missing))}"
            )

    @property
    def transfer_tool_offered(self) -> bool:
        """Whether the model may call `transfer_call` (a handoff target, the tool not off)."""
        offered = self.handoff is None or self.handoff.offer_tool
        return self.transfer_target is not None and offered

    def tool(self, name: str) -> ToolSpec | None:
        """An HTTP tool by name."""
        return next((t for t in self.tools if t.name == name), None)

    def tool_definitions(self) -> list[dict[str, Any]]:
        """The tools offered to the LLM, in OpenAI function format."""
        tools: list[dict[str, Any]] = [
            {
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters.model_dump(mode="json", by_alias=True),
            }
            for t in self.tools
        ]
        if self.call_policy.end_call_tool:
            tools.append(END_CALL_TOOL)
        if self.transfer_tool_offered:
            tools.append(TRANSFER_CALL_TOOL)
        return tools
