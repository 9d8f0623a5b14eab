"""Deepgram ASR and Aura TTS clients against scripted HTTP responses (no network here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest

from switchboard_api.common import SecretKeyRef
from switchboard_api.pipeline import AsrSpec, TtsSpec
from switchboard_serve.asr.deepgram import DeepgramAsrEngine, DeepgramError
from switchboard_serve.deployments import AsrServer, TtsServer
from switchboard_serve.engines import make_asr, make_tts
from switchboard_serve.remote import Provider
from switchboard_serve.secrets import MissingCredentialError
from switchboard_serve.tts.deepgram_aura import AuraError, DeepgramAuraEngine, sentences
from switchboard_wire.audio import float_to_pcm16, pcm16_to_float
from switchboard_wire.retry import RetryPolicy

pytestmark = pytest.mark.unit

KEY = SecretKeyRef(name="deepgram", key="api-key")
ASR = AsrSpec(engine="deepgram", model="nova-3", api_key_secret_ref=KEY)
TTS = TtsSpec(engine="deepgram-aura", voice="aura-2-thalia-en", api_key_secret_ref=KEY)
NO_WAIT = RetryPolicy(max_retries=2, backoff_s=0)

LISTEN = {
    "metadata": {"duration": 1.0},
    "results": {
        "channels": [
            {
                "alternatives": [
                    {
                        "transcript": "hello there",
                        "confidence": 0.98,
                        "words": [
                            {
                                "word": "hello",
                                "punctuated_word": "Hello",
                                "start": 0.08,
                                "end": 0.4,
                                "confidence": 0.99,
                            },
                            {"word": "there", "start": 0.45, "end": 0.8, "confidence": 0.97},
                        ],
                    }
                ]
            }
        ]
    },
}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_SECRET_DEEPGRAM_API_KEY", "dg-secret")


def _dg(handler: Callable[[httpx.Request], httpx.Response]) -> Provider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Provider("http://dg.test", client, NO_WAIT)


def test_an_utterance_is_sent_as_pcm16_and_the_answer_parsed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LISTEN)

    audio = np.linspace(-0.5, 0.5, 16_000, dtype=np.float32)
    engine = DeepgramAsrEngine(ASR, _dg(handler))
    transcript = engine.transcribe(audio)
    request = seen[0]
    assert request.url.path == "/v1/listen"
    assert request.headers["authorization"] == "Token dg-secret"
    params = request.url.params
    assert (params["model"], params["encoding"], params["sample_rate"]) == (
        "nova-3",
        "linear16",
        "16000",
    )
    assert params["language"] == "en"
    assert request.content == float_to_pcm16(audio)
    assert transcript.text == "hello there"
    assert [w.text for w in transcript.words] == ["Hello", "there"]
    assert transcript.words[1].start == 0.45
    assert transcript.confidence == 0.98
    assert transcript.audio_seconds == 1.0


def test_transient_failures_are_retried_and_client_errors_are_not() -> None:
    statuses = iter([503, 429, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return httpx.Response(status, json=LISTEN if status == 200 else {"err": "busy"})

    engine = DeepgramAsrEngine(ASR, _dg(flaky))
    assert engine.transcribe(np.zeros(1600, np.float32)).text == "hello there"

    calls = []

    def unauthorised(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(401, json={"err_msg": "Invalid credentials."})

    engine = DeepgramAsrEngine(ASR, _dg(unauthorised))
    with pytest.raises(DeepgramError, match=r"401.*Invalid credentials"):
        engine.transcribe(np.zeros(1600, np.float32))
    assert len(calls) == 1


def test_an_unexpected_answer_is_a_clear_error() -> None:
    engine = DeepgramAsrEngine(ASR, _dg(lambda r: httpx.Response(200, json={"results": {}})))
    with pytest.raises(DeepgramError, match="unexpected response shape"):
        engine.transcribe(np.zeros(1600, np.float32))
    engine = DeepgramAsrEngine(ASR, _dg(lambda r: httpx.Response(200, content=b"<html>")))
    with pytest.raises(DeepgramError, match="not JSON"):
        engine.transcribe(np.zeros(1600, np.float32))


def test_a_missing_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_SECRET_DEEPGRAM_API_KEY")
    with pytest.raises(MissingCredentialError, match="SWITCHBOARD_SECRET_DEEPGRAM_API_KEY"):
        make_asr(ASR)
    with pytest.raises(MissingCredentialError, match="SWITCHBOARD_SECRET_DEEPGRAM_API_KEY"):
        make_tts(TTS)


def test_the_engine_factory_builds_deepgram_engines() -> None:
    assert isinstance(make_asr(ASR), DeepgramAsrEngine)
    assert isinstance(make_tts(TTS), DeepgramAuraEngine)


def test_sentences_split_on_punctuation_and_drop_blanks() -> None:
    assert sentences("Hi there!  How are you? Fine.") == ["Hi there!", "How are you?", "Fine."]
    assert sentences("  ") == []
    assert sentences("3.5 apples") == ["3.5 apples"]


def _split_stream(pcm: bytes, cut: int) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        yield pcm[:cut]
        yield pcm[cut:]

    return httpx.Response(200, content=chunks())


def test_aura_streams_each_sentence_and_rejoins_split_samples() -> None:
    tone = np.sin(np.linspace(0, 100, 2401)).astype(np.float32) * 0.5
    pcm = float_to_pcm16(tone)
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append({"params": dict(request.url.params), **json.loads(request.content)})
        assert request.headers["authorization"] == "Token dg-secret"
        return _split_stream(pcm, 1001)  # an odd cut splits a sample in two

    engine = DeepgramAuraEngine(TTS, _dg(handler))
    chunks = list(engine.synthesize("Good morning. How can I help?"))
    assert [s["text"] for s in seen] == ["Good morning.", "How can I help?"]
    assert seen[0]["params"] == {
        "model": "aura-2-thalia-en",
        "encoding": "linear16",
        "sample_rate": "24000",
        "container": "none",
    }
    assert engine.sample_rate == 24_000
    audio = np.concatenate(chunks)
    assert audio.size == 2 * tone.size
    np.testing.assert_array_equal(audio[: tone.size], pcm16_to_float(pcm))


def test_aura_retries_a_sentence_that_failed_before_any_audio() -> None:
    statuses = iter([200, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        return httpx.Response(status, content=b"\x00\x10" * 100 if status == 200 else b"")

    engine = DeepgramAuraEngine(TTS, _dg(handler))
    audio = np.concatenate(list(engine.synthesize("One. Two.")))
    assert audio.size == 200


def test_aura_refuses_a_speed_it_cannot_honour_and_reports_errors() -> None:
    with pytest.raises(ValueError, match="speed"):
        DeepgramAuraEngine(TTS.model_copy(update={"speed": 1.5}))
    engine = DeepgramAuraEngine(TTS, _dg(lambda r: httpx.Response(400, text="bad voice")))
    with pytest.raises(AuraError, match=r"400.*bad voice"):
        list(engine.synthesize("Hello."))


def test_replicas_of_provider_hosted_models_are_not_probed_at_the_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe would be a paid request per replica per minute."""
    requests: list[httpx.Request] = []

    def record(client: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/v1/listen":
            return httpx.Response(200, json=LISTEN, request=request)
        return httpx.Response(200, content=b"\x00\x00" * 10, request=request)

    monkeypatch.setattr(httpx.Client, "send", record)
    asr = AsrServer({"name": "asr-nova", "spec": ASR.to_wire(), "scaling": {}})
    tts = TtsServer({"name": "tts-aura", "spec": TTS.to_wire(), "scaling": {}})
    asyncio.run(asr.check_health())
    asyncio.run(tts.check_health())
    assert requests == []
    # The same servers do reach the provider for real work: the recorder would see a probe.
    asyncio.run(asr.transcribe(np.zeros(1600, np.float32)))
    assert [r.url.path for r in requests] == ["/v1/listen"]
