"""`switchboard up` and `switchboard call` fail fast, with clear messages, before starting anything."""

from __future__ import annotations

import socket
import wave
from pathlib import Path

import numpy as np
import pytest

from switchboard_cli.call import read_wav
from switchboard_cli.main import main
from switchboard_cli.state import RunningPlatform, write_running

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_an_invalid_manifest_names_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (EXAMPLES / "receptionist.yaml").read_text().replace("engine: piper", "engine: espeak")
    )
    assert main(["up", "-f", str(bad), "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert f"{bad} (document 1)" in err
    assert "spec.pipeline.tts" in err
    assert not (tmp_path / "state").exists(), "nothing was started or written"


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "-f", str(tmp_path / "nope.yaml")]) == 2
    assert f"{tmp_path / 'nope.yaml'}: no such file" in capsys.readouterr().err


def test_a_busy_port_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "up",
                "-f",
                str(EXAMPLES / "receptionist.yaml"),
                "--port",
                str(port),
                "--state-dir",
                str(tmp_path),
            ]
        )
    assert code == 2
    assert f"port {port} on 127.0.0.1 (--port) is already in use" in capsys.readouterr().err


def test_a_second_up_on_the_same_state_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    write_running(
        tmp_path,
        RunningPlatform(
            os.getpid(), "http://127.0.0.1:1/", "127.0.0.1:2", "ws://x", "http://y", []
        ),
    )
    assert (
        main(["up", "-f", str(EXAMPLES / "receptionist.yaml"), "--state-dir", str(tmp_path)]) == 2
    )
    assert f"already running from {tmp_path}" in capsys.readouterr().err


def test_call_without_a_running_platform_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["call", "--agent", "receptionist", "--text", "hi", "--state-dir", str(tmp_path)]) == 3
    )
    assert "Switchboard is not running" in capsys.readouterr().err


def test_call_to_a_port_nobody_listens_on_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["call", "--agent", "a/b", "--text", "hi", "--gateway", f"127.0.0.1:{port}"]) == 3
    assert f"no gateway answers at 127.0.0.1:{port}" in capsys.readouterr().err


def _wav(path: Path, samples: np.ndarray, rate: int, channels: int, width: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        if width == 2:
            out.writeframes((samples * 32767).astype("<i2").tobytes())
        else:
            ints = (samples * ((1 << 23) - 1)).astype("<i4")
            out.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints))


@pytest.mark.parametrize(
    ("rate", "channels", "width"), [(8_000, 2, 2), (48_000, 1, 3), (16_000, 1, 2)]
)
def test_wav_files_become_16_khz_mono_pcm16(
    tmp_path: Path, rate: int, channels: int, width: int
) -> None:
    seconds = 0.5
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    interleaved = np.repeat(tone, channels)
    path = tmp_path / "tone.wav"
    _wav(path, interleaved, rate, channels, width)
    pcm = np.frombuffer(read_wav(path), "<i2").astype(np.float32) / 32768
    assert abs(pcm.size - 16_000 * seconds) <= 2
    assert 0.3 < np.sqrt(np.mean(pcm[400:-400] ** 2)) < 0.4  # a 0.5 sine keeps its level


def test_an_unreadable_wav_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    assert main(["call", "--agent", "a/b", "--wav", str(bad), "--gateway", "127.0.0.1:1"]) == 2
    assert "cannot read WAV" in capsys.readouterr().err
