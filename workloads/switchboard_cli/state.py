"""The state directory of `switchboard up`, and how a running platform is found.

One directory holds everything a local run keeps: `calls.db` (call records), `models/`
(packaged models reassembled on first use) and `running.json` (the endpoints of the platform
running now, removed when it stops). Default `~/.switchboard`; `$SWITCHBOARD_HOME` or
`--state-dir` move it. `running.json` holds the run's token and is readable by this user only.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_ENV = "SWITCHBOARD_HOME"
RUNNING_FILE = "running.json"


def default_state_dir() -> Path:
    """`$SWITCHBOARD_HOME`, else `~/.switchboard`."""
    configured = os.environ.get(STATE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".switchboard"


@dataclass(frozen=True)
class RunningPlatform:
    """What `switchboard up` tells later commands about itself."""

    pid: int
    console_url: str
    grpc_target: str
    websocket_url: str
    model_plane_url: str
    agents: list[str]
    #: The run's secret: the console's cookie, the API's bearer, every agent's API key.
    token: str = field(default="", repr=False)
    #: The phone port (Twilio, jambonz, `switchboard dial`); empty when no agent takes calls.
    phone_url: str = ""

    @property
    def login_url(self) -> str:
        """The console URL that signs a browser in (the token becomes a cookie)."""
        return f"{self.console_url}?token={self.token}" if self.token else self.console_url


def write_running(state_dir: Path, platform: RunningPlatform) -> None:
    """Publish the running platform's endpoints (atomically, readable by this user only)."""
    path = state_dir / RUNNING_FILE
    staging = path.with_suffix(".tmp")
    staging.unlink(missing_ok=True)
    # Created 0600, never wider for a moment: the file holds the token.
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps(asdict(platform), indent=2) + "\n")
    staging.replace(path)


def clear_running(state_dir: Path, pid: int) -> None:
    """Remove the running file if it is this process's."""
    found = read_running(state_dir, check_alive=False)
    if found is not None and found.pid == pid:
        (state_dir / RUNNING_FILE).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_running(state_dir: Path, *, check_alive: bool = True) -> RunningPlatform | None:
    """The platform running from `state_dir`, or None (never started, stopped, or crashed)."""
    try:
        raw = json.loads((state_dir / RUNNING_FILE).read_text())
        platform = RunningPlatform(**raw)
    except (OSError, ValueError, TypeError):
        return None
    if check_alive and not _alive(platform.pid):
        return None
    return platform
