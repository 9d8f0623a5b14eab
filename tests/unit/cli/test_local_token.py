"""`switchboard up`'s per-run token: kept in a file only this user reads, used by `call`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from switchboard_cli.main import main
from switchboard_cli.state import RUNNING_FILE, RunningPlatform, read_running, write_running
from switchboard_gateway.scripted_caller import CallOutcome

pytestmark = pytest.mark.unit

TOKEN = "k" * 43


def _platform(token: str = TOKEN) -> RunningPlatform:
    return RunningPlatform(
        pid=os.getpid(),
        console_url="http://127.0.0.1:8080/",
        grpc_target="127.0.0.1:50051",
        websocket_url="ws://127.0.0.1:8080/v1/calls",
        model_plane_url="http://127.0.0.1:8000",
        agents=["acme/receptionist"],
        token=token,
    )


def test_the_running_file_keeps_the_token_readable_by_this_user_only(tmp_path: Path) -> None:
    (tmp_path / "running.tmp").write_text("left over by a crash")
    previous = os.umask(0o022)
    try:
        write_running(tmp_path, _platform())
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / RUNNING_FILE).stat().st_mode)
    assert mode == 0o600
    found = read_running(tmp_path)
    assert found is not None
    assert found.token == TOKEN
    assert TOKEN not in repr(found)


def test_the_login_url_carries_the_token_and_the_console_url_does_not() -> None:
    platform = _platform()
    assert platform.login_url == f"http://127.0.0.1:8080/?token={TOKEN}"
    assert TOKEN not in platform.console_url
    assert _platform("").login_url == "http://127.0.0.1:8080/"


def _captured_call(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def fake_run_call(target: str, agent: str, turns: object, **options: Any) -> CallOutcome:
        seen.update(options, target=target, agent=agent)
        return CallOutcome(end_reason="caller_hangup")

    monkeypatch.setattr("switchboard_gateway.scripted_caller.run_call", fake_run_call)
    return seen


def test_call_sends_the_running_platforms_token_with_no_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_running(tmp_path, _platform())
    seen = _captured_call(monkeypatch)
    assert main(["call", "--agent", "receptionist", "--state-dir", str(tmp_path)]) == 0
    assert (seen["target"], seen["agent"], seen["api_key"]) == (
        "127.0.0.1:50051",
        "acme/receptionist",
        TOKEN,
    )


def test_an_explicit_key_wins_and_a_hand_named_gateway_never_gets_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_running(tmp_path, _platform())
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path))
    seen = _captured_call(monkeypatch)
    main(["call", "--agent", "a/b", "--api-key", "own", "--state-dir", str(tmp_path)])
    assert seen["api_key"] == "own"
    main(["call", "--agent", "a/b", "--gateway", "remote.example:50051"])
    assert seen["api_key"] == ""
