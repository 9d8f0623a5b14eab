"""The vLLM engine's process handling and wiring, with a stub server standing in for vLLM."""

from __future__ import annotations

import socket
import sys

import pytest

from switchboard_api.pipeline import LlmSpec
from switchboard_serve.llm.vllm import VllmEngine, VllmStartError, vllm_server_command
from switchboard_wire.chat import ReplyDone, ReplyText

pytestmark = pytest.mark.unit

SPEC = LlmSpec(provider="vllm", model="Qwen/Qwen2.5-7B-Instruct", gpus=2, context_tokens=8192)

# Answers /health after a short start-up and streams one OpenAI-style completion.
STUB = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
time.sleep(0.3)
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers()
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ('{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}',
                      '{"choices":[{"delta":{},"finish_reason":"stop"}]}', "[DONE]"):
            self.wfile.write(f"data: {piece}\n\n".encode())
HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_the_command_line_follows_the_spec() -> None:
    argv = vllm_server_command(SPEC, 8123, python="python3")
    assert argv[:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    options = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert options["--model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert options["--tensor-parallel-size"] == "2"
    assert options["--max-model-len"] == "8192"
    assert options["--port"] == "8123"
    assert "--enable-prefix-caching" in argv


def test_the_engine_waits_for_health_streams_and_stops_its_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = VllmEngine(SPEC, command=[sys.executable, "-c", STUB, str(port)], port=port)
    try:
        events = list(engine.stream_chat([{"role": "user", "content": "Hello"}]))
        assert events == [ReplyText("Hi"), ReplyDone("stop", 1)]
    finally:
        engine.close()
    assert engine._process.poll() is not None
    with pytest.raises(VllmStartError, match="exited"):
        list(engine.stream_chat([{"role": "user", "content": "Hello"}]))


def test_a_server_that_dies_or_hangs_at_start_is_a_clear_error() -> None:
    with pytest.raises(VllmStartError, match="exited with status 3"):
        VllmEngine(SPEC, command=[sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(VllmStartError, match="not healthy within 1 s"):
        VllmEngine(
            SPEC, command=[sys.executable, "-c", "import time; time.sleep(30)"], startup_timeout_s=1
        )
