#!/usr/bin/env bash
# The Pipecat baseline's own virtualenv (bench/pipecat/bot.py runs in it): Pipecat 1.14 with local
# faster-whisper, Silero VAD, Smart Turn v3 (bundled in the wheel, runs on onnxruntime), an
# OpenAI-compatible LLM client, Piper and a websocket transport, plus llama-cpp-python's
# OpenAI-compatible server. Never part of Switchboard's dependencies or .venv.
#
#   bash bench/pipecat/setup.sh      # prints the environment's python on its last line
#
# Idempotent, keyed by Pipecat's version, its extras and the llama-cpp-python wheel, which is
# the one .ci/bootstrap built (~/.cache/switchboard/wheels), so nothing is compiled twice.
set -euo pipefail
cd "$(dirname "$0")/../.."

PIPECAT_VERSION=1.14.0
# Extras: whisper (faster-whisper), silero (VAD, onnxruntime: a base dependency), piper
# (piper-tts, in process), openai (OpenAI-compatible LLM client), websocket. Smart Turn v3's
# local analyser needs no extra: its ONNX file is in the wheel and onnxruntime is a base
# dependency ("local-smart-turn" pulls torch for the older v2 analyser only).
PIPECAT_EXTRAS="whisper,silero,piper,openai,websocket"
LLAMA_CPP_VERSION=$(sed -n 's/^LLAMA_CPP_VERSION=\(.*\)$/\1/p' .ci/bootstrap)
PYTHON="${PYTHON:-python3}"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
env_dir="$CACHE/bench/pipecat-$PIPECAT_VERSION"

wheels="$CACHE/wheels"
llama_wheel=$(compgen -G "$wheels/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" | head -n 1 || true)
if [[ -z "$llama_wheel" ]]; then
  echo "setup: no llama-cpp-python $LLAMA_CPP_VERSION wheel in $CACHE/wheels: run .ci/bootstrap" >&2
  exit 1
fi

# Keyed by what is installed, not by this file's text: a comment edit reinstalls nothing.
key=$(echo "pipecat-ai[$PIPECAT_EXTRAS]==$PIPECAT_VERSION $(basename "$llama_wheel")[server]" \
  | sha256sum | cut -c1-16)
stamp="$env_dir/.bench-pipecat-$key"
if [[ ! -f "$stamp" ]]; then
  echo "setup: installing pipecat-ai[$PIPECAT_EXTRAS]==$PIPECAT_VERSION into $env_dir" >&2
  rm -rf "$env_dir"
  "$PYTHON" -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install --quiet --upgrade pip
  # One resolver run for both, so neither upgrades what the other needs.
  "$env_dir/bin/python" -m pip install --quiet \
    "pipecat-ai[$PIPECAT_EXTRAS]==$PIPECAT_VERSION" "$llama_wheel[server]"
  "$env_dir/bin/python" -c "import pipecat, llama_cpp.server, faster_whisper, piper"
  touch "$stamp"
fi
echo "$env_dir/bin/python"
