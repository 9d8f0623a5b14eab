"""HTTP tools: webhooks signed Standard-Webhooks style, guarded, bounded, validated.

POST, PUT and PATCH send the JSON body `{"tool", "arguments", "callId"}`. GET and DELETE send no
body: the arguments go in the query string (strings as they are, other values as compact JSON,
after any query the tool URL already has), and the tool name and call id in the headers
`switchboard-tool` and `switchboard-call-id`. Every request carries `webhook-id`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 over "id.timestamp.payload">`,
where the payload is exactly what was sent: the body, or for GET and DELETE the request's raw
query string (without the `?`; empty when there is none). The answer must be JSON, at most
`MAX_RESULT_BYTES`; it reaches the model as a string. Failures come back as outcomes with a short
error class, never as exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jsonschema

from switchboard_api.common import secret_env_name
from switchboard_api.egress import Address
from switchboard_api.voiceagent import ToolSpec
from switchboard_gateway.tools.ssrf import RefusedDestinationError, SsrfGuard
from switchboard_wire.retry import RetryPolicy

MAX_RESULT_BYTES = 16 * 1024
#: Narrower than the model plane's `RETRYABLE_STATUS`, on purpose: a webhook may act (book, send,
#: charge) before it fails, so only answers that say the request was not processed are retried —
#: rate limited (429), or a proxy that could not reach the tool (502, 503, 504). A 500, 408 or 409
#: may come after the side effect. A timeout is not retried either: the tool may still be acting,
#: and the call's deadline is spent. No answer at all (connection refused) is retried.
WEBHOOK_RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class ToolOutcome:
    """How one tool call ended: what the model sees, and an error class when it failed."""

    ok: bool
    content: str
    error: str = ""


#: Standard Webhooks secrets are 24 to 64 random bytes; fewer than 16 is a mistake, not a key.
MIN_KEY_BYTES = 16
#: Methods whose arguments travel in the query string rather than a body.
QUERY_METHODS = frozenset({"GET", "DELETE"})


class SigningSecretError(ValueError):
    """A tool's signing secret is missing or is not a usable key."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard-Webhooks secret (`whsec_<base64>`), or the raw secret.

    Raises `SigningSecretError` (never `binascii.Error`) for a `whsec_` secret that is not
    base64 of at least `MIN_KEY_BYTES` bytes, and for an empty raw secret.
    """
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            raise SigningSecretError("the whsec_ secret is not valid base64") from None
        if len(key) < MIN_KEY_BYTES:
            raise SigningSecretError(
                f"the whsec_ secret decodes to {len(key)} bytes; at least {MIN_KEY_BYTES} needed"
            )
        return key
    if not secret:
        raise SigningSecretError("the signing secret is empty")
    return secret.encode()


def check_signing_secrets(tools: Iterable[ToolSpec], environ: Mapping[str, str]) -> None:
    """Fail at start, naming the tool, when a signing secret that is set is not a usable key.

    A secret that is not set at all stays a call-time `misconfigured` outcome (the operator's
    pods cannot start without it; locally it may be exported later).
    """
    for tool in tools:
        ref = tool.http.signing_secret_ref
        if ref is None:
            continue
        name = secret_env_name(ref)
        value = environ.get(name)
        if value is None:
            continue
        try:
            signing_key(value)
        except SigningSecretError as error:
            raise SigningSecretError(
                f"tool {tool.name}: http.signingSecretRef {ref.name}/{ref.key} ({name}): {error}"
            ) from None


def query_string(arguments: dict[str, Any]) -> str:
    """The arguments as a query: strings as they are, other values as compact JSON."""
    pairs = [
        (name, value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))
        for name, value in arguments.items()
    ]
    return urlencode(pairs)


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def tool_failure(error: str, message: str) -> ToolOutcome:
    """A failed outcome: the model sees `{"error": message}`; `error` classifies it."""
    return ToolOutcome(False, json.dumps({"error": message}), error)


class ToolRunner:
    """Runs one agent's HTTP tools."""

    def __init__(
        self,
        guard: SsrfGuard,
        client: httpx.AsyncClient | None = None,
        environ: Mapping[str, str] | None = None,
        backoff_s: float = 0.2,
    ) -> None:
        self._guard = guard
        self._client = client or httpx.AsyncClient()
        self._environ = os.environ if environ is None else environ
        self._backoff_s = backoff_s

    async def run(self, tool: ToolSpec, arguments_json: str, call_id: str) -> ToolOutcome:
        """Validate the arguments, call the webhook, validate the answer."""
        try:
            arguments = json.loads(arguments_json or "{}")
            schema = tool.parameters.model_dump(mode="json", by_alias=True)
            jsonschema.validate(arguments, schema)
        except (ValueError, jsonschema.ValidationError) as error:
            detail = getattr(error, "message", str(error))[:200]
            return tool_failure("invalid_arguments", f"invalid arguments: {detail}")
        try:
            destination = await self._guard.check(tool.http.url)
        except RefusedDestinationError as error:
            return tool_failure("refused", str(error))
        url = httpx.URL(tool.http.url)
        if tool.http.method in QUERY_METHODS:
            if not isinstance(arguments, dict):
                return tool_failure("invalid_arguments", "the arguments must be a JSON object")
            query = "&".join(q for q in (url.query.decode(), query_string(arguments)) if q)
            url, body = url.copy_with(query=query.encode() or None), b""
            payload = query.encode()
        else:
            body = json.dumps(
                {"tool": tool.name, "arguments": arguments, "callId": call_id},
                separators=(",", ":"),
            ).encode()
            payload = body
        try:
            headers = self._headers(tool, payload)
        except SigningSecretError as error:
            return tool_failure("misconfigured", f"the tool's signing secret is unusable: {error}")
        if headers is None:
            return tool_failure("misconfigured", "the tool's signing secret is not available")
        if tool.http.method in QUERY_METHODS:
            del headers["content-type"]
            headers["switchboard-tool"] = tool.name
            headers["switchboard-call-id"] = call_id
        headers["host"] = destination.host
        deadline = time.monotonic() + tool.http.timeout_ms / 1000
        policy = RetryPolicy(tool.http.retries, self._backoff_s, WEBHOOK_RETRYABLE_STATUS)
        failure = tool_failure("timeout", "the tool did not answer in time")
        for attempt in range(policy.attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                response = await self._send(
                    tool, url, destination.address, body, headers, remaining
                )
            except httpx.TimeoutException:
                break
            except httpx.TransportError:
                failure = tool_failure("unreachable", "the tool could not be reached")
                if policy.retries(attempt, None):
                    await asyncio.sleep(policy.delay(attempt))
                continue
            if policy.retries(attempt, response.status_code):
                await asyncio.sleep(policy.delay(attempt))
                continue
            return self._result(response)
        return failure

    def _headers(self, tool: ToolSpec, payload: bytes) -> dict[str, str] | None:
        message_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
        }
        ref = tool.http.signing_secret_ref
        if ref is not None:
            secret = self._environ.get(secret_env_name(ref), "")
            if not secret:
                return None
            headers["webhook-signature"] = sign(signing_key(secret), message_id, timestamp, payload)
        return headers

    async def _send(
        self,
        tool: ToolSpec,
        url: httpx.URL,
        address: Address,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
    ) -> httpx.Response:
        pinned = url.copy_with(host=str(address))
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        request = self._client.build_request(
            tool.http.method,
            pinned,
            content=body if tool.http.method not in QUERY_METHODS else None,
            headers=headers,
            timeout=timeout,
            extensions=extensions,
        )
        response = await self._client.send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_RESULT_BYTES:
                    return httpx.Response(413, request=request)
                chunks.append(chunk)
            return httpx.Response(
                response.status_code, headers=response.headers, content=b"".join(chunks)
            )
        finally:
            await response.aclose()

    @staticmethod
    def _result(response: httpx.Response) -> ToolOutcome:
        if response.status_code == 413 and not response.content:
            return tool_failure("result_too_large", f"the result is over {MAX_RESULT_BYTES} bytes")
        if response.status_code >= 400:
            return tool_failure("http_status", f"the tool answered {response.status_code}")
        try:
            result = response.json()
        except ValueError:
            return tool_failure("invalid_result", "the tool did not answer with JSON")
        return ToolOutcome(True, json.dumps(result, separators=(",", ":")))
