"""The model plane's HTTP surface, OpenAI-compatible where a standard exists.

`POST /v1/audio/transcriptions` (multipart WAV), `POST /v1/chat/completions` (SSE streaming,
tools), `POST /v1/audio/speech` (chunked PCM16 / μ-law, or WAV), `POST /v1/embeddings`,
`GET /healthz`. Every bad request gets a 4xx with an OpenAI-style JSON error, and a request over
a limit of `switchboard_serve.limits` (body size, inputs, tokens) is refused before a model
replica works on it. A replica that takes longer than the request's time limit gets 504 (or, in
a stream already under way, the stream ends there); only a failure of our own is a 500, logged.
"""

# No `from __future__ import annotations`: FastAPI must see the real `Request` type through the
# signature rewrite that `serve.ingress` applies to methods.
import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, Request
from pydantic import ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response, StreamingResponse

from switchboard_api.serving import ModelPlaneArgs
from switchboard_serve.api_models import ChatRequest, EmbeddingRequest, SpeechRequest, validated
from switchboard_serve.asr.base import ASR_SAMPLE_RATE
from switchboard_serve.asr.partial import PartialTranscript, partial_text, state_from_json
from switchboard_serve.deployments import SUPPORTED_RATES
from switchboard_serve.guard import deadline, guarded, http_error, within
from switchboard_serve.limits import (
    CHAT_BODY_BYTES,
    CHAT_TIMEOUT_S,
    EMBED_MAX_INPUT_CHARACTERS,
    EMBED_MAX_INPUTS,
    EMBEDDINGS_BODY_BYTES,
    EMBEDDINGS_TIMEOUT_S,
    FORM_FIELD_BYTES,
    FORM_MAX_FIELDS,
    SPEECH_BODY_BYTES,
    SPEECH_TIMEOUT_S,
    TRANSCRIPTION_TIMEOUT_S,
    ApiError,
    asr_body_limit,
    first_and_rest,
    parse_json,
    read_body,
    replay,
)
from switchboard_wire.audio import AudioFormatError, decode_wav, encode_wav, resample
from switchboard_wire.chat import ReplyDone, ReplyEvent, ReplyText
from switchboard_wire.completions import CompletionEncoder
from switchboard_wire.transcription import PARTIAL_TRANSCRIPTION_PATH, PartialRequest

api = FastAPI(title="Switchboard model plane", docs_url=None, redoc_url=None)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
api.add_exception_handler(HTTPException, http_error)


@serve.ingress(api)
class ModelPlaneApi:
    """Routes requests to the shared model deployments, each only within its limits."""

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
        longest = max((d.spec.max_utterance_seconds for d in self._plane.asr), default=30)
        self._asr_body_bytes = asr_body_limit(longest)

    def _pick(self, stage: str, model: str | None) -> tuple[Any, DeploymentHandle[Any]]:
        deployments = getattr(self._plane, stage)
        if not deployments:
            raise ApiError(404, f"no {stage} model is deployed", "model_not_found")
        for deployment in deployments:
            spec = deployment.spec
            names = {deployment.name, getattr(spec, "model", None), getattr(spec, "voice", None)}
            if model is None or model in names:
                return deployment, self._handles[stage][deployment.name]
        message = f"model {str(model)[:100]!r} is not deployed"
        raise ApiError(404, message, "model_not_found", "model")

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness of the ingress and the deployments it routes to."""
        return {"status": "ok", "deployments": [d.name for d in self._plane.deployments()]}

    async def _utterance(
        self, request: Request
    ) -> tuple[Any, DeploymentHandle[Any], npt.NDArray[np.float32], Any]:
        """The uploaded WAV as 16 kHz float32, the ASR deployment it is for, and the form."""
        body = await read_body(request, self._asr_body_bytes)
        try:
            form = await replay(request, body).form(
                max_files=1, max_fields=FORM_MAX_FIELDS, max_part_size=FORM_FIELD_BYTES
            )
        except Exception as error:  # any parse failure is the client's
            raise ApiError(400, f"malformed multipart/form-data: {error}", "invalid_form") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "the `file` field is required", "missing_file", "file")
        data = await upload.read()
        if not data:
            raise ApiError(400, "the uploaded file is empty", "empty_file", "file")
        language = form.get("language")
        if language is not None and not (isinstance(language, str) and _LANGUAGE.match(language)):
            raise ApiError(400, "`language` is not a language code", "invalid_language", "language")
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
        if not np.isfinite(samples).all():  # 8/16/24-bit PCM cannot hold NaN; kept as a guard
            raise ApiError(400, "audio holds non-finite samples", "invalid_audio", "file")
        return deployment, handle, resample(samples, rate, ASR_SAMPLE_RATE), form

    @api.post("/v1/audio/transcriptions")
    async def transcriptions(self, request: Request) -> Response:
        """Transcribe an uploaded WAV (`file`), OpenAI-style."""
        return await guarded(self._transcription(request), "transcription")

    async def _transcription(self, request: Request) -> Response:
        _, handle, audio, form = await self._utterance(request)
        language = form.get("language")
        result = await within(
            handle.transcribe.remote(audio, language if isinstance(language, str) else None),
            TRANSCRIPTION_TIMEOUT_S,
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
        return await guarded(self._partial(request), "partial transcription")

    async def _partial(self, request: Request) -> Response:
        _, handle, audio, form = await self._utterance(request)
        asked = PartialRequest.from_form(form)
        try:
            state = state_from_json(asked.state) if asked.state else None
        except ValidationError:
            raise ApiError(400, "malformed `state`", "invalid_state", "state") from None
        if state is not None and audio.size / ASR_SAMPLE_RATE < state.seen_seconds:
            message = "the audio is shorter than the state's: start a new utterance without state"
            raise ApiError(400, message, "invalid_state", "state")
        partial: PartialTranscript = await within(
            handle.transcribe_partial.remote(audio, state, asked.language, asked.final),
            TRANSCRIPTION_TIMEOUT_S,
        )
        return JSONResponse(partial_text(partial).to_body())

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        """Chat completion; `stream: true` answers with server-sent events."""
        return await guarded(self._chat(request), "chat")

    async def _chat(self, request: Request) -> Response:
        chat = validated(ChatRequest, parse_json(await read_body(request, CHAT_BODY_BYTES)))
        deployment, handle = self._pick("llm", chat.model)
        context = deployment.spec.context_tokens
        if chat.max_tokens is not None and chat.max_tokens >= context:
            message = f"max_tokens {chat.max_tokens} does not fit the {context}-token context"
            raise ApiError(400, message, "context_length_exceeded", "max_tokens")
        messages = [m.model_dump(exclude_none=True) for m in chat.messages]
        tools = [t.function.model_dump() for t in chat.tools]
        events = cast(
            DeploymentResponseGenerator[ReplyEvent],
            handle.options(stream=True).stream_chat.remote(
                messages, tools, chat.max_tokens, chat.temperature
            ),
        )
        # Refusals (a prompt over the context) and failures before the first token are statuses.
        _, stream = await first_and_rest(events, deadline(CHAT_TIMEOUT_S))
        encoder = CompletionEncoder(f"chatcmpl-{uuid.uuid4().hex[:24]}", deployment.spec.model)
        if chat.stream:
            return StreamingResponse(
                self._sse_chunks(stream, encoder), media_type="text/event-stream"
            )
        return JSONResponse(encoder.whole([event async for event in stream]))

    @staticmethod
    async def _sse_chunks(
        events: AsyncIterator[ReplyEvent], encoder: CompletionEncoder
    ) -> AsyncIterator[bytes]:
        yield encoder.start()
        texts = 0
        try:
            async for event in events:
                texts += isinstance(event, ReplyText)
                yield encoder.event(event)
        except TimeoutError:  # past the time limit: the reply ends there, as at max_tokens
            yield encoder.event(ReplyDone("length", texts))
        yield encoder.end()

    @api.post("/v1/audio/speech")
    async def speech(self, request: Request) -> Response:
        """Synthesise `input`; PCM16 and μ-law stream sentence by sentence."""
        return await guarded(self._speech(request), "speech")

    async def _speech(self, request: Request) -> Response:
        speech = validated(SpeechRequest, parse_json(await read_body(request, SPEECH_BODY_BYTES)))
        deployment, handle = self._pick("tts", speech.voice or speech.model)
        limit = deployment.spec.max_characters
        if len(speech.input) > limit:
            message = f"input has {len(speech.input)} characters, over the {limit} limit"
            raise ApiError(400, message, "input_too_long", "input")
        if not speech.input.strip():
            raise ApiError(400, "input holds no text", "empty_input", "input")
        if speech.sample_rate not in SUPPORTED_RATES:
            message = f"unsupported sample_rate {speech.sample_rate}; supported: {SUPPORTED_RATES}"
            raise ApiError(400, message, "unsupported_sample_rate", "sample_rate")
        encoding = "mulaw" if speech.response_format == "mulaw" else "pcm16"
        chunks = cast(
            DeploymentResponseGenerator[bytes],
            handle.options(stream=True).synthesize.remote(
                speech.input, speech.sample_rate, encoding
            ),
        )
        until = deadline(SPEECH_TIMEOUT_S)
        _, stream = await first_and_rest(chunks, until)
        headers = {"X-Sample-Rate": str(speech.sample_rate)}
        if speech.response_format == "wav":
            async with asyncio.timeout_at(until):
                pcm = b"".join([chunk async for chunk in stream])
            wav = encode_wav(pcm, speech.sample_rate)
            return Response(wav, media_type="audio/wav", headers=headers)
        media = "audio/basic" if encoding == "mulaw" else "audio/pcm"
        return StreamingResponse(stream, media_type=media, headers=headers)

    @api.post("/v1/embeddings")
    async def embeddings(self, request: Request) -> Response:
        """Embed one text or a list of texts, OpenAI-style (`float` or `base64` float32)."""
        return await guarded(self._embeddings(request), "embeddings")

    async def _embeddings(self, request: Request) -> Response:
        raw = await read_body(request, EMBEDDINGS_BODY_BYTES)
        body = validated(EmbeddingRequest, parse_json(raw))
        deployment, handle = self._pick("embed", body.model)
        texts = [body.input] if isinstance(body.input, str) else body.input
        if len(texts) > EMBED_MAX_INPUTS:
            message = f"{len(texts)} inputs, over the {EMBED_MAX_INPUTS} limit"
            raise ApiError(400, message, "too_many_inputs", "input")
        if any(not text.strip() for text in texts):
            raise ApiError(400, "inputs must not be empty", "empty_input", "input")
        longest = max(len(text) for text in texts)
        if longest > EMBED_MAX_INPUT_CHARACTERS:
            limit = EMBED_MAX_INPUT_CHARACTERS
            message = f"an input has {longest} characters, over the {limit} limit"
            raise ApiError(400, message, "input_too_long", "input")
        result = await within(handle.embed.remote(texts), EMBEDDINGS_TIMEOUT_S)
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
