"""How a running `switchboard up` is published and found."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard_cli.state import (
    RunningPlatform,
    clear_running,
    default_state_dir,
    read_running,
    write_running,
)

pytestmark = pytest.mark.unit


def _platform(pid: int) -> RunningPlatform:
    return RunningPlatform(
        pid=pid,
        console_url="http://127.0.0.1:8080/",
        grpc_target="127.0.0.1:50051",
        websocket_url="ws://127.0.0.1:8080/v1/calls",
        model_plane_url="http://127.0.0.1:8000",
        agents=["acme/receptionist"],
    )


def test_a_running_platform_is_found_and_cleared_by_its_own_process(tmp_path: Path) -> None:
    assert read_running(tmp_path) is None
    write_running(tmp_path, _platform(os.getpid()))
    assert read_running(tmp_path) == _platform(os.getpid())
    clear_running(tmp_path, os.getpid() + 1)  # not ours: left alone
    assert read_running(tmp_path) is not None
    clear_running(tmp_path, os.getpid())
    assert read_running(tmp_path) is None


def test_a_platform_whose_process_is_gone_is_not_running(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    write_running(tmp_path, _platform(int(finished.stdout)))
    assert read_running(tmp_path) is None
    assert read_running(tmp_path, check_alive=False) is not None


def test_a_corrupt_running_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "running.json").write_text("{not json")
    assert read_running(tmp_path) is None


def test_the_state_directory_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home"
    monkeypatch.delenv("SWITCHBOARD_HOME")
    assert default_state_dir() == Path.home() / ".switchboard"
