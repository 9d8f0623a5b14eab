"""The API keys an agent accepts, kept as SHA-256 hashes and re-read when their files change.

In a cluster the operator mounts the Secrets an agent and its tenant name
(`spec.access.apiKeySecretRefs`) into the gateway pod; each file holds one key per line, so a
Secret can carry the old and the new key while clients move. The kubelet replaces mounted files
when a Secret changes; `KeyRing.reload` (run every few seconds by the server) picks that up, so
a key is added or revoked without a rollout and without dropping a call. Keys themselves are
never kept or logged: only their hashes, and for keys read from files the keys their call
tokens are signed with (`call_tokens.signing_key`), so that revoking a key revokes its tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from switchboard_gateway.call_tokens import key_id, signing_key

log = logging.getLogger(__name__)

#: How often the server re-reads key files.
RELOAD_INTERVAL_S = 5.0
#: A key file larger than this is not read (a Secret's value is at most 1 MiB).
MAX_KEY_FILE_BYTES = 64 * 1024


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest of an API key (what configs and key rings hold).

    A caller's key may hold anything (lone surrogates included): it is hashed as given.
    """
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _keys_in(path: Path) -> list[str] | None:
    """The keys in one file (None when it cannot be read)."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            log.warning("an API key file is too large; ignored", extra={"path": str(path)})
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        log.warning(
            "an API key file cannot be read", extra={"path": str(path), "error": str(error)}
        )
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass
class KeyRing:
    """One agent's accepted keys: fixed hashes plus those of its key files."""

    fixed: frozenset[str] = frozenset()
    files: tuple[Path, ...] = ()
    #: With no key at all: refuse every call (True) or accept any caller (False).
    required: bool = False
    _from_files: frozenset[str] = field(default=frozenset(), repr=False)
    #: `kid` → signing key of the call tokens of each key read from a file.
    _signers: dict[str, bytes] = field(default_factory=dict, repr=False)
    _fixed_signers: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.reload()

    def add_key(self, key: str) -> None:
        """Accept a key known in full (`switchboard up`'s local token); it can mint tokens."""
        self.fixed |= {hash_api_key(key)}
        self._fixed_signers[key_id(key)] = signing_key(key)

    @property
    def signers(self) -> dict[str, bytes]:
        """`kid` → signing key, for the keys whose tokens this ring can check."""
        return {**self._fixed_signers, **self._signers}

    @property
    def open(self) -> bool:
        """Whether any caller is admitted (no key configured and none required)."""
        return not self.configured and not self.required

    @property
    def configured(self) -> bool:
        """Whether any key is accepted now."""
        return bool(self.fixed or self._from_files)

    def accepts(self, key: str) -> bool:
        """Whether `key` may call (compared in constant time against every accepted hash)."""
        hashes = self.fixed | self._from_files
        if not hashes:
            return not self.required
        digest = hash_api_key(key)
        return any(hmac.compare_digest(digest, known) for known in hashes)

    def reload(self) -> bool:
        """Re-read the key files; whether the accepted keys changed.

        A file that cannot be read keeps the keys it gave before (a Secret being replaced must
        not lock callers out); an empty one gives none.
        """
        keys: list[str] = []
        for path in self.files:
            found = _keys_in(path)
            if found is None:
                return False
            keys += found
        fresh = frozenset(hash_api_key(key) for key in keys)
        if fresh == self._from_files:
            return False
        self._from_files = fresh
        self._signers = {key_id(key): signing_key(key) for key in keys}
        log.info("API keys reloaded", extra={"keys": len(fresh), "files": len(self.files)})
        return True


async def keep_reloading(rings: Iterable[KeyRing], every_s: float = RELOAD_INTERVAL_S) -> None:
    """Re-read the key files of `rings` every `every_s` seconds, until cancelled."""
    watched = [ring for ring in rings if ring.files]
    while watched:
        await asyncio.sleep(every_s)
        for ring in watched:
            await asyncio.to_thread(ring.reload)
