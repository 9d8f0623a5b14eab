"""The node's host processes: started detached, tracked by pid files, stopped in any later run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

STOP_GRACE_S = 15.0


class Processes:
    """Processes recorded under `pid_dir` (`NAME.pid`), their output in `log_dir/NAME.log`.

    Pid files outlive this object on purpose: a run killed with SIGKILL leaves them, and the
    next run's teardown stops what they name.
    """

    def __init__(self, pid_dir: Path, log_dir: Path) -> None:
        self.pid_dir = pid_dir
        self.log_dir = log_dir
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        """Start `command` in its own session (a Ctrl-C of the test run reaches only pytest)."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as log:
            child = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self._children[name] = child
        (self.pid_dir / f"{name}.pid").write_text(str(child.pid))

    def pid(self, name: str) -> int | None:
        """The recorded pid of `name`, if any."""
        try:
            return int((self.pid_dir / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def alive(self, name: str) -> bool:
        """Whether `name` runs (a zombie child counts as stopped)."""
        pid = self.pid(name)
        if pid is None:
            return False
        child = self._children.get(name)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(pid, 0)
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except (ProcessLookupError, OSError):
            return False

    def stop(self, name: str) -> None:
        """SIGTERM, then SIGKILL after a grace period; forget the pid file."""
        pid = self.pid(name)
        if pid is not None and self.alive(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while self.alive(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.alive(name):
                os.kill(pid, signal.SIGKILL)
                child = self._children.get(name)
                if child is not None:
                    child.wait(timeout=10)
        (self.pid_dir / f"{name}.pid").unlink(missing_ok=True)
        self._children.pop(name, None)

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of every component's log, for a failure message."""
        parts = []
        for log in sorted(self.log_dir.glob("*.log")) if self.log_dir.exists() else []:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)
