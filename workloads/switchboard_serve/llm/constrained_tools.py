"""Tool calling for small local models: the output is constrained to one JSON object.

A 135M-parameter model does not emit valid OpenAI tool calls on its own. Instead its output is
forced (by a grammar built from `choice_schema`) to be either `{"reply": "..."}` or
`{"tool": NAME, "arguments": {...}}` with arguments valid for that tool's schema, and
`ReplyStream` turns the first form back into streamed text as it is generated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from switchboard_serve.llm.base import ToolDefinition

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEAD = re.compile(r'\s*\{\s*"(reply|tool)"\s*:\s*')


def _unicode_escape(buf: str, i: int) -> tuple[str, int]:
    """Decode a JSON unicode escape (backslash, `u`, four hex digits) at `buf[i]`.

    A UTF-16 surrogate pair (two escapes) becomes one character.

    Returns the text and the escape's width; width 0 means the escape is still incomplete.
    """
    if i + 6 > len(buf):
        return "", 0
    unit = int(buf[i + 2 : i + 6], 16)
    if not 0xD800 <= unit <= 0xDBFF:
        return chr(unit), 6
    if i + 12 > len(buf):
        return "", 0
    low = int(buf[i + 8 : i + 12], 16) if buf[i + 6 : i + 8] == "\\u" else -1
    if 0xDC00 <= low <= 0xDFFF:
        return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)), 12
    return "\ufffd", 6


def choice_schema(tools: Sequence[ToolDefinition]) -> dict[str, Any]:
    """A JSON schema admitting a reply or a call of exactly one of `tools`."""
    calls = [
        {
            "type": "object",
            "properties": {"tool": {"const": tool.name}, "arguments": tool.parameters},
            "required": ["tool", "arguments"],
        }
        for tool in tools
    ]
    reply = {
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
    }
    return {"anyOf": [*calls, reply]}


def instructions(tools: Sequence[ToolDefinition]) -> str:
    """The system-prompt addendum that tells the model how to answer (wording tuned on SmolLM2)."""
    described = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]
    )
    return (
        f"You can call these tools:\n{described}\n"
        'Answer with JSON: {"tool": name, "arguments": {...}} to call a tool, '
        'or {"reply": text} to answer.'
    )


class ReplyStream:
    """Incrementally decodes the constrained output: reply text as it grows, or a tool call."""

    def __init__(self) -> None:
        self._buffer = ""
        self._pos = 0
        self._opened = False
        self._closed = False
        #: "reply" or "tool" once the first key has been generated.
        self.kind: str | None = None

    def feed(self, piece: str) -> str:
        """Add generated text; return any newly decoded reply text (empty for tool calls)."""
        self._buffer += piece
        if self.kind is None:
            head = _HEAD.match(self._buffer)
            if head is None:
                return ""
            self.kind, self._pos = head.group(1), head.end()
        if self.kind != "reply" or self._closed:
            return ""
        if not self._opened:
            while self._pos < len(self._buffer) and self._buffer[self._pos].isspace():
                self._pos += 1
            if self._pos >= len(self._buffer):
                return ""
            self._pos += 1  # the opening quote (the grammar allows nothing else here)
            self._opened = True
        return self._decode_string()

    def _decode_string(self) -> str:
        text, buf, i = [], self._buffer, self._pos
        while i < len(buf):
            char = buf[i]
            if char == '"':
                self._closed = True
                i += 1
                break
            if char == "\\":
                if i + 1 >= len(buf):
                    break  # wait for the rest of the escape
                code = buf[i + 1]
                if code == "u":
                    decoded, width = _unicode_escape(buf, i)
                    if width == 0:
                        break  # wait for all four hex digits (and a low surrogate's)
                    text.append(decoded)
                    i += width
                    continue
                text.append(_ESCAPES.get(code, code))
                i += 2
                continue
            text.append(char)
            i += 1
        self._pos = i
        return "".join(text)

    def tool_call(self) -> tuple[str, str]:
        """The complete tool call as (name, arguments JSON); call after generation ends."""
        document = json.loads(self._buffer)
        return str(document["tool"]), json.dumps(document["arguments"], separators=(",", ":"))
