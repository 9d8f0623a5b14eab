"""What one request to the model plane may ask for, and how a refusal looks on the wire.

Every bound is checked before a model replica does any work on the request: the body is
counted as it is read (refused on `Content-Length` alone when that is over), then parsed, then
counted again by what it asks of a model. Refusals are `ApiError`s, rendered as OpenAI-style
errors; a replica raises the same class, and `refusal` finds it again in the error Ray Serve
hands the ingress. The table of limits is in docs/limits.md ("Model plane limits").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from switchboard_wire.embeddings import EMBEDDINGS_MAX_INPUTS

T = TypeVar("T")

#: Request bodies, in bytes. ASR bodies are sized from the deployment's `maxUtteranceSeconds`
#: (`asr_body_limit`); these are the others.
CHAT_BODY_BYTES = 256 * 1024
SPEECH_BODY_BYTES = 128 * 1024
EMBEDDINGS_BODY_BYTES = 256 * 1024
#: A WAV's header, form boundaries and the other form fields, beyond the audio itself.
ASR_BODY_OVERHEAD_BYTES = 64 * 1024
#: The highest rate and width the API takes: the most bytes a second of audio can need.
ASR_MAX_BYTES_PER_SECOND = 48_000 * 2
#: Text fields of the transcription form (`state`, `language`, `model`, ...).
FORM_FIELD_BYTES = 64 * 1024
FORM_MAX_FIELDS = 8

CHAT_MAX_MESSAGES = 256
CHAT_MAX_TOOLS = 64
#: The bound OpenAI puts on `max_tokens`; each deployment's context window bounds it further.
CHAT_MAX_COMPLETION_TOKENS = 8192

EMBED_MAX_INPUTS = EMBEDDINGS_MAX_INPUTS
#: A cheap bound checked before tokenising; the model reads at most its window of each input
#: (256 word pieces for the packaged MiniLM), as OpenAI's do not, so the rest is never embedded.
EMBED_MAX_INPUT_CHARACTERS = 8192
#: Word pieces the model reads for one request, counted (after its truncation) before it runs:
#: 64 full windows of the packaged MiniLM, 5-11 s on 2 CPU cores. It bounds models with a wider
#: window, where 64 inputs could cost far more.
EMBED_MAX_TOKENS = 16_384

#: Seconds one request may take in a replica; then the ingress stops waiting and answers 504.
TRANSCRIPTION_TIMEOUT_S = 30.0
CHAT_TIMEOUT_S = 60.0
SPEECH_TIMEOUT_S = 60.0
EMBEDDINGS_TIMEOUT_S = 30.0


class ApiError(Exception):
    """A request the API refuses; rendered as an OpenAI-style error body.

    Picklable with all its fields, so a replica can raise it and the ingress answer with it.
    """

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status, str(self), self.code, self.param))

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        error = {"message": str(self), "type": kind, "param": self.param, "code": self.code}
        return {"error": error}

    def response(self) -> JSONResponse:
        """The JSON error response."""
        return JSONResponse(self.body(), status_code=self.status)


def refusal(error: BaseException) -> ApiError | None:
    """The `ApiError` a replica (or the ingress) raised, found in the error re-raised for it.

    Ray re-raises a replica's exception as a `RayTaskError` that keeps the original as `cause`
    (and may also subclass its type, with a traceback for a message): the original is preferred.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = current.__dict__.get("cause")
        if isinstance(cause, ApiError):
            return cause
        if isinstance(current, ApiError):
            return current
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return None


def asr_body_limit(max_utterance_seconds: int) -> int:
    """Bytes of a transcription request: the longest utterance at 48 kHz, 16-bit, plus forms."""
    return max_utterance_seconds * ASR_MAX_BYTES_PER_SECOND + ASR_BODY_OVERHEAD_BYTES


def _too_large(size: int, limit: int) -> ApiError:
    message = f"request body is {size} bytes, over the {limit}-byte limit"
    return ApiError(413, message, "request_too_large")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over `limit` bytes.

    A `Content-Length` over the limit is refused before a byte is read; a body without one (or
    longer than it claims) is refused once the bytes read pass the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number", "invalid_content_length")
        if int(declared) > limit:
            raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def replay(request: Request, body: bytes) -> Request:
    """A request like `request` whose body is `body` (already read, and within its limit)."""
    sent = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def parse_json(raw: bytes) -> object:
    """A JSON body; malformed, non-UTF-8, over-deep or unencodable text is a 400."""
    if not raw.strip():
        raise ApiError(400, "request body is empty", "empty_body")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"malformed JSON: {error}", "invalid_json") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply", "invalid_json") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise ApiError(400, f"malformed JSON: {error}", "invalid_json") from None
    try:
        # Lone surrogates ("\ud800") parse, but no model, tokenizer or store can encode them.
        json.dumps(document, ensure_ascii=False, allow_nan=True).encode()
    except UnicodeEncodeError:
        message = "text holds a lone UTF-16 surrogate, which is not a character"
        raise ApiError(400, message, "invalid_text") from None
    return document


async def first_and_rest(
    events: AsyncIterator[T], deadline: float
) -> tuple[T | None, AsyncIterator[T]]:
    """The first item of a stream (None if empty) and the stream that yields it again first.

    The ingress awaits the first item before answering, so a refusal or failure that happens
    before any output is still an HTTP status, not a cut-off stream. Every item, the first
    included, must arrive before `deadline` (the event loop's clock), or the stream raises
    `TimeoutError` and is cancelled in the replica.
    """
    try:
        async with asyncio.timeout_at(deadline):
            first = await anext(events)
    except StopAsyncIteration:
        return None, events
    except TimeoutError:
        _cancel(events)
        raise

    async def rest() -> AsyncIterator[T]:
        yield first
        try:
            while True:
                async with asyncio.timeout_at(deadline):
                    item = await anext(events)
                yield item
        except StopAsyncIteration:
            return
        except TimeoutError:
            _cancel(events)
            raise

    return first, rest()


def _cancel(stream: object) -> None:
    """Cancel a Serve response stream: the replica's generator gets `CancelledError`."""
    cancel = getattr(stream, "cancel", None)
    if callable(cancel):
        cancel()
