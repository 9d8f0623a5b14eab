"""API keys from mounted Secret files: hashed, re-read on change, never locking callers out."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from switchboard_gateway.api_keys import KeyRing, hash_api_key, keep_reloading
from switchboard_gateway.events import CallEndedEvent, EndReason, StartCall
from switchboard_gateway.gateway import Admission, AgentEntry, Gateway
from switchboard_gateway.testing.calls import agent_config

pytestmark = pytest.mark.unit

OLD, NEW, TENANT_KEY = "old-key-" + "o" * 24, "new-key-" + "n" * 24, "tenant-" + "t" * 24


def swap(path: Path, text: str) -> None:
    """Replace a key file the way the kubelet does: a new file renamed over the old one."""
    staged = path.with_suffix(".new")
    staged.write_text(text)
    os.replace(staged, path)


def test_keys_come_from_every_line_of_every_file(tmp_path: Path) -> None:
    agent_keys, tenant_keys = tmp_path / "0", tmp_path / "1"
    agent_keys.write_text(f"{OLD}\n\n  {NEW}  \n")
    tenant_keys.write_text(TENANT_KEY)
    ring = KeyRing(files=(agent_keys, tenant_keys), required=True)
    assert all(ring.accepts(key) for key in (OLD, NEW, TENANT_KEY))
    assert not ring.accepts("")
    assert not ring.accepts(OLD + "x")
    assert not ring.accepts(f"{OLD}\n{NEW}")


def test_rotation_adds_and_revokes_without_a_restart(tmp_path: Path) -> None:
    keys = tmp_path / "0"
    keys.write_text(OLD)
    ring = KeyRing(files=(keys,), required=True)
    swap(keys, f"{OLD}\n{NEW}")
    assert ring.reload()
    assert ring.accepts(OLD)
    assert ring.accepts(NEW)
    swap(keys, NEW)
    assert ring.reload()
    assert not ring.accepts(OLD)
    assert ring.accepts(NEW)
    assert not ring.reload()  # nothing changed


def test_an_unreadable_file_keeps_the_keys_it_gave_and_an_empty_one_gives_none(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "0"
    keys.write_text(OLD)
    ring = KeyRing(files=(keys,), required=True)
    keys.unlink()
    assert not ring.reload()
    assert ring.accepts(OLD)
    keys.write_bytes(b"\xff\xfe not utf-8")
    assert not ring.reload()
    assert ring.accepts(OLD)
    keys.write_text("\n")
    assert ring.reload()
    assert not ring.accepts(OLD)
    assert not ring.accepts("")  # required: no key at all refuses everyone


def test_without_keys_a_ring_refuses_all_when_required_and_accepts_all_when_not(
    tmp_path: Path,
) -> None:
    assert not KeyRing(files=(tmp_path / "missing",), required=True).accepts("anything")
    assert KeyRing().accepts("anything")
    assert KeyRing(frozenset({hash_api_key(OLD)})).accepts(OLD)


def test_admission_uses_the_current_keys(tmp_path: Path) -> None:
    keys = tmp_path / "0"
    keys.write_text(OLD)
    config = agent_config()
    ring = KeyRing(files=(keys,), required=True)
    gate = Gateway({config.key: AgentEntry(config, backend=None, keys=ring)})  # type: ignore[arg-type]
    assert isinstance(gate.admit(StartCall(agent=config.key, api_key=OLD), "grpc"), Admission)
    swap(keys, NEW)
    ring.reload()
    refused = gate.admit(StartCall(agent=config.key, api_key=OLD), "websocket")
    assert isinstance(refused, CallEndedEvent)
    assert refused.reason is EndReason.UNAUTHENTICATED


def test_the_reload_task_picks_up_a_swapped_file(tmp_path: Path) -> None:
    keys = tmp_path / "0"
    keys.write_text(OLD)
    ring = KeyRing(files=(keys,), required=True)

    async def scenario() -> None:
        task = asyncio.create_task(keep_reloading([ring, KeyRing()], every_s=0.01))
        swap(keys, NEW)
        for _ in range(200):
            if ring.accepts(NEW):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert ring.accepts(NEW)
    assert not ring.accepts(OLD)
