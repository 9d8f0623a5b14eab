"""The e2e and browser tiers: one real `switchboard up` process for this package's tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from switchboard_cli.state import RunningPlatform, read_running
from tests.ports import free_port

REPO = Path(__file__).parents[2]
SWITCHBOARD = Path(sys.executable).parent / "switchboard"
START_TIMEOUT_S = 300.0


@dataclass
class Platform:
    """A running `switchboard up` and where it keeps its state."""

    process: subprocess.Popen[bytes]
    state_dir: Path
    running: RunningPlatform
    log: Path

    def env(self) -> dict[str, str]:
        """The environment under which `switchboard call` finds this platform."""
        return {**os.environ, "SWITCHBOARD_HOME": str(self.state_dir)}

    def auth(self) -> dict[str, str]:
        """Headers that let a non-browser client read the console's API (the run's token)."""
        return {"Authorization": f"Bearer {self.running.token}"}


def chromium() -> str:
    """Debian's Chromium (fails in CI, skips elsewhere when it is not installed)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Debian's chromium is not installed (.ci/bootstrap installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def launched_chromium(args: list[str]) -> Iterator[Browser]:
    """Headless Debian Chromium with `args` (sandbox off as root, which Chromium refuses)."""
    if os.geteuid() == 0:
        args = [*args, "--no-sandbox"]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=args)
        try:
            yield launched
        finally:
            launched.close()


def start_up(
    state_dir: Path, log: Path, *extra: str, manifest: str = "receptionist.yaml"
) -> subprocess.Popen[bytes]:
    """`switchboard up` on free ports with an example (the receptionist), output to `log`."""
    command = [
        str(SWITCHBOARD), "up",
        "-f", str(REPO / "examples" / manifest),
        "--state-dir", str(state_dir),
        "--port", str(free_port()),
        "--grpc-port", str(free_port()),
        *extra,
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


def wait_until_up(process: subprocess.Popen[bytes], state_dir: Path, log: Path) -> RunningPlatform:
    """The platform once its console answers ready; fails with its log if it exits or is late."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"switchboard up exited {process.returncode}:\n{log.read_text()[-4000:]}")
        running = read_running(state_dir)
        if running is not None:
            try:
                if httpx.get(running.console_url + "readyz", timeout=2).status_code == 200:
                    return running
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"switchboard up not ready in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """Ctrl-C, as a user would; returns the exit status."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from running_platform(tmp_path_factory, "receptionist.yaml")


def running_platform(tmp_path_factory: pytest.TempPathFactory, manifest: str) -> Iterator[Platform]:
    """`switchboard up` on an example until the generator is closed."""
    state_dir = tmp_path_factory.mktemp(Path(manifest).stem + "-home")
    log = state_dir.parent / f"{Path(manifest).stem}-up.log"
    process = start_up(state_dir, log, manifest=manifest)
    try:
        running = wait_until_up(process, state_dir, log)
        yield Platform(process, state_dir, running, log)
    finally:
        if process.poll() is None:
            stop(process)
