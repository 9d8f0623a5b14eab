"""vLLM on GPUs: the replica runs vLLM's OpenAI-compatible server as a child process.

One process per replica owns the GPUs (`gpus` = tensor-parallel size), with prefix caching so
the next turn of a conversation reuses the KV cache of the previous one. Requests go through
the same OpenAI-compatible client as remote endpoints, so streaming, tool calls and errors
behave identically. The child dies with the replica (PR_SET_PDEATHSIG) and on `close()`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import httpx

from switchboard_api.pipeline import LlmEndpoint, LlmSpec
from switchboard_serve.llm.base import ToolDefinition
from switchboard_serve.llm.openai_compatible import OpenAICompatibleEngine
from switchboard_wire.chat import ChatMessage, ReplyEvent

#: vLLM's tool-call parser; `hermes` fits Qwen2.5/3 and Hermes-style models.
TOOL_PARSER_ENV = "SWITCHBOARD_VLLM_TOOL_PARSER"
STARTUP_TIMEOUT_S = 900.0
_PR_SET_PDEATHSIG = 1


class VllmStartError(RuntimeError):
    """vLLM's server exited or did not become healthy in time."""


def vllm_server_command(spec: LlmSpec, port: int, python: str = sys.executable) -> list[str]:
    """The command line of the vLLM OpenAI-compatible server for a spec."""
    return [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model",
        spec.model,
        "--served-model-name",
        spec.model,
        "--tensor-parallel-size",
        str(max(1, spec.gpus)),
        "--max-model-len",
        str(spec.context_tokens),
        "--enable-prefix-caching",
        "--enable-auto-tool-choice",
        "--tool-call-parser",
        os.environ.get(TOOL_PARSER_ENV, "hermes"),
        "--disable-log-requests",
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class VllmEngine:
    """vLLM behind the LLM engine protocol."""

    def __init__(
        self,
        spec: LlmSpec,
        command: Sequence[str] | None = None,
        port: int | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self._port = port or _free_port()
        argv = list(command) if command is not None else vllm_server_command(spec, self._port)
        self._process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
            argv, preexec_fn=_die_with_parent if sys.platform == "linux" else None
        )
        base = f"http://127.0.0.1:{self._port}"
        try:
            self._wait_healthy(f"{base}/health", startup_timeout_s)
        except BaseException:
            self.close()
            raise
        endpoint = LlmEndpoint(url=f"{base}/v1", timeout_ms=120_000)
        local = spec.model_copy(update={"provider": "openai-compatible", "endpoint": endpoint})
        self._client = OpenAICompatibleEngine(local)

    def _wait_healthy(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise VllmStartError(f"the vLLM server exited with status {code}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise VllmStartError(f"the vLLM server was not healthy within {timeout_s:.0f} s")

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolDefinition] = (),
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[ReplyEvent]:
        """Stream one completion from the local vLLM server."""
        if self._process.poll() is not None:
            raise VllmStartError(f"the vLLM server exited with status {self._process.returncode}")
        return self._client.stream_chat(
            messages, tools, max_tokens=max_tokens, temperature=temperature
        )

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 20 s)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
