"""The JSON request bodies the model plane's HTTP API accepts, with their per-request bounds.

A body that does not validate is refused with 400 (`invalid_request`, naming the field) before
any model sees it; what the bounds are is in `switchboard_serve.limits`.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from switchboard_serve.limits import (
    CHAT_MAX_COMPLETION_TOKENS,
    CHAT_MAX_MESSAGES,
    CHAT_MAX_TOOLS,
    ApiError,
)

M = TypeVar("M", bound=BaseModel)


class _Call(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = "{}"

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value or "{}")
        except (ValueError, RecursionError):
            raise ValueError("arguments must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ValueError("arguments must be a JSON object")
        return value


class _ToolCall(BaseModel):
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: _Call


class Message(BaseModel):
    """One chat message; fields other than OpenAI's known ones are dropped."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[_ToolCall] | None = Field(default=None, max_length=CHAT_MAX_TOOLS)
    tool_call_id: str | None = Field(default=None, max_length=256)


class _Function(BaseModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = {"type": "object"}


class _Tool(BaseModel):
    type: Literal["function"] = "function"
    function: _Function


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat completion request the model plane honours."""

    model: str | None = None
    messages: list[Message] = Field(min_length=1, max_length=CHAT_MAX_MESSAGES)
    tools: list[_Tool] = Field(default=[], max_length=CHAT_MAX_TOOLS)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=CHAT_MAX_COMPLETION_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2, allow_inf_nan=False)


class SpeechRequest(BaseModel):
    """OpenAI's speech request, plus `sample_rate` and the `mulaw` format for telephony."""

    model: str | None = None
    voice: str | None = None
    input: str = Field(min_length=1)
    response_format: Literal["pcm", "wav", "mulaw"] = "pcm"
    sample_rate: int = 24_000


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request (text inputs; token-id inputs are not accepted)."""

    model: str | None = None
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"


def invalid(error: ValidationError) -> ApiError:
    """The 400 for a body that does not validate, naming the first field at fault."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = f"{where}: {first['msg']}" if where else f"the body: {first['msg']}"
    return ApiError(400, message, "invalid_request", param=where or None)


def validated(model: type[M], document: object) -> M:
    """`document` as a `model`, or the 400 naming the field at fault."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise invalid(error) from None
