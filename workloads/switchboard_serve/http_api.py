"""The model plane's HTTP surface, OpenAI-compatible where a standard exists.

`POST /v1/audio/transcriptions` (multipart WAV), `POST /v1/chat/completions` (SSE streaming,
tools), `POST /v1/audio/speech` (chunked PCM16 / μ-law, or WAV), `POST /v1/embeddings`,
`GET /healthz`. Every bad
request gets a 4xx with an OpenAI-style JSON error and never reaches a model replica.
"""

# No `from __future__ import annotations`: FastAPI must see the real `Request` type through the
# signature rewrite that `serve.ingress` applies to methods.
import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response, StreamingResponse

from switchboard_api.serving import ModelPlaneArgs
from switchboard_serve.asr.base import ASR_SAMPLE_RATE
from switchboard_serve.asr.partial import PartialTranscript, partial_text, state_from_json
from switchboard_serve.deployments import (
    MAX_EMBED_INPUT_CHARACTERS,
    MAX_EMBED_INPUTS,
    SUPPORTED_RATES,
)
from switchboard_wire.audio import AudioFormatError, decode_wav, encode_wav, resample
from switchboard_wire.chat import ReplyEvent
from switchboard_wire.completions import CompletionEncoder
from switchboard_wire.transcription import PARTIAL_TRANSCRIPTION_PATH, PartialRequest

api = FastAPI(title="Switchboard model plane", docs_url=None, redoc_url=None)


class ApiError(Exception):
    """A request the API refuses; rendered as an OpenAI-style error body."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.param = status, code, param

    def response(self) -> JSONResponse:
        """The JSON error response."""
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"message": str(self), "type": kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, status_code=self.status)


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None


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
    messages: list[_Message] = Field(min_length=1)
    tools: list[_Tool] = []
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = Field(default=None, ge=0, le=2)


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


def _invalid(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return ApiError(400, f"{where}: {first['msg']}", "invalid_request", param=where or None)


async def _json(request: Request) -> object:
    raw = await request.body()
    if not raw:
        raise ApiError(400, "request body is empty", "empty_body")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"malformed JSON: {error}", "invalid_json") from None


@serve.ingress(api)
class ModelPlaneApi:
    """Routes requests to the shared model deployments."""

    def __init__(
        self,
        asr: dict[str, DeploymentHandle[Any]],
        llm: dict[str, DeploymentHandle[Any]],
        tts: dict[str, DeploymentHandle[Any]],
        embed: dict[str, DeploymentHandle[Any]],
        plane: dict[str, Any],
    ) -> None:
        self._handles = {"asr": asr, "llm": llm, "tts": tts, "embed": embed}
        self._plane = ModelPlaneArgs.model_validate(plane)

    def _pick(self, stage: str, model: str | None) -> tuple[Any, DeploymentHandle[Any]]:
        deployments = getattr(self._plane, stage)
        if not deployments:
            raise ApiError(404, f"no {stage} model is deployed", "model_not_found")
        for deployment in deployments:
            spec = deployment.spec
            names = {deployment.name, getattr(spec, "model", None), getattr(spec, "voice", None)}
            if model is None or model in names:
                return deployment, self._handles[stage][deployment.name]
        raise ApiError(404, f"model {model!r} is not deployed", "model_not_found", "model")

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness of the ingress and the deployments it routes to."""
        return {"status": "ok", "deployments": [d.name for d in self._plane.deployments()]}

    async def _utterance(
        self, request: Request
    ) -> tuple[Any, DeploymentHandle[Any], npt.NDArray[np.float32], Any]:
        """The uploaded WAV as 16 kHz float32, the ASR deployment it is for, and the form."""
        try:
            form = await request.form()
        except Exception as error:  # any parse failure is the client's
            raise ApiError(400, f"expected multipart/form-data: {error}", "invalid_form") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "the `file` field is required", "missing_file", "file")
        data = await upload.read()
        if not data:
            raise ApiError(400, "the uploaded file is empty", "empty_file", "file")
        model = form.get("model")
        deployment, handle = self._pick("asr", model if isinstance(model, str) else None)
        try:
            samples, rate = decode_wav(data)
        except AudioFormatError as error:
            raise ApiError(400, str(error), "invalid_audio", "file") from None
        if rate not in SUPPORTED_RATES:
            message = f"unsupported sample rate {rate} Hz; supported: {SUPPORTED_RATES}"
            raise ApiError(400, message, "invalid_audio", "file")
        seconds, limit = samples.size / rate, deployment.spec.max_utterance_seconds
        if seconds > limit:
            message = f"audio is {seconds:.1f} s, over the {limit} s limit"
            raise ApiError(413, message, "audio_too_long", "file")
        return deployment, handle, resample(samples, rate, ASR_SAMPLE_RATE), form

    @api.post("/v1/audio/transcriptions")
    async def transcriptions(self, request: Request) -> Response:
        """Transcribe an uploaded WAV (`file`), OpenAI-style."""
        try:
            _, handle, audio, form = await self._utterance(request)
        except ApiError as error:
            return error.response()
        language = form.get("language")
        result = await handle.transcribe.remote(
            audio, language if isinstance(language, str) else None
        )
        if form.get("response_format") == "verbose_json":
            return JSONResponse(
                {
                    "text": result["text"],
                    "language": result["language"],
                    "duration": result["audio_seconds"],
                    "confidence": result["confidence"],
                    "words": [
                        {
                            "word": w["text"],
                            "start": w["start"],
                            "end": w["end"],
                            "probability": w["probability"],
                        }
                        for w in result["words"]
                    ],
                }
            )
        return JSONResponse({"text": result["text"]})

    @api.post(PARTIAL_TRANSCRIPTION_PATH)
    async def partial_transcription(self, request: Request) -> Response:
        """Text of a growing utterance (Switchboard extension, no OpenAI equivalent).

        Form: `file` (WAV of the utterance from its start) and `switchboard_wire`'s
        `PartialRequest`; the answer is its `PartialText`.
        """
        try:
            _, handle, audio, form = await self._utterance(request)
            asked = PartialRequest.from_form(form)
            state = state_from_json(asked.state) if asked.state else None
        except ValidationError:
            return ApiError(400, "malformed `state`", "invalid_state", "state").response()
        except ApiError as error:
            return error.response()
        if state is not None and audio.size / ASR_SAMPLE_RATE < state.seen_seconds:
            message = "the audio is shorter than the state's: start a new utterance without state"
            return ApiError(400, message, "invalid_state", "state").response()
        partial: PartialTranscript = await handle.transcribe_partial.remote(
            audio, state, asked.language, asked.final
        )
        return JSONResponse(partial_text(partial).to_body())

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        """Chat completion; `stream: true` answers with server-sent events."""
        try:
            chat = ChatRequest.model_validate(await _json(request))
            deployment, handle = self._pick("llm", chat.model)
        except ValidationError as error:
            return _invalid(error).response()
        except ApiError as error:
            return error.response()
        messages = [m.model_dump(exclude_none=True) for m in chat.messages]
        tools = [t.function.model_dump() for t in chat.tools]
        events = cast(
            DeploymentResponseGenerator[ReplyEvent],
            handle.options(stream=True).stream_chat.remote(
                messages, tools, chat.max_tokens, chat.temperature
            ),
        )
        encoder = CompletionEncoder(f"chatcmpl-{uuid.uuid4().hex[:24]}", deployment.spec.model)
        if chat.stream:
            return StreamingResponse(
                self._sse_chunks(events, encoder), media_type="text/event-stream"
            )
        return JSONResponse(encoder.whole([event async for event in events]))

    @staticmethod
    async def _sse_chunks(
        events: DeploymentResponseGenerator[ReplyEvent], encoder: CompletionEncoder
    ) -> AsyncIterator[bytes]:
        yield encoder.start()
        async for event in events:
            yield encoder.event(event)
        yield encoder.end()

    @api.post("/v1/audio/speech")
    async def speech(self, request: Request) -> Response:
        """Synthesise `input`; PCM16 and μ-law stream sentence by sentence."""
        try:
            speech = SpeechRequest.model_validate(await _json(request))
            deployment, handle = self._pick("tts", speech.voice or speech.model)
        except ValidationError as error:
            return _invalid(error).response()
        except ApiError as error:
            return error.response()
        limit = deployment.spec.max_characters
        if len(speech.input) > limit:
            message = f"input has {len(speech.input)} characters, over the {limit} limit"
            return ApiError(400, message, "input_too_long", "input").response()
        if speech.sample_rate not in SUPPORTED_RATES:
            message = f"unsupported sample_rate {speech.sample_rate}; supported: {SUPPORTED_RATES}"
            return ApiError(400, message, "unsupported_sample_rate", "sample_rate").response()
        encoding = "mulaw" if speech.response_format == "mulaw" else "pcm16"
        chunks = cast(
            DeploymentResponseGenerator[bytes],
            handle.options(stream=True).synthesize.remote(
                speech.input, speech.sample_rate, encoding
            ),
        )
        headers = {"X-Sample-Rate": str(speech.sample_rate)}
        if speech.response_format == "wav":
            pcm = b"".join([chunk async for chunk in chunks])
            wav = encode_wav(pcm, speech.sample_rate)
            return Response(wav, media_type="audio/wav", headers=headers)
        media = "audio/basic" if encoding == "mulaw" else "audio/pcm"
        return StreamingResponse(chunks, media_type=media, headers=headers)

    @api.post("/v1/embeddings")
    async def embeddings(self, request: Request) -> Response:
        """Embed one text or a list of texts, OpenAI-style (`float` or `base64` float32)."""
        try:
            body = EmbeddingRequest.model_validate(await _json(request))
            deployment, handle = self._pick("embed", body.model)
        except ValidationError as error:
            return _invalid(error).response()
        except ApiError as error:
            return error.response()
        texts = [body.input] if isinstance(body.input, str) else body.input
        if any(not text.strip() for text in texts):
            return ApiError(400, "inputs must not be empty", "empty_input", "input").response()
        if len(texts) > MAX_EMBED_INPUTS:
            message = f"{len(texts)} inputs, over the {MAX_EMBED_INPUTS} limit"
            return ApiError(400, message, "too_many_inputs", "input").response()
        longest = max(len(text) for text in texts)
        if longest > MAX_EMBED_INPUT_CHARACTERS:
            limit = MAX_EMBED_INPUT_CHARACTERS
            message = f"an input has {longest} characters, over the {limit} limit"
            return ApiError(400, message, "input_too_long", "input").response()
        result = await handle.embed.remote(texts)
        vectors = np.asarray(result["vectors"], dtype=np.float32)
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(row.astype("<f4").tobytes()).decode()
                    if body.encoding_format == "base64"
                    else row.tolist()
                ),
            }
            for i, row in enumerate(vectors)
        ]
        tokens = result["tokens"]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": deployment.spec.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
