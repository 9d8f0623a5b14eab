"""Ctrl-C at any moment of `switchboard up` stops it cleanly: no trace, no second Ray, nothing left.

Ctrl-C in a terminal signals the whole foreground process group (Ray's processes included), so
each run gets its own session and the signal goes to the group, as a terminal sends it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, SWITCHBOARD
from tests.ports import free_port

pytestmark = pytest.mark.e2e

#: Moments to press Ctrl-C: seconds after the start, or once `up` has printed a line.
MOMENTS = [
    "0.5 s (imports)",
    "3 s (Ray starting)",
    "Loading models",
    "Warming up",
    "Switchboard is up",
]
STOP_TIMEOUT_S = 90.0
REACH_TIMEOUT_S = 240.0


def _left_behind(state_dir: Path) -> list[int]:
    """Processes still running for this state directory (Ray's inherit `up`'s environment)."""
    marker = f"SWITCHBOARD_CACHE={state_dir}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def _wait_for(log: Path, moment: str, process: subprocess.Popen[bytes]) -> None:
    if moment.endswith(")"):
        time.sleep(float(moment.split(" ")[0]))
        return
    deadline = time.monotonic() + REACH_TIMEOUT_S
    while moment not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"`up` never printed {moment!r}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One state directory for every run: the packaged models are prepared once."""
    return tmp_path_factory.mktemp("interrupted-up")


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_at_any_moment_of_up_stops_it_cleanly(
    moment: str, state_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "up.log"
    command = [
        str(SWITCHBOARD), "up", "--state-dir", str(state_dir),
        "--port", str(free_port()), "--grpc-port", str(free_port()),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
            # A runner started in the background ignores SIGINT, and children inherit that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        _wait_for(log, moment, process)
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-4000:]
    assert code in (0, 130), f"exit {code}:\n{output[-3000:]}"
    if moment == "Switchboard is up":
        assert code == 0
        assert "stopping:" in output
    time.sleep(2)  # Ray's processes exit right after the driver
    assert _left_behind(state_dir) == [], f"left running after Ctrl-C at {moment}"
    assert not (state_dir / "running.json").exists()
