r"""The Pipecat 1.14 baseline: one voice agent on Switchboard's model files, over a websocket.

Runs in the Pipecat virtualenv (bench/pipecat/setup.sh), never in Switchboard's:

    $ENV/bin/python bench/pipecat/bot.py --config defaults|matched --port 8765 \\
        --whisper-dir DIR --voice FILE.onnx --llm-url http://127.0.0.1:PORT/v1 \\
        --system TEXT --greeting TEXT --temperature T --max-tokens N \\
        [--silero-v6 FILE.onnx] [--transcripts FILE.jsonl]

bench/ab_pipecat.py starts it (and `python -m llama_cpp.server` on the same GGUF) once per run
with every path resolved from Switchboard's own install, so the model files are the same files.

Pipeline: websocket in (raw PCM16 16 kHz) → faster-whisper (Pipecat's WhisperSTTService on the
CTranslate2 whisper-base directory, int8, our thread count) → user turn aggregator (VAD + turn
strategy) → OpenAILLMService (llama.cpp's OpenAI-compatible server) → Piper (in process) →
websocket out (raw PCM16 16 kHz, paced at real time by Pipecat's output transport).

- `--config defaults`: what Pipecat ships and its quickstart uses: Silero VAD with its default
  parameters (confidence 0.7, start 0.2 s, stop 0.2 s, min volume 0.6) and the default user turn
  stop strategy, Smart Turn v3.2 (the ONNX file in the wheel).
- `--config matched`: Switchboard's silence strategy: the same Silero file Switchboard runs
  (faster-whisper's silero_vad_v6.onnx, `--silero-v6`), start threshold 0.5, speech after 96 ms,
  the turn over after 500 ms of silence (VAD stop 0.5 s, no extra speech timeout), no Smart
  Turn, no volume gate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import numpy as np
import onnxruntime
from faster_whisper import WhisperModel
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.server import (
    SingleClientWebsocketServerParams,
    SingleClientWebsocketServerTransport,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from piper import AudioChunk, PiperVoice, SynthesisConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.pipecat.pcm import RATE, PcmReassembler  # standard library only


class RawPcmSerializer(FrameSerializer):
    """Binary websocket messages are raw 16 kHz mono PCM16, both ways; nothing else is sent."""

    def __init__(self) -> None:
        super().__init__()
        self._input = PcmReassembler()

    async def serialize(self, frame: Frame) -> bytes | None:
        """Agent audio as it is (the transport already resampled it to 16 kHz)."""
        return frame.audio if isinstance(frame, OutputAudioRawFrame) else None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """Caller audio; text messages are ignored."""
        if isinstance(data, str):
            return None
        audio = self._input.feed(data)
        return InputAudioRawFrame(audio=audio, sample_rate=RATE, num_channels=1) if audio else None


class SileroV6Analyzer(VADAnalyzer):
    """Silero VAD from the file Switchboard runs (faster-whisper's v6 export: h/c state inputs).

    Fed as Switchboard's StreamingVad feeds it: 512-sample windows after 64 samples of context.
    """

    def __init__(self, model_path: Path, params: VADParams) -> None:
        super().__init__(sample_rate=RATE, params=params)
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(64, np.float32)

    def num_frames_required(self) -> int:
        """32 ms windows at 16 kHz."""
        return 512

    def voice_confidence(self, buffer: bytes) -> float:
        """Speech probability of one window."""
        window = np.frombuffer(buffer, np.int16).astype(np.float32) / 32768.0
        model_input = np.concatenate([self._context, window])[None, :]
        output, self._h, self._c = self._session.run(
            None, {"input": model_input, "h": self._h, "c": self._c}
        )
        self._context = window[-64:]
        return float(np.asarray(output).reshape(-1)[0])


class ThreadedWhisperSTT(WhisperSTTService):
    """Pipecat's WhisperSTTService with our engine's CPU thread count (it does not expose one).

    Decoding stays Pipecat's; only the model load differs, by `cpu_threads`.
    """

    def __init__(self, model_dir: Path, compute_type: str, cpu_threads: int) -> None:
        self._model_dir, self._cpu_threads = model_dir, cpu_threads
        super().__init__(
            settings=WhisperSTTService.Settings(model=str(model_dir)),
            device="cpu",
            compute_type=compute_type,
        )

    def _load(self) -> None:
        self._model = WhisperModel(
            str(self._model_dir),
            device=self._device,
            compute_type=self._compute_type,
            cpu_threads=self._cpu_threads,
        )


class _ConfiguredVoice:
    """A PiperVoice whose `synthesize` uses Switchboard's synthesis settings."""

    def __init__(self, voice: PiperVoice, config: SynthesisConfig) -> None:
        self._voice, self._config = voice, config
        self.config = voice.config

    def synthesize(self, text: str) -> Iterable[AudioChunk]:
        """Sentence by sentence, as PiperVoice.synthesize."""
        return self._voice.synthesize(text, syn_config=self._config)


class MatchedPiperTTS(PiperTTSService):
    """Pipecat's in-process Piper service on a given voice file, with Switchboard's settings.

    PiperTTSService loads `<download_dir>/<voice>.onnx` when it exists (it downloads nothing
    then) and synthesises with the voice file's defaults; Switchboard's PiperEngine sets
    length_scale = 1/speed and noise_w_scale = 0, so those are passed here the same way.
    """

    def __init__(self, voice_path: Path, speed: float) -> None:
        super().__init__(
            settings=PiperTTSService.Settings(voice=voice_path.stem),
            download_dir=voice_path.parent,
        )
        config = SynthesisConfig(length_scale=1.0 / speed, noise_w_scale=0.0)
        # Duck-typed: run_tts only calls `synthesize(text)` and reads `config.sample_rate`.
        self._voice = cast("PiperVoice", _ConfiguredVoice(self._voice, config))


class TranscriptLog(FrameProcessor):
    """Appends each final transcript, with the wall-clock time, to a JSON lines file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Log transcripts; pass every frame on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            with self._path.open("a") as out:
                out.write(json.dumps({"at": time.time(), "text": frame.text}) + "\n")
        await self.push_frame(frame, direction)


def user_params(config: str, silero_v6: Path | None) -> LLMUserAggregatorParams:
    """VAD and turn strategies for `defaults` (as shipped) or `matched` (Switchboard's)."""
    if config == "defaults":
        return LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    if silero_v6 is None:
        raise SystemExit("--config matched needs --silero-v6 (Switchboard's Silero file)")
    params = VADParams(confidence=0.5, start_secs=0.096, stop_secs=0.5, min_volume=0.0)
    return LLMUserAggregatorParams(
        vad_analyzer=SileroV6Analyzer(silero_v6, params),
        user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)]
        ),
    )


async def warm_up(stt: ThreadedWhisperSTT, tts: MatchedPiperTTS) -> None:
    """Run Whisper and Piper once before the call, as Switchboard's warm-up does."""

    def run_once() -> None:
        if stt._model is None:
            raise RuntimeError("Whisper did not load")
        segments, _ = stt._model.transcribe(np.zeros(RATE, np.float32), language="en")
        list(segments)
        list(tts._voice.synthesize("Hello."))

    await asyncio.to_thread(run_once)


async def serve(args: argparse.Namespace) -> None:
    """One call: the pipeline runs until the client disconnects."""
    transport = SingleClientWebsocketServerTransport(
        host="127.0.0.1",
        port=args.port,
        params=SingleClientWebsocketServerParams(
            audio_in_enabled=True,
            audio_in_sample_rate=RATE,
            audio_out_enabled=True,
            audio_out_sample_rate=RATE,
            serializer=RawPcmSerializer(),
        ),
    )
    stt = ThreadedWhisperSTT(args.whisper_dir, args.whisper_compute_type, args.threads)
    llm = OpenAILLMService(
        api_key="none",
        base_url=args.llm_url,
        settings=OpenAILLMService.Settings(
            model="bench",
            temperature=args.temperature,
            top_p=args.top_p,
            max_tokens=args.max_tokens,
            extra={"extra_body": json.loads(args.llm_extra)},
        ),
    )
    tts = MatchedPiperTTS(args.voice, args.speed)
    context = LLMContext([{"role": "system", "content": args.system}])
    pair = LLMContextAggregatorPair(context, user_params=user_params(args.config, args.silero_v6))
    stages: list[FrameProcessor] = [transport.input(), stt]
    if args.transcripts is not None:
        stages.append(TranscriptLog(args.transcripts))
    stages += [pair.user(), llm, tts, transport.output(), pair.assistant()]
    task = PipelineTask(Pipeline(stages), params=PipelineParams(enable_metrics=True))

    @transport.event_handler("on_client_connected")
    async def on_connected(_transport: object, _client: object) -> None:
        await task.queue_frames([TTSSpeakFrame(args.greeting)])

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport: object, _client: object) -> None:
        await task.cancel()

    if args.warm_up:
        await warm_up(stt, tts)
    print(json.dumps({"listening": args.port}), flush=True)
    await PipelineRunner(handle_sigint=True).run(task)


def main() -> None:
    """Parse the flags, serve one call."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", choices=("defaults", "matched"), required=True)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--whisper-dir", type=Path, required=True)
    parser.add_argument("--whisper-compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=0, help="Whisper CPU threads (0: default)")
    parser.add_argument("--voice", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--system", required=True)
    parser.add_argument("--greeting", required=True)
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--top-p", type=float, required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--llm-extra", default="{}", help="JSON: llama.cpp sampling fields")
    parser.add_argument("--silero-v6", type=Path)
    parser.add_argument("--transcripts", type=Path)
    parser.add_argument("--warm-up", action="store_true", help="run Whisper and Piper once first")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
