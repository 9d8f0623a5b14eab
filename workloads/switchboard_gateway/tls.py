"""The gateway's own TLS: one certificate for both ports, re-read while the process runs.

The kubelet swaps a mounted Secret's files when cert-manager renews it; `ServerTls.reload` reads
them and, when they changed and form a usable pair, hands the new pair to new handshakes on both
ports. The HTTP port's `SSLContext` picks the newest context for each handshake (`sni_callback`,
called for every ClientHello, with or without SNI); the gRPC port asks a config fetcher, which
gRPC calls before each handshake. Connections already open keep the certificate they started
with. A bad pair at start stops the process (`TlsConfigError`); a bad pair on reload is logged
and the current one stays. Key material never reaches a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from switchboard_api.tls import TlsFilesConfig

log = logging.getLogger(__name__)

#: How often the certificate files are read again (the kubelet's own sync is ~1 min).
RELOAD_EVERY_S = 5.0


class TlsConfigError(ValueError):
    """The certificate or key cannot be used (missing, unreadable, malformed, not a pair)."""


@dataclass(frozen=True)
class _Pair:
    cert: bytes
    key: bytes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the leaf certificate (public; names it in logs)."""
        first = self.cert.decode("ascii", "replace")
        end = "-----END CERTIFICATE-----"
        leaf = first[: first.index(end) + len(end)] if end in first else first
        try:
            der = ssl.PEM_cert_to_DER_cert(leaf)
        except ValueError:
            der = self.cert
        return hashlib.sha256(der).hexdigest()[:16]


@contextlib.contextmanager
def _as_file(data: bytes) -> Iterator[str]:
    """`data` behind a path `load_cert_chain` can read, in memory where the OS allows."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("switchboard-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as directory:  # macOS: a private directory, then gone
        path = Path(directory) / "pem"
        path.touch(mode=0o600)
        path.write_bytes(data)
        yield str(path)


def _no_passphrase() -> bytes:
    return b""


def _context(pair: _Pair) -> ssl.SSLContext:
    """A server context for `pair`; `TlsConfigError` when it is not a usable pair."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with _as_file(pair.cert) as cert, _as_file(pair.key) as key:
            # An encrypted key fails here rather than prompting for a passphrase on a terminal.
            context.load_cert_chain(cert, key, password=_no_passphrase)
    except (ssl.SSLError, OSError) as error:
        # The library's message names what failed (e.g. KEY_VALUES_MISMATCH), never the key.
        raise TlsConfigError(
            f"not a usable certificate and key ({error.__class__.__name__}: "
            f"{getattr(error, 'reason', None) or 'unreadable'})"
        ) from None
    return context


def _read(files: TlsFilesConfig) -> _Pair:
    try:
        return _Pair(Path(files.cert_file).read_bytes(), Path(files.key_file).read_bytes())
    except OSError as error:
        raise TlsConfigError(f"cannot read {error.filename}: {error.strerror}") from None


class ServerTls:
    """The certificate both ports serve, swapped for new handshakes when its files change."""

    def __init__(self, files: TlsFilesConfig) -> None:
        """Read and check the pair now: `TlsConfigError` when it cannot be served."""
        self._files = files
        self._pair = _read(files)
        self._current = _context(self._pair)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._lock = threading.Lock()  # the fetcher and a reload may run on different threads
        #: The context handed to the HTTP server; it hands each handshake the newest one.
        self.http_context = _context(self._pair)
        self.http_context.sni_callback = self._choose
        self.reloads = 0

    @property
    def fingerprint(self) -> str:
        """The served leaf certificate's SHA-256 (first 16 hex digits)."""
        return self._pair.fingerprint

    def _choose(self, connection: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        connection.context = self._current

    def _grpc_config(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(self._pair.key, self._pair.cert)])

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials whose fetcher gives gRPC a renewed pair before its next handshake."""
        # The stub's fetcher type lacks the documented None ("no change").
        fetch: Callable[[], grpc.ServerCertificateConfiguration] = self._fetch  # type: ignore[assignment]
        return grpc.dynamic_ssl_server_credentials(self._grpc_config(), fetch)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC before handshakes (maybe off the event loop): None keeps the current.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def reload(self) -> bool:
        """Read the files again; True when a new pair now serves new handshakes.

        A pair that cannot be read or used is logged and the current one kept (the kubelet
        swaps files atomically, but a Secret can be edited by hand into nonsense).
        """
        try:
            pair = _read(self._files)
            if pair == self._pair:
                return False
            context = _context(pair)
        except TlsConfigError as error:
            log.warning(
                "TLS certificate not reloaded, still serving %s: %s", self.fingerprint, error
            )
            return False
        with self._lock:
            self._pair, self._current = pair, context
            self._pending = self._grpc_config()
        self.reloads += 1
        log.info("TLS certificate reloaded: now serving %s", pair.fingerprint)
        return True


async def keep_reloading(tls: ServerTls, every_s: float = RELOAD_EVERY_S) -> None:
    """Reload `tls` every `every_s` seconds until cancelled (an owned task)."""
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(tls.reload)
