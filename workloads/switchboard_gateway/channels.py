"""A client's gRPC channel: `HOST:PORT` or `grpc://…` in plain text, `grpcs://…` over TLS.

Over TLS the gateway's certificate is checked against the system's roots, or against the CA in
`ca_file` (a private CA, e.g. cert-manager's). `server_name` checks the certificate for that name
while connecting to another address (an IP, a port-forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

_SCHEMES = {"grpc://": False, "grpcs://": True}


@dataclass(frozen=True)
class Target:
    """A gRPC address and whether it speaks TLS."""

    address: str
    tls: bool


def parse_target(target: str, *, tls: bool = False) -> Target:
    """`grpcs://h:p` → TLS to `h:p`; `grpc://h:p` or `h:p` → plain, unless `tls` asks for it."""
    for scheme, secure in _SCHEMES.items():
        if target.startswith(scheme):
            return Target(target.removeprefix(scheme).rstrip("/"), secure or tls)
    if "://" in target:
        raise ValueError(f"not a gRPC address: {target!r} (HOST:PORT, grpc:// or grpcs://)")
    return Target(target, tls)


def open_channel(
    target: str,
    *,
    tls: bool = False,
    ca_file: Path | None = None,
    server_name: str | None = None,
) -> grpc.aio.Channel:
    """A channel to `target`; over TLS when its scheme, `tls` or `ca_file` says so."""
    parsed = parse_target(target, tls=tls or ca_file is not None)
    if not parsed.tls:
        return grpc.aio.insecure_channel(parsed.address)
    roots = ca_file.read_bytes() if ca_file is not None else None
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.aio.secure_channel(parsed.address, credentials, options=options)
